/* gsthyrsmdecision.c: a decision as the "hyrsm" structure: field names
 * and types are written here and nowhere else (gsthyrsmdecision.h). */
#include "gsthyrsmdecision.h"

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
  GstStructure *s = gst_structure_new ("hyrsm",
      "label", G_TYPE_STRING, d->label,
      "confidence", G_TYPE_DOUBLE, d->confidence,
      "distance", G_TYPE_DOUBLE, d->distance,
      "window-start", G_TYPE_UINT64, d->window_start,
      "window-end", G_TYPE_UINT64, d->window_end,
      "running-time", G_TYPE_UINT64, d->running_time,
      "latency", G_TYPE_UINT64, d->latency, NULL);
  gst_structure_take_value (s, "labels", &labels);
  gst_structure_take_value (s, "distances", &distances);
  /* What a consumer needs to file the decision (hyrsmpublish): where it
   * comes from and when, in wall-clock time, its window ended. */
  gst_structure_set (s,
      "unknown", G_TYPE_BOOLEAN, d->unknown,
      "running-time-start", G_TYPE_UINT64, d->running_time_start,
      "wallclock-end", G_TYPE_INT64, d->wallclock_end,
      "stream-id", G_TYPE_STRING, d->stream_id ? d->stream_id : "",
      "model-fingerprint", G_TYPE_STRING, d->model_fingerprint,
      "support-path", G_TYPE_STRING, d->support_path, NULL);
  if (d->is_region)
    gst_structure_set (s, "roi-id", G_TYPE_INT, d->roi_id,
        "roi-x", G_TYPE_INT, d->roi_x, "roi-y", G_TYPE_INT, d->roi_y,
        "roi-width", G_TYPE_INT, d->roi_width,
        "roi-height", G_TYPE_INT, d->roi_height, NULL);
  if (d->is_region && d->roi_type)
    gst_structure_set (s, "roi-type", G_TYPE_STRING, d->roi_type, NULL);
  return s;
}

gint
gst_hyrsm_decision_region (const GstStructure *decision)
{
  gint id;
  return gst_structure_get_int (decision, "roi-id", &id) ? id : -1;
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
