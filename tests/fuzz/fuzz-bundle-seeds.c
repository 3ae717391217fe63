/* fuzz-bundle-seeds.c: the fuzz-bundle corpus, for make-fuzz-seeds:
 * bundles of the fuzzers' head-only model, unsigned and signed with the
 * key "fuzz", one to three labels, with and without sources. */
#include "fuzz-common.h"
#include "gsthyrsmbundle.h"

static void
put_bundle (const char *dir, const char *name, guint n_labels,
    gboolean sign)
{
  HyrsmModel *model = fuzz_head_model ();
  guint T = hyrsm_model_get_frames (model);
  guint D = hyrsm_model_get_feature_dim (model);
  GError *error = NULL;
  GstHyrsmBundle *b = gst_hyrsm_bundle_new (hyrsm_model_get_fingerprint
      (model), T, D, 1 + n_labels, sign ? "cam-\xc3\xa9" : "", 1700000000,
      &error);
  if (b == NULL)
    g_error ("%s", error->message);
  const char *labels[] = { "wave", "clap \xe2\x9c\x8b", "sit_down" };
  float *f = g_new (float, (gsize) T * D);
  for (guint i = 0; i < n_labels + 1; i++) {
    for (gsize j = 0; j < (gsize) T * D; j++)
      f[j] = (float) ((i + 1) * (j % 7)) / 7.0f;
    if (!gst_hyrsm_bundle_add (b, labels[i % n_labels],
            i % 2 ? NULL : "wave/clip.mkv", f, &error))
      g_error ("%s", error->message);
  }
  GBytes *key = g_bytes_new_static ("fuzz", 4);
  GBytes *bytes = gst_hyrsm_bundle_serialize (b, sign ? key : NULL, &error);
  if (bytes == NULL)
    g_error ("%s", error->message);
  g_autofree char *path = g_build_filename (dir, name, NULL);
  if (!g_file_set_contents (path, g_bytes_get_data (bytes, NULL),
          g_bytes_get_size (bytes), &error))
    g_error ("%s", error->message);
  g_bytes_unref (bytes);
  g_bytes_unref (key);
  g_free (f);
  gst_hyrsm_bundle_unref (b);
}

void fuzz_bundle_seeds (const char *outdir);

void
fuzz_bundle_seeds (const char *outdir)
{
  g_autofree char *dir = g_build_filename (outdir, "bundle", NULL);
  g_mkdir_with_parents (dir, 0755);
  put_bundle (dir, "one-label.bundle", 1, FALSE);
  put_bundle (dir, "three-labels.bundle", 3, FALSE);
  put_bundle (dir, "signed.bundle", 2, TRUE);
}
