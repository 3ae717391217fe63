/* reliability-util.c: see reliability-util.h. */
#include "reliability-util.h"
#include "test-model-writer.h"

#include <gst/video/video.h>
#include <glib/gstdio.h>
#include <hyrsm.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *tmpdir;
static char *model_path;
static char *fingerprint;

void
rel_init (int *argc, char ***argv)
{
  tmpdir = g_dir_make_tmp ("hyrsm-reliability-XXXXXX", NULL);
  g_assert_nonnull (tmpdir);
  /* GLib reads the cache dir once: set it before anything asks. */
  g_autofree char *cache = g_build_filename (tmpdir, "xdg-cache", NULL);
  g_setenv ("XDG_CACHE_HOME", cache, TRUE);
  if (!g_getenv ("GST_REGISTRY_1_0")) {
    g_autofree char *reg = g_build_filename (tmpdir, "registry.bin", NULL);
    g_setenv ("GST_REGISTRY_1_0", reg, TRUE);
  }
  gst_init (argc, argv);
}

const char *
rel_tmpdir (void)
{
  return tmpdir;
}

void
rel_cleanup (void)
{
  if (tmpdir && !g_getenv ("HYRSM_KEEP_TMP"))
    rel_sh ("chmod -R u+rwx '%s' 2>/dev/null; rm -rf '%s'", tmpdir, tmpdir);
}

void
rel_sh (const char *fmt, ...)
{
  va_list args;
  va_start (args, fmt);
  g_autofree char *cmd = g_strdup_vprintf (fmt, args);
  va_end (args);
  int status = system (cmd);
  if (status != 0)
    g_error ("command failed (%d): %s", status, cmd);
}

const char *
rel_model_path (void)
{
  if (model_path == NULL) {
    static const char *const meta[] = { "hyrsm.crop", "32", "hyrsm.resize",
      "36", NULL
    };
    TestModelSpec spec = {.backbone = "resnet18",.head = "1shot",.seed = 11,
      .extra_metadata = meta
    };
    char *path = g_build_filename (tmpdir, "model.safetensors", NULL);
    GError *error = NULL;
    if (!test_model_write (path, &spec, &error))
      g_error ("%s", error->message);
    gchar *contents;
    gsize len;
    if (!g_file_get_contents (path, &contents, &len, &error))
      g_error ("%s", error->message);
    /* As hyrsm_model_get_fingerprint(): SHA-256, 16 hex digits. */
    fingerprint = g_compute_checksum_for_data (G_CHECKSUM_SHA256,
        (const guchar *) contents, len);
    fingerprint[16] = '\0';
    g_free (contents);
    model_path = path;
  }
  return model_path;
}

const char *
rel_model_fingerprint (void)
{
  rel_model_path ();
  return fingerprint;
}

char *
rel_make_feature_set (const char *name, const char *const *labels,
    guint per_label, guint32 seed)
{
  char *dir = g_build_filename (tmpdir, name, NULL);
  GRand *rand = g_rand_new_with_seed (seed);
  float *f = g_new (float, REL_T * REL_D);
  for (guint l = 0; labels[l]; l++) {
    g_autofree char *folder = g_build_filename (dir, labels[l], NULL);
    g_mkdir_with_parents (folder, 0755);
    for (guint e = 0; e < per_label; e++) {
      for (int i = 0; i < REL_T * REL_D; i++)
        f[i] = g_rand_double (rand);
      g_autofree char *file = g_strdup_printf ("%s/ex%u.hyrsm", folder, e);
      GError *error = NULL;
      if (!hyrsm_features_save (file, f, REL_T, REL_D,
              rel_model_fingerprint (), "reliability test", NULL, &error))
        g_error ("%s", error->message);
    }
  }
  g_free (f);
  g_rand_free (rand);
  return dir;
}

void
rel_make_clip (const char *path, guint frames, guint width, guint height)
{
  g_autofree char *desc = g_strdup_printf ("videotestsrc pattern=ball "
      "num-buffers=%u ! video/x-raw,width=%u,height=%u,framerate=15/1 ! "
      "jpegenc ! avimux ! filesink location=\"%s\"", frames, width, height,
      path);
  GError *error = NULL;
  GstElement *pipeline = gst_parse_launch (desc, &error);
  if (pipeline == NULL)
    g_error ("%s: %s", desc, error->message);
  gst_element_set_state (pipeline, GST_STATE_PLAYING);
  GstBus *bus = gst_element_get_bus (pipeline);
  GstMessage *msg = gst_bus_timed_pop_filtered (bus, 60 * GST_SECOND,
      GST_MESSAGE_EOS | GST_MESSAGE_ERROR);
  if (msg == NULL || GST_MESSAGE_TYPE (msg) != GST_MESSAGE_EOS)
    g_error ("could not make a clip with \"%s\"", desc);
  gst_message_unref (msg);
  gst_object_unref (bus);
  gst_element_set_state (pipeline, GST_STATE_NULL);
  gst_object_unref (pipeline);
}

GstHarness *
rel_harness_new (const char *model, const char *support, const char *props,
    gboolean live, GstBus ** bus)
{
  GstElement *e = gst_element_factory_make ("hyrsmfilter", NULL);
  g_assert_nonnull (e);
  g_object_set (e, "model", model, "support", support, NULL);
  if (props) {
    g_auto (GStrv) kv = g_strsplit_set (props, " ", -1);
    for (int i = 0; kv[i] && kv[i + 1]; i += 2)
      gst_util_set_object_arg (G_OBJECT (e), kv[i], kv[i + 1]);
  }
  *bus = gst_bus_new ();
  gst_element_set_bus (e, *bus);
  GstHarness *h = gst_harness_new_with_element (e, "sink", "src");
  gst_object_unref (e);
  gst_harness_set_live (h, live);
  gst_harness_set_src_caps_str (h, REL_CAPS);
  return h;
}

void
rel_harness_free (GstHarness * h, GstBus * bus)
{
  gst_element_set_bus (h->element, NULL);
  gst_harness_teardown (h);
  gst_object_unref (bus);
}

GstBuffer *
rel_make_frame (GstHarness * h, guint64 i)
{
  GstBuffer *buf = gst_harness_create_buffer (h, REL_RGB_SIZE);
  GstMapInfo map;
  gst_buffer_map (buf, &map, GST_MAP_WRITE);
  for (gsize j = 0; j < map.size; j++)
    map.data[j] = (guint8) ((i % 24) * 7 + j * 13);
  gst_buffer_unmap (buf, &map);
  GST_BUFFER_PTS (buf) = gst_util_uint64_scale (i, GST_SECOND, 30);
  GST_BUFFER_DURATION (buf) = GST_SECOND / 30;
  return buf;
}

guint64
rel_stat (GstElement * e, const char *field)
{
  GstStructure *s = NULL;
  guint64 v = 0;
  g_object_get (e, "stats", &s, NULL);
  g_assert_true (gst_structure_get_uint64 (s, field, &v));
  gst_structure_free (s);
  return v;
}

guint64
rel_windows_due (guint64 n_frames, GstClockTime window, GstClockTime stride)
{
  if (n_frames == 0)
    return 0;
  /* The grid starts at the first frame (running time 0): point k sits at
   * (k + 1/2) period and is assigned by the first frame that ends after
   * it. A window ends at every stride_samples-th point from T - 1 on. */
  GstClockTime period = MAX (window / REL_T, 1);
  guint64 stride_samples = MAX (1, (stride + period / 2) / period);
  GstClockTime end = gst_util_uint64_scale (n_frames - 1, GST_SECOND, 30)
      + GST_SECOND / 30;
  guint64 points = 0;
  while (points * period + period / 2 < end)
    points++;
  guint64 due = 0;
  for (guint64 k = REL_T - 1; k < points; k++)
    if ((k + 1 - REL_T) % stride_samples == 0)
      due++;
  return due;
}

guint64
rel_rss_kib (void)
{
  g_autofree char *status = NULL;
  if (!g_file_get_contents ("/proc/self/status", &status, NULL, NULL))
    return 0;
  const char *line = strstr (status, "VmRSS:");
  return line ? g_ascii_strtoull (line + 6, NULL, 10) : 0;
}
