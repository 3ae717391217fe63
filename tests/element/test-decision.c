/* test-decision.c: the "hyrsm" decision structure's writer and reader
 * (gsthyrsmdecision.h) agree: a decision written by
 * gst_hyrsm_decision_to_structure() reads back the same, as the bus
 * message and as the HyrsmMeta that carries it; what a structure made
 * elsewhere leaves out reads as the documented defaults; and a structure
 * that is not a decision is an error naming what is wrong. Every consumer
 * (hyrsmpublish, hyrsmoverlay, the GstAnalytics writer) reads through this
 * reader, so these are their contract. */
#include <gst/check/gstcheck.h>
#include <math.h>
#include <string.h>
#include <gsthyrsm.h>
#include <gsthyrsmdecision.h>

static const gchar *const labels[] = { "waving", "falling", "sitting" };
static const gdouble distances[] = { 0.25, 1.5, 2.75 };

/* A decision as hyrsmfilter fills it (gsthyrsmwindows.c). */
static GstHyrsmDecision
whole_frame (void)
{
  GstHyrsmDecision d = {
    .label = "waving",.unknown = FALSE,.confidence = 0.625,.distance = 0.25,
    .labels = labels,.distances = distances,.n_classes = 3,
    .window_start = 2200 * GST_MSECOND,.window_end = 3000 * GST_MSECOND,
    .running_time_start = 1200 * GST_MSECOND,.running_time = 2000 * GST_MSECOND,
    .wallclock_end = G_GINT64_CONSTANT (1764625766552946),
    .latency = 15 * GST_MSECOND,
    .stream_id = "abc/001",.model_fingerprint = "55d38c101eaaaeee",
    .support_path = "/tmp/support",
  };
  return d;
}

static void
read_or_fail (const GstStructure *s, GstHyrsmDecision *d)
{
  GError *error = NULL;
  fail_unless (gst_hyrsm_decision_from_structure (s, d, &error), "%s",
      error ? error->message : "?");
  fail_unless (error == NULL);
}

/* @got (read back) says what @want (written) says. */
static void
check_same (const GstHyrsmDecision *got, const GstHyrsmDecision *want)
{
  fail_unless_equals_string (got->label, want->label);
  fail_unless_equals_int (got->unknown, want->unknown);
  fail_unless (got->confidence == want->confidence);
  fail_unless (got->distance == want->distance);
  fail_unless_equals_int (got->n_classes, want->n_classes);
  for (guint i = 0; i < want->n_classes; i++) {
    fail_unless_equals_string (got->labels[i], want->labels[i]);
    fail_unless (got->distances[i] == want->distances[i]);
  }
  /* The labels are also a NULL-terminated strv. */
  fail_unless (got->labels == NULL || got->labels[want->n_classes] == NULL);
  fail_unless_equals_uint64 (got->window_start, want->window_start);
  fail_unless_equals_uint64 (got->window_end, want->window_end);
  fail_unless_equals_uint64 (got->running_time_start,
      want->running_time_start);
  fail_unless_equals_uint64 (got->running_time, want->running_time);
  fail_unless_equals_int64 (got->wallclock_end, want->wallclock_end);
  fail_unless_equals_uint64 (got->latency, want->latency);
  fail_unless_equals_string (got->stream_id, want->stream_id);
  fail_unless_equals_string (got->model_fingerprint, want->model_fingerprint);
  fail_unless_equals_string (got->support_path, want->support_path);
  fail_unless_equals_int (got->is_region, want->is_region);
  if (!want->is_region)
    return;
  fail_unless_equals_int (got->roi_id, want->roi_id);
  fail_unless_equals_string (got->roi_type, want->roi_type);
  fail_unless_equals_int (got->roi_x, want->roi_x);
  fail_unless_equals_int (got->roi_y, want->roi_y);
  fail_unless_equals_int (got->roi_width, want->roi_width);
  fail_unless_equals_int (got->roi_height, want->roi_height);
}

/* Written, read back from the structure and from the HyrsmMeta a buffer
 * carries it in (a structure named after the meta): the same decision. */
static void
check_round_trip (const GstHyrsmDecision *want)
{
  GstStructure *s = gst_hyrsm_decision_to_structure (want);
  fail_unless (gst_structure_has_name (s, GST_HYRSM_DECISION_NAME));
  GstHyrsmDecision got;
  read_or_fail (s, &got);
  check_same (&got, want);
  /* The arrays are the reader's, not the writer's. */
  fail_unless (got.labels != want->labels);
  fail_unless (got.distances != want->distances);
  gst_hyrsm_decision_clear (&got);
  fail_unless (got.label == NULL && got.labels == NULL);
  gst_hyrsm_decision_clear (&got);      /* twice: harmless */

  GstBuffer *buf = gst_buffer_new ();
  gst_buffer_add_hyrsm_meta (buf, s);
  gpointer state = NULL;
  const GstStructure *meta = gst_buffer_iterate_hyrsm_meta (buf, &state);
  fail_unless (meta != NULL);
  read_or_fail (meta, &got);
  check_same (&got, want);
  gst_hyrsm_decision_clear (&got);
  fail_unless (gst_buffer_iterate_hyrsm_meta (buf, &state) == NULL);
  gst_buffer_unref (buf);
  fail_unless_equals_int (gst_hyrsm_decision_region (s),
      want->is_region ? want->roi_id : -1);
  gst_structure_free (s);
}

GST_START_TEST (test_whole_frame_round_trip)
{
  GstHyrsmDecision d = whole_frame ();
  check_round_trip (&d);
  /* "unknown", and a decision over no classes at all. */
  d.label = "unknown";
  d.unknown = TRUE;
  d.n_classes = 0;
  check_round_trip (&d);
  /* The writer puts "" for a stream without an id; the reader keeps it. */
  d.stream_id = NULL;
  GstStructure *s = gst_hyrsm_decision_to_structure (&d);
  GstHyrsmDecision got;
  read_or_fail (s, &got);
  fail_unless_equals_string (got.stream_id, "");
  gst_hyrsm_decision_clear (&got);
  gst_structure_free (s);
}
GST_END_TEST;

GST_START_TEST (test_region_round_trip)
{
  GstHyrsmDecision d = whole_frame ();
  d.is_region = TRUE;
  d.roi_id = 7;
  d.roi_type = "person";
  d.roi_x = 12;
  d.roi_y = 0;
  d.roi_width = 32;
  d.roi_height = 48;
  check_round_trip (&d);
  GstStructure *s = gst_hyrsm_decision_to_structure (&d);
  fail_unless (gst_structure_has_field (s, GST_HYRSM_DECISION_ROI_TYPE));
  gst_structure_free (s);
  /* A region without a type: none written, NULL read. */
  d.roi_type = NULL;
  check_round_trip (&d);
  s = gst_hyrsm_decision_to_structure (&d);
  fail_if (gst_structure_has_field (s, GST_HYRSM_DECISION_ROI_TYPE));
  gst_structure_free (s);
  /* keep_latest keeps one decision per region, the newest. */
  GPtrArray *kept = g_ptr_array_new_with_free_func ((GDestroyNotify)
      gst_structure_free);
  GstHyrsmDecision whole = whole_frame ();
  gst_hyrsm_decisions_keep_latest (kept, gst_hyrsm_decision_to_structure
      (&d));
  gst_hyrsm_decisions_keep_latest (kept, gst_hyrsm_decision_to_structure
      (&whole));
  d.roi_x = 20;
  gst_hyrsm_decisions_keep_latest (kept, gst_hyrsm_decision_to_structure
      (&d));
  gst_hyrsm_decisions_keep_latest (kept, NULL);
  fail_unless_equals_int (kept->len, 2);
  GstHyrsmDecision got;
  read_or_fail (g_ptr_array_index (kept, 1), &got);
  fail_unless (got.is_region && got.roi_x == 20);
  gst_hyrsm_decision_clear (&got);
  g_ptr_array_unref (kept);
}
GST_END_TEST;

/* A HyrsmMeta made by other code with a label only: the rest reads as the
 * defaults gsthyrsmdecision.h documents. */
GST_START_TEST (test_defaults)
{
  GstStructure *s = gst_structure_new (GST_HYRSM_DECISION_NAME,
      GST_HYRSM_DECISION_LABEL, G_TYPE_STRING, "unknown", NULL);
  GstHyrsmDecision d;
  read_or_fail (s, &d);
  fail_unless_equals_string (d.label, "unknown");
  fail_unless (d.unknown);      /* from the label */
  fail_unless (isnan (d.confidence) && isnan (d.distance));
  fail_unless (d.labels == NULL && d.distances == NULL && d.n_classes == 0);
  fail_if (GST_CLOCK_TIME_IS_VALID (d.window_start));
  fail_if (GST_CLOCK_TIME_IS_VALID (d.window_end));
  fail_if (GST_CLOCK_TIME_IS_VALID (d.running_time_start));
  fail_if (GST_CLOCK_TIME_IS_VALID (d.running_time));
  fail_if (GST_CLOCK_TIME_IS_VALID (d.latency));
  fail_unless_equals_int64 (d.wallclock_end, GST_HYRSM_DECISION_NO_WALLCLOCK);
  fail_unless (d.stream_id == NULL && d.model_fingerprint == NULL
      && d.support_path == NULL);
  fail_if (d.is_region);
  gst_hyrsm_decision_clear (&d);
  /* An explicit "unknown" wins over the label. */
  gst_structure_set (s, GST_HYRSM_DECISION_UNKNOWN, G_TYPE_BOOLEAN, FALSE,
      NULL);
  read_or_fail (s, &d);
  fail_if (d.unknown);
  gst_hyrsm_decision_clear (&d);
  gst_structure_free (s);
}
GST_END_TEST;

/* @s (taken) does not read: the error names @field and @d is left
 * cleared. */
static void
check_bad (GstStructure *s, const gchar *field)
{
  GstHyrsmDecision d;
  memset (&d, 0x5a, sizeof d);
  GError *error = NULL;
  fail_if (gst_hyrsm_decision_from_structure (s, &d, &error),
      "read %" GST_PTR_FORMAT, s);
  fail_unless (error != NULL);
  fail_unless (g_error_matches (error, GST_STREAM_ERROR,
          GST_STREAM_ERROR_FORMAT));
  g_autofree gchar *quoted = g_strdup_printf ("\"%s\"", field);
  fail_unless (strstr (error->message, quoted) != NULL,
      "\"%s\" does not name %s", error->message, quoted);
  fail_unless (d.label == NULL && d.owned_labels == NULL
      && d.owned_distances == NULL);
  g_error_free (error);
  gst_structure_free (s);
}

GST_START_TEST (test_bad_structures)
{
  GstHyrsmDecision whole = whole_frame ();
  /* Not a decision at all. */
  check_bad (gst_structure_new ("hyrsm-support", "label", G_TYPE_STRING, "x",
          NULL), "hyrsm-support");
  /* No label. */
  GstStructure *s = gst_hyrsm_decision_to_structure (&whole);
  gst_structure_remove_field (s, GST_HYRSM_DECISION_LABEL);
  check_bad (s, GST_HYRSM_DECISION_LABEL);
  /* A field of the wrong type. */
  s = gst_hyrsm_decision_to_structure (&whole);
  gst_structure_set (s, GST_HYRSM_DECISION_CONFIDENCE, G_TYPE_STRING, "high",
      NULL);
  check_bad (s, GST_HYRSM_DECISION_CONFIDENCE);
  s = gst_hyrsm_decision_to_structure (&whole);
  gst_structure_set (s, GST_HYRSM_DECISION_WINDOW_END, G_TYPE_INT, 3, NULL);
  check_bad (s, GST_HYRSM_DECISION_WINDOW_END);
  /* Labels without distances, and of another length. */
  s = gst_hyrsm_decision_to_structure (&whole);
  gst_structure_remove_field (s, GST_HYRSM_DECISION_DISTANCES);
  check_bad (s, GST_HYRSM_DECISION_DISTANCES);
  GstHyrsmDecision fewer = whole;
  fewer.n_classes = 2;
  s = gst_hyrsm_decision_to_structure (&fewer);
  GstStructure *three = gst_hyrsm_decision_to_structure (&whole);
  gst_structure_set_value (s, GST_HYRSM_DECISION_LABELS,
      gst_structure_get_value (three, GST_HYRSM_DECISION_LABELS));
  gst_structure_free (three);
  check_bad (s, GST_HYRSM_DECISION_DISTANCES);
  /* A region without its box. */
  GstHyrsmDecision region = whole;
  region.is_region = TRUE;
  region.roi_id = 3;
  s = gst_hyrsm_decision_to_structure (&region);
  gst_structure_remove_field (s, GST_HYRSM_DECISION_ROI_WIDTH);
  check_bad (s, GST_HYRSM_DECISION_ROI_WIDTH);
}
GST_END_TEST;

static Suite *
decision_suite (void)
{
  Suite *s = suite_create ("decision");
  TCase *tc = tcase_create ("general");
  suite_add_tcase (s, tc);
  tcase_add_test (tc, test_whole_frame_round_trip);
  tcase_add_test (tc, test_region_round_trip);
  tcase_add_test (tc, test_defaults);
  tcase_add_test (tc, test_bad_structures);
  return s;
}

GST_CHECK_MAIN (decision);
