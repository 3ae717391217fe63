/* element-fixtures.c: the shared fixtures of hyrsmfilter's harness tests
 * (element-fixtures.h). */
#include "element-fixtures.h"

#include <hyrsm.h>
#include <gsthyrsm.h>
#include <string.h>

char *tmpdir;
char *model_path;
char *support_dir;
char *other_support_dir;

void
run_or_die (const char *cmd)
{
  int status = 0;
  if (!g_spawn_command_line_sync (cmd, NULL, NULL, &status, NULL)
      || status != 0)
    g_error ("could not run %s", cmd);
}

char *
make_support_set (const char *name, const char *const *labels,
    const char *fingerprint, guint32 seed)
{
  char *dir = g_build_filename (tmpdir, name, NULL);
  GRand *rand = g_rand_new_with_seed (seed);
  float *f = g_new (float, T * D);
  for (int l = 0; labels[l]; l++) {
    g_autofree char *folder = g_build_filename (dir, labels[l], NULL);
    g_mkdir_with_parents (folder, 0755);
    for (int e = 0; e < 2; e++) {
      for (int i = 0; i < T * D; i++)
        f[i] = g_rand_double (rand);
      g_autofree char *file = g_strdup_printf ("%s/ex%d.hyrsm", folder, e);
      GError *error = NULL;
      if (!hyrsm_features_save (file, f, T, D,
              fingerprint, "test", NULL, &error))
        g_error ("%s", error->message);
    }
  }
  g_free (f);
  g_rand_free (rand);
  return dir;
}

char *
model_fingerprint (void)
{
  g_autofree char *contents = NULL;
  gsize len;
  if (!g_file_get_contents (model_path, &contents, &len, NULL))
    g_error ("cannot read %s", model_path);
  char *sha = g_compute_checksum_for_data (G_CHECKSUM_SHA256,
      (const guchar *) contents, len);
  sha[16] = '\0';
  return sha;
}

void
fixtures_setup (const char *prefix)
{
  g_autofree char *template = g_strdup_printf ("%s-XXXXXX", prefix);
  tmpdir = g_dir_make_tmp (template, NULL);
  model_path = g_build_filename (tmpdir, "model.safetensors", NULL);
  g_autofree char *cmd = g_strdup_printf ("%s --backbone resnet18 "
      "--meta hyrsm.crop=32 --meta hyrsm.resize=36 %s",
      g_getenv ("HYRSM_MAKE_TEST_MODEL"), model_path);
  run_or_die (cmd);
  g_autofree char *sha = model_fingerprint ();
  static const char *const lr[] = { "left", "right", NULL };
  static const char *const uds[] = { "up", "down", "still", NULL };
  support_dir = make_support_set ("support", lr, sha, 1);
  other_support_dir = make_support_set ("support2", uds, sha, 2);
}

void
fixtures_teardown (void)
{
  g_autofree char *rm = g_strdup_printf ("rm -rf %s", tmpdir);
  run_or_die (rm);
}

GstElement *
make_filter (const char *model, const char *device)
{
  GstElement *e = gst_element_factory_make ("hyrsmfilter", NULL);
  fail_unless (e != NULL, "hyrsmfilter not found: check GST_PLUGIN_PATH");
  g_object_set (e, "model", model, "support", support_dir, NULL);
  if (device)
    g_object_set (e, "device", device, NULL);
  return e;
}


Fixture
start_filter (const char *model, const char *props, gboolean live)
{
  Fixture f;
  GstElement *e = make_filter (model, NULL);
  if (props) {
    g_auto (GStrv) kv = g_strsplit_set (props, " =", -1);
    for (int i = 0; kv[i] && kv[i + 1]; i += 2)
      gst_util_set_object_arg (G_OBJECT (e), kv[i], kv[i + 1]);
  }
  f.bus = gst_bus_new ();
  gst_element_set_bus (e, f.bus);
  f.h = gst_harness_new_with_element (e, "sink", "src");
  gst_object_unref (e);
  gst_harness_set_live (f.h, live);
  gst_harness_set_src_caps_str (f.h, CAPS);
  return f;
}

void
stop_filter (Fixture *f)
{
  gst_element_set_bus (f->h->element, NULL);
  gst_harness_teardown (f->h);
  gst_object_unref (f->bus);
}

GstBuffer *
make_frame (GstHarness *h, int i, gsize size)
{
  GstBuffer *buf = gst_harness_create_buffer (h, size);
  GstMapInfo map;
  gst_buffer_map (buf, &map, GST_MAP_WRITE);
  for (gsize j = 0; j < map.size; j++)
    map.data[j] = (guint8) ((i % 24) * 7 + j * 13);     /* repeats every 24 */
  gst_buffer_unmap (buf, &map);
  GST_BUFFER_PTS (buf) = gst_util_uint64_scale (i, GST_SECOND, 30);
  GST_BUFFER_DURATION (buf) = GST_SECOND / 30;
  return buf;
}

guint
push_frames (GstHarness *h, int from, int to, gsize size)
{
  guint metas = 0;
  for (int i = from; i < to; i++) {
    GstBuffer *in = make_frame (h, i, size);
    GstBuffer *expect = gst_buffer_copy_deep (in);
    GstBuffer *out = gst_harness_push_and_pull (h, in);
    fail_unless (out != NULL);
    fail_unless_equals_uint64 (GST_BUFFER_PTS (out), GST_BUFFER_PTS (expect));
    fail_unless_equals_uint64 (GST_BUFFER_DURATION (out),
        GST_BUFFER_DURATION (expect));
    GstMapInfo a, b;
    gst_buffer_map (out, &a, GST_MAP_READ);
    gst_buffer_map (expect, &b, GST_MAP_READ);
    fail_unless (a.size == b.size && memcmp (a.data, b.data, a.size) == 0,
        "frame %d was modified", i);
    gst_buffer_unmap (out, &a);
    gst_buffer_unmap (expect, &b);
    if (gst_buffer_get_hyrsm_meta (out))
      metas++;
    gst_buffer_unref (out);
    gst_buffer_unref (expect);
  }
  return metas;
}

guint
count_decisions (GstBus *bus, GstStructure **last)
{
  guint n = 0;
  GstMessage *msg;
  while ((msg = gst_bus_pop_filtered (bus, GST_MESSAGE_ELEMENT))) {
    const GstStructure *s = gst_message_get_structure (msg);
    if (gst_structure_has_name (s, GST_HYRSM_DECISION_NAME)) {
      n++;
      if (last) {
        gst_clear_structure (last);
        *last = gst_structure_copy (s);
      }
    }
    gst_message_unref (msg);
  }
  return n;
}

void
read_decision (const GstStructure *s, GstHyrsmDecision *d)
{
  GError *error = NULL;
  fail_unless (gst_hyrsm_decision_from_structure (s, d, &error), "%s",
      error ? error->message : "?");
}

guint64
get_stat (GstElement *e, const char *field)
{
  GstStructure *s = NULL;
  guint64 v = 0;
  g_object_get (e, "stats", &s, NULL);
  fail_unless (gst_structure_get_uint64 (s, field, &v), "no %s", field);
  gst_structure_free (s);
  return v;
}


guint
count_messages (GstBus *bus, GstMessageType type, const char *containing)
{
  guint n = 0;
  GstMessage *msg;
  while ((msg = gst_bus_pop_filtered (bus, type))) {
    GError *error = NULL;
    if (type == GST_MESSAGE_WARNING)
      gst_message_parse_warning (msg, &error, NULL);
    if (!containing || (error && strstr (error->message, containing)))
      n++;
    g_clear_error (&error);
    gst_message_unref (msg);
  }
  return n;
}
