/* test-analytics.c: hyrsmfilter and GStreamer's analytics metadata
 * (gstreamer-analytics-1.0, GStreamer 1.24+): regions from
 * GstAnalyticsODMtd (tracked or not), decisions written back as
 * GstAnalyticsClsMtd related to each detection, whole-frame decisions, the
 * `analytics-meta` switch, and upstream's objectdetectionoverlay drawing
 * hyrsmfilter's label. Built without the library (Debian 12's 1.22) the
 * program says so and exits 77, which meson reports as SKIP. */
#include <gst/check/gstcheck.h>

#ifndef HAVE_GST_ANALYTICS

int
main (void)
{
  g_autofree char *version = gst_version_string ();
  g_print ("SKIP: built without GStreamer's analytics library "
      "(gstreamer-analytics-1.0 >= 1.24, gst-plugins-bad); this GStreamer "
      "is %s\n", version);
  return 77;
}

#else

#include <gst/check/gstharness.h>
#include <gst/video/video.h>
#include <gst/analytics/analytics.h>
#include <glib/gstdio.h>
#include <math.h>
#include <string.h>
#include <hyrsm.h>
#include <gsthyrsm.h>
#include <gsthyrsmdecision.h>

static char *tmpdir;
static char *model_path;        /* ResNet-18 at crop 32, T = 8 */
static char *support_dir;       /* labels "left" and "right", .hyrsm files */

#define T 8
#define D 512
#define W 160
#define H 120
#define CAPS "video/x-raw,format=RGB,width=160,height=120,framerate=30/1"
#define RGB_SIZE (W * H * 3)
/* window 800 ms, T = 8: a sample every 3 frames; 30 frames hold exactly
 * one window per region, decided on the buffer completing it. */
#define ONE_WINDOW "window 800000000 stride 800000000 sync always"

typedef struct
{
  GstHarness *h;
  GstBus *bus;
} Fixture;

static void
set_props (GstElement *e, const char *props)
{
  g_auto (GStrv) kv = g_strsplit_set (props, " =", -1);
  for (int i = 0; kv[i] && kv[i + 1]; i += 2)
    gst_util_set_object_arg (G_OBJECT (e), kv[i], kv[i + 1]);
}

static Fixture
start_filter (const char *props)
{
  Fixture f;
  GstElement *e = gst_element_factory_make ("hyrsmfilter", NULL);
  fail_unless (e != NULL, "hyrsmfilter not found: check GST_PLUGIN_PATH");
  g_object_set (e, "model", model_path, "support", support_dir, NULL);
  set_props (e, props);
  f.bus = gst_bus_new ();
  gst_element_set_bus (e, f.bus);
  f.h = gst_harness_new_with_element (e, "sink", "src");
  gst_object_unref (e);
  gst_harness_set_src_caps_str (f.h, CAPS);
  return f;
}

static void
stop_filter (Fixture *f)
{
  gst_element_set_bus (f->h->element, NULL);
  gst_harness_teardown (f->h);
  gst_object_unref (f->bus);
}

static GstBuffer *
make_frame (int i)
{
  GstBuffer *buf = gst_buffer_new_allocate (NULL, RGB_SIZE, NULL);
  GstMapInfo map;
  gst_buffer_map (buf, &map, GST_MAP_WRITE);
  for (gsize j = 0; j < map.size; j++)
    map.data[j] = (guint8) ((i % 24) * 7 + j * 13);
  gst_buffer_unmap (buf, &map);
  GST_BUFFER_PTS (buf) = gst_util_uint64_scale (i, GST_SECOND, 30);
  GST_BUFFER_DURATION (buf) = GST_SECOND / 30;
  return buf;
}

/* Adds a detection of @type at the box, with a track @track (none when
 * negative), related detection -> track (@reverse: track -> detection,
 * as some trackers write it). Returns the detection's id. */
static guint
add_detection (GstBuffer *buf, const char *type, int x, int y, int w, int h,
    gint64 track, gboolean reverse)
{
  GstAnalyticsRelationMeta *rmeta = gst_buffer_add_analytics_relation_meta
      (buf);
  GstAnalyticsODMtd od;
  fail_unless (gst_analytics_relation_meta_add_od_mtd (rmeta,
          g_quark_from_string (type), x, y, w, h, 0.9f, &od));
  if (track >= 0) {
    GstAnalyticsTrackingMtd trk;
    fail_unless (gst_analytics_relation_meta_add_tracking_mtd (rmeta, track,
            0, &trk));
    fail_unless (gst_analytics_relation_meta_set_relation (rmeta,
            GST_ANALYTICS_REL_TYPE_RELATE_TO, reverse ? trk.id : od.id,
            reverse ? od.id : trk.id));
  }
  return od.id;
}

static guint
count_mtds (GstBuffer *buf, GstAnalyticsMtdType type)
{
  GstAnalyticsRelationMeta *rmeta = gst_buffer_get_analytics_relation_meta
      (buf);
  GstAnalyticsMtd mtd;
  gpointer state = NULL;
  guint n = 0;
  while (rmeta && gst_analytics_relation_meta_iterate (rmeta, &state, type,
          &mtd))
    n++;
  return n;
}

/* @s read as every consumer reads a decision, failing the test when it is
 * not one; gst_hyrsm_decision_clear() @d after. */
static void
read_decision (const GstStructure *s, GstHyrsmDecision *d)
{
  GError *error = NULL;
  fail_unless (gst_hyrsm_decision_from_structure (s, d, &error), "%s",
      error ? error->message : "?");
}

/* The decisions posted so far: roi-id (-1: whole frame) -> structure. */
static GHashTable *
pop_decisions (GstBus *bus)
{
  GHashTable *t = g_hash_table_new_full (NULL, NULL, NULL,
      (GDestroyNotify) gst_structure_free);
  GstMessage *msg;
  while ((msg = gst_bus_pop_filtered (bus, GST_MESSAGE_ELEMENT))) {
    const GstStructure *s = gst_message_get_structure (msg);
    if (gst_structure_has_name (s, GST_HYRSM_DECISION_NAME)) {
      GstHyrsmDecision d;
      read_decision (s, &d);
      gint id = d.is_region ? d.roi_id : -1;
      gst_hyrsm_decision_clear (&d);
      fail_if (g_hash_table_contains (t, GINT_TO_POINTER (id)),
          "region %d decided twice", id);
      g_hash_table_insert (t, GINT_TO_POINTER (id), gst_structure_copy (s));
    }
    gst_message_unref (msg);
  }
  return t;
}

/* Checks that @cls says what @decision says: its label first with its
 * confidence, then the support set's other classes. */
static void
check_cls_is_decision (GstAnalyticsClsMtd *cls, const GstStructure *decision)
{
  GstHyrsmDecision d;
  read_decision (decision, &d);
  const char *label = d.label;
  gdouble confidence = d.confidence;
  fail_if (isnan (confidence), "no confidence");
  gboolean unknown = g_str_equal (label, "unknown");
  fail_unless_equals_int (gst_analytics_cls_mtd_get_length (cls),
      unknown ? 3 : 2);
  fail_unless_equals_string (g_quark_to_string (gst_analytics_cls_mtd_get_quark
          (cls, 0)), label);
  fail_unless (fabs (gst_analytics_cls_mtd_get_level (cls, 0) - confidence)
      < 1e-6);
  fail_unless (gst_analytics_cls_mtd_get_index_by_quark (cls,
          g_quark_from_string ("left")) >= 0);
  fail_unless (gst_analytics_cls_mtd_get_index_by_quark (cls,
          g_quark_from_string ("right")) >= 0);
  gst_hyrsm_decision_clear (&d);
}

/* The classification related to detection @od_id, checked to be found both
 * ways readers look for it: RELATE_TO (objectdetectionoverlay) and CONTAIN
 * (DL Streamer), with IS_PART_OF back. FALSE when there is none. */
static gboolean
related_cls (GstAnalyticsRelationMeta *rmeta, guint od_id,
    GstAnalyticsClsMtd *cls)
{
  GstAnalyticsMtdType cls_type = gst_analytics_cls_mtd_get_mtd_type ();
  GstAnalyticsClsMtd other;
  gpointer state = NULL;
  if (!gst_analytics_relation_meta_get_direct_related (rmeta, od_id,
          GST_ANALYTICS_REL_TYPE_RELATE_TO, cls_type, &state, cls))
    return FALSE;
  state = NULL;
  fail_unless (gst_analytics_relation_meta_get_direct_related (rmeta, od_id,
          GST_ANALYTICS_REL_TYPE_CONTAIN, cls_type, &state, &other));
  fail_unless_equals_int (other.id, cls->id);
  fail_unless (gst_analytics_relation_meta_get_relation (rmeta, cls->id,
          od_id) & GST_ANALYTICS_REL_TYPE_IS_PART_OF);
  return TRUE;
}

/* The track id related to detection @od_id (-1: none). */
static gint64
related_track (GstAnalyticsRelationMeta *rmeta, guint od_id)
{
  GstAnalyticsTrackingMtd trk;
  gpointer state = NULL;
  guint64 id;
  GstClockTime first, last;
  gboolean lost;
  if (!gst_analytics_relation_meta_get_direct_related (rmeta, od_id,
          GST_ANALYTICS_REL_TYPE_ANY, gst_analytics_tracking_mtd_get_mtd_type
          (), &state, &trk))
    return -1;
  fail_unless (gst_analytics_tracking_mtd_get_info (&trk, &id, &first, &last,
          &lost));
  return id;
}

/* Detections with tracks (related either way, one with a 64-bit id), one
 * without (its own id is its timeline) and one of another type: each
 * person is decided on its own timeline and its detection gets the
 * decision as a classification; the car is left alone. */
GST_START_TEST (test_detections_are_decided)
{
  Fixture f = start_filter (ONE_WINDOW " roi true roi-type person");
  const gint64 big = G_GINT64_CONSTANT (5000000000);
  const gint big_id = (gint) (big & G_MAXINT);
  guint decided_buffers = 0;
  for (int i = 0; i < 30; i++) {
    GstBuffer *buf = make_frame (i);
    guint a = add_detection (buf, "person", 0, 0, 80, 120, 101, FALSE);
    guint b = add_detection (buf, "person", 80, 0, 80, 120, big, TRUE);
    guint car = add_detection (buf, "car", 40, 40, 20, 20, -1, FALSE);
    guint lone = add_detection (buf, "person", 10, 10, 30, 30, -1, FALSE);
    GstBuffer *out = gst_harness_push_and_pull (f.h, buf);
    GstAnalyticsRelationMeta *rmeta =
        gst_buffer_get_analytics_relation_meta (out);
    fail_unless (rmeta != NULL);
    /* No detection is added: the regions are upstream's. */
    fail_unless_equals_int (count_mtds (out,
            gst_analytics_od_mtd_get_mtd_type ()), 4);
    GstAnalyticsClsMtd cls;
    if (!related_cls (rmeta, a, &cls)) {
      fail_if (related_cls (rmeta, b, &cls));
      fail_if (related_cls (rmeta, lone, &cls));
      fail_unless_equals_int (count_mtds (out,
              gst_analytics_cls_mtd_get_mtd_type ()), 0);
      gst_buffer_unref (out);
      continue;
    }
    decided_buffers++;
    GHashTable *d = pop_decisions (f.bus);
    fail_unless_equals_int (g_hash_table_size (d), 3);
    check_cls_is_decision (&cls, g_hash_table_lookup (d,
            GINT_TO_POINTER (101)));
    fail_unless (related_cls (rmeta, b, &cls));
    check_cls_is_decision (&cls, g_hash_table_lookup (d,
            GINT_TO_POINTER (big_id)));
    fail_unless (related_cls (rmeta, lone, &cls));
    check_cls_is_decision (&cls, g_hash_table_lookup (d,
            GINT_TO_POINTER (lone)));
    fail_if (related_cls (rmeta, car, &cls));
    fail_unless_equals_int (count_mtds (out,
            gst_analytics_cls_mtd_get_mtd_type ()), 3);
    /* The untracked person gets a track, of the id its timeline had. */
    fail_unless_equals_int64 (related_track (rmeta, lone), lone);
    fail_unless_equals_int64 (related_track (rmeta, a), 101);
    fail_unless_equals_int (count_mtds (out,
            gst_analytics_tracking_mtd_get_mtd_type ()), 3);
    fail_unless (gst_buffer_get_hyrsm_meta (out) != NULL);
    g_hash_table_unref (d);
    gst_buffer_unref (out);
  }
  fail_unless_equals_int (decided_buffers, 1);
  stop_filter (&f);
}
GST_END_TEST;

/* ROI-meta regions get a detection (the region's box and type), a track of
 * the ROI id and the classification; a detection upstream wrote for the
 * same object (same box and type) is used, not doubled; and ROI metas win
 * over detections: a detection's track is no timeline of its own. */
GST_START_TEST (test_roi_metas_get_detections)
{
  Fixture f = start_filter (ONE_WINDOW " roi true");
  guint decided = 0;
  for (int i = 0; i < 30; i++) {
    GstBuffer *buf = make_frame (i);
    gst_buffer_add_video_region_of_interest_meta (buf, "person", 0, 0, 80,
        120)->id = 1;
    gst_buffer_add_video_region_of_interest_meta (buf, "person", 80, 0, 80,
        120)->id = 2;
    /* Region 2's twin, tracked as 77 by whoever wrote it. */
    guint twin = add_detection (buf, "person", 80, 0, 80, 120, 77, FALSE);
    GstBuffer *out = gst_harness_push_and_pull (f.h, buf);
    GstAnalyticsRelationMeta *rmeta =
        gst_buffer_get_analytics_relation_meta (out);
    GstAnalyticsClsMtd cls;
    if (!related_cls (rmeta, twin, &cls)) {
      gst_buffer_unref (out);
      continue;
    }
    decided++;
    GHashTable *d = pop_decisions (f.bus);
    fail_unless_equals_int (g_hash_table_size (d), 2);  /* 1 and 2, not 77 */
    check_cls_is_decision (&cls, g_hash_table_lookup (d,
            GINT_TO_POINTER (2)));
    fail_unless_equals_int64 (related_track (rmeta, twin), 77);
    /* Region 1's detection was added: its box, type, a track of id 1. */
    fail_unless_equals_int (count_mtds (out,
            gst_analytics_od_mtd_get_mtd_type ()), 2);
    GstAnalyticsODMtd od;
    gpointer state = NULL;
    gboolean found = FALSE;
    while (gst_analytics_relation_meta_iterate (rmeta, &state,
            gst_analytics_od_mtd_get_mtd_type (), &od)) {
      if (od.id == twin)
        continue;
      gint x, y, w, h;
      gfloat c;
      fail_unless (gst_analytics_od_mtd_get_location (&od, &x, &y, &w, &h,
              &c));
      fail_unless (x == 0 && y == 0 && w == 80 && h == 120);
      fail_unless_equals_string (g_quark_to_string
          (gst_analytics_od_mtd_get_obj_type (&od)), "person");
      fail_unless (related_cls (rmeta, od.id, &cls));
      check_cls_is_decision (&cls, g_hash_table_lookup (d,
              GINT_TO_POINTER (1)));
      fail_unless_equals_int64 (related_track (rmeta, od.id), 1);
      found = TRUE;
    }
    fail_unless (found);
    /* The ROI metas still get their "hyrsm" parameter. */
    fail_unless (gst_video_region_of_interest_meta_get_param
        (gst_buffer_get_video_region_of_interest_meta_id (out, 1), "hyrsm"));
    g_hash_table_unref (d);
    gst_buffer_unref (out);
  }
  fail_unless_equals_int (decided, 1);
  stop_filter (&f);
}
GST_END_TEST;

/* The one whole-frame classification of the buffer completing a window,
 * or NULL. */
static gboolean
whole_frame_cls (GstBuffer *out, GstAnalyticsClsMtd *cls)
{
  GstAnalyticsRelationMeta *rmeta = gst_buffer_get_analytics_relation_meta
      (out);
  gpointer state = NULL;
  if (!rmeta || !gst_analytics_relation_meta_iterate (rmeta, &state,
          gst_analytics_cls_mtd_get_mtd_type (), cls))
    return FALSE;
  fail_unless_equals_int (count_mtds (out, GST_ANALYTICS_MTD_TYPE_ANY), 1);
  return TRUE;
}

/* Whole frame: one classification per decision, every class, the decided
 * one first; its levels are the softmax over the classes; "unknown" is a
 * class of its own when the distance is above the threshold. */
GST_START_TEST (test_whole_frame_classification)
{
  const char *props[] = { ONE_WINDOW,
    ONE_WINDOW " threshold 0.0000001"
  };
  for (guint p = 0; p < G_N_ELEMENTS (props); p++) {
    Fixture f = start_filter (props[p]);
    guint decided = 0;
    for (int i = 0; i < 30; i++) {
      GstBuffer *out = gst_harness_push_and_pull (f.h, make_frame (i));
      GstAnalyticsClsMtd cls;
      if (whole_frame_cls (out, &cls)) {
        decided++;
        GHashTable *d = pop_decisions (f.bus);
        const GstStructure *decision = g_hash_table_lookup (d,
            GINT_TO_POINTER (-1));
        check_cls_is_decision (&cls, decision);
        gsize n = gst_analytics_cls_mtd_get_length (&cls);
        gdouble sum = 0;
        for (gsize c = n - 2; c < n; c++)
          sum += gst_analytics_cls_mtd_get_level (&cls, c);
        if (p == 0) {
          fail_unless (fabs (sum - 1) < 1e-5, "levels sum to %f", sum);
        } else {
          fail_unless_equals_string (g_quark_to_string
              (gst_analytics_cls_mtd_get_quark (&cls, 0)), "unknown");
          fail_unless (fabs (sum - 1) < 1e-5, "levels sum to %f", sum);
        }
        g_hash_table_unref (d);
      }
      gst_buffer_unref (out);
    }
    fail_unless_equals_int (decided, 1);
    stop_filter (&f);
  }
}
GST_END_TEST;

/* analytics-meta=false: nothing is added, HyrsmMeta still is. */
GST_START_TEST (test_off_switch)
{
  const char *props[] = { ONE_WINDOW " analytics-meta false",
    ONE_WINDOW " analytics-meta false roi true"
  };
  for (guint p = 0; p < G_N_ELEMENTS (props); p++) {
    Fixture f = start_filter (props[p]);
    guint with_meta = 0;
    for (int i = 0; i < 30; i++) {
      GstBuffer *buf = make_frame (i);
      if (p == 1)
        add_detection (buf, "person", 10, 10, 40, 40, -1, FALSE);
      GstBuffer *out = gst_harness_push_and_pull (f.h, buf);
      with_meta += gst_buffer_get_hyrsm_meta (out) != NULL;
      if (p == 0)
        fail_if (gst_buffer_get_analytics_relation_meta (out));
      else
        fail_unless_equals_int (count_mtds (out,
                GST_ANALYTICS_MTD_TYPE_ANY), 1);
      gst_buffer_unref (out);
    }
    fail_unless_equals_int (with_meta, 1);
    stop_filter (&f);
  }
}
GST_END_TEST;

/* Pixels of @a and @b that differ in the rectangle. */
static guint
changed (GstBuffer *a, GstBuffer *b, int x0, int y0, int x1, int y1)
{
  GstMapInfo ma, mb;
  guint n = 0;
  gst_buffer_map (a, &ma, GST_MAP_READ);
  gst_buffer_map (b, &mb, GST_MAP_READ);
  for (int y = MAX (y0, 0); y < MIN (y1, H); y++)
    for (int x = MAX (x0, 0); x < MIN (x1, W); x++)
      n += memcmp (ma.data + (y * W + x) * 3, mb.data + (y * W + x) * 3,
          3) != 0;
  gst_buffer_unmap (a, &ma);
  gst_buffer_unmap (b, &mb);
  return n;
}

#define BOX_X 30
#define BOX_Y 60
#define BOX_W 100
#define BOX_H 50

/* Runs hyrsmfilter roi=true ! objectdetectionoverlay over 30 frames with
 * one tracked person; returns the drawn frame of the buffer completing the
 * window (frame @index) and the frame as it went in. */
static GstBuffer *
run_overlay (const char *analytics, int *index, GstBuffer **input)
{
  g_autofree char *desc = g_strdup_printf ("hyrsmfilter model=%s "
      "support=%s window=800000000 stride=800000000 sync=always roi=true "
      "analytics-meta=%s ! objectdetectionoverlay", model_path, support_dir,
      analytics);
  GstHarness *h = gst_harness_new_parse (desc);
  gst_harness_set_src_caps_str (h, CAPS);
  GstBuffer *drawn = NULL;
  for (int i = 0; i < 30; i++) {
    GstBuffer *buf = make_frame (i);
    add_detection (buf, "person", BOX_X, BOX_Y, BOX_W, BOX_H, 9, FALSE);
    GstBuffer *in = gst_buffer_copy_deep (buf);
    GstBuffer *out = gst_harness_push_and_pull (h, buf);
    fail_unless (out != NULL);
    if (*index == i || (*index < 0 && count_mtds (out,
                gst_analytics_cls_mtd_get_mtd_type ()) == 1)) {
      *index = i;
      drawn = out;
      *input = in;
    } else {
      gst_buffer_unref (out);
      gst_buffer_unref (in);
    }
  }
  gst_harness_teardown (h);
  fail_unless (drawn != NULL, "no decision reached objectdetectionoverlay");
  return drawn;
}

/* Upstream's objectdetectionoverlay draws the box and, above it, the
 * classification related to the detection: hyrsmfilter's label, where
 * without analytics-meta it writes the detection's own type ("person"). */
GST_START_TEST (test_objectdetectionoverlay_draws_the_label)
{
  GstElementFactory *factory = gst_element_factory_find
      ("objectdetectionoverlay");
  fail_unless (factory != NULL, "objectdetectionoverlay (gst-plugins-bad "
      "1.24+, analyticsoverlay) is not installed");
  gst_object_unref (factory);
  int index = -1;
  GstBuffer *in, *plain_in;
  GstBuffer *labelled = run_overlay ("true", &index, &in);
  GstBuffer *plain = run_overlay ("false", &index, &plain_in);
  /* The box's outline is drawn into the frame. */
  guint outline = changed (labelled, in, BOX_X, BOX_Y, BOX_X + BOX_W,
      BOX_Y + 2);
  fail_unless (outline > BOX_W / 2, "box outline: %u pixels changed",
      outline);
  /* Above the box: text in both, different text. */
  guint text = changed (labelled, in, BOX_X, 0, W, BOX_Y - 1);
  guint plain_text = changed (plain, plain_in, BOX_X, 0, W, BOX_Y - 1);
  guint differ = changed (labelled, plain, BOX_X, 0, W, BOX_Y - 1);
  g_printerr ("# label pixels: %u (with hyrsm's label), %u (\"person\"), "
      "%u differ\n", text, plain_text, differ);
  fail_unless (text > 20 && plain_text > 20);
  fail_unless (differ > 20, "the label drawn is not hyrsmfilter's");
  /* Nothing is drawn away from the box and its label. */
  fail_unless_equals_int (changed (labelled, in, 0, BOX_Y + BOX_H + 4, W, H),
      0);
  gst_buffer_unref (labelled);
  gst_buffer_unref (plain);
  gst_buffer_unref (in);
  gst_buffer_unref (plain_in);
}
GST_END_TEST;

static void
run_or_die (const char *cmd)
{
  int status = 0;
  if (!g_spawn_command_line_sync (cmd, NULL, NULL, &status, NULL)
      || status != 0)
    g_error ("could not run %s", cmd);
}

/* A support set of .hyrsm feature files: "left" and "right", 2 random
 * examples each, as test-hyrsmfilter.c makes. */
static char *
make_support_set (const char *fingerprint)
{
  static const char *const labels[] = { "left", "right", NULL };
  char *dir = g_build_filename (tmpdir, "support", NULL);
  GRand *rand = g_rand_new_with_seed (1);
  float *f = g_new (float, T * D);
  for (int l = 0; labels[l]; l++) {
    g_autofree char *folder = g_build_filename (dir, labels[l], NULL);
    g_mkdir_with_parents (folder, 0755);
    for (int e = 0; e < 2; e++) {
      for (int i = 0; i < T * D; i++)
        f[i] = g_rand_double (rand);
      g_autofree char *file = g_strdup_printf ("%s/ex%d.hyrsm", folder, e);
      GError *error = NULL;
      if (!hyrsm_features_save (file, f, T, D, fingerprint, "test", NULL,
              &error))
        g_error ("%s", error->message);
    }
  }
  g_free (f);
  g_rand_free (rand);
  return dir;
}

static Suite *
analytics_suite (void)
{
  Suite *s = suite_create ("analytics");
  TCase *tc = tcase_create ("analytics");
  tcase_set_timeout (tc, 300);
  suite_add_tcase (s, tc);
  tcase_add_test (tc, test_detections_are_decided);
  tcase_add_test (tc, test_roi_metas_get_detections);
  tcase_add_test (tc, test_whole_frame_classification);
  tcase_add_test (tc, test_off_switch);
  tcase_add_test (tc, test_objectdetectionoverlay_draws_the_label);
  return s;
}

int
main (int argc, char **argv)
{
  gst_check_init (&argc, &argv);
  tmpdir = g_dir_make_tmp ("hyrsm-analytics-XXXXXX", NULL);
  model_path = g_build_filename (tmpdir, "model.safetensors", NULL);
  g_autofree char *cmd = g_strdup_printf ("%s --backbone resnet18 "
      "--meta hyrsm.crop=32 --meta hyrsm.resize=36 %s",
      g_getenv ("HYRSM_MAKE_TEST_MODEL"), model_path);
  run_or_die (cmd);
  /* The fingerprint hyrsm_model_get_fingerprint() computes: the first 16
   * hex digits of the file's SHA-256 (the model is not loaded here: check
   * forks per test and oneDNN's threads do not survive a fork). */
  g_autofree char *contents = NULL;
  gsize len;
  if (!g_file_get_contents (model_path, &contents, &len, NULL))
    g_error ("cannot read %s", model_path);
  g_autofree char *sha = g_compute_checksum_for_data (G_CHECKSUM_SHA256,
      (const guchar *) contents, len);
  sha[16] = '\0';
  support_dir = make_support_set (sha);

  int failed = gst_check_run_suite (analytics_suite (), "analytics",
      __FILE__);
  g_autofree char *rm = g_strdup_printf ("rm -rf %s", tmpdir);
  run_or_die (rm);
  return failed;
}

#endif
