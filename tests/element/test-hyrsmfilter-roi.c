/* test-hyrsmfilter-roi.c: hyrsmfilter roi=true through GstHarness: one
 * window timeline per region id, decisions on the ROI metas. */
#include <gst/video/video.h>
#include <gst/video/gstvideometa.h>
#include <string.h>
#include <hyrsm.h>
#include <gsthyrsm.h>

#include "element-fixtures.h"

/* Adds ROI metas to @buf: @n boxes given as x, y, w, h, id. */
static void
add_rois (GstBuffer *buf, const int (*boxes)[5], int n)
{
  for (int i = 0; i < n; i++)
    gst_buffer_add_video_region_of_interest_meta (buf, "person",
        boxes[i][0], boxes[i][1], boxes[i][2], boxes[i][3])->id =
        boxes[i][4];
}

/* Pushes frames [@from, @to) with the boxes @boxes_for gives each. */
static void
push_roi_frames (GstHarness *h, int from, int to,
    int (*boxes_for) (int frame, int (*boxes)[5]))
{
  for (int i = from; i < to; i++) {
    GstBuffer *buf = make_frame (h, i, RGB_SIZE);
    int boxes[64][5];
    add_rois (buf, (const int (*)[5]) boxes, boxes_for (i, boxes));
    GstBuffer *out = gst_harness_push_and_pull (h, buf);
    fail_unless (out != NULL);
    gst_buffer_unref (out);
  }
}

/* Counts the decisions of each ROI id (ids 0..63; -1 = whole frame). */
static guint
count_roi_decisions (GstBus *bus, guint counts[64], GstStructure **last_of_3)
{
  guint n = 0, whole = 0;
  memset (counts, 0, 64 * sizeof (guint));
  GstMessage *msg;
  while ((msg = gst_bus_pop_filtered (bus, GST_MESSAGE_ELEMENT))) {
    const GstStructure *s = gst_message_get_structure (msg);
    if (gst_structure_has_name (s, GST_HYRSM_DECISION_NAME)) {
      GstHyrsmDecision d;
      read_decision (s, &d);
      gint id = d.roi_id;
      gboolean region = d.is_region;
      gst_hyrsm_decision_clear (&d);
      n++;
      if (region && id >= 0 && id < 64) {
        counts[id]++;
        if (id == 3 && last_of_3) {
          gst_clear_structure (last_of_3);
          *last_of_3 = gst_structure_copy (s);
        }
      } else {
        whole++;
      }
    }
    gst_message_unref (msg);
  }
  fail_unless_equals_int (whole, 0);
  return n;
}

/* Two fixed boxes (ids 1 and 2), one moving right a pixel per frame (3),
 * one partly outside the frame (4, clipped), a zero-size one (5) and one
 * wholly outside (6, both ignored), and one that leaves at frame 15 (7). */
static int
mixed_boxes (int frame, int (*b)[5])
{
  int n = 0;
  int fixed[][5] = {
    {0, 0, 32, 48, 1}, {32, 0, 32, 48, 2}, {frame % 30, 8, 24, 24, 3},
    {50, 30, 40, 40, 4}, {10, 10, 0, 0, 5}, {100, 100, 10, 10, 6},
  };
  for (guint i = 0; i < G_N_ELEMENTS (fixed); i++, n++)
    memcpy (b[n], fixed[i], sizeof fixed[i]);
  if (frame < 15) {
    int leaving[5] = { 4, 4, 20, 20, 7 };
    memcpy (b[n++], leaving, sizeof leaving);
  }
  return n;
}

/* window 800 ms, T = 8, stride 200 ms, 30 fps: 90 frames = 30 samples,
 * decisions at samples 7, 9, ..., 29 = 12 per region seen throughout. */
GST_START_TEST (test_roi_windows_per_region)
{
  Fixture f = start_filter (model_path,
      "window 800000000 stride 200000000 sync always roi true", FALSE);
  push_roi_frames (f.h, 0, 90, mixed_boxes);
  guint counts[64];
  GstStructure *last3 = NULL;
  count_roi_decisions (f.bus, counts, &last3);
  fail_unless_equals_int (counts[1], 12);
  fail_unless_equals_int (counts[2], 12);
  fail_unless_equals_int (counts[3], 12);
  fail_unless_equals_int (counts[4], 12);        /* clipped, still decided */
  fail_unless_equals_int (counts[5], 0);         /* zero size */
  fail_unless_equals_int (counts[6], 0);         /* outside the frame */
  /* Id 7 left after 15 frames = 5 samples: no window of it completed. */
  fail_unless_equals_int (counts[7], 0);
  /* The moving box: its decision carries the box of its last frame. */
  GstHyrsmDecision d;
  read_decision (last3, &d);
  /* Sample 29 (2.95 s) is frame 88's: the window is decided there. */
  fail_unless_equals_int (d.roi_x, 88 % 30);
  fail_unless_equals_int (d.roi_width, 24);
  gst_hyrsm_decision_clear (&d);
  gst_structure_free (last3);
  stop_filter (&f);
}
GST_END_TEST;

/* The decision is attached to the ROI meta of the buffer that completes
 * its window, as a "hyrsm" param, and as a HyrsmMeta. */
GST_START_TEST (test_roi_decision_on_the_roi_meta)
{
  Fixture f = start_filter (model_path,
      "window 800000000 stride 800000000 sync always roi true", FALSE);
  guint with_param = 0;
  for (int i = 0; i < 30; i++) {
    GstBuffer *buf = make_frame (f.h, i, RGB_SIZE);
    int boxes[2][5] = { {0, 0, 32, 48, 1}, {32, 0, 32, 48, 2} };
    add_rois (buf, (const int (*)[5]) boxes, 2);
    GstBuffer *out = gst_harness_push_and_pull (f.h, buf);
    for (int id = 1; id <= 2; id++) {
      GstVideoRegionOfInterestMeta *roi =
          gst_buffer_get_video_region_of_interest_meta_id (out, id);
      fail_unless (roi != NULL);
      GstStructure *p = gst_video_region_of_interest_meta_get_param (roi,
          "hyrsm");
      if (p) {
        with_param++;
        GstHyrsmDecision d;
        read_decision (p, &d);  /* a label, or it fails */
        fail_unless (d.is_region);
        fail_unless_equals_int (d.roi_id, id);
        gst_hyrsm_decision_clear (&d);
      }
    }
    if (gst_video_region_of_interest_meta_get_param
        (gst_buffer_get_video_region_of_interest_meta_id (out, 1), "hyrsm"))
      fail_unless (gst_buffer_get_hyrsm_meta (out) != NULL);
    gst_buffer_unref (out);
  }
  fail_unless_equals_int (with_param, 2);        /* one window per region */
  stop_filter (&f);
}
GST_END_TEST;

static int
fifty_boxes (int frame, int (*b)[5])
{
  for (int i = 0; i < 50; i++) {
    int box[5] = { (i % 10) * 6, (i / 10) * 9, 8, 8, i };
    memcpy (b[i], box, sizeof box);
  }
  return 50;
}

/* 50 regions on every frame: each gets its windows. */
GST_START_TEST (test_roi_fifty_regions)
{
  Fixture f = start_filter (model_path,
      "window 800000000 stride 800000000 sync always roi true", FALSE);
  push_roi_frames (f.h, 0, 30, fifty_boxes);
  guint counts[64];
  fail_unless_equals_int (count_roi_decisions (f.bus, counts, NULL), 50);
  for (int i = 0; i < 50; i++)
    fail_unless_equals_int (counts[i], 1);
  fail_unless_equals_uint64 (get_stat (f.h->element, "frames-sampled"),
      50 * 10);
  stop_filter (&f);
}
GST_END_TEST;

static int
no_boxes (int frame, int (*b)[5])
{
  return 0;
}

/* Frames without regions cost nothing: nothing is sampled. */
GST_START_TEST (test_roi_frames_without_regions)
{
  Fixture f = start_filter (model_path,
      "window 800000000 stride 200000000 sync always roi true", FALSE);
  push_roi_frames (f.h, 0, 60, no_boxes);
  fail_unless_equals_uint64 (get_stat (f.h->element, "frames-in"), 60);
  fail_unless_equals_uint64 (get_stat (f.h->element, "frames-sampled"), 0);
  fail_unless_equals_int (count_decisions (f.bus, NULL), 0);
  stop_filter (&f);
}
GST_END_TEST;

static Suite *
hyrsmfilter_roi_suite (void)
{
  Suite *s = suite_create ("hyrsmfilter-roi");
  TCase *roi = tcase_create ("roi");
  tcase_set_timeout (roi, 300);
  suite_add_tcase (s, roi);
  tcase_add_test (roi, test_roi_windows_per_region);
  tcase_add_test (roi, test_roi_decision_on_the_roi_meta);
  tcase_add_test (roi, test_roi_fifty_regions);
  tcase_add_test (roi, test_roi_frames_without_regions);
  return s;
}

int
main (int argc, char **argv)
{
  gst_check_init (&argc, &argv);
  fixtures_setup ("hyrsm-roi");
  int failed = gst_check_run_suite (hyrsmfilter_roi_suite (),
      "hyrsmfilter-roi", __FILE__);
  fixtures_teardown ();
  return failed;
}
