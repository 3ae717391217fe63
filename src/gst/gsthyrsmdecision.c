/* gsthyrsmdecision.c: a decision as the "hyrsm" structure and back: field
 * names and types are written and read here and nowhere else
 * (gsthyrsmdecision.h). */
#include "gsthyrsmdecision.h"

#include <math.h>
#include <string.h>

GstStructure *
gst_hyrsm_decision_to_structure (const GstHyrsmDecision *d)
{
  GValue labels = G_VALUE_INIT, distances = G_VALUE_INIT, v = G_VALUE_INIT;
  gst_value_array_init (&labels, d->n_classes);
  gst_value_array_init (&distances, d->n_classes);
  for (guint i = 0; i < d->n_classes; i++) {
    g_value_init (&v, G_TYPE_STRING);
    g_value_set_string (&v, d->labels[i]);
    gst_value_array_append_and_take_value (&labels, &v);
    g_value_init (&v, G_TYPE_DOUBLE);
    g_value_set_double (&v, d->distances[i]);
    gst_value_array_append_and_take_value (&distances, &v);
  }
  GstStructure *s = gst_structure_new (GST_HYRSM_DECISION_NAME,
      GST_HYRSM_DECISION_LABEL, G_TYPE_STRING, d->label,
      GST_HYRSM_DECISION_CONFIDENCE, G_TYPE_DOUBLE, d->confidence,
      GST_HYRSM_DECISION_DISTANCE, G_TYPE_DOUBLE, d->distance,
      GST_HYRSM_DECISION_WINDOW_START, G_TYPE_UINT64, d->window_start,
      GST_HYRSM_DECISION_WINDOW_END, G_TYPE_UINT64, d->window_end,
      GST_HYRSM_DECISION_RUNNING_TIME, G_TYPE_UINT64, d->running_time,
      GST_HYRSM_DECISION_LATENCY, G_TYPE_UINT64, d->latency, NULL);
  gst_structure_take_value (s, GST_HYRSM_DECISION_LABELS, &labels);
  gst_structure_take_value (s, GST_HYRSM_DECISION_DISTANCES, &distances);
  /* What a consumer needs to file the decision (hyrsmpublish): where it
   * comes from and when, in wall-clock time, its window ended. */
  gst_structure_set (s,
      GST_HYRSM_DECISION_UNKNOWN, G_TYPE_BOOLEAN, d->unknown,
      GST_HYRSM_DECISION_RUNNING_TIME_START, G_TYPE_UINT64,
      d->running_time_start,
      GST_HYRSM_DECISION_WALLCLOCK_END, G_TYPE_INT64, d->wallclock_end,
      GST_HYRSM_DECISION_STREAM_ID, G_TYPE_STRING,
      d->stream_id ? d->stream_id : "",
      GST_HYRSM_DECISION_MODEL_FINGERPRINT, G_TYPE_STRING,
      d->model_fingerprint,
      GST_HYRSM_DECISION_SUPPORT_PATH, G_TYPE_STRING, d->support_path, NULL);
  if (d->is_region)
    gst_structure_set (s, GST_HYRSM_DECISION_ROI_ID, G_TYPE_INT, d->roi_id,
        GST_HYRSM_DECISION_ROI_X, G_TYPE_INT, d->roi_x,
        GST_HYRSM_DECISION_ROI_Y, G_TYPE_INT, d->roi_y,
        GST_HYRSM_DECISION_ROI_WIDTH, G_TYPE_INT, d->roi_width,
        GST_HYRSM_DECISION_ROI_HEIGHT, G_TYPE_INT, d->roi_height, NULL);
  if (d->is_region && d->roi_type)
    gst_structure_set (s, GST_HYRSM_DECISION_ROI_TYPE, G_TYPE_STRING,
        d->roi_type, NULL);
  return s;
}

/* ---- reading ---- */

static gboolean
fail (GError **error, const gchar *format, ...) G_GNUC_PRINTF (2, 3);

static gboolean
fail (GError **error, const gchar *format, ...)
{
  va_list args;
  va_start (args, format);
  gchar *message = g_strdup_vprintf (format, args);
  va_end (args);
  g_set_error_literal (error, GST_STREAM_ERROR, GST_STREAM_ERROR_FORMAT,
      message);
  g_free (message);
  return FALSE;
}

/* Reads @field into @out when @s has it (@out keeps its default when it
 * does not). A field of another type is an error rather than a default:
 * it means the writer and this reader disagree, which a default would
 * hide. */
static gboolean
get_field (const GstStructure *s, const gchar *field, GType type,
    gpointer out, GError **error)
{
  const GValue *v = gst_structure_get_value (s, field);
  if (v == NULL)
    return TRUE;
  if (G_VALUE_TYPE (v) != type)
    return fail (error, "decision field \"%s\" is a %s, not a %s", field,
        G_VALUE_TYPE_NAME (v), g_type_name (type));
  switch (type) {
    case G_TYPE_STRING:
      *(const gchar **) out = g_value_get_string (v);
      break;
    case G_TYPE_BOOLEAN:
      *(gboolean *) out = g_value_get_boolean (v);
      break;
    case G_TYPE_DOUBLE:
      *(gdouble *) out = g_value_get_double (v);
      break;
    case G_TYPE_INT:
      *(gint *) out = g_value_get_int (v);
      break;
    case G_TYPE_UINT64:
      *(guint64 *) out = g_value_get_uint64 (v);
      break;
    case G_TYPE_INT64:
      *(gint64 *) out = g_value_get_int64 (v);
      break;
    default:
      g_assert_not_reached ();
  }
  return TRUE;
}

/* "labels" and "distances": both or neither, of one length, copied into
 * C arrays that @d owns. */
static gboolean
get_classes (const GstStructure *s, GstHyrsmDecision *d, GError **error)
{
  const GValue *labels = gst_structure_get_value (s,
      GST_HYRSM_DECISION_LABELS);
  const GValue *distances = gst_structure_get_value (s,
      GST_HYRSM_DECISION_DISTANCES);
  if (labels == NULL && distances == NULL)
    return TRUE;
  if (labels == NULL || distances == NULL)
    return fail (error, "decision has \"%s\" without \"%s\"",
        labels ? GST_HYRSM_DECISION_LABELS : GST_HYRSM_DECISION_DISTANCES,
        labels ? GST_HYRSM_DECISION_DISTANCES : GST_HYRSM_DECISION_LABELS);
  if (!GST_VALUE_HOLDS_ARRAY (labels))
    return fail (error, "decision field \"%s\" is a %s, not a GstValueArray",
        GST_HYRSM_DECISION_LABELS, G_VALUE_TYPE_NAME (labels));
  if (!GST_VALUE_HOLDS_ARRAY (distances))
    return fail (error, "decision field \"%s\" is a %s, not a GstValueArray",
        GST_HYRSM_DECISION_DISTANCES, G_VALUE_TYPE_NAME (distances));
  guint n = gst_value_array_get_size (labels);
  if (gst_value_array_get_size (distances) != n)
    return fail (error, "decision field \"%s\" has %u entries, \"%s\" %u",
        GST_HYRSM_DECISION_DISTANCES, gst_value_array_get_size (distances),
        GST_HYRSM_DECISION_LABELS, n);
  /* NULL-terminated as well, so the labels can be used as a strv. */
  const gchar **l = g_new0 (const gchar *, n + 1);
  gdouble *dist = g_new (gdouble, MAX (n, 1));
  d->owned_labels = l;
  d->owned_distances = dist;
  for (guint i = 0; i < n; i++) {
    const GValue *lv = gst_value_array_get_value (labels, i);
    const GValue *dv = gst_value_array_get_value (distances, i);
    if (!G_VALUE_HOLDS_STRING (lv) || g_value_get_string (lv) == NULL)
      return fail (error, "decision field \"%s\": entry %u is not a string",
          GST_HYRSM_DECISION_LABELS, i);
    if (!G_VALUE_HOLDS_DOUBLE (dv))
      return fail (error, "decision field \"%s\": entry %u is not a double",
          GST_HYRSM_DECISION_DISTANCES, i);
    l[i] = g_value_get_string (lv);
    dist[i] = g_value_get_double (dv);
  }
  d->labels = l;
  d->distances = dist;
  d->n_classes = n;
  return TRUE;
}

/* The region's id and box: all or none (a region without its box could
 * be neither drawn nor published). */
static gboolean
get_region (const GstStructure *s, GstHyrsmDecision *d, GError **error)
{
  if (!gst_structure_has_field (s, GST_HYRSM_DECISION_ROI_ID))
    return TRUE;
  static const gchar *const box[] = { GST_HYRSM_DECISION_ROI_X,
    GST_HYRSM_DECISION_ROI_Y, GST_HYRSM_DECISION_ROI_WIDTH,
    GST_HYRSM_DECISION_ROI_HEIGHT
  };
  gint *out[] = { &d->roi_x, &d->roi_y, &d->roi_width, &d->roi_height };
  for (guint i = 0; i < G_N_ELEMENTS (box); i++)
    if (!gst_structure_has_field (s, box[i]))
      return fail (error, "region decision (\"%s\") has no \"%s\"",
          GST_HYRSM_DECISION_ROI_ID, box[i]);
  if (!get_field (s, GST_HYRSM_DECISION_ROI_ID, G_TYPE_INT, &d->roi_id, error))
    return FALSE;
  for (guint i = 0; i < G_N_ELEMENTS (box); i++)
    if (!get_field (s, box[i], G_TYPE_INT, out[i], error))
      return FALSE;
  d->is_region = TRUE;
  return get_field (s, GST_HYRSM_DECISION_ROI_TYPE, G_TYPE_STRING,
      &d->roi_type, error);
}

gboolean
gst_hyrsm_decision_from_structure (const GstStructure *s,
    GstHyrsmDecision *d, GError **error)
{
  g_return_val_if_fail (s != NULL && d != NULL, FALSE);
  memset (d, 0, sizeof *d);
  if (!gst_structure_has_name (s, GST_HYRSM_DECISION_NAME)
      && !gst_structure_has_name (s, GST_HYRSM_META_NAME))
    return fail (error, "a \"%s\" structure is not a decision (\"%s\")",
        gst_structure_get_name (s), GST_HYRSM_DECISION_NAME);
  if (!gst_structure_has_field (s, GST_HYRSM_DECISION_LABEL))
    return fail (error, "decision has no \"%s\"", GST_HYRSM_DECISION_LABEL);

  d->confidence = d->distance = NAN;
  d->window_start = d->window_end = GST_CLOCK_TIME_NONE;
  d->running_time_start = d->running_time = GST_CLOCK_TIME_NONE;
  d->latency = GST_CLOCK_TIME_NONE;
  d->wallclock_end = GST_HYRSM_DECISION_NO_WALLCLOCK;
  const struct
  {
    const gchar *field;
    GType type;
    gpointer out;
  } fields[] = {
    {GST_HYRSM_DECISION_LABEL, G_TYPE_STRING, &d->label},
    {GST_HYRSM_DECISION_CONFIDENCE, G_TYPE_DOUBLE, &d->confidence},
    {GST_HYRSM_DECISION_DISTANCE, G_TYPE_DOUBLE, &d->distance},
    {GST_HYRSM_DECISION_WINDOW_START, G_TYPE_UINT64, &d->window_start},
    {GST_HYRSM_DECISION_WINDOW_END, G_TYPE_UINT64, &d->window_end},
    {GST_HYRSM_DECISION_RUNNING_TIME_START, G_TYPE_UINT64,
        &d->running_time_start},
    {GST_HYRSM_DECISION_RUNNING_TIME, G_TYPE_UINT64, &d->running_time},
    {GST_HYRSM_DECISION_WALLCLOCK_END, G_TYPE_INT64, &d->wallclock_end},
    {GST_HYRSM_DECISION_LATENCY, G_TYPE_UINT64, &d->latency},
    {GST_HYRSM_DECISION_STREAM_ID, G_TYPE_STRING, &d->stream_id},
    {GST_HYRSM_DECISION_MODEL_FINGERPRINT, G_TYPE_STRING,
        &d->model_fingerprint},
    {GST_HYRSM_DECISION_SUPPORT_PATH, G_TYPE_STRING, &d->support_path},
  };
  gboolean ok = TRUE;
  for (guint i = 0; ok && i < G_N_ELEMENTS (fields); i++)
    ok = get_field (s, fields[i].field, fields[i].type, fields[i].out, error);
  if (ok && d->label == NULL)
    ok = fail (error, "decision field \"%s\" is NULL",
        GST_HYRSM_DECISION_LABEL);
  /* A decision made elsewhere may not say; its label does. */
  d->unknown = g_strcmp0 (d->label, "unknown") == 0;
  ok = ok && get_field (s, GST_HYRSM_DECISION_UNKNOWN, G_TYPE_BOOLEAN,
      &d->unknown, error) && get_classes (s, d, error)
      && get_region (s, d, error);
  if (!ok)
    gst_hyrsm_decision_clear (d);
  return ok;
}

void
gst_hyrsm_decision_clear (GstHyrsmDecision *d)
{
  g_free (d->owned_labels);
  g_free (d->owned_distances);
  memset (d, 0, sizeof *d);
}

/* ---- keeping the latest of each region ---- */

gint
gst_hyrsm_decision_region (const GstStructure *decision)
{
  gint id;
  return gst_structure_get_int (decision, GST_HYRSM_DECISION_ROI_ID, &id) ?
      id : -1;
}

void
gst_hyrsm_decisions_keep_latest (GPtrArray *decisions, GstStructure *decision)
{
  if (decision == NULL)
    return;
  gint roi = gst_hyrsm_decision_region (decision);
  for (guint i = 0; i < decisions->len; i++)
    if (gst_hyrsm_decision_region (g_ptr_array_index (decisions, i)) == roi) {
      g_ptr_array_remove_index (decisions, i);
      break;
    }
  g_ptr_array_add (decisions, decision);
}
