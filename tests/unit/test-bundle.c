/* test-bundle.c: support-set bundles (src/gst/bundle/gsthyrsmbundle.h): round
 * trips with and without an HMAC, to a support set and through a
 * directory of feature files, and each way a hostile bundle is refused
 * with its own error code and a message naming the fault. */
#include <gst/gst.h>
#include "gsthyrsmbundle.h"
#include "test-model-writer.h"

#include <glib/gstdio.h>
#include <math.h>
#include <string.h>

#define D 64

static char *tmpdir;
static HyrsmModel *model;       /* head-only, T = 8, D = 64 */
static guint T;

static float *
make_features (guint seed)
{
  float *f = g_new (float, (gsize) T * D);
  GRand *rand = g_rand_new_with_seed (seed);
  for (gsize i = 0; i < (gsize) T * D; i++)
    f[i] = (float) g_rand_double_range (rand, -2.0, 4.0);
  g_rand_free (rand);
  return f;
}

/* Two labels: "wave" x 2, "clap" x 1. */
static GstHyrsmBundle *
make_bundle (guint64 version)
{
  g_autoptr (GError) error = NULL;
  GstHyrsmBundle *b = gst_hyrsm_bundle_new (hyrsm_model_get_fingerprint
      (model), T, D, version, "cam-1 (test)", 1700000000123456, &error);
  g_assert_no_error (error);
  const char *labels[] = { "wave", "clap", "wave" };
  for (guint i = 0; i < 3; i++) {
    g_autofree float *f = make_features (i + 1);
    g_autofree char *src = g_strdup_printf ("%s/clip_%u.mkv", labels[i], i);
    g_assert_true (gst_hyrsm_bundle_add (b, labels[i], i == 1 ? NULL : src,
            f, &error));
    g_assert_no_error (error);
  }
  return b;
}

static void
assert_same (GstHyrsmBundle *a, GstHyrsmBundle *b)
{
  g_assert_cmpstr (gst_hyrsm_bundle_get_fingerprint (a), ==,
      gst_hyrsm_bundle_get_fingerprint (b));
  g_assert_cmpuint (gst_hyrsm_bundle_get_n_examples (a), ==,
      gst_hyrsm_bundle_get_n_examples (b));
  for (guint i = 0; i < gst_hyrsm_bundle_get_n_examples (a); i++) {
    const char *la, *lb;
    const float *fa, *fb;
    g_assert_true (gst_hyrsm_bundle_get_example (a, i, &la, NULL, &fa));
    g_assert_true (gst_hyrsm_bundle_get_example (b, i, &lb, NULL, &fb));
    g_assert_cmpstr (la, ==, lb);
    g_assert_cmpmem (fa, (gsize) T * D * 4, fb, (gsize) T * D * 4);
  }
}

static void
test_round_trip (void)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GstHyrsmBundle) b = make_bundle (7);
  g_autoptr (GBytes) key = g_bytes_new_static ("secret", 6);
  for (int k = 0; k < 2; k++) {
    g_autoptr (GBytes) bytes = gst_hyrsm_bundle_serialize (b, k ? key : NULL,
        &error);
    g_assert_no_error (error);
    gsize size;
    const guint8 *data = g_bytes_get_data (bytes, &size);
    g_assert_cmpuint (size, ==, (k ? 32 : 0) + 48 + 2 + 16 + 2 + 12
        + 2 + 4 + 2 + 4 + 3 * (4 + 2) + 2 * strlen ("wave/clip_0.mkv")
        + 3 * T * D * 4);
    guint64 v;
    g_assert_true (gst_hyrsm_bundle_peek_version (data, size, &v));
    g_assert_cmpuint (v, ==, 7);
    g_autoptr (GstHyrsmBundle) p = gst_hyrsm_bundle_parse (data, size,
        k ? key : NULL, GST_HYRSM_BUNDLE_DEFAULT_MAX_SIZE, &error);
    g_assert_no_error (error);
    assert_same (b, p);
    g_assert_cmpuint (gst_hyrsm_bundle_get_version (p), ==, 7);
    g_assert_cmpstr (gst_hyrsm_bundle_get_origin (p), ==, "cam-1 (test)");
    g_assert_cmpint (gst_hyrsm_bundle_get_created (p), ==, 1700000000123456);
    g_assert_cmpint (gst_hyrsm_bundle_is_signed (p), ==, k);
    g_auto (GStrv) labels = gst_hyrsm_bundle_get_labels (p);
    g_assert_cmpstrv (labels, ((const char *[]) { "wave", "clap", NULL }));
    const char *src;
    gst_hyrsm_bundle_get_example (p, 1, NULL, &src, NULL);
    g_assert_null (src);
    gst_hyrsm_bundle_get_example (p, 2, NULL, &src, NULL);
    g_assert_cmpstr (src, ==, "wave/clip_2.mkv");
    /* A signed bundle read without a key is accepted unchecked. */
    if (k) {
      g_autoptr (GstHyrsmBundle) q = gst_hyrsm_bundle_parse (data, size,
          NULL, 0, &error);
      g_assert_no_error (error);
      g_assert_true (gst_hyrsm_bundle_is_signed (q));
    }
  }
  g_autoptr (HyrsmSupportSet) set = gst_hyrsm_bundle_to_support_set (b,
      model, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (hyrsm_support_set_get_n_examples (set), ==, 3);
  g_assert_cmpuint (hyrsm_support_set_get_n_classes (set), ==, 2);
}

static void
test_dir_round_trip (void)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GstHyrsmBundle) b = make_bundle (3);
  g_autofree char *dir = g_build_filename (tmpdir, "pulled", NULL);
  g_assert_true (gst_hyrsm_bundle_write_dir (b, dir, &error));
  g_assert_no_error (error);
  g_autofree char *f = g_build_filename (dir, "wave", "2.hyrsm", NULL);
  g_assert_true (g_file_test (f, G_FILE_TEST_IS_REGULAR));
  /* Not over a set that is there. */
  g_assert_false (gst_hyrsm_bundle_write_dir (b, dir, &error));
  g_assert_error (error, GST_HYRSM_BUNDLE_ERROR, GST_HYRSM_BUNDLE_ERROR_IO);
  g_assert_nonnull (strstr (error->message, "not empty"));
  g_clear_error (&error);

  g_autoptr (GstHyrsmSupportDir) sd = gst_hyrsm_support_dir_load_full (model,
      dir, GST_HYRSM_SUPPORT_DIR_KEEP_FEATURES, NULL, NULL, NULL, &error);
  g_assert_no_error (error);
  g_autoptr (GstHyrsmBundle) back = gst_hyrsm_bundle_from_support_dir (sd,
      model, 4, "again", &error);
  g_assert_no_error (error);
  /* The loader sorts labels (clap before wave): compare per label. */
  g_assert_cmpuint (gst_hyrsm_bundle_get_n_examples (back), ==, 3);
  for (guint i = 0; i < 3; i++) {
    const char *la, *sa;
    const float *fa;
    gst_hyrsm_bundle_get_example (b, i, &la, &sa, &fa);
    gboolean found = FALSE;
    for (guint j = 0; j < 3 && !found; j++) {
      const char *lb;
      const float *fb;
      gst_hyrsm_bundle_get_example (back, j, &lb, NULL, &fb);
      found = g_str_equal (la, lb) && memcmp (fa, fb, (gsize) T * D * 4) == 0;
    }
    g_assert_true (found);
  }
}

static void
assert_refused (const guint8 *data, gsize size, GBytes *key, gsize max,
    int code, const char *needle)
{
  g_autoptr (GError) error = NULL;
  GstHyrsmBundle *b = gst_hyrsm_bundle_parse (data, size, key, max, &error);
  g_assert_null (b);
  g_assert_error (error, GST_HYRSM_BUNDLE_ERROR, code);
  if (g_test_verbose ())
    g_printerr ("%s\n", error->message);
  if (needle && !strstr (error->message, needle))
    g_error ("\"%s\" not in \"%s\"", needle, error->message);
}

static void
test_hmac (void)
{
  g_autoptr (GstHyrsmBundle) b = make_bundle (1);
  g_autoptr (GBytes) key = g_bytes_new_static ("secret", 6);
  g_autoptr (GBytes) other = g_bytes_new_static ("Secret", 6);
  g_autoptr (GBytes) plain = gst_hyrsm_bundle_serialize (b, NULL, NULL);
  g_autoptr (GBytes) sig = gst_hyrsm_bundle_serialize (b, key, NULL);
  gsize n, m;
  const guint8 *p = g_bytes_get_data (plain, &n);
  const guint8 *s = g_bytes_get_data (sig, &m);
  assert_refused (p, n, key, 0, GST_HYRSM_BUNDLE_ERROR_NO_HMAC, "no HMAC");
  assert_refused (s, m, other, 0, GST_HYRSM_BUNDLE_ERROR_BAD_HMAC,
      "does not match");
  /* One bit changed anywhere is caught by the HMAC first. */
  g_autofree guint8 *c = g_memdup2 (s, m);
  c[m / 2] ^= 1;
  assert_refused (c, m, key, 0, GST_HYRSM_BUNDLE_ERROR_BAD_HMAC, NULL);
  g_autoptr (GError) error = NULL;
  g_autoptr (GBytes) empty = g_bytes_new_static ("", 0);
  g_assert_null (gst_hyrsm_bundle_serialize (b, empty, &error));
  g_assert_error (error, GST_HYRSM_BUNDLE_ERROR,
      GST_HYRSM_BUNDLE_ERROR_INVALID);
}

static void
test_truncated_and_garbage (void)
{
  g_autoptr (GstHyrsmBundle) b = make_bundle (1);
  g_autoptr (GBytes) bytes = gst_hyrsm_bundle_serialize (b, NULL, NULL);
  gsize n;
  const guint8 *d = g_bytes_get_data (bytes, &n);
  /* Every prefix is refused (not only a few): lengths are checked at each
   * field. */
  for (gsize len = 0; len < n; len++) {
    g_autoptr (GError) error = NULL;
    g_assert_null (gst_hyrsm_bundle_parse (d, len, NULL, 0, &error));
    g_assert_error (error, GST_HYRSM_BUNDLE_ERROR,
        GST_HYRSM_BUNDLE_ERROR_BAD_FORMAT);
  }
  assert_refused ((const guint8 *) "{\"labels\": []}", 14, NULL, 0,
      GST_HYRSM_BUNDLE_ERROR_BAD_FORMAT, "not a support-set bundle");
  g_autofree guint8 *longer = g_malloc0 (n + 1);
  memcpy (longer, d, n);
  assert_refused (longer, n + 1, NULL, 0, GST_HYRSM_BUNDLE_ERROR_BAD_FORMAT,
      "1 bytes after the last example");
  assert_refused (d, n, NULL, n - 1, GST_HYRSM_BUNDLE_ERROR_TOO_LARGE,
      "over the limit");
}

/* Patches @bytes at @offset and expects @needle. */
static void
refuse_patched (GBytes *bytes, gsize offset, const void *patch, gsize len,
    const char *needle)
{
  gsize n;
  g_autofree guint8 *c = g_memdup2 (g_bytes_get_data (bytes, &n),
      g_bytes_get_size (bytes));
  memcpy (c + offset, patch, len);
  assert_refused (c, n, NULL, 0, GST_HYRSM_BUNDLE_ERROR_BAD_FORMAT, needle);
}

static void
test_hostile_fields (void)
{
  g_autoptr (GstHyrsmBundle) b = make_bundle (1);
  g_autoptr (GBytes) bytes = gst_hyrsm_bundle_serialize (b, NULL, NULL);
  guint32 u;
  guint64 zero = 0;
  u = GUINT32_TO_LE (2);
  refuse_patched (bytes, 8, &u, 4, "format 2");
  u = GUINT32_TO_LE (6);
  refuse_patched (bytes, 12, &u, 4, "unknown flags");
  refuse_patched (bytes, 16, &zero, 8, "version 0");
  u = GUINT32_TO_LE (0);
  refuse_patched (bytes, 32, &u, 4, "frames (T)");
  u = GUINT32_TO_LE (0x7fffffff);
  refuse_patched (bytes, 36, &u, 4, "feature width");
  refuse_patched (bytes, 44, &u, 4, "cannot fit");
  u = GUINT32_TO_LE (3);
  refuse_patched (bytes, 40, &u, 4, NULL);
  /* Labels start at 48 + 2 + 16 (fingerprint) + 2 + 12 (origin). */
  gsize labels = 48 + 2 + 16 + 2 + 12;
  refuse_patched (bytes, labels + 2, "../d", 4, "starts with '.'");
  refuse_patched (bytes, labels + 2, "a/b", 3, "contains '/'");
  refuse_patched (bytes, labels + 2, "\xff\xfe", 2, "not valid UTF-8");
  refuse_patched (bytes, labels + 2, "a\nb", 3, "control character");
  refuse_patched (bytes, labels + 2, "a\0b", 3, "NUL");
  refuse_patched (bytes, labels + 2 + 4 + 2, "wave", 4, "appears twice");
  /* The first example's label index, then its first value: NaN. */
  gsize ex = labels + 2 + 4 + 2 + 4;
  u = GUINT32_TO_LE (9);
  refuse_patched (bytes, ex, &u, 4, "names label 9");
  u = GUINT32_TO_LE (0);
  refuse_patched (bytes, ex + 4 + 2 + 15 + 4 * (gsize) T * D, &u, 4,
      "\"clap\" has no examples");
  float nan = NAN, inf = INFINITY;
  refuse_patched (bytes, ex + 4 + 2 + 15 + 12, &nan, 4, "NaN value at "
      "frame 0, column 3");
  refuse_patched (bytes, ex + 4 + 2 + 15, &inf, 4, "infinite");
}

static void
test_build_errors (void)
{
  g_autoptr (GError) error = NULL;
  const char *fp = hyrsm_model_get_fingerprint (model);
  g_assert_null (gst_hyrsm_bundle_new (fp, T, D, 0, NULL, 0, &error));
  g_assert_error (error, GST_HYRSM_BUNDLE_ERROR,
      GST_HYRSM_BUNDLE_ERROR_INVALID);
  g_clear_error (&error);
  g_assert_null (gst_hyrsm_bundle_new ("a b", T, D, 1, NULL, 0, &error));
  g_assert_error (error, GST_HYRSM_BUNDLE_ERROR,
      GST_HYRSM_BUNDLE_ERROR_INVALID);
  g_clear_error (&error);
  g_autoptr (GstHyrsmBundle) b = gst_hyrsm_bundle_new (fp, T, D, 1, NULL, 0,
      &error);
  g_assert_null (gst_hyrsm_bundle_serialize (b, NULL, &error));
  g_assert_error (error, GST_HYRSM_BUNDLE_ERROR,
      GST_HYRSM_BUNDLE_ERROR_INVALID);
  g_clear_error (&error);
  g_autofree float *f = make_features (1);
  g_assert_false (gst_hyrsm_bundle_add (b, "..", NULL, f, &error));
  g_assert_error (error, GST_HYRSM_BUNDLE_ERROR,
      GST_HYRSM_BUNDLE_ERROR_INVALID);
  g_clear_error (&error);
  f[5] = NAN;
  g_assert_false (gst_hyrsm_bundle_add (b, "x", NULL, f, &error));
  g_assert_nonnull (strstr (error->message, "NaN"));
  g_clear_error (&error);
  /* Another model's bundle. */
  g_autoptr (GstHyrsmBundle) o = gst_hyrsm_bundle_new ("0123456789abcdef",
      T, D, 1, NULL, 0, &error);
  f[5] = 1;
  g_assert_true (gst_hyrsm_bundle_add (o, "x", NULL, f, &error));
  g_assert_null (gst_hyrsm_bundle_to_support_set (o, model, &error));
  g_assert_error (error, GST_HYRSM_BUNDLE_ERROR,
      GST_HYRSM_BUNDLE_ERROR_WRONG_MODEL);
  g_assert_nonnull (strstr (error->message, "0123456789abcdef"));
}

static void
test_key_file (void)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *path = g_build_filename (tmpdir, "key", NULL);
  g_assert_true (g_file_set_contents (path, "s3cret\r\n", -1, NULL));
  g_autoptr (GBytes) k = gst_hyrsm_bundle_load_key (path, &error);
  g_assert_no_error (error);
  g_assert_cmpmem (g_bytes_get_data (k, NULL), g_bytes_get_size (k),
      "s3cret", 6);
  g_assert_true (g_file_set_contents (path, "\n", -1, NULL));
  g_assert_null (gst_hyrsm_bundle_load_key (path, &error));
  g_assert_nonnull (strstr (error->message, "empty"));
  g_clear_error (&error);
  g_autofree char *missing = g_build_filename (tmpdir, "nokey", NULL);
  g_assert_null (gst_hyrsm_bundle_load_key (missing, &error));
  g_assert_error (error, GST_HYRSM_BUNDLE_ERROR, GST_HYRSM_BUNDLE_ERROR_IO);
}

int
main (int argc, char **argv)
{
  gst_init (&argc, &argv);
  g_test_init (&argc, &argv, NULL);
  tmpdir = g_dir_make_tmp ("hyrsm-bundle-XXXXXX", NULL);
  g_assert_nonnull (tmpdir);
  g_autofree char *model_path = g_build_filename (tmpdir,
      "head64.safetensors", NULL);
  TestModelSpec spec = {.head = "1shot",.head_dim = D,.seed = 3 };
  g_autoptr (GError) error = NULL;
  g_assert_true (test_model_write (model_path, &spec, &error));
  model = hyrsm_model_new_from_file (model_path, &error);
  g_assert_no_error (error);
  T = hyrsm_model_get_frames (model);
  g_assert_cmpuint (strlen (hyrsm_model_get_fingerprint (model)), ==, 16);

  g_test_add_func ("/bundle/round-trip", test_round_trip);
  g_test_add_func ("/bundle/dir-round-trip", test_dir_round_trip);
  g_test_add_func ("/bundle/hmac", test_hmac);
  g_test_add_func ("/bundle/truncated-and-garbage",
      test_truncated_and_garbage);
  g_test_add_func ("/bundle/hostile-fields", test_hostile_fields);
  g_test_add_func ("/bundle/build-errors", test_build_errors);
  g_test_add_func ("/bundle/key-file", test_key_file);
  int rc = g_test_run ();
  g_object_unref (model);
  g_autofree char *cmd = g_strdup_printf ("rm -rf '%s'", tmpdir);
  (void) !system (cmd);
  g_free (tmpdir);
  return rc;
}
