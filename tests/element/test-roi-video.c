/* test-roi-video.c: hyrsmfilter roi=true on real video, with no detector.
 *
 * Two different real scenes (cut by tests/fixtures/make_clips.sh from
 * Debian's videos) are put side by side with `compositor`; a pad probe
 * marks the left half as region 1 and the right half as region 2, the way
 * a tracker would. With a support set of both scenes, each region must be
 * labelled with its own half's scene. The frames are the held-out
 * "frames" examples, not the support clips.
 */
#include <gst/check/gstcheck.h>
#include <gst/video/video.h>
#include <gst/video/gstvideometa.h>
#include <gst/app/gstappsink.h>
#include <json-glib/json-glib.h>
#include <hyrsm.h>
#include <gsthyrsm.h>
#include <gsthyrsmdecision.h>

static char *tmpdir, *clips, *model_path, *fixture_error;

static gboolean
spawn (const char *const *argv)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *err = NULL;
  gint status = 0;
  if (!g_spawn_sync (NULL, (char **) argv, NULL, G_SPAWN_SEARCH_PATH, NULL,
          NULL, NULL, &err, &status, &error)
      || !g_spawn_check_wait_status (status, &error)) {
    g_printerr ("# %s failed: %s\n%s", argv[0], error->message,
        err ? err : "");
    return FALSE;
  }
  return TRUE;
}

#define W 160                   /* make_clips.sh's frames: 160 x 120 */
#define H 120

static GstPadProbeReturn
add_halves (GstPad *pad, GstPadProbeInfo *info, gpointer data)
{
  GstBuffer *buf = gst_buffer_make_writable (GST_PAD_PROBE_INFO_BUFFER (info));
  gst_buffer_add_video_region_of_interest_meta (buf, "person", 0, 0, W,
      H)->id = 1;
  gst_buffer_add_video_region_of_interest_meta (buf, "person", W, 0, W,
      H)->id = 2;
  GST_PAD_PROBE_INFO_DATA (info) = buf;
  return GST_PAD_PROBE_OK;
}

/* Runs @left's and @right's held-out frames side by side through
 * hyrsmfilter roi=true and hyrsmpublish (JSON lines into @published);
 * returns the labels decided for regions 1 and 2 on the bus
 * (space-separated, in order) and how many buffers carried a decision on
 * their ROI meta. */
static void
run_side_by_side (const char *support, const char *left, const char *right,
    const char *published, GString *labels[3], guint *on_meta)
{
  g_autofree char *desc = g_strdup_printf (
      "compositor name=mix sink_1::xpos=%d ! video/x-raw,width=%d,height=%d "
      "! identity name=tag ! hyrsmfilter name=f model=%s support=%s roi=true "
      "window=1200000000 stride=400000000 sync=always ! "
      "hyrsmpublish file-path=%s ! appsink name=out "
      "sync=false "
      "multifilesrc location=%s/frames/%s_4/%%05d.jpg stop-index=23 "
      "caps=image/jpeg,framerate=15/1 ! jpegdec ! videoconvert ! mix.sink_0 "
      "multifilesrc location=%s/frames/%s_4/%%05d.jpg stop-index=23 "
      "caps=image/jpeg,framerate=15/1 ! jpegdec ! videoconvert ! mix.sink_1",
      W, 2 * W, H, model_path, support, published, clips, left, clips,
      right);
  g_autoptr (GError) error = NULL;
  GstElement *pipeline = gst_parse_launch (desc, &error);
  fail_unless (pipeline != NULL, "%s", error ? error->message : desc);
  GstElement *tag = gst_bin_get_by_name (GST_BIN (pipeline), "tag");
  GstPad *src = gst_element_get_static_pad (tag, "src");
  gst_pad_add_probe (src, GST_PAD_PROBE_TYPE_BUFFER, add_halves, NULL, NULL);
  gst_object_unref (src);
  gst_object_unref (tag);
  GstElement *out = gst_bin_get_by_name (GST_BIN (pipeline), "out");

  fail_unless (gst_element_set_state (pipeline, GST_STATE_PLAYING) !=
      GST_STATE_CHANGE_FAILURE);
  *on_meta = 0;
  GstSample *sample;
  while ((sample = gst_app_sink_pull_sample (GST_APP_SINK (out)))) {
    GstBuffer *buf = gst_sample_get_buffer (sample);
    for (int id = 1; id <= 2; id++) {
      GstVideoRegionOfInterestMeta *roi =
          gst_buffer_get_video_region_of_interest_meta_id (buf, id);
      if (roi && gst_video_region_of_interest_meta_get_param (roi, "hyrsm"))
        (*on_meta)++;
    }
    gst_sample_unref (sample);
  }
  GstBus *bus = gst_element_get_bus (pipeline);
  GstMessage *msg;
  while ((msg = gst_bus_pop (bus))) {
    if (GST_MESSAGE_TYPE (msg) == GST_MESSAGE_ERROR) {
      GError *e = NULL;
      gst_message_parse_error (msg, &e, NULL);
      fail ("pipeline error: %s", e->message);
    }
    const GstStructure *s = gst_message_get_structure (msg);
    if (GST_MESSAGE_TYPE (msg) == GST_MESSAGE_ELEMENT
        && gst_structure_has_name (s, GST_HYRSM_DECISION_NAME)) {
      GstHyrsmDecision d;
      GError *e = NULL;
      fail_unless (gst_hyrsm_decision_from_structure (s, &d, &e), "%s",
          e ? e->message : "?");
      if (d.is_region && d.roi_id >= 1 && d.roi_id <= 2)
        g_string_append_printf (labels[d.roi_id], "%s ", d.label);
      gst_hyrsm_decision_clear (&d);
    }
    gst_message_unref (msg);
  }
  gst_object_unref (bus);
  gst_object_unref (out);
  gst_element_set_state (pipeline, GST_STATE_NULL);
  gst_object_unref (pipeline);
}

/* The labels hyrsmpublish wrote for regions 1 and 2 (as run_side_by_side
 * gives the bus's), each document checked to carry its region's box. */
static void
read_published (const char *path, GString *labels[3])
{
  g_autofree char *text = NULL;
  fail_unless (g_file_get_contents (path, &text, NULL, NULL));
  g_auto (GStrv) lines = g_strsplit (text, "\n", -1);
  for (guint i = 0; lines[i]; i++) {
    if (*lines[i] == '\0')
      continue;
    g_autoptr (JsonParser) parser = json_parser_new ();
    fail_unless (json_parser_load_from_data (parser, lines[i], -1, NULL));
    JsonObject *doc = json_node_get_object (json_parser_get_root (parser));
    JsonObject *region = json_object_get_object_member (doc, "region");
    fail_unless (region != NULL, "a decision without its region: %s",
        lines[i]);
    gint64 id = json_object_get_int_member (region, "id");
    fail_unless (id == 1 || id == 2);
    fail_unless_equals_string (json_object_get_string_member (region, "type"),
        "person");
    fail_unless_equals_int (json_object_get_int_member (region, "x"),
        id == 1 ? 0 : W);
    fail_unless_equals_int (json_object_get_int_member (region, "width"), W);
    fail_unless_equals_int (json_object_get_int_member (region, "height"), H);
    g_string_append_printf (labels[id], "%s ",
        json_object_get_string_member (doc, "label"));
  }
}

/* Counts how many of the space-separated @labels are @want. */
static guint
count_label (const char *labels, const char *want, guint *total)
{
  g_auto (GStrv) v = g_strsplit (g_strstrip (g_strdup (labels)), " ", -1);
  guint n = 0;
  *total = 0;
  for (guint i = 0; v[i]; i++)
    if (*v[i]) {
      (*total)++;
      n += g_str_equal (v[i], want);
    }
  return n;
}

GST_START_TEST (test_each_region_gets_its_own_scene)
{
  fail_if (fixture_error, "%s", fixture_error);
  /* The support set: the two scenes' three clips each. */
  g_autofree char *support = g_build_filename (tmpdir, "two-scenes", NULL);
  g_autofree char *cmd = g_strdup_printf ("mkdir -p %s && cp -r "
      "%s/support/tree %s/support/street %s/", support, clips, clips,
      support);
  fail_unless (system (cmd) == 0);

  const char *pairs[][2] = { {"tree", "street"}, {"street", "tree"} };
  for (guint p = 0; p < G_N_ELEMENTS (pairs); p++) {
    GString *labels[3] = { NULL, g_string_new (NULL), g_string_new (NULL) };
    GString *published[3] = { NULL, g_string_new (NULL), g_string_new (NULL) };
    guint on_meta = 0;
    g_autofree char *jsonl = g_strdup_printf ("%s/published-%u.jsonl", tmpdir,
        p);
    run_side_by_side (support, pairs[p][0], pairs[p][1], jsonl, labels,
        &on_meta);
    /* Every decision on the bus published once, with its region: both
     * regions' decisions ride on the same buffers (one HyrsmMeta each). */
    read_published (jsonl, published);
    /* 24 frames = 1.6 s = 12 samples: windows end at samples 8, 11. */
    for (int id = 1; id <= 2; id++) {
      guint total, right = count_label (labels[id]->str, pairs[p][id - 1],
          &total);
      g_printerr ("# %s | %s: region %d: %s\n", pairs[p][0], pairs[p][1], id,
          labels[id]->str);
      fail_unless_equals_int (total, 2);
      fail_unless (right == total, "region %d (%s) decided %s", id,
          pairs[p][id - 1], labels[id]->str);
      fail_unless_equals_string (published[id]->str, labels[id]->str);
      g_string_free (labels[id], TRUE);
      g_string_free (published[id], TRUE);
    }
    fail_unless_equals_int (on_meta, 4);
  }
}
GST_END_TEST;

static Suite *
roi_video_suite (void)
{
  Suite *s = suite_create ("roi-video");
  TCase *tc = tcase_create ("real-video");
  tcase_set_timeout (tc, 300);
  suite_add_tcase (s, tc);
  tcase_add_test (tc, test_each_region_gets_its_own_scene);
  return s;
}

int
main (int argc, char **argv)
{
  gst_check_init (&argc, &argv);
  tmpdir = g_dir_make_tmp ("hyrsm-roi-XXXXXX", NULL);
  /* The fixtures come from packages scripts/install-deps.sh installs: one
   * that cannot be made fails the test. */
  const char *fixtures = g_getenv ("HYRSM_FIXTURES");
  const char *python = g_getenv ("HYRSM_PYTHON");
  const char *env_clips = g_getenv ("HYRSM_CLIPS_DIR");
  clips = env_clips ? g_strdup (env_clips) : g_build_filename (tmpdir,
      "clips", NULL);
  model_path = g_build_filename (tmpdir, "r18.safetensors", NULL);
  g_autofree char *clip_script = fixtures ? g_build_filename (fixtures,
      "make_clips.sh", NULL) : NULL;
  g_autofree char *model_script = fixtures ? g_build_filename (fixtures,
      "make_model.py", NULL) : NULL;
  const char *clip_argv[] = { "sh", clip_script, clips, NULL };
  const char *model_argv[] = { python, model_script, model_path,
    "--backbone", "resnet18", "--head", "none", "--meta", "hyrsm.crop=64",
    "--meta", "hyrsm.resize=72", NULL
  };
  if (fixtures == NULL || python == NULL)
    fixture_error = g_strdup ("HYRSM_FIXTURES and HYRSM_PYTHON are not set "
        "(run through meson test)");
  else if (!spawn (clip_argv))
    fixture_error = g_strdup ("make_clips.sh could not make the clips");
  else if (!spawn (model_argv))
    fixture_error = g_strdup ("make_model.py could not make the model");

  int failed = gst_check_run_suite (roi_video_suite (), "roi-video",
      __FILE__);
  g_autofree char *rm = g_strdup_printf ("rm -rf %s", tmpdir);
  spawn ((const char *[]) { "sh", "-c", rm, NULL });
  return failed;
}
