/* fuzz-features.c: `.hyrsm` feature files (hyrsm_features_load_full)
 * checked against the fuzzers' head-only model (T = 8, D = 8): the
 * container, the "features" tensor's dtype and shape, the fingerprint and
 * frames metadata. The input is written to a file first.
 *
 * Checked besides "no crash": a failure is a HYRSM_ERROR naming the file;
 * a success gives T x D finite-or-not floats (the bytes are the file's) and
 * every metadata entry; the features then go into a support set and match,
 * as the support-set loader would use them. */
#include "fuzz-common.h"

#include <string.h>

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  HyrsmModel *model = fuzz_head_model ();
  g_autofree char *path = fuzz_write_file ("input.hyrsm", data, size);
  float *features = NULL;
  GHashTable *meta = NULL;
  GError *error = NULL;
  if (!hyrsm_features_load_full (path, model, &features, &meta, &error)) {
    fuzz_check_error (error);
    FUZZ_CHECK (error->domain == HYRSM_ERROR);
    FUZZ_CHECK (strstr (error->message, path) != NULL);
    FUZZ_CHECK (features == NULL && meta == NULL);
    g_error_free (error);
    return 0;
  }
  FUZZ_CHECK (features != NULL && meta != NULL);
  /* The file name of a .hyrsm, as its source, and the features, as the
   * support-set loader takes them. */
  char *source = NULL;
  g_autofree float *again = NULL;
  FUZZ_CHECK (hyrsm_features_load (path, model, &again, &source, NULL));
  FUZZ_CHECK (memcmp (again, features, (gsize) hyrsm_model_get_frames (model)
          * hyrsm_model_get_feature_dim (model) * sizeof (float)) == 0);
  FUZZ_CHECK (g_strcmp0 (source, g_hash_table_lookup (meta,
              HYRSM_FEATURES_KEY_SOURCE)) == 0);
  g_free (source);

  HyrsmSupportSet *set = hyrsm_support_set_new (model);
  if (hyrsm_support_set_add_raw (set, "x", features, &error)) {
    HyrsmMatchResult *res = hyrsm_support_set_match_raw (set, features,
        &error);
    if (res)
      g_object_unref (res);
  }
  if (error) {
    fuzz_check_error (error);
    g_error_free (error);
  }
  g_object_unref (set);
  g_free (features);
  g_hash_table_unref (meta);
  return 0;
}
