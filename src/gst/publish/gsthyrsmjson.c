/* gsthyrsmjson.c: one decision (the HyrsmMeta structure) as a JSON document,
 * built with json-glib; docs/publish.md documents the schema. */
#include "gsthyrsmjson.h"

#include <json-glib/json-glib.h>

/* Members for which the decision has no value are written as null, so that
 * every document has the same shape. */
static void
add_uint64 (JsonBuilder *b, const gchar *member, const GstStructure *s,
    const gchar *field)
{
  guint64 v;
  json_builder_set_member_name (b, member);
  if (gst_structure_get_uint64 (s, field, &v) && GST_CLOCK_TIME_IS_VALID (v))
    json_builder_add_int_value (b, (gint64) v);
  else
    json_builder_add_null_value (b);
}

static void
add_double (JsonBuilder *b, const gchar *member, const GstStructure *s,
    const gchar *field)
{
  gdouble v;
  json_builder_set_member_name (b, member);
  if (gst_structure_get_double (s, field, &v))
    json_builder_add_double_value (b, v);
  else
    json_builder_add_null_value (b);
}

/* JSON text is UTF-8, and json-glib writes bytes as they are: a string
 * that is not (a `source` set from C, a label from elsewhere) has each bad
 * sequence replaced by U+FFFD, so that every line stays valid JSON. */
static gchar *
utf8_copy (const gchar *value)
{
  return g_utf8_make_valid (value, -1);
}

static void
add_string (JsonBuilder *b, const gchar *member, const gchar *value)
{
  json_builder_set_member_name (b, member);
  if (value && *value) {
    g_autofree gchar *text = utf8_copy (value);
    json_builder_add_string_value (b, text);
  } else {
    json_builder_add_null_value (b);
  }
}

/* ISO 8601 UTC with microseconds, or null. */
static void
add_wallclock (JsonBuilder *b, const gchar *member, gboolean valid,
    gint64 usec)
{
  json_builder_set_member_name (b, member);
  GDateTime *t = valid ? g_date_time_new_from_unix_utc (usec / G_USEC_PER_SEC)
      : NULL;
  if (t == NULL) {
    json_builder_add_null_value (b);
    return;
  }
  GDateTime *exact = g_date_time_add (t, usec % G_USEC_PER_SEC);
  gchar *text = g_date_time_format (exact, "%Y-%m-%dT%H:%M:%S.%fZ");
  json_builder_add_string_value (b, text);
  g_free (text);
  g_date_time_unref (exact);
  g_date_time_unref (t);
}

/* "distances": {label: distance} in the decision's class order. */
static void
add_distances (JsonBuilder *b, const GstStructure *s)
{
  const GValue *labels = gst_structure_get_value (s, "labels");
  const GValue *distances = gst_structure_get_value (s, "distances");
  json_builder_set_member_name (b, "distances");
  json_builder_begin_object (b);
  if (labels && distances && GST_VALUE_HOLDS_ARRAY (labels)
      && GST_VALUE_HOLDS_ARRAY (distances)) {
    guint n = MIN (gst_value_array_get_size (labels),
        gst_value_array_get_size (distances));
    for (guint i = 0; i < n; i++) {
      const GValue *l = gst_value_array_get_value (labels, i);
      const GValue *d = gst_value_array_get_value (distances, i);
      if (!G_VALUE_HOLDS_STRING (l) || g_value_get_string (l) == NULL
          || !G_VALUE_HOLDS_DOUBLE (d))
        continue;
      g_autofree gchar *name = utf8_copy (g_value_get_string (l));
      json_builder_set_member_name (b, name);
      json_builder_add_double_value (b, g_value_get_double (d));
    }
  }
  json_builder_end_object (b);
}

/* One end of the window: running time, stream time and wall-clock time.
 * The wall-clock time of the window's end is when its last frame reached
 * hyrsmfilter; its start is that minus the window's running duration. */
static void
add_window_end (JsonBuilder *b, const gchar *member, const GstStructure *s,
    const gchar *running_field, const gchar *stream_field, gboolean is_start)
{
  json_builder_set_member_name (b, member);
  json_builder_begin_object (b);
  add_uint64 (b, "running-time", s, running_field);
  add_uint64 (b, "stream-time", s, stream_field);
  guint64 start = GST_CLOCK_TIME_NONE, end = GST_CLOCK_TIME_NONE;
  gint64 wall_end = 0;
  gboolean valid = gst_structure_get_int64 (s, "wallclock-end", &wall_end);
  if (valid && is_start) {
    valid = gst_structure_get_uint64 (s, "running-time-start", &start)
        && gst_structure_get_uint64 (s, "running-time", &end)
        && GST_CLOCK_TIME_IS_VALID (start) && GST_CLOCK_TIME_IS_VALID (end)
        && end >= start;
    if (valid)
      wall_end -= (gint64) ((end - start) / GST_USECOND);
  }
  add_wallclock (b, "wall-clock", valid, wall_end);
  json_builder_end_object (b);
}

/* "region": which region a decision of roi=true is about, and its box in
 * the frame (pixels); null for a whole-frame decision. */
static void
add_region (JsonBuilder *b, const GstStructure *s)
{
  json_builder_set_member_name (b, "region");
  gint id;
  if (!gst_structure_get_int (s, "roi-id", &id)) {
    json_builder_add_null_value (b);
    return;
  }
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "id");
  json_builder_add_int_value (b, id);
  add_string (b, "type", gst_structure_get_string (s, "roi-type"));
  const gchar *box[] = { "x", "y", "width", "height" };
  for (guint i = 0; i < G_N_ELEMENTS (box); i++) {
    g_autofree gchar *field = g_strconcat ("roi-", box[i], NULL);
    gint v;
    json_builder_set_member_name (b, box[i]);
    if (gst_structure_get_int (s, field, &v))
      json_builder_add_int_value (b, v);
    else
      json_builder_add_null_value (b);
  }
  json_builder_end_object (b);
}

/**
 * gst_hyrsm_decision_to_json:
 * @decision: a `hyrsm` structure (the HyrsmMeta or the bus message)
 * @source: (nullable): where the stream comes from (a URI, a camera name)
 * @error: set when @decision has no label
 *
 * Returns: (transfer full): the decision as one line of JSON (no newline)
 */
gchar *
gst_hyrsm_decision_to_json (const GstStructure *decision,
    const gchar *source, GError **error)
{
  const gchar *label = gst_structure_get_string (decision, "label");
  if (label == NULL) {
    g_set_error (error, GST_STREAM_ERROR, GST_STREAM_ERROR_FORMAT,
        "the decision has no \"label\" field: %" GST_PTR_FORMAT, decision);
    return NULL;
  }
  gboolean unknown;
  if (!gst_structure_get_boolean (decision, "unknown", &unknown))
    unknown = g_str_equal (label, "unknown");

  JsonBuilder *b = json_builder_new ();
  json_builder_begin_object (b);
  add_string (b, "schema", GST_HYRSM_JSON_SCHEMA);

  json_builder_set_member_name (b, "stream");
  json_builder_begin_object (b);
  add_string (b, "id", gst_structure_get_string (decision, "stream-id"));
  add_string (b, "source", source);
  json_builder_end_object (b);

  add_region (b, decision);
  add_string (b, "label", label);
  json_builder_set_member_name (b, "unknown");
  json_builder_add_boolean_value (b, unknown);
  add_double (b, "confidence", decision, "confidence");
  add_double (b, "distance", decision, "distance");
  add_distances (b, decision);

  json_builder_set_member_name (b, "window");
  json_builder_begin_object (b);
  add_window_end (b, "start", decision, "running-time-start", "window-start",
      TRUE);
  add_window_end (b, "end", decision, "running-time", "window-end", FALSE);
  json_builder_end_object (b);

  add_uint64 (b, "latency", decision, "latency");
  json_builder_set_member_name (b, "model");
  json_builder_begin_object (b);
  add_string (b, "fingerprint", gst_structure_get_string (decision,
          "model-fingerprint"));
  json_builder_end_object (b);
  json_builder_set_member_name (b, "support");
  json_builder_begin_object (b);
  add_string (b, "path", gst_structure_get_string (decision, "support-path"));
  json_builder_end_object (b);
  json_builder_end_object (b);

  JsonNode *root = json_builder_get_root (b);
  gchar *text = json_to_string (root, FALSE);
  json_node_unref (root);
  g_object_unref (b);
  return text;
}
