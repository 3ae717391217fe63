/* test-hyrsmpublish.c: hyrsmfilter ! hyrsmpublish through GstHarness, with
 * strings that are not UTF-8 where C lets them in (issue #26): a support
 * directory whose name is not, a `source` property that is not. Every
 * message and every JSON line must still be valid UTF-8. (gst-check makes
 * GStreamer's "string is not valid UTF-8" warning fatal.) */
#include <gst/check/gstcheck.h>
#include <gst/check/gstharness.h>
#include <glib/gstdio.h>
#include <json-glib/json-glib.h>
#include <hyrsm.h>
#include <gsthyrsm.h>
#include <string.h>

#include "element-fixtures.h"

/* "sup<0xff>": labels "left", "right" (the fixtures' support_dir is
 * replaced by it in main()). */

/* Every message on @bus: its structure's strings and its text are UTF-8. */
static guint
check_messages (GstBus *bus)
{
  guint n = 0;
  GstMessage *msg;
  while ((msg = gst_bus_pop (bus))) {
    const GstStructure *s = gst_message_get_structure (msg);
    if (s) {
      g_autofree char *text = gst_structure_to_string (s);
      fail_unless (g_utf8_validate (text, -1, NULL), "not UTF-8: %s", text);
    }
    if (s && gst_structure_has_name (s, GST_HYRSM_DECISION_NAME)) {
      GstHyrsmDecision d;
      read_decision (s, &d);
      const char *path = d.support_path;
      fail_unless (path != NULL, "the decision lost its support-path");
      fail_unless (g_utf8_validate (path, -1, NULL));
      fail_unless (strstr (path, "sup") != NULL, "support-path %s", path);
      gst_hyrsm_decision_clear (&d);
      n++;
    }
    gst_message_unref (msg);
  }
  return n;
}

GST_START_TEST (test_strings_that_are_not_utf8)
{
  /* hyrsmfilter: 90 frames give decisions (window 800 ms, stride 200 ms). */
  GstElement *filter = gst_element_factory_make ("hyrsmfilter", NULL);
  fail_unless (filter != NULL, "hyrsmfilter not found: check GST_PLUGIN_PATH");
  g_object_set (filter, "model", model_path, "support", support_dir,
      "window", (guint64) 800 * GST_MSECOND, "stride",
      (guint64) 200 * GST_MSECOND, NULL);
  gst_util_set_object_arg (G_OBJECT (filter), "sync", "always");
  GstBus *bus = gst_bus_new ();
  gst_element_set_bus (filter, bus);
  GstHarness *h = gst_harness_new_with_element (filter, "sink", "src");
  gst_object_unref (filter);
  gst_harness_set_src_caps_str (h, CAPS);

  /* hyrsmpublish, fed what hyrsmfilter gives, with a `source` set from C
   * that is not UTF-8. */
  g_autofree char *jsonl = g_build_filename (tmpdir, "out.jsonl", NULL);
  GstElement *publish = gst_element_factory_make ("hyrsmpublish", NULL);
  fail_unless (publish != NULL);
  g_object_set (publish, "file-path", jsonl, "source", "cam\xff\xfe-1", NULL);
  gst_element_set_bus (publish, bus);
  GstHarness *p = gst_harness_new_with_element (publish, "sink", "src");
  gst_object_unref (publish);
  gst_harness_set_src_caps_str (p, CAPS);

  guint decisions = 0;
  for (int i = 0; i < 90; i++) {
    GstBuffer *out = gst_harness_push_and_pull (h, make_frame (h, i, RGB_SIZE));
    fail_unless (out != NULL);
    if (gst_buffer_get_hyrsm_meta (out))
      decisions++;
    gst_buffer_unref (gst_harness_push_and_pull (p, out));
  }
  fail_unless (decisions > 0);
  fail_unless_equals_int (check_messages (bus), decisions);
  gst_element_set_bus (h->element, NULL);
  gst_element_set_bus (p->element, NULL);
  gst_harness_teardown (h);
  gst_harness_teardown (p);
  gst_object_unref (bus);

  /* Each line is valid JSON (json-glib refuses text that is not UTF-8)
   * and still names the support set and the source. */
  g_autofree char *contents = NULL;
  fail_unless (g_file_get_contents (jsonl, &contents, NULL, NULL));
  g_auto (GStrv) lines = g_strsplit (g_strchomp (contents), "\n", -1);
  fail_unless_equals_int (g_strv_length (lines), decisions);
  for (guint i = 0; lines[i]; i++) {
    JsonParser *parser = json_parser_new ();
    GError *error = NULL;
    fail_unless (json_parser_load_from_data (parser, lines[i], -1, &error),
        "line %u is not JSON (%s): %s", i, error ? error->message : "",
        lines[i]);
    JsonObject *doc = json_node_get_object (json_parser_get_root (parser));
    JsonObject *stream = json_object_get_object_member (doc, "stream");
    fail_unless (g_str_has_prefix (json_object_get_string_member (stream,
                "source"), "cam"));
    JsonObject *support = json_object_get_object_member (doc, "support");
    const char *path = json_object_get_string_member (support, "path");
    fail_unless (path != NULL && strstr (path, "sup") != NULL);
    g_object_unref (parser);
  }
}
GST_END_TEST;

static Suite *
hyrsmpublish_suite (void)
{
  Suite *s = suite_create ("hyrsmpublish");
  TCase *tc = tcase_create ("utf8");
  tcase_set_timeout (tc, 120);
  suite_add_tcase (s, tc);
  tcase_add_test (tc, test_strings_that_are_not_utf8);
  return s;
}

int
main (int argc, char **argv)
{
  gst_check_init (&argc, &argv);
  fixtures_setup ("hyrsm-publish");
  g_autofree char *sha = model_fingerprint ();
  static const char *const lr[] = { "left", "right", NULL };
  g_free (support_dir);
  support_dir = make_support_set ("sup\xff", lr, sha, 1);
  int failed = gst_check_run_suite (hyrsmpublish_suite (), "hyrsmpublish",
      __FILE__);
  fixtures_teardown ();
  return failed;
}
