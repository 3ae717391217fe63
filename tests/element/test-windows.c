/* test-windows.c: hyrsmfilter's window pipeline (gsthyrsmwindows.h)
 * driven directly, with no element and no pipeline: frames in, decisions
 * out, on the real engine with the fixtures' ResNet-18 model. Sync mode
 * returns each window's decision with the frame completing it and reports
 * the same decision through the callback; without a support set windows
 * are dropped, and a set handed over later is used from the next window;
 * a flush drops queued windows silently and the pipeline goes on after
 * it; ROI mode keeps one timeline per region, each decision carrying its
 * region's id and box. */
#include "element-fixtures.h"
#include "gsthyrsmwindows.h"

#include <gst/video/video.h>
#include <string.h>

#define WIDTH 64
#define HEIGHT 48

typedef struct
{
  GMutex lock;
  GPtrArray *decisions;         /* copies of what the callback got */
  guint errors;
} Heard;

static void
on_decision (gpointer data, const GstStructure *decision)
{
  Heard *heard = data;
  g_mutex_lock (&heard->lock);
  g_ptr_array_add (heard->decisions, gst_structure_copy (decision));
  g_mutex_unlock (&heard->lock);
}

static void
on_error (gpointer data, const gchar *message, const gchar *debug)
{
  Heard *heard = data;
  g_mutex_lock (&heard->lock);
  heard->errors++;
  g_mutex_unlock (&heard->lock);
  g_printerr ("error: %s (%s)\n", message, debug);
}

static const GstHyrsmWindowsCallbacks callbacks = { on_decision, on_error,
  NULL
};

static guint
heard_count (Heard *heard)
{
  g_mutex_lock (&heard->lock);
  guint n = heard->decisions->len;
  g_mutex_unlock (&heard->lock);
  return n;
}

typedef struct
{
  HyrsmModel *model;
  HyrsmSupportSet *set;
  GstHyrsmWindows *windows;
  Heard heard;
  GstSegment segment;
} Setup;

/* A set of @labels, two random examples each, for the fixtures' model. */
static HyrsmSupportSet *
random_set (HyrsmModel *model, const char *const *labels, guint32 seed)
{
  HyrsmSupportSet *set = hyrsm_support_set_new (model);
  GRand *rand = g_rand_new_with_seed (seed);
  g_autofree float *x = g_new (float, T * D);
  for (const char *const *l = labels; *l; l++)
    for (int k = 0; k < 2; k++) {
      for (int i = 0; i < T * D; i++)
        x[i] = (float) g_rand_double (rand);
      g_autoptr (GError) error = NULL;
      g_assert_true (hyrsm_support_set_add_raw (set, *l, x, &error));
    }
  g_rand_free (rand);
  return set;
}

static const char *const lr[] = { "left", "right", NULL };
static const char *const uds[] = { "up", "down", "still", NULL };

/* Windows of 400 ms (a sample every 50 ms), a decision every 200 ms, on
 * 64 x 48 RGB at 30 fps. */
static void
setup (Setup *s, gboolean roi, gboolean blocking, gboolean with_set)
{
  g_autoptr (GError) error = NULL;
  s->model = hyrsm_model_new_from_file (model_path, &error);
  g_assert_no_error (error);
  s->set = random_set (s->model, lr, 7);
  g_mutex_init (&s->heard.lock);
  s->heard.decisions = g_ptr_array_new_with_free_func ((GDestroyNotify)
      gst_structure_free);
  s->windows = gst_hyrsm_windows_new (s->model, roi, &callbacks, &s->heard);
  gst_hyrsm_windows_set_support (s->windows, with_set ? s->set : NULL,
      "support", GST_CLOCK_TIME_NONE);
  gst_hyrsm_windows_set_stream_id (s->windows, "test-stream");
  GstVideoInfo info;
  gst_video_info_set_format (&info, GST_VIDEO_FORMAT_RGB, WIDTH, HEIGHT);
  GST_VIDEO_INFO_FPS_N (&info) = 30;
  GST_VIDEO_INFO_FPS_D (&info) = 1;
  gboolean rate_changed;
  g_assert_true (gst_hyrsm_windows_set_caps (s->windows, &info,
          &rate_changed));
  GstClockTime asked;
  GstClockTime used = gst_hyrsm_windows_configure (s->windows,
      400 * GST_MSECOND, 200 * GST_MSECOND, &asked);
  g_assert_cmpuint (used, ==, 400 * GST_MSECOND);
  g_assert_cmpuint (asked, ==, used);
  gst_hyrsm_windows_set_mode (s->windows, blocking, FALSE);
  gst_segment_init (&s->segment, GST_FORMAT_TIME);
}

static void
teardown (Setup *s)
{
  gst_hyrsm_windows_free (s->windows);
  g_ptr_array_unref (s->heard.decisions);
  g_mutex_clear (&s->heard.lock);
  g_object_unref (s->set);
  g_object_unref (s->model);
}

static GstBuffer *
frame (int i)
{
  GstBuffer *buf = gst_buffer_new_allocate (NULL, WIDTH * HEIGHT * 3, NULL);
  GstMapInfo map;
  gst_buffer_map (buf, &map, GST_MAP_WRITE);
  for (gsize j = 0; j < map.size; j++)
    map.data[j] = (guint8) ((i % 24) * 7 + j * 13);
  gst_buffer_unmap (buf, &map);
  GST_BUFFER_PTS (buf) = gst_util_uint64_scale (i, GST_SECOND, 30);
  GST_BUFFER_DURATION (buf) = GST_SECOND / 30;
  return buf;
}

/* Pushes frames [@from, @to); returns the decisions they carried. */
static GPtrArray *
push (Setup *s, int from, int to, const GstHyrsmRegionSettings *regions,
    gboolean with_regions)
{
  GPtrArray *all = g_ptr_array_new_with_free_func ((GDestroyNotify)
      gst_structure_free);
  GPtrArray *out = g_ptr_array_new_with_free_func ((GDestroyNotify)
      gst_structure_free);
  for (int i = from; i < to; i++) {
    GstBuffer *buf = frame (i);
    if (with_regions) {
      /* Two people walking right, side by side. */
      gst_buffer_add_video_region_of_interest_meta (buf, "person", i % 8, 4,
          24, 32)->id = 1;
      gst_buffer_add_video_region_of_interest_meta (buf, "person", 32 + i % 8,
          8, 24, 32)->id = 2;
    }
    gst_hyrsm_windows_push (s->windows, buf, &s->segment, regions, out);
    while (out->len)
      g_ptr_array_add (all, g_ptr_array_steal_index (out, 0));
    gst_buffer_unref (buf);
  }
  g_ptr_array_unref (out);
  return all;
}

static void
assert_decision (const GstStructure *s, const char *const *labels,
    gint region)
{
  GstHyrsmDecision d;
  g_autoptr (GError) error = NULL;
  g_assert_true (gst_hyrsm_decision_from_structure (s, &d, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (d.n_classes, ==, g_strv_length ((gchar **) labels));
  for (guint i = 0; i < d.n_classes; i++)
    g_assert_true (g_strv_contains (labels, d.labels[i]));
  g_assert_true (g_strv_contains (labels, d.label) || d.unknown);
  g_assert_cmpstr (d.stream_id, ==, "test-stream");
  g_assert_cmpstr (d.support_path, ==, "support");
  g_assert_true (GST_CLOCK_TIME_IS_VALID (d.window_end));
  g_assert_cmpuint (d.window_end - d.window_start, ==, 400 * GST_MSECOND);
  g_assert_cmpint (d.is_region, ==, region >= 0);
  if (region >= 0) {
    g_assert_cmpint (d.roi_id, ==, region);
    g_assert_cmpint (d.roi_width, ==, 24);
    g_assert_cmpint (d.roi_height, ==, 32);
    g_assert_cmpint (d.roi_y, ==, region == 1 ? 4 : 8);
  }
  gst_hyrsm_decision_clear (&d);
}

/* Sync: each window's decision rides on the frame that completed it, the
 * same one the callback heard, in order; the stats count them. */
static void
test_sync_decisions (void)
{
  Setup s = { 0 };
  setup (&s, FALSE, TRUE, TRUE);
  g_assert_null (gst_hyrsm_windows_dup_last_window (s.windows));
  g_autoptr (GPtrArray) carried = push (&s, 0, 60, NULL, FALSE);
  /* 2 s: the first window ends at 400 ms, then one every 200 ms. */
  g_assert_cmpuint (carried->len, >=, 8);
  g_assert_cmpuint (carried->len, <=, 9);
  g_assert_cmpuint (heard_count (&s.heard), ==, carried->len);
  GstClockTime last_end = 0;
  for (guint i = 0; i < carried->len; i++) {
    const GstStructure *d = g_ptr_array_index (carried, i);
    g_assert_true (gst_structure_is_equal (d,
            g_ptr_array_index (s.heard.decisions, i)));
    assert_decision (d, lr, -1);
    guint64 end;
    g_assert_true (gst_structure_get_uint64 (d, "window-end", &end));
    g_assert_cmpuint (end, >, last_end);
    last_end = end;
  }
  GstHyrsmWindowsStats st;
  gst_hyrsm_windows_get_stats (s.windows, &st);
  g_assert_cmpuint (st.windows_classified, ==, carried->len);
  g_assert_cmpuint (st.windows_dropped + st.windows_incomplete, ==, 0);
  /* One frame per sample: 2 s / 50 ms. */
  g_assert_cmpuint (st.frames_sampled, ==, 40);
  g_assert_cmpuint (st.frames_embedded, ==, 40);
  g_autofree float *last = gst_hyrsm_windows_dup_last_window (s.windows);
  g_assert_nonnull (last);
  g_assert_cmpuint (s.heard.errors, ==, 0);
  teardown (&s);
}

/* No set: windows are dropped, not decided; a set handed over later is
 * the one the next windows are matched on. */
static void
test_support_arrives_later (void)
{
  Setup s = { 0 };
  setup (&s, FALSE, TRUE, FALSE);
  g_autoptr (GPtrArray) before = push (&s, 0, 30, NULL, FALSE);
  g_assert_cmpuint (before->len, ==, 0);
  GstHyrsmWindowsStats st;
  gst_hyrsm_windows_get_stats (s.windows, &st);
  g_assert_cmpuint (st.windows_dropped, >=, 3);
  g_assert_cmpuint (st.windows_classified, ==, 0);

  g_autoptr (HyrsmSupportSet) other = random_set (s.model, uds, 9);
  gst_hyrsm_windows_set_support (s.windows, other, "support", GST_SECOND);
  g_autoptr (GPtrArray) after = push (&s, 30, 60, NULL, FALSE);
  g_assert_cmpuint (after->len, >=, 4);
  for (guint i = 0; i < after->len; i++)
    assert_decision (g_ptr_array_index (after, i), uds, -1);
  teardown (&s);
}

/* Async: a flush drops what is queued without a decision or an error, and
 * windows are decided again after it. */
static void
test_flush_and_go_on (void)
{
  Setup s = { 0 };
  setup (&s, FALSE, FALSE, TRUE);
  g_autoptr (GPtrArray) a = push (&s, 0, 45, NULL, FALSE);
  gst_hyrsm_windows_set_flushing (s.windows, TRUE);
  gst_hyrsm_windows_wait (s.windows);
  guint at_flush = heard_count (&s.heard);
  gst_hyrsm_windows_reset (s.windows);
  gst_hyrsm_windows_set_flushing (s.windows, FALSE);
  g_assert_cmpuint (heard_count (&s.heard), ==, at_flush);

  g_autoptr (GPtrArray) b = push (&s, 45, 120, NULL, FALSE);
  gst_hyrsm_windows_finish (s.windows);
  gst_hyrsm_windows_wait (s.windows);
  g_assert_cmpuint (heard_count (&s.heard), >, at_flush);
  for (guint i = at_flush; i < s.heard.decisions->len; i++)
    assert_decision (g_ptr_array_index (s.heard.decisions, i), lr, -1);
  g_assert_cmpuint (s.heard.errors, ==, 0);
  teardown (&s);
}

/* ROI: two regions, two timelines: every decision names its region and
 * box, and both regions are decided as often. */
static void
test_regions (void)
{
  Setup s = { 0 };
  setup (&s, TRUE, TRUE, TRUE);
  GstHyrsmRegionSettings regions = {.type = 0,.margin = 0,.square = FALSE,
    .timeout = GST_SECOND
  };
  g_autoptr (GPtrArray) carried = push (&s, 0, 60, &regions, TRUE);
  guint per_region[3] = { 0 };
  for (guint i = 0; i < carried->len; i++) {
    const GstStructure *d = g_ptr_array_index (carried, i);
    gint id = gst_hyrsm_decision_region (d);
    g_assert_true (id == 1 || id == 2);
    assert_decision (d, lr, id);
    per_region[id]++;
  }
  g_assert_cmpuint (per_region[1], >=, 8);
  g_assert_cmpuint (per_region[1], ==, per_region[2]);
  g_assert_cmpuint (heard_count (&s.heard), ==, carried->len);
  teardown (&s);
}

int
main (int argc, char **argv)
{
  gst_init (&argc, &argv);
  g_test_init (&argc, &argv, NULL);
  fixtures_setup ("hyrsm-windows");
  g_test_add_func ("/windows/sync-decisions", test_sync_decisions);
  g_test_add_func ("/windows/support-arrives-later",
      test_support_arrives_later);
  g_test_add_func ("/windows/flush-and-go-on", test_flush_and_go_on);
  g_test_add_func ("/windows/regions", test_regions);
  int ret = g_test_run ();
  fixtures_teardown ();
  return ret;
}
