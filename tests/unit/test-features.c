/* test-features.c: `.hyrsm` feature files (hyrsm-features.h): save and load
 * round trips, and every way a file can fail to fit a model (wrong shape,
 * dtype or fingerprint, truncated, not a feature file), each with a
 * specific HyrsmError whose message names the file. */
#include "hyrsm.h"
#include "test-model-writer.h"

#include <glib/gstdio.h>
#include <string.h>

#define D 64

static char *tmpdir;
static HyrsmModel *model;       /* head-only, T = 8, D = 64 */
static guint T;

static char *
tmp_path (const char *name)
{
  return g_build_filename (tmpdir, name, NULL);
}

static float *
make_features (guint frames, guint dim, guint seed)
{
  float *f = g_new (float, (gsize) frames * dim);
  GRand *rand = g_rand_new_with_seed (seed);
  for (gsize i = 0; i < (gsize) frames * dim; i++)
    f[i] = (float) g_rand_double_range (rand, 0.0, 4.0);
  g_rand_free (rand);
  return f;
}

static void
assert_load_fails (const char *path, int code, const char *needle)
{
  g_autoptr (GError) error = NULL;
  float *features = NULL;
  g_assert_false (hyrsm_features_load (path, model, &features, NULL,
          &error));
  g_assert_null (features);
  g_assert_error (error, HYRSM_ERROR, code);
  if (!strstr (error->message, path))
    g_error ("message \"%s\" does not name %s", error->message, path);
  if (needle && !strstr (error->message, needle))
    g_error ("message \"%s\" does not mention \"%s\"", error->message, needle);
}

static void
test_round_trip (void)
{
  g_autofree char *path = tmp_path ("round-trip.hyrsm");
  g_autofree float *in = make_features (T, D, 1);
  g_autoptr (GHashTable) extra = g_hash_table_new (g_str_hash, g_str_equal);
  g_hash_table_insert (extra, HYRSM_FEATURES_KEY_SOURCE_SIZE, "12345");
  g_hash_table_insert (extra, HYRSM_FEATURES_KEY_SOURCE_MTIME,
      "1700000000123456");
  g_hash_table_insert (extra, HYRSM_FEATURES_KEY_DURATION, "1600000000");
  /* The fixed keys win over `extra`. */
  g_hash_table_insert (extra, HYRSM_FEATURES_KEY_FRAMES, "99");
  g_autoptr (GError) error = NULL;
  g_assert_true (hyrsm_features_save (path, in, T, D,
          hyrsm_model_get_fingerprint (model), "wave/clip_1.mkv", extra,
          &error));
  g_assert_no_error (error);

  g_autofree float *out = NULL;
  g_autofree char *source = NULL;
  g_assert_true (hyrsm_features_load (path, model, &out, &source, &error));
  g_assert_no_error (error);
  g_assert_cmpmem (in, T * D * sizeof (float), out, T * D * sizeof (float));
  g_assert_cmpstr (source, ==, "wave/clip_1.mkv");

  g_autoptr (GHashTable) meta = NULL;
  g_assert_true (hyrsm_features_load_full (path, model, NULL, &meta, &error));
  g_assert_cmpstr (g_hash_table_lookup (meta, HYRSM_FEATURES_KEY_FINGERPRINT),
      ==, hyrsm_model_get_fingerprint (model));
  g_autofree char *frames = g_strdup_printf ("%u", T);
  g_assert_cmpstr (g_hash_table_lookup (meta, HYRSM_FEATURES_KEY_FRAMES), ==,
      frames);
  g_assert_cmpstr (g_hash_table_lookup (meta, HYRSM_FEATURES_KEY_SOURCE_SIZE),
      ==, "12345");
  g_assert_cmpstr (g_hash_table_lookup (meta,
          HYRSM_FEATURES_KEY_SOURCE_MTIME), ==, "1700000000123456");
  g_assert_cmpstr (g_hash_table_lookup (meta, HYRSM_FEATURES_KEY_DURATION),
      ==, "1600000000");

  /* Overwriting replaces the file. */
  g_autofree float *in2 = make_features (T, D, 2);
  g_assert_true (hyrsm_features_save (path, in2, T, D, NULL, NULL, NULL,
          &error));
  g_clear_pointer (&out, g_free);
  g_clear_pointer (&source, g_free);
  g_assert_true (hyrsm_features_load (path, model, &out, &source, &error));
  g_assert_cmpmem (in2, T * D * sizeof (float), out, T * D * sizeof (float));
  g_assert_null (source);
}

static void
test_bytes_round_trip (void)
{
  g_autofree char *path = tmp_path ("bytes.hyrsm");
  float *in = make_features (T, D, 3);
  g_autoptr (GBytes) bytes = g_bytes_new_take (in, T * D * sizeof (float));
  g_autoptr (GError) error = NULL;
  g_assert_true (hyrsm_features_save_bytes (path, model, bytes, "x.webm",
          &error));
  g_assert_no_error (error);
  g_autofree char *source = NULL;
  g_autoptr (GBytes) out = hyrsm_features_load_bytes (path, model, &source,
      &error);
  g_assert_no_error (error);
  g_assert_true (g_bytes_equal (bytes, out));
  g_assert_cmpstr (source, ==, "x.webm");

  /* The loaded features are what a support set takes. */
  HyrsmSupportSet *set = hyrsm_support_set_new (model);
  g_assert_true (hyrsm_support_set_add (set, "x", out, &error));
  g_assert_no_error (error);
  g_object_unref (set);

  g_autoptr (GBytes) short_bytes = g_bytes_new_static (in, 10);
  g_assert_false (hyrsm_features_save_bytes (path, model, short_bytes, NULL,
          &error));
  g_assert_error (error, HYRSM_ERROR, HYRSM_ERROR_SHAPE_MISMATCH);
}

static void
test_wrong_shape (void)
{
  g_autofree char *frames = tmp_path ("wrong-frames.hyrsm");
  g_autofree char *dim = tmp_path ("wrong-dim.hyrsm");
  g_autofree float *f = make_features (T + 1, D * 2, 4);
  g_autoptr (GError) error = NULL;
  const char *fp = hyrsm_model_get_fingerprint (model);
  g_assert_true (hyrsm_features_save (frames, f, T - 1, D, fp, NULL, NULL,
          &error));
  g_assert_true (hyrsm_features_save (dim, f, T, D * 2, fp, NULL, NULL,
          &error));
  g_assert_no_error (error);
  assert_load_fails (frames, HYRSM_ERROR_SHAPE_MISMATCH, "7 x 64");
  assert_load_fails (dim, HYRSM_ERROR_SHAPE_MISMATCH, "8 x 128");
}

static void
test_wrong_fingerprint (void)
{
  g_autofree char *path = tmp_path ("wrong-fingerprint.hyrsm");
  g_autofree float *f = make_features (T, D, 5);
  g_autoptr (GError) error = NULL;
  g_assert_true (hyrsm_features_save (path, f, T, D, "0123456789abcdef",
          NULL, NULL, &error));
  assert_load_fails (path, HYRSM_ERROR_BAD_METADATA, "0123456789abcdef");

  /* Without a fingerprint, a file fits any model of the same T x D. */
  g_assert_true (hyrsm_features_save (path, f, T, D, NULL, NULL, NULL,
          &error));
  g_autofree float *out = NULL;
  g_assert_true (hyrsm_features_load (path, model, &out, NULL, &error));
  g_assert_no_error (error);
}

static void
test_truncated (void)
{
  g_autofree char *path = tmp_path ("truncated.hyrsm");
  g_autofree float *f = make_features (T, D, 6);
  g_autoptr (GError) error = NULL;
  g_assert_true (hyrsm_features_save (path, f, T, D,
          hyrsm_model_get_fingerprint (model), "a", NULL, &error));
  g_autofree char *contents = NULL;
  gsize len;
  g_assert_true (g_file_get_contents (path, &contents, &len, NULL));
  /* Cut in the data, in the header, in the length field; and empty. */
  gsize cuts[] = { len - 1, len / 2, 20, 5, 0 };
  for (guint i = 0; i < G_N_ELEMENTS (cuts); i++) {
    g_assert_true (g_file_set_contents (path, contents, cuts[i], NULL));
    assert_load_fails (path, HYRSM_ERROR_BAD_FORMAT, NULL);
  }
}

static void
test_not_found (void)
{
  g_autofree char *path = tmp_path ("missing.hyrsm");
  assert_load_fails (path, HYRSM_ERROR_FILE_NOT_FOUND, NULL);

  g_autofree char *bad = tmp_path ("no-such-dir/x.hyrsm");
  g_autofree float *f = make_features (T, D, 7);
  g_autoptr (GError) error = NULL;
  g_assert_false (hyrsm_features_save (bad, f, T, D, NULL, NULL, NULL,
          &error));
  g_assert_error (error, HYRSM_ERROR, HYRSM_ERROR_FILE_NOT_FOUND);
  g_assert_nonnull (strstr (error->message, bad));
}

static void
test_not_a_feature_file (void)
{
  /* A model file is a safetensors file without a "features" tensor. */
  assert_load_fails (hyrsm_model_get_path (model),
      HYRSM_ERROR_MISSING_TENSOR, "features");
}

/* A hand-made container: "features" as F64, or with a bad frames value. */
static void
test_bad_dtype_and_metadata (void)
{
  g_autofree char *path = tmp_path ("f64.hyrsm");
  g_autofree char *header = g_strdup_printf ("{\"features\":{\"dtype\":"
      "\"F64\",\"shape\":[%u,%u],\"data_offsets\":[0,%u]}}", T, D, T * D * 8);
  gsize hlen = strlen (header), size = 8 + hlen + (gsize) T * D * 8;
  guint8 *buf = g_malloc0 (size);
  for (int i = 0; i < 8; i++)
    buf[i] = (guint8) ((guint64) hlen >> (8 * i));
  memcpy (buf + 8, header, hlen);
  g_assert_true (g_file_set_contents (path, (char *) buf, size, NULL));
  g_free (buf);
  assert_load_fails (path, HYRSM_ERROR_BAD_DTYPE, "F64");

  g_autofree char *frames = tmp_path ("bad-frames.hyrsm");
  g_autofree float *f = make_features (T, D, 8);
  g_autoptr (GError) error = NULL;
  g_assert_true (hyrsm_features_save (frames, f, T, D, NULL, NULL, NULL,
          &error));
  /* Rewrite hyrsm.frames: same length, so the offsets stay valid. */
  g_autofree char *contents = NULL;
  gsize len;
  g_assert_true (g_file_get_contents (frames, &contents, &len, NULL));
  char *at = strstr (contents + 8, "\"hyrsm.frames\":\"8\"");
  g_assert_nonnull (at);
  at[strlen ("\"hyrsm.frames\":\"")] = 'x';
  g_assert_true (g_file_set_contents (frames, contents, len, NULL));
  assert_load_fails (frames, HYRSM_ERROR_BAD_METADATA, "hyrsm.frames");
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  tmpdir = g_dir_make_tmp ("hyrsm-features-XXXXXX", NULL);
  g_assert_nonnull (tmpdir);
  g_autofree char *model_path = tmp_path ("head64.safetensors");
  TestModelSpec spec = {.head = "1shot",.head_dim = D,.seed = 3 };
  g_autoptr (GError) error = NULL;
  g_assert_true (test_model_write (model_path, &spec, &error));
  model = hyrsm_model_new_from_file (model_path, &error);
  g_assert_no_error (error);
  T = hyrsm_model_get_frames (model);
  g_assert_cmpuint (T, ==, 8);
  g_assert_cmpuint (hyrsm_model_get_feature_dim (model), ==, D);

  g_test_add_func ("/features/round-trip", test_round_trip);
  g_test_add_func ("/features/bytes-round-trip", test_bytes_round_trip);
  g_test_add_func ("/features/errors/wrong-shape", test_wrong_shape);
  g_test_add_func ("/features/errors/wrong-fingerprint",
      test_wrong_fingerprint);
  g_test_add_func ("/features/errors/truncated", test_truncated);
  g_test_add_func ("/features/errors/not-found", test_not_found);
  g_test_add_func ("/features/errors/not-a-feature-file",
      test_not_a_feature_file);
  g_test_add_func ("/features/errors/bad-dtype-and-metadata",
      test_bad_dtype_and_metadata);

  int ret = g_test_run ();
  g_object_unref (model);
  GDir *dir = g_dir_open (tmpdir, 0, NULL);
  const char *name;
  while (dir && (name = g_dir_read_name (dir))) {
    g_autofree char *p = g_build_filename (tmpdir, name, NULL);
    g_unlink (p);
  }
  g_clear_pointer (&dir, g_dir_close);
  g_rmdir (tmpdir);
  g_free (tmpdir);
  return ret;
}
