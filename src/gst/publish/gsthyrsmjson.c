/* gsthyrsmjson.c: one decision (read from a HyrsmMeta by
 * gst_hyrsm_decision_from_structure()) as a JSON document, built with
 * json-glib; docs/publish.md documents the schema. */
#include "gsthyrsmjson.h"

#include <math.h>
#include <json-glib/json-glib.h>

/* Members for which the decision has no value (the reader's defaults,
 * gsthyrsmdecision.h) are written as null, so that every document has the
 * same shape. */
static void
add_time (JsonBuilder *b, const gchar *member, GstClockTime v)
{
  json_builder_set_member_name (b, member);
  if (GST_CLOCK_TIME_IS_VALID (v))
    json_builder_add_int_value (b, (gint64) v);
  else
    json_builder_add_null_value (b);
}

/* NaN (not given) is null: JSON has no NaN. */
static void
add_double (JsonBuilder *b, const gchar *member, gdouble v)
{
  json_builder_set_member_name (b, member);
  if (!isnan (v))
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
add_distances (JsonBuilder *b, const GstHyrsmDecision *d)
{
  json_builder_set_member_name (b, "distances");
  json_builder_begin_object (b);
  for (guint i = 0; i < d->n_classes; i++) {
    g_autofree gchar *name = utf8_copy (d->labels[i]);
    json_builder_set_member_name (b, name);
    json_builder_add_double_value (b, d->distances[i]);
  }
  json_builder_end_object (b);
}

/* One end of the window: running time, stream time and wall-clock time.
 * The wall-clock time of the window's end is when its last frame reached
 * hyrsmfilter; its start is that minus the window's running duration. */
static void
add_window_end (JsonBuilder *b, const gchar *member,
    const GstHyrsmDecision *d, gboolean is_start)
{
  json_builder_set_member_name (b, member);
  json_builder_begin_object (b);
  add_time (b, "running-time", is_start ? d->running_time_start :
      d->running_time);
  add_time (b, "stream-time", is_start ? d->window_start : d->window_end);
  gint64 wall = d->wallclock_end;
  gboolean valid = wall != GST_HYRSM_DECISION_NO_WALLCLOCK;
  if (valid && is_start) {
    GstClockTime start = d->running_time_start, end = d->running_time;
    valid = GST_CLOCK_TIME_IS_VALID (start) && GST_CLOCK_TIME_IS_VALID (end)
        && end >= start;
    if (valid)
      wall -= (gint64) ((end - start) / GST_USECOND);
  }
  add_wallclock (b, "wall-clock", valid, wall);
  json_builder_end_object (b);
}

/* "region": which region a decision of roi=true is about, and its box in
 * the frame (pixels); null for a whole-frame decision. */
static void
add_region (JsonBuilder *b, const GstHyrsmDecision *d)
{
  json_builder_set_member_name (b, "region");
  if (!d->is_region) {
    json_builder_add_null_value (b);
    return;
  }
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "id");
  json_builder_add_int_value (b, d->roi_id);
  add_string (b, "type", d->roi_type);
  const struct
  {
    const gchar *member;
    gint v;
  } box[] = {
    {"x", d->roi_x}, {"y", d->roi_y}, {"width", d->roi_width},
    {"height", d->roi_height},
  };
  for (guint i = 0; i < G_N_ELEMENTS (box); i++) {
    json_builder_set_member_name (b, box[i].member);
    json_builder_add_int_value (b, box[i].v);
  }
  json_builder_end_object (b);
}

/**
 * gst_hyrsm_decision_to_json:
 * @d: a decision (gst_hyrsm_decision_from_structure() of a HyrsmMeta)
 * @source: (nullable): where the stream comes from (a URI, a camera name)
 *
 * Returns: (transfer full): the decision as one line of JSON (no newline)
 */
gchar *
gst_hyrsm_decision_to_json (const GstHyrsmDecision *d, const gchar *source)
{
  JsonBuilder *b = json_builder_new ();
  json_builder_begin_object (b);
  add_string (b, "schema", GST_HYRSM_JSON_SCHEMA);

  json_builder_set_member_name (b, "stream");
  json_builder_begin_object (b);
  add_string (b, "id", d->stream_id);
  add_string (b, "source", source);
  json_builder_end_object (b);

  add_region (b, d);
  add_string (b, "label", d->label);
  json_builder_set_member_name (b, "unknown");
  json_builder_add_boolean_value (b, d->unknown);
  add_double (b, "confidence", d->confidence);
  add_double (b, "distance", d->distance);
  add_distances (b, d);

  json_builder_set_member_name (b, "window");
  json_builder_begin_object (b);
  add_window_end (b, "start", d, TRUE);
  add_window_end (b, "end", d, FALSE);
  json_builder_end_object (b);

  add_time (b, "latency", d->latency);
  json_builder_set_member_name (b, "model");
  json_builder_begin_object (b);
  add_string (b, "fingerprint", d->model_fingerprint);
  json_builder_end_object (b);
  json_builder_set_member_name (b, "support");
  json_builder_begin_object (b);
  add_string (b, "path", d->support_path);
  json_builder_end_object (b);
  json_builder_end_object (b);

  JsonNode *root = json_builder_get_root (b);
  gchar *text = json_to_string (root, FALSE);
  json_node_unref (root);
  g_object_unref (b);
  return text;
}
