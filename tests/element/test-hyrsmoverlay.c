/* test-hyrsmoverlay.c: how hyrsmoverlay hands the box on, through
 * GstHarness (the pixel checks are in tests/python/test_overlay.py). */
#include <gst/check/gstcheck.h>
#include <gst/check/gstharness.h>
#include <gst/video/video.h>
#include <gsthyrsm.h>
#include <stdio.h>
#include <string.h>

#define CAPS "video/x-raw,format=I420,width=160,height=120,framerate=10/1"

static GstBuffer *
grey_frame (void)
{
  GstVideoInfo info;
  GstCaps *caps = gst_caps_from_string (CAPS);
  fail_unless (gst_video_info_from_caps (&info, caps));
  gst_caps_unref (caps);
  GstBuffer *buf = gst_buffer_new_allocate (NULL, info.size, NULL);
  gst_buffer_memset (buf, 0, 0x80, info.size);
  GST_BUFFER_PTS (buf) = 0;
  GST_BUFFER_DURATION (buf) = GST_SECOND / 10;
  return buf;
}

static GstStructure *
decision (void)
{
  return gst_structure_from_string ("hyrsm, label=(string)waving, "
      "unknown=(boolean)false, confidence=(double)0.8, distance=(double)0.5, "
      "labels=(string)<waving, falling>, distances=(double)<0.5, 1.5>", NULL);
}

/* Returns the frame pushed through @h with a decision attached. */
static GstBuffer *
push_decided (GstHarness *h)
{
  GstBuffer *in = grey_frame ();
  GstStructure *d = decision ();
  gst_buffer_add_hyrsm_meta (in, d);
  gst_structure_free (d);
  fail_unless_equals_int (gst_harness_push (h, in), GST_FLOW_OK);
  return gst_harness_pull (h);
}

static gboolean
is_grey (GstBuffer *buf)
{
  GstMapInfo map;
  gst_buffer_map (buf, &map, GST_MAP_READ);
  gboolean grey = TRUE;
  for (gsize i = 0; i < map.size && grey; i++)
    grey = map.data[i] == 0x80;
  gst_buffer_unmap (buf, &map);
  return grey;
}

GST_START_TEST (test_blends_without_downstream_support)
{
  GstHarness *h = gst_harness_new ("hyrsmoverlay");
  gst_harness_set_caps_str (h, CAPS, CAPS);
  GstBuffer *out = push_decided (h);
  fail_if (gst_buffer_get_video_overlay_composition_meta (out) != NULL);
  fail_if (is_grey (out), "the box was not blended into the frame");
  gst_buffer_unref (out);
  gst_harness_teardown (h);
}
GST_END_TEST;

GST_START_TEST (test_attaches_meta_when_downstream_renders_it)
{
  GstHarness *h = gst_harness_new ("hyrsmoverlay");
  gst_harness_add_propose_allocation_meta (h,
      GST_VIDEO_OVERLAY_COMPOSITION_META_API_TYPE, NULL);
  gst_harness_set_caps_str (h, CAPS, CAPS);
  GstBuffer *out = push_decided (h);
  GstVideoOverlayCompositionMeta *meta =
      gst_buffer_get_video_overlay_composition_meta (out);
  fail_unless (meta != NULL, "no composition meta");
  fail_unless_equals_int (gst_video_overlay_composition_n_rectangles
      (meta->overlay), 1);
  fail_unless (is_grey (out), "pixels changed although downstream draws");
  gst_buffer_unref (out);

  /* The last decision rides on later frames too. */
  fail_unless_equals_int (gst_harness_push (h, grey_frame ()), GST_FLOW_OK);
  out = gst_harness_pull (h);
  fail_unless (gst_buffer_get_video_overlay_composition_meta (out) != NULL);
  gst_buffer_unref (out);
  gst_harness_teardown (h);
}
GST_END_TEST;

/* A box an upstream overlay attached stays; ours is added to it. */
GST_START_TEST (test_keeps_an_upstream_composition)
{
  GstHarness *h = gst_harness_new ("hyrsmoverlay");
  gst_harness_add_propose_allocation_meta (h,
      GST_VIDEO_OVERLAY_COMPOSITION_META_API_TYPE, NULL);
  gst_harness_set_caps_str (h, CAPS, CAPS);
  GstBuffer *in = grey_frame ();
  GstBuffer *pixels = gst_buffer_new_allocate (NULL, 4 * 4 * 4, NULL);
  gst_buffer_add_video_meta (pixels, GST_VIDEO_FRAME_FLAG_NONE,
      GST_VIDEO_OVERLAY_COMPOSITION_FORMAT_RGB, 4, 4);
  GstVideoOverlayRectangle *theirs = gst_video_overlay_rectangle_new_raw
      (pixels, 100, 100, 4, 4, GST_VIDEO_OVERLAY_FORMAT_FLAG_NONE);
  GstVideoOverlayComposition *comp = gst_video_overlay_composition_new
      (theirs);
  gst_buffer_add_video_overlay_composition_meta (in, comp);
  GstStructure *d = decision ();
  gst_buffer_add_hyrsm_meta (in, d);
  gst_structure_free (d);
  fail_unless_equals_int (gst_harness_push (h, in), GST_FLOW_OK);
  GstBuffer *out = gst_harness_pull (h);
  GstVideoOverlayCompositionMeta *meta =
      gst_buffer_get_video_overlay_composition_meta (out);
  fail_unless (meta != NULL);
  fail_unless_equals_int (gst_video_overlay_composition_n_rectangles
      (meta->overlay), 2);
  gint x, y;
  gst_video_overlay_rectangle_get_render_rectangle
      (gst_video_overlay_composition_get_rectangle (meta->overlay, 0), &x, &y,
      NULL, NULL);
  fail_unless (x == 100 && y == 100, "the upstream box moved: %d,%d", x, y);
  gst_buffer_unref (out);
  gst_video_overlay_composition_unref (comp);
  gst_video_overlay_rectangle_unref (theirs);
  gst_buffer_unref (pixels);
  gst_harness_teardown (h);
}
GST_END_TEST;

/* Luma at (@x, @y) of an I420 160x120 frame. */
static guint8
luma (GstBuffer *buf, int x, int y)
{
  guint8 v;
  gst_buffer_extract (buf, y * 160 + x, &v, 1);
  return v;
}

/* Pushes a grey frame carrying a region of interest (id 4) at @x, @y,
 * with a decision for it when @decided. */
static GstBuffer *
push_region (GstHarness *h, int x, int y, gboolean with_roi, gboolean decided)
{
  GstBuffer *in = grey_frame ();
  if (with_roi)
    gst_buffer_add_video_region_of_interest_meta (in, "person", x, y, 50,
        40)->id = 4;
  if (decided) {
    GstStructure *d = decision ();
    gst_structure_set (d, "roi-id", G_TYPE_INT, 4, "roi-x", G_TYPE_INT, x,
        "roi-y", G_TYPE_INT, y, "roi-width", G_TYPE_INT, 50, "roi-height",
        G_TYPE_INT, 40, NULL);
    gst_buffer_add_hyrsm_meta (in, d);
    gst_structure_free (d);
  }
  fail_unless_equals_int (gst_harness_push (h, in), GST_FLOW_OK);
  return gst_harness_pull (h);
}

/* A region's decision is drawn on the region (its outline and label) and
 * follows it while the frames carry it; the rest of the frame is
 * untouched, and a region that left is no longer drawn. */
GST_START_TEST (test_draws_each_region_where_it_is)
{
  GstHarness *h = gst_harness_new ("hyrsmoverlay");
  gst_harness_set_caps_str (h, CAPS, CAPS);
  GstBuffer *out = push_region (h, 40, 30, TRUE, TRUE);
  fail_if (luma (out, 40, 50) == 0x80, "no outline on the region's edge");
  fail_if (luma (out, 89, 50) == 0x80, "no outline on the region's edge");
  fail_unless (luma (out, 5, 5) == 0x80 && luma (out, 150, 110) == 0x80
      && luma (out, 20, 100) == 0x80, "drawn outside the region");
  gst_buffer_unref (out);
  /* Moved, no new decision: drawn at the new place only. */
  out = push_region (h, 100, 70, TRUE, FALSE);
  fail_if (luma (out, 100, 90) == 0x80, "the region moved: not followed");
  fail_unless (luma (out, 40, 50) == 0x80, "still drawn where it was");
  gst_buffer_unref (out);
  /* Gone from the frame: not drawn. */
  out = push_region (h, 0, 0, FALSE, FALSE);
  fail_unless (is_grey (out), "a region that left is still drawn");
  gst_buffer_unref (out);
  gst_harness_teardown (h);
}
GST_END_TEST;

/* The "N of M class rows laid out" lines of the hyrsmoverlay category,
 * collected only while a test gives an array. */
static GMutex log_lock;
static GPtrArray *log_lines;    /* log_lock */

static void
collect_overlay_log (GstDebugCategory *category, GstDebugLevel level,
    const gchar *file, const gchar *function, gint line, GObject *object,
    GstDebugMessage *message, gpointer user_data)
{
  const gchar *text = gst_debug_message_get (message);
  if (g_strcmp0 (gst_debug_category_get_name (category), "hyrsmoverlay")
      || !strstr (text, "class rows laid out"))
    return;
  g_mutex_lock (&log_lock);
  if (log_lines)
    g_ptr_array_add (log_lines, g_strdup (text));
  g_mutex_unlock (&log_lock);
}

/* A decision over @n classes, c0000 closest. */
static GstStructure *
many_classes (guint n)
{
  GValue labels = G_VALUE_INIT, distances = G_VALUE_INIT;
  gst_value_array_init (&labels, n);
  gst_value_array_init (&distances, n);
  for (guint i = 0; i < n; i++) {
    GValue v = G_VALUE_INIT;
    g_value_init (&v, G_TYPE_STRING);
    g_value_take_string (&v, g_strdup_printf ("c%04u", i));
    gst_value_array_append_and_take_value (&labels, &v);
    g_value_init (&v, G_TYPE_DOUBLE);
    g_value_set_double (&v, 0.5 + i * 0.01);
    gst_value_array_append_and_take_value (&distances, &v);
  }
  GstStructure *s = gst_structure_new ("hyrsm", "label", G_TYPE_STRING,
      "c0000", "unknown", G_TYPE_BOOLEAN, FALSE, "confidence", G_TYPE_DOUBLE,
      0.1, "distance", G_TYPE_DOUBLE, 0.5, NULL);
  gst_structure_take_value (s, "labels", &labels);
  gst_structure_take_value (s, "distances", &distances);
  return s;
}

/* The frame drawn for a 2000-class decision at @max_bars; the number of
 * rows laid out in @n_laid_out. */
static GstBuffer *
draw_many (guint max_bars, guint * n_laid_out)
{
  GstHarness *h = gst_harness_new ("hyrsmoverlay");
  g_object_set (h->element, "max-bars", max_bars, NULL);
  gst_harness_set_caps_str (h, CAPS, CAPS);
  GPtrArray *lines = g_ptr_array_new_with_free_func (g_free);
  g_mutex_lock (&log_lock);
  log_lines = lines;
  g_mutex_unlock (&log_lock);
  GstBuffer *in = grey_frame ();
  GstStructure *d = many_classes (2000);
  gst_buffer_add_hyrsm_meta (in, d);
  gst_structure_free (d);
  fail_unless_equals_int (gst_harness_push (h, in), GST_FLOW_OK);
  GstBuffer *out = gst_harness_pull (h);
  gst_harness_teardown (h);
  g_mutex_lock (&log_lock);
  log_lines = NULL;
  g_mutex_unlock (&log_lock);
  fail_unless_equals_int (lines->len, 1);
  guint shown = 0, asked = 0;
  fail_unless_equals_int (sscanf (lines->pdata[0], "%u of %u", &shown,
          &asked), 2);
  fail_unless_equals_int (asked, MIN (max_bars, 2000));
  g_ptr_array_unref (lines);
  *n_laid_out = shown;
  return out;
}

/* 2000 classes and max-bars at its maximum: only the rows inside the
 * 120-pixel frame are laid out (it was every one, 16 times the time of
 * max-bars=5), and the frame is the same as when max-bars asks for just
 * those rows. */
GST_START_TEST (test_lays_out_only_visible_rows)
{
  gst_debug_add_log_function (collect_overlay_log, NULL, NULL);
  gst_debug_set_active (TRUE);
  gst_debug_set_threshold_for_name ("hyrsmoverlay", GST_LEVEL_LOG);
  guint all_shown, few_shown;
  GstBuffer *all = draw_many (G_MAXUINT, &all_shown);
  fail_unless (all_shown > 0 && all_shown < 30, "%u rows laid out",
      all_shown);
  GstBuffer *few = draw_many (all_shown, &few_shown);
  fail_unless_equals_int (few_shown, all_shown);
  gst_debug_unset_threshold_for_name ("hyrsmoverlay");
  gst_debug_remove_log_function (collect_overlay_log);
  GstMapInfo a, b;
  gst_buffer_map (all, &a, GST_MAP_READ);
  gst_buffer_map (few, &b, GST_MAP_READ);
  fail_unless (a.size == b.size && memcmp (a.data, b.data, a.size) == 0,
      "the visible rows are drawn differently");
  fail_if (is_grey (all), "nothing drawn");
  gst_buffer_unmap (all, &a);
  gst_buffer_unmap (few, &b);
  gst_buffer_unref (all);
  gst_buffer_unref (few);
}
GST_END_TEST;

static Suite *
hyrsmoverlay_suite (void)
{
  Suite *s = suite_create ("hyrsmoverlay");
  TCase *tc = tcase_create ("general");
  suite_add_tcase (s, tc);
  tcase_add_test (tc, test_blends_without_downstream_support);
  tcase_add_test (tc, test_attaches_meta_when_downstream_renders_it);
  tcase_add_test (tc, test_keeps_an_upstream_composition);
  tcase_add_test (tc, test_draws_each_region_where_it_is);
  tcase_add_test (tc, test_lays_out_only_visible_rows);
  return s;
}

GST_CHECK_MAIN (hyrsmoverlay);
