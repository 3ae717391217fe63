/* test-hyrsmfilter.c: hyrsmfilter through GstHarness (regions of interest:
 * test-hyrsmfilter-roi.c; shared fixtures: element-fixtures.c). */
#include <gst/check/gstcheck.h>
#include <gst/check/gstharness.h>
#include <gst/video/video.h>
#include <glib/gstdio.h>
#include <stdlib.h>
#include <hyrsm.h>
#include <gsthyrsm.h>

#include "element-fixtures.h"

/* Starts hyrsmfilter with @model and returns the error posted when it
 * refuses to go to PLAYING. (GstHarness asserts that its element starts,
 * so this one is driven by hand.) */
static GError *
start_error (const char *model, const char *device, char **debug)
{
  GstElement *element = make_filter (model, device);
  GstBus *bus = gst_bus_new ();
  gst_element_set_bus (element, bus);
  GstStateChangeReturn ret = gst_element_set_state (element,
      GST_STATE_PLAYING);
  fail_unless_equals_int (ret, GST_STATE_CHANGE_FAILURE);
  GstMessage *msg = gst_bus_pop_filtered (bus, GST_MESSAGE_ERROR);
  fail_unless (msg != NULL, "no error message posted");
  GError *error = NULL;
  gst_message_parse_error (msg, &error, debug);
  gst_message_unref (msg);
  gst_element_set_state (element, GST_STATE_NULL);
  gst_element_set_bus (element, NULL);
  gst_object_unref (bus);
  gst_object_unref (element);
  return error;
}

GST_START_TEST (test_no_model)
{
  GstElement *e = gst_element_factory_make ("hyrsmfilter", NULL);
  GstBus *bus = gst_bus_new ();
  gst_element_set_bus (e, bus);
  fail_unless_equals_int (gst_element_set_state (e, GST_STATE_PLAYING),
      GST_STATE_CHANGE_FAILURE);
  GstMessage *msg = gst_bus_pop_filtered (bus, GST_MESSAGE_ERROR);
  GError *error = NULL;
  gst_message_parse_error (msg, &error, NULL);
  gst_message_unref (msg);
  gst_element_set_state (e, GST_STATE_NULL);
  gst_element_set_bus (e, NULL);
  gst_object_unref (bus);
  gst_object_unref (e);
  fail_unless (g_error_matches (error, GST_RESOURCE_ERROR,
          GST_RESOURCE_ERROR_NOT_FOUND), "%s", error->message);
  fail_unless (strstr (error->message, "model") != NULL, "%s",
      error->message);
  g_error_free (error);
}
GST_END_TEST;

GST_START_TEST (test_missing_model)
{
  g_autofree char *path = g_build_filename (tmpdir, "absent.safetensors",
      NULL);
  g_autofree char *debug = NULL;
  GError *error = start_error (path, NULL, &debug);
  fail_unless (g_error_matches (error, GST_RESOURCE_ERROR,
          GST_RESOURCE_ERROR_NOT_FOUND), "%s", error->message);
  fail_unless (strstr (error->message, path) != NULL, "%s", error->message);
  g_error_free (error);
}
GST_END_TEST;

GST_START_TEST (test_corrupt_model)
{
  g_autofree char *path = g_build_filename (tmpdir, "corrupt.safetensors",
      NULL);
  fail_unless (g_file_set_contents (path, "\x20\0\0\0\0\0\0\0{not json", 17,
          NULL));
  g_autofree char *debug = NULL;
  GError *error = start_error (path, NULL, &debug);
  fail_unless (g_error_matches (error, GST_RESOURCE_ERROR,
          GST_RESOURCE_ERROR_READ), "%s", error->message);
  fail_unless (strstr (error->message, path) != NULL, "%s", error->message);
  /* The debug string carries the parser's reason. */
  fail_unless (debug && strstr (debug, "past the end"), "%s", debug);
  g_error_free (error);
}
GST_END_TEST;

GST_START_TEST (test_bad_device)
{
  GError *error = start_error (model_path, "cuda:3", NULL);
  fail_unless (error->domain == GST_RESOURCE_ERROR, "%s", error->message);
  fail_unless (strstr (error->message, "cuda:3") != NULL, "%s",
      error->message);
  g_error_free (error);
}
GST_END_TEST;

/* device=bogus says the device is wrong, not that the model file is. */
GST_START_TEST (test_invalid_device_named)
{
  GError *error = start_error (model_path, "bogus", NULL);
  fail_unless (strstr (error->message, "\"bogus\"") != NULL
      && strstr (error->message, "auto, cpu, cuda") != NULL, "%s",
      error->message);
  fail_if (strstr (error->message, "Could not load model file") != NULL,
      "%s", error->message);
  g_error_free (error);
}
GST_END_TEST;

/* ---- streaming ---- */


/* window 800 ms, T = 8: a sample every 100 ms (3 frames); stride 200 ms:
 * a decision every 2 samples, from the 8th sample on. 90 frames = 30
 * samples: decisions at samples 7, 9, ..., 29 = 12. */
GST_START_TEST (test_decision_per_stride)
{
  Fixture f = start_filter (model_path,
      "window 800000000 stride 200000000 sync always", FALSE);
  guint metas = push_frames (f.h, 0, 90, RGB_SIZE);
  GstStructure *last = NULL;
  guint decisions = count_decisions (f.bus, &last);
  fail_unless_equals_int (decisions, 12);
  fail_unless_equals_int (metas, 12);
  fail_unless_equals_uint64 (get_stat (f.h->element, "frames-in"), 90);
  fail_unless_equals_uint64 (get_stat (f.h->element, "frames-embedded"), 30);
  fail_unless_equals_uint64 (get_stat (f.h->element, "windows-classified"), 12);
  fail_unless_equals_uint64 (get_stat (f.h->element, "windows-dropped"), 0);

  /* The last window: samples 22..29, i.e. 2.2 s to 3.0 s. */
  GstHyrsmDecision d;
  read_decision (last, &d);
  fail_unless_equals_uint64 (d.window_start, 2200 * GST_MSECOND);
  fail_unless_equals_uint64 (d.window_end, 3000 * GST_MSECOND);
  fail_unless (g_strcmp0 (d.label, "left") == 0
      || g_strcmp0 (d.label, "right") == 0, "label %s", d.label);
  fail_unless_equals_int (d.n_classes, 2);
  fail_unless (d.confidence >= 0.5 && d.confidence <= 1.0);
  gst_hyrsm_decision_clear (&d);
  gst_structure_free (last);
  stop_filter (&f);
}
GST_END_TEST;

GST_START_TEST (test_threshold_unknown)
{
  Fixture f = start_filter (model_path,
      "window 800000000 stride 800000000 sync always threshold 0.0000001",
      FALSE);
  push_frames (f.h, 0, 30, RGB_SIZE);
  GstStructure *last = NULL;
  fail_unless_equals_int (count_decisions (f.bus, &last), 1);
  GstHyrsmDecision d;
  read_decision (last, &d);
  fail_unless_equals_string (d.label, "unknown");
  fail_unless (d.unknown);
  gst_hyrsm_decision_clear (&d);
  gst_structure_free (last);
  stop_filter (&f);
}
GST_END_TEST;

/* Live, with an engine slowed to 300 ms per batch: frames never wait and
 * none is lost; windows that cannot be served are dropped and counted. */
GST_START_TEST (test_live_drops_windows)
{
  /* Each test runs in its own process, so this engine is this test's. */
  g_setenv ("HYRSM_ENGINE_DELAY_MS", "300", TRUE);
  Fixture f = start_filter (model_path,
      "window 800000000 stride 100000000", TRUE);
  push_frames (f.h, 0, 120, RGB_SIZE);
  GstElement *e = f.h->element;
  fail_unless_equals_uint64 (get_stat (e, "frames-in"), 120);
  /* 40 samples, windows due at samples 7..39: 33. */
  guint64 classified, dropped;
  for (int i = 0; i < 100; i++) {
    classified = get_stat (e, "windows-classified");
    dropped = get_stat (e, "windows-dropped");
    if (classified + dropped == 33)
      break;
    g_usleep (100000);
  }
  fail_unless_equals_uint64 (classified + dropped, 33);
  fail_unless (dropped > 0, "no window dropped by a slow live engine");
  stop_filter (&f);
}
GST_END_TEST;

GST_START_TEST (test_sync_processes_every_window)
{
  g_setenv ("HYRSM_ENGINE_DELAY_MS", "100", TRUE);
  Fixture f = start_filter (model_path,
      "window 800000000 stride 200000000", FALSE);
  push_frames (f.h, 0, 45, RGB_SIZE);
  /* 15 samples: decisions at 7, 9, 11, 13. */
  fail_unless_equals_uint64 (get_stat (f.h->element, "windows-classified"), 4);
  fail_unless_equals_uint64 (get_stat (f.h->element, "windows-dropped"), 0);
  fail_unless_equals_int (count_decisions (f.bus, NULL), 4);
  stop_filter (&f);
}
GST_END_TEST;

GST_START_TEST (test_flush_mid_window)
{
  Fixture f = start_filter (model_path,
      "window 800000000 stride 800000000 sync always", FALSE);
  push_frames (f.h, 0, 15, RGB_SIZE);   /* half a window */
  fail_unless (gst_harness_push_event (f.h, gst_event_new_flush_start ()));
  fail_unless (gst_harness_push_event (f.h, gst_event_new_flush_stop (TRUE)));
  GstSegment seg;
  gst_segment_init (&seg, GST_FORMAT_TIME);
  fail_unless (gst_harness_push_event (f.h, gst_event_new_segment (&seg)));
  /* After the flush the grid restarts: the window's 8th sample (750 ms)
   * falls in frame 22. */
  push_frames (f.h, 0, 22, RGB_SIZE);
  fail_unless_equals_int (count_decisions (f.bus, NULL), 0);
  push_frames (f.h, 22, 23, RGB_SIZE);
  fail_unless_equals_int (count_decisions (f.bus, NULL), 1);
  stop_filter (&f);
}
GST_END_TEST;

GST_START_TEST (test_eos_mid_window)
{
  Fixture f = start_filter (model_path,
      "window 800000000 stride 800000000 sync always", FALSE);
  push_frames (f.h, 0, 20, RGB_SIZE);
  fail_unless (gst_harness_push_event (f.h, gst_event_new_eos ()));
  fail_unless_equals_int (count_decisions (f.bus, NULL), 0);
  fail_unless_equals_uint64 (get_stat (f.h->element, "windows-dropped"), 0);
  stop_filter (&f);
}
GST_END_TEST;

GST_START_TEST (test_caps_change)
{
  Fixture f = start_filter (model_path,
      "window 800000000 stride 400000000 sync always", FALSE);
  push_frames (f.h, 0, 30, RGB_SIZE);
  fail_unless_equals_int (count_decisions (f.bus, NULL), 1);
  /* Size and format change mid-stream: I420 at an odd size. */
  gst_harness_set_src_caps_str (f.h,
      "video/x-raw,format=I420,width=97,height=71,framerate=30/1");
  GstVideoInfo info;
  gst_video_info_set_format (&info, GST_VIDEO_FORMAT_I420, 97, 71);
  /* Samples 10..19 (1.05 s .. 1.95 s): windows end at samples 11, 15, 19. */
  guint metas = push_frames (f.h, 30, 60, GST_VIDEO_INFO_SIZE (&info));
  fail_unless_equals_int (metas, 3);
  fail_unless_equals_int (count_decisions (f.bus, NULL), 3);
  stop_filter (&f);
}
GST_END_TEST;

GST_START_TEST (test_properties_while_streaming)
{
  Fixture f = start_filter (model_path,
      "window 800000000 stride 100000000", TRUE);
  GValue threshold = G_VALUE_INIT, stride = G_VALUE_INIT,
      message = G_VALUE_INIT;
  g_value_init (&threshold, G_TYPE_DOUBLE);
  g_value_set_double (&threshold, 0.5);
  g_value_init (&stride, G_TYPE_UINT64);
  g_value_set_uint64 (&stride, 300 * GST_MSECOND);
  g_value_init (&message, G_TYPE_BOOLEAN);
  g_value_set_boolean (&message, FALSE);
  GstHarnessThread *t1 = gst_harness_stress_property_start_full (f.h,
      "threshold", &threshold, 100);
  GstHarnessThread *t2 = gst_harness_stress_property_start_full (f.h,
      "stride", &stride, 100);
  GstHarnessThread *t3 = gst_harness_stress_property_start_full (f.h,
      "post-messages", &message, 100);
  push_frames (f.h, 0, 90, RGB_SIZE);
  gst_harness_stress_thread_stop (t1);
  gst_harness_stress_thread_stop (t2);
  gst_harness_stress_thread_stop (t3);
  fail_unless_equals_uint64 (get_stat (f.h->element, "frames-in"), 90);
  g_value_unset (&threshold);
  g_value_unset (&stride);
  g_value_unset (&message);
  stop_filter (&f);
}
GST_END_TEST;

static gboolean
wait_for_labels (GstElement *e, guint n)
{
  for (int i = 0; i < 200; i++) {
    gchar **labels = NULL;
    g_object_get (e, "labels", &labels, NULL);
    guint have = labels ? g_strv_length (labels) : 0;
    g_strfreev (labels);
    if (have == n)
      return TRUE;
    g_usleep (20000);
  }
  return FALSE;
}

GST_START_TEST (test_hot_reload)
{
  Fixture f = start_filter (model_path,
      "window 800000000 stride 200000000 sync always", FALSE);
  push_frames (f.h, 0, 30, RGB_SIZE);
  g_object_set (f.h->element, "support", other_support_dir, NULL);
  /* Frames keep flowing while the new set loads. */
  push_frames (f.h, 30, 60, RGB_SIZE);
  fail_unless (wait_for_labels (f.h->element, 3));
  count_decisions (f.bus, NULL);
  push_frames (f.h, 60, 90, RGB_SIZE);
  GstStructure *last = NULL;
  fail_unless (count_decisions (f.bus, &last) > 0);
  GstHyrsmDecision d;
  read_decision (last, &d);
  fail_unless_equals_int (d.n_classes, 3);
  gst_hyrsm_decision_clear (&d);
  gst_structure_free (last);
  fail_unless_equals_uint64 (get_stat (f.h->element, "frames-in"), 90);
  stop_filter (&f);
}
GST_END_TEST;

GST_START_TEST (test_enroll)
{
  g_autofree char *dir = g_build_filename (tmpdir, "enroll-set", NULL);
  g_autofree char *cmd = g_strdup_printf ("cp -r %s %s", support_dir, dir);
  fail_unless (system (cmd) == 0);
  Fixture f = start_filter (model_path,
      "window 800000000 stride 800000000 sync always", FALSE);
  gboolean ok = TRUE;
  g_signal_emit_by_name (f.h->element, "enroll", "wave", &ok);
  fail_if (ok, "enroll succeeded before any window");
  g_object_set (f.h->element, "support", dir, NULL);
  fail_unless (wait_for_labels (f.h->element, 2));
  push_frames (f.h, 0, 24, RGB_SIZE);
  g_signal_emit_by_name (f.h->element, "enroll", "wave", &ok);
  fail_unless (ok);
  gchar **labels = NULL;
  g_object_get (f.h->element, "labels", &labels, NULL);
  fail_unless (g_strv_contains ((const gchar * const *) labels, "wave"));
  g_strfreev (labels);
  /* Frames 24..47 repeat 0..23: the enrolled window is their exact match. */
  count_decisions (f.bus, NULL);
  push_frames (f.h, 24, 48, RGB_SIZE);
  GstStructure *last = NULL;
  fail_unless_equals_int (count_decisions (f.bus, &last), 1);
  GstHyrsmDecision decision;
  read_decision (last, &decision);
  fail_unless_equals_string (decision.label, "wave");
  gst_hyrsm_decision_clear (&decision);
  gst_structure_free (last);
  /* And it was written to the set's folder. */
  g_autofree char *wave = g_build_filename (dir, "wave", NULL);
  GDir *d = g_dir_open (wave, 0, NULL);
  fail_unless (d != NULL);
  const char *name = g_dir_read_name (d);
  fail_unless (name && g_str_has_suffix (name, ".hyrsm"));
  g_dir_close (d);
  stop_filter (&f);
}
GST_END_TEST;

/* ---- hostile timing and settings ---- */

/* Pushes @n frames of duration @duration from @pts0 (sync mode: returns
 * when all were processed). @duration NONE: frames without duration. */
static void
push_timed (GstHarness *h, GstClockTime pts0, GstClockTime step,
    GstClockTime duration, int n, int first_index)
{
  for (int i = 0; i < n; i++) {
    GstBuffer *buf = make_frame (h, first_index + i, RGB_SIZE);
    GST_BUFFER_PTS (buf) = pts0 + i * step;
    GST_BUFFER_DURATION (buf) = duration;
    GstBuffer *out = gst_harness_push_and_pull (h, buf);
    fail_unless (out != NULL, "frame %d not passed on", i);
    gst_buffer_unref (out);
  }
}

/* A stride far beyond any stream (and the largest the property allows)
 * rounds to one decision per grid: the first window only, no crash. */
GST_START_TEST (test_huge_stride)
{
  const char *strides[] = { "4294967296000000000", "18446744073709551615" };
  for (guint i = 0; i < G_N_ELEMENTS (strides); i++) {
    g_autofree char *props = g_strdup_printf ("window 8000000000 stride %s "
        "sync always", strides[i]);
    Fixture f = start_filter (model_path, props, FALSE);
    push_frames (f.h, 0, 300, RGB_SIZE);
    fail_unless_equals_int (count_decisions (f.bus, NULL), 1);
    fail_unless_equals_uint64 (get_stat (f.h->element, "frames-in"), 300);
    stop_filter (&f);
  }
}
GST_END_TEST;

/* A year-long hole in the timestamps restarts the grid: no walk over its
 * points, no flood of dropped windows, decisions again a window later. */
GST_START_TEST (test_timestamp_gap_restarts_grid)
{
  const GstClockTime year = 365 * 24 * 3600 * GST_SECOND;
  const char *syncs[] = { "always", "never" };
  for (guint i = 0; i < G_N_ELEMENTS (syncs); i++) {
    g_autofree char *props = g_strdup_printf ("window 800000000 "
        "stride 200000000 sync %s", syncs[i]);
    Fixture f = start_filter (model_path, props, FALSE);
    gint64 begin = g_get_monotonic_time ();
    push_timed (f.h, 0, GST_SECOND / 30, GST_SECOND / 30, 30, 0);
    push_timed (f.h, year, GST_SECOND / 30, GST_SECOND / 30, 30, 30);
    /* And a DISCONT after a small hole (half a window) restarts it too. */
    GstBuffer *buf = make_frame (f.h, 60, RGB_SIZE);
    GST_BUFFER_PTS (buf) = year + 1400 * GST_MSECOND;
    GST_BUFFER_FLAG_SET (buf, GST_BUFFER_FLAG_DISCONT);
    gst_buffer_unref (gst_harness_push_and_pull (f.h, buf));
    push_timed (f.h, year + 1400 * GST_MSECOND + GST_SECOND / 30,
        GST_SECOND / 30, GST_SECOND / 30, 29, 61);
    /* Walking the hole's points took minutes; 90 frames take seconds
     * (scaled for slow runs: valgrind sets CK_TIMEOUT_MULTIPLIER). */
    const char *slow = g_getenv ("CK_TIMEOUT_MULTIPLIER");
    gint64 bound = 20 * G_USEC_PER_SEC * (slow ? MAX (atoi (slow), 1) : 1);
    fail_unless (g_get_monotonic_time () - begin < bound,
        "a timestamp gap stalled the streaming thread");
    GstElement *e = f.h->element;
    /* Each second: 10 samples, windows at samples 7 and 9. In async mode
     * the last ones may still be on the engine: wait until all 6 are
     * accounted for (decided or dropped), as long as the run is slow. */
    for (int j = 0; j < 100 * (bound / (20 * G_USEC_PER_SEC))
        && get_stat (e, "windows-classified") + get_stat (e,
            "windows-dropped") < 6; j++)
      g_usleep (50000);
    fail_unless_equals_uint64 (get_stat (e, "windows-classified")
        + get_stat (e, "windows-dropped"), 6);
    fail_unless_equals_uint64 (get_stat (e, "windows-incomplete"), 0);
    stop_filter (&f);
  }
}
GST_END_TEST;

/* window=1 ns: clamped to T frames, with a warning; decisions follow. */
GST_START_TEST (test_window_too_short)
{
  Fixture f = start_filter (model_path, "window 1 stride 500000000 sync always",
      FALSE);
  push_frames (f.h, 0, 60, RGB_SIZE);
  fail_unless_equals_int (count_messages (f.bus, GST_MESSAGE_WARNING,
          "shorter than 8 frames"), 1);
  /* A sample per frame; windows at frames 7, 22, 37, 52. */
  fail_unless_equals_uint64 (get_stat (f.h->element, "windows-classified"), 4);
  fail_unless_equals_uint64 (get_stat (f.h->element, "frames-sampled"), 60);
  stop_filter (&f);
}
GST_END_TEST;

/* The window the support set gives (window=0) follows a frame rate too
 * low for it without a warning (gst-validate saw one for 1.59967 s at 5 fps
 * becoming 1.6 s), and a user-set window that only rounds up does not warn
 * either; decisions follow in both. */
GST_START_TEST (test_window_adapted_quietly)
{
  const char *props[] = { "stride 500000000 sync always",
    "window 1599666666 stride 500000000 sync always"
  };
  const char *caps[] = {
    "video/x-raw,format=RGB,width=64,height=48,framerate=2/1",
    "video/x-raw,format=RGB,width=64,height=48,framerate=5/1"
  };
  /* Frames are stamped 30 a second: 5 s, then 2 s, hold a window. */
  const int n_frames[] = { 150, 60 };
  for (guint i = 0; i < G_N_ELEMENTS (props); i++) {
    Fixture f = start_filter (model_path, props[i], FALSE);
    gst_harness_set_src_caps_str (f.h, caps[i]);
    push_frames (f.h, 0, n_frames[i], RGB_SIZE);
    fail_unless_equals_int (count_messages (f.bus, GST_MESSAGE_WARNING,
            "shorter than"), 0);
    fail_unless (get_stat (f.h->element, "windows-classified") > 0);
    stop_filter (&f);
  }
}
GST_END_TEST;

/* A failed switch keeps the set in use, and the property names it again:
 * enroll writes into that set, not into the path that failed. */
GST_START_TEST (test_failed_support_switch)
{
  g_autofree char *dir = g_build_filename (tmpdir, "switch-set", NULL);
  g_autofree char *cmd = g_strdup_printf ("cp -r %s %s", support_dir, dir);
  fail_unless (system (cmd) == 0);
  g_autofree char *gone = g_build_filename (tmpdir, "gone_dir", NULL);
  Fixture f = start_filter (model_path,
      "window 800000000 stride 800000000 sync always", FALSE);
  g_object_set (f.h->element, "support", dir, NULL);
  fail_unless (wait_for_labels (f.h->element, 2));
  push_frames (f.h, 0, 24, RGB_SIZE);
  count_messages (f.bus, GST_MESSAGE_WARNING, NULL);

  g_object_set (f.h->element, "support", gone, NULL);
  g_autofree char *now = NULL;
  for (int i = 0; i < 100; i++) {
    g_clear_pointer (&now, g_free);
    g_object_get (f.h->element, "support", &now, NULL);
    if (g_strcmp0 (now, dir) == 0)
      break;
    g_usleep (50000);
  }
  fail_unless_equals_string (now, dir);
  fail_unless_equals_int (count_messages (f.bus, GST_MESSAGE_WARNING,
          "gone_dir"), 1);
  gboolean ok = FALSE;
  g_signal_emit_by_name (f.h->element, "enroll", "wave", &ok);
  fail_unless (ok);
  g_autofree char *wave = g_build_filename (dir, "wave", NULL);
  fail_unless (g_file_test (wave, G_FILE_TEST_IS_DIR));
  fail_if (g_file_test (gone, G_FILE_TEST_EXISTS));
  gchar **labels = NULL;
  g_object_get (f.h->element, "labels", &labels, NULL);
  fail_unless_equals_int (g_strv_length (labels), 3);
  g_strfreev (labels);
  stop_filter (&f);
}
GST_END_TEST;

/* A camera giving a frame every 10 s: each frame covers 100 samples; no
 * window is lost to the ring. 3 frames = 300 samples, windows at samples
 * 7, 9, ..., 299. */
GST_START_TEST (test_slow_source)
{
  Fixture f = start_filter (model_path,
      "window 800000000 stride 200000000 sync always", FALSE);
  push_timed (f.h, 0, 10 * GST_SECOND, 10 * GST_SECOND, 3, 0);
  fail_unless_equals_uint64 (get_stat (f.h->element, "windows-classified"),
      147);
  fail_unless_equals_uint64 (get_stat (f.h->element, "windows-dropped"), 0);
  fail_unless_equals_uint64 (get_stat (f.h->element, "windows-incomplete"), 0);
  fail_unless_equals_uint64 (get_stat (f.h->element, "frames-embedded"), 3);
  fail_unless_equals_int (count_decisions (f.bus, NULL), 147);
  stop_filter (&f);
}
GST_END_TEST;

/* framerate=0/1 and no durations (a slideshow): a frame lasts until the
 * next one; the last one, at EOS, one sampling period. Frames at 0, 1, 2,
 * 3 s: 31 samples, windows at 7, 9, ..., 29. */
GST_START_TEST (test_frames_without_duration)
{
  Fixture f = start_filter (model_path,
      "window 800000000 stride 200000000 sync always", FALSE);
  gst_harness_set_src_caps_str (f.h,
      "video/x-raw,format=RGB,width=64,height=48,framerate=0/1");
  push_timed (f.h, 0, GST_SECOND, GST_CLOCK_TIME_NONE, 4, 0);
  fail_unless (gst_harness_push_event (f.h, gst_event_new_eos ()));
  fail_unless_equals_uint64 (get_stat (f.h->element, "windows-classified"),
      12);
  fail_unless_equals_uint64 (get_stat (f.h->element, "windows-incomplete"), 0);
  fail_unless_equals_uint64 (get_stat (f.h->element, "frames-embedded"), 4);
  stop_filter (&f);
}
GST_END_TEST;

/* Buffers without timestamps pass, with one warning saying why they are
 * not recognized. */
GST_START_TEST (test_no_timestamps_warns_once)
{
  Fixture f = start_filter (model_path, "sync always", FALSE);
  for (int i = 0; i < 40; i++) {
    GstBuffer *buf = make_frame (f.h, i, RGB_SIZE);
    GST_BUFFER_PTS (buf) = GST_CLOCK_TIME_NONE;
    gst_buffer_unref (gst_harness_push_and_pull (f.h, buf));
  }
  fail_unless_equals_int (count_messages (f.bus, GST_MESSAGE_WARNING,
          "without timestamps"), 1);
  fail_unless_equals_uint64 (get_stat (f.h->element, "frames-in"), 40);
  stop_filter (&f);
}
GST_END_TEST;

/* sync=true on a live source: the latency is known (and announced) before
 * the first decision. */
GST_START_TEST (test_sync_live_reports_latency_at_start)
{
  Fixture f = start_filter (model_path,
      "window 800000000 stride 200000000 sync always", TRUE);
  push_frames (f.h, 0, 1, RGB_SIZE);
  fail_unless (count_messages (f.bus, GST_MESSAGE_LATENCY, NULL) >= 1,
      "no LATENCY message");
  GstQuery *q = gst_query_new_latency ();
  fail_unless (gst_pad_peer_query (f.h->sinkpad, q));
  GstClockTime min;
  gst_query_parse_latency (q, NULL, &min, NULL);
  gst_query_unref (q);
  fail_unless (min > 0, "latency 0 before the first decision");
  stop_filter (&f);
}
GST_END_TEST;

/* Settings read at start are refused while running, with a warning,
 * rather than silently not applying. */
GST_START_TEST (test_start_settings_refused_while_running)
{
  Fixture f = start_filter (model_path, "sync always", FALSE);
  push_frames (f.h, 0, 3, RGB_SIZE);
  gst_util_set_object_arg (G_OBJECT (f.h->element), "sync", "never");
  g_object_set (f.h->element, "device", "cpu", NULL);
  gint sync;
  g_autofree char *device = NULL;
  g_object_get (f.h->element, "sync", &sync, "device", &device, NULL);
  GEnumValue *v = g_enum_get_value (g_type_class_peek (G_PARAM_SPEC_VALUE_TYPE
          (g_object_class_find_property (G_OBJECT_GET_CLASS (f.h->element),
                  "sync"))), sync);
  fail_unless_equals_string (v->value_nick, "always");
  fail_unless_equals_string (device, "auto");
  fail_unless_equals_int (count_messages (f.bus, GST_MESSAGE_WARNING,
          "cannot change while the element is running"), 2);
  stop_filter (&f);
}
GST_END_TEST;

/* "message" is kept as a deprecated alias of "post-messages" (as in
 * `level`): both names set and read the same switch. */
GST_START_TEST (test_message_alias)
{
  GstElement *e = gst_element_factory_make ("hyrsmfilter", NULL);
  gboolean post = FALSE, message = FALSE;
  g_object_get (e, "post-messages", &post, NULL);
  fail_unless (post);
  g_object_set (e, "message", FALSE, NULL);
  g_object_get (e, "post-messages", &post, "message", &message, NULL);
  fail_unless (!post && !message);
  GParamSpec *spec = g_object_class_find_property (G_OBJECT_GET_CLASS (e),
      "message");
  fail_unless (spec->flags & G_PARAM_DEPRECATED);
  gst_object_unref (e);
}
GST_END_TEST;

/* libhyrsm's log (which device a model runs on) reaches GStreamer's
 * "hyrsm" debug category once the plugin is loaded. The log function stays
 * installed (removing one leaks a list node inside GStreamer) and collects
 * only while a test gives it an array. */
static GMutex log_lock;
static GPtrArray *log_lines;    /* log_lock */

static void
collect_hyrsm_log (GstDebugCategory *category, GstDebugLevel level,
    const gchar *file, const gchar *function, gint line, GObject *object,
    GstDebugMessage *message, gpointer user_data)
{
  if (g_strcmp0 (gst_debug_category_get_name (category), "hyrsm") != 0)
    return;
  g_mutex_lock (&log_lock);
  if (log_lines)
    g_ptr_array_add (log_lines, g_strdup (gst_debug_message_get (message)));
  g_mutex_unlock (&log_lock);
}

GST_START_TEST (test_library_log_in_debug_category)
{
  static gboolean installed;
  if (!installed)
    gst_debug_add_log_function (collect_hyrsm_log, NULL, NULL);
  installed = TRUE;
  /* A model file of its own, so that this test loads it (valgrind runs
   * every test in one process, where the model would be shared). */
  g_autofree char *model = g_build_filename (tmpdir, "log.safetensors", NULL);
  g_autofree char *cmd = g_strdup_printf ("cp %s %s", model_path, model);
  fail_unless (system (cmd) == 0);
  GPtrArray *lines = g_ptr_array_new_with_free_func (g_free);
  g_mutex_lock (&log_lock);
  log_lines = lines;
  g_mutex_unlock (&log_lock);
  gst_debug_set_active (TRUE);
  gst_debug_set_threshold_for_name ("hyrsm", GST_LEVEL_INFO);
  Fixture f = start_filter (model, NULL, FALSE);
  push_frames (f.h, 0, 2, RGB_SIZE);
  stop_filter (&f);
  gst_debug_unset_threshold_for_name ("hyrsm");
  g_mutex_lock (&log_lock);
  log_lines = NULL;
  g_mutex_unlock (&log_lock);
  gboolean device_line = FALSE;
  for (guint i = 0; i < lines->len; i++)
    device_line |= strstr (lines->pdata[i], "device auto") != NULL;
  guint n = lines->len;
  g_ptr_array_unref (lines);
  fail_unless (device_line, "no \"device auto\" line in the hyrsm category "
      "(%u lines)", n);
}
GST_END_TEST;

/* A new window applies while playing, from a grid restart. */
GST_START_TEST (test_window_change_applies)
{
  Fixture f = start_filter (model_path,
      "window 800000000 stride 400000000 sync always", FALSE);
  push_frames (f.h, 0, 30, RGB_SIZE);
  g_object_set (f.h->element, "window", (guint64) 1600 * GST_MSECOND, NULL);
  count_decisions (f.bus, NULL);
  push_frames (f.h, 30, 120, RGB_SIZE);
  GstStructure *last = NULL;
  fail_unless (count_decisions (f.bus, &last) > 0);
  GstHyrsmDecision d;
  read_decision (last, &d);
  fail_unless_equals_uint64 (d.window_end - d.window_start,
      1600 * GST_MSECOND);
  gst_hyrsm_decision_clear (&d);
  gst_structure_free (last);
  stop_filter (&f);
}
GST_END_TEST;

/* Restarts (NULL <-> PLAYING, as gst-validate's change_state_intensive
 * does) reuse the model and the support set loaded before: 40 cycles cost
 * far less than 40 loads. A changed directory is loaded again. */
GST_START_TEST (test_restarts_reuse_what_is_loaded)
{
  g_autofree char *dir = g_build_filename (tmpdir, "restart-set", NULL);
  /* A model file of its own: no earlier test of this process (valgrind
   * runs them all in one) has it loaded. */
  g_autofree char *model = g_build_filename (tmpdir, "restart.safetensors",
      NULL);
  g_autofree char *cmd = g_strdup_printf ("cp -r %s %s && cp %s %s",
      support_dir, dir, model_path, model);
  fail_unless (system (cmd) == 0);
  GstElement *e = make_filter (model, NULL);
  g_object_set (e, "support", dir, NULL);
  gint64 t0 = g_get_monotonic_time ();
  fail_unless_equals_int (gst_element_set_state (e, GST_STATE_PLAYING),
      GST_STATE_CHANGE_SUCCESS);
  gint64 first = g_get_monotonic_time () - t0;
  fail_unless_equals_int (gst_element_set_state (e, GST_STATE_NULL),
      GST_STATE_CHANGE_SUCCESS);
  t0 = g_get_monotonic_time ();
  for (int i = 0; i < 40; i++) {
    fail_unless_equals_int (gst_element_set_state (e, GST_STATE_PLAYING),
        GST_STATE_CHANGE_SUCCESS);
    fail_unless_equals_int (gst_element_set_state (e, GST_STATE_NULL),
        GST_STATE_CHANGE_SUCCESS);
  }
  gint64 per_cycle = (g_get_monotonic_time () - t0) / 40;
  GST_INFO ("first start %" G_GINT64_FORMAT " us, then %" G_GINT64_FORMAT
      " us per cycle", first, per_cycle);
  fail_unless (per_cycle * 5 < first, "a restart (%" G_GINT64_FORMAT " us) "
      "costs about a first start (%" G_GINT64_FORMAT " us)", per_cycle, first);

  /* A label added meanwhile: the next start sees it. */
  g_autofree char *cp = g_strdup_printf ("cp -r %s/left %s/extra", dir, dir);
  fail_unless (system (cp) == 0);
  fail_unless_equals_int (gst_element_set_state (e, GST_STATE_PLAYING),
      GST_STATE_CHANGE_SUCCESS);
  gchar **labels = NULL;
  g_object_get (e, "labels", &labels, NULL);
  fail_unless_equals_int (g_strv_length (labels), 3);
  g_strfreev (labels);
  gst_element_set_state (e, GST_STATE_NULL);
  gst_object_unref (e);
}
GST_END_TEST;

/* ---- bad support sets ---- */

static GError *
start_with_support (const char *dir, char **debug)
{
  GstElement *element = make_filter (model_path, NULL);
  g_object_set (element, "support", dir, NULL);
  GstBus *bus = gst_bus_new ();
  gst_element_set_bus (element, bus);
  GstStateChangeReturn ret = gst_element_set_state (element,
      GST_STATE_PLAYING);
  GError *error = NULL;
  if (ret == GST_STATE_CHANGE_FAILURE) {
    GstMessage *msg = gst_bus_pop_filtered (bus, GST_MESSAGE_ERROR);
    fail_unless (msg != NULL);
    gst_message_parse_error (msg, &error, debug);
    gst_message_unref (msg);
  }
  gst_element_set_state (element, GST_STATE_NULL);
  gst_element_set_bus (element, NULL);
  gst_object_unref (bus);
  gst_object_unref (element);
  return error;
}

GST_START_TEST (test_support_missing)
{
  g_autofree char *dir = g_build_filename (tmpdir, "no-such-set", NULL);
  GError *error = start_with_support (dir, NULL);
  fail_unless (error != NULL);
  fail_unless (g_error_matches (error, GST_RESOURCE_ERROR,
          GST_RESOURCE_ERROR_NOT_FOUND), "%s", error->message);
  fail_unless (strstr (error->message, dir) != NULL, "%s", error->message);
  g_error_free (error);
}
GST_END_TEST;

GST_START_TEST (test_support_empty)
{
  g_autofree char *dir = g_build_filename (tmpdir, "empty-set", NULL);
  g_mkdir_with_parents (dir, 0755);
  GError *error = start_with_support (dir, NULL);
  fail_unless (error != NULL);
  fail_unless (error->domain == GST_RESOURCE_ERROR);
  fail_unless (strstr (error->message, dir) != NULL, "%s", error->message);
  g_error_free (error);
}
GST_END_TEST;

GST_START_TEST (test_support_junk_label)
{
  /* One good label, one folder of junk, and a corrupt file among good ones:
   * the element starts with the good label only. */
  g_autofree char *dir = g_build_filename (tmpdir, "junk-set", NULL);
  g_autofree char *cmd = g_strdup_printf ("mkdir -p %s/junk && cp -r %s/left "
      "%s/ && echo garbage > %s/junk/clip.mp4 && : > %s/junk/empty.avi && "
      "echo broken > %s/left/zz-broken.hyrsm", dir, support_dir, dir, dir,
      dir, dir);
  fail_unless (system (cmd) == 0);
  GstElement *e = make_filter (model_path, NULL);
  g_object_set (e, "support", dir, NULL);
  GstBus *bus = gst_bus_new ();
  gst_element_set_bus (e, bus);
  fail_unless (gst_element_set_state (e, GST_STATE_PAUSED) !=
      GST_STATE_CHANGE_FAILURE);
  gchar **labels = NULL;
  g_object_get (e, "labels", &labels, NULL);
  fail_unless_equals_int (g_strv_length (labels), 1);
  fail_unless_equals_string (labels[0], "left");
  g_strfreev (labels);
  GstMessage *msg = gst_bus_pop_filtered (bus, GST_MESSAGE_WARNING);
  fail_unless (msg != NULL, "no warning about the unusable files");
  GError *warning = NULL;
  gst_message_parse_warning (msg, &warning, NULL);
  fail_unless (strstr (warning->message, dir) != NULL, "%s",
      warning->message);
  g_error_free (warning);
  gst_message_unref (msg);
  gst_element_set_state (e, GST_STATE_NULL);
  gst_element_set_bus (e, NULL);
  gst_object_unref (bus);
  gst_object_unref (e);
}
GST_END_TEST;

static Suite *
hyrsmfilter_suite (void)
{
  Suite *s = suite_create ("hyrsmfilter");
  TCase *tc = tcase_create ("start");
  tcase_set_timeout (tc, 120);
  suite_add_tcase (s, tc);
  tcase_add_test (tc, test_no_model);
  tcase_add_test (tc, test_missing_model);
  tcase_add_test (tc, test_corrupt_model);
  tcase_add_test (tc, test_bad_device);
  tcase_add_test (tc, test_invalid_device_named);
  tcase_add_test (tc, test_support_missing);
  tcase_add_test (tc, test_support_empty);
  tcase_add_test (tc, test_support_junk_label);

  TCase *stream = tcase_create ("stream");
  tcase_set_timeout (stream, 300);
  suite_add_tcase (s, stream);
  tcase_add_test (stream, test_decision_per_stride);
  tcase_add_test (stream, test_threshold_unknown);
  tcase_add_test (stream, test_live_drops_windows);
  tcase_add_test (stream, test_sync_processes_every_window);
  tcase_add_test (stream, test_message_alias);
  tcase_add_test (stream, test_library_log_in_debug_category);
  tcase_add_test (stream, test_flush_mid_window);
  tcase_add_test (stream, test_eos_mid_window);
  tcase_add_test (stream, test_caps_change);
  tcase_add_test (stream, test_properties_while_streaming);
  tcase_add_test (stream, test_hot_reload);
  tcase_add_test (stream, test_enroll);

  TCase *timing = tcase_create ("hostile-timing");
  tcase_set_timeout (timing, 300);
  suite_add_tcase (s, timing);
  tcase_add_test (timing, test_huge_stride);
  tcase_add_test (timing, test_timestamp_gap_restarts_grid);
  tcase_add_test (timing, test_window_too_short);
  tcase_add_test (timing, test_window_adapted_quietly);
  tcase_add_test (timing, test_failed_support_switch);
  tcase_add_test (timing, test_slow_source);
  tcase_add_test (timing, test_frames_without_duration);
  tcase_add_test (timing, test_no_timestamps_warns_once);
  tcase_add_test (timing, test_sync_live_reports_latency_at_start);
  tcase_add_test (timing, test_window_change_applies);
  tcase_add_test (timing, test_start_settings_refused_while_running);
  tcase_add_test (timing, test_restarts_reuse_what_is_loaded);

  return s;
}

int
main (int argc, char **argv)
{
  gst_check_init (&argc, &argv);
  fixtures_setup ("hyrsm-element");
  int failed = gst_check_run_suite (hyrsmfilter_suite (), "hyrsmfilter",
      __FILE__);
  fixtures_teardown ();
  return failed;
}
