/* fuzz-bundle.c: support-set bundles (gst_hyrsm_bundle_parse), the bytes
 * an element takes from the MQTT broker, checked against the fuzzers'
 * head-only model (T = 8, D = 8). The seeds are that model's bundles,
 * some signed with the key "fuzz" (make-fuzz-seeds).
 *
 * Checked besides "no crash": a failure is a GST_HYRSM_BUNDLE_ERROR; a
 * success re-serializes to a bundle that parses to the same examples, its
 * labels are safe folder names (it is written out as a directory of
 * feature files inside the fuzzer's private folder and nothing lands
 * outside it), and, for this model's fingerprint, it becomes a support set
 * that matches. */
#include "fuzz-common.h"
#include "gsthyrsmbundle.h"

#include <string.h>

static void
check_bundle (GstHyrsmBundle *b, HyrsmModel *model)
{
  guint n = gst_hyrsm_bundle_get_n_examples (b);
  gsize fsize = (gsize) gst_hyrsm_bundle_get_frames (b)
      * gst_hyrsm_bundle_get_dim (b) * sizeof (float);
  FUZZ_CHECK (n > 0);
  GError *error = NULL;
  GBytes *again = gst_hyrsm_bundle_serialize (b, NULL, &error);
  FUZZ_CHECK (again != NULL);
  gsize size;
  const guint8 *data = g_bytes_get_data (again, &size);
  GstHyrsmBundle *c = gst_hyrsm_bundle_parse (data, size, NULL, 0, &error);
  FUZZ_CHECK (c != NULL);
  FUZZ_CHECK (gst_hyrsm_bundle_get_n_examples (c) == n);
  for (guint i = 0; i < n; i++) {
    const char *la, *lb;
    const float *fa, *fb;
    FUZZ_CHECK (gst_hyrsm_bundle_get_example (b, i, &la, NULL, &fa));
    FUZZ_CHECK (gst_hyrsm_bundle_get_example (c, i, &lb, NULL, &fb));
    FUZZ_CHECK (strcmp (la, lb) == 0 && memcmp (fa, fb, fsize) == 0);
    FUZZ_CHECK (la[0] != '.' && strchr (la, '/') == NULL);
  }
  gst_hyrsm_bundle_unref (c);
  g_bytes_unref (again);

  /* Written out inside a fresh folder: each label one level down. */
  g_autofree char *root = g_build_filename (fuzz_tmpdir (), "pull", NULL);
  g_autofree char *dir = g_build_filename (root, "set", NULL);
  fuzz_rm_rf (root);
  g_mkdir_with_parents (root, 0700);
  if (!gst_hyrsm_bundle_write_dir (b, dir, &error)) {
    fuzz_check_error (error);
    g_clear_error (&error);
  }
  GDir *d = g_dir_open (root, 0, NULL);
  FUZZ_CHECK (d != NULL);
  const char *name;
  while ((name = g_dir_read_name (d)))
    FUZZ_CHECK (strcmp (name, "set") == 0);
  g_dir_close (d);
  fuzz_rm_rf (root);

  if (!gst_hyrsm_bundle_check_model (b, model, &error)) {
    FUZZ_CHECK (error->code == GST_HYRSM_BUNDLE_ERROR_WRONG_MODEL);
    g_clear_error (&error);
    return;
  }
  HyrsmSupportSet *set = gst_hyrsm_bundle_to_support_set (b, model, &error);
  FUZZ_CHECK (set != NULL);
  const float *f;
  gst_hyrsm_bundle_get_example (b, 0, NULL, NULL, &f);
  HyrsmMatchResult *res = hyrsm_support_set_match_raw (set, f, &error);
  if (res)
    g_object_unref (res);
  else {
    fuzz_check_error (error);
    g_clear_error (&error);
  }
  g_object_unref (set);
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  HyrsmModel *model = fuzz_head_model ();
  GError *error = NULL;
  /* With and without the key: without it the HMAC is not checked, so the
   * fuzzer reaches the body of signed seeds too. */
  GBytes *key = g_bytes_new_static ("fuzz", 4);
  for (int k = 0; k < 2; k++) {
    GstHyrsmBundle *b = gst_hyrsm_bundle_parse (data, size, k ? key : NULL,
        GST_HYRSM_BUNDLE_DEFAULT_MAX_SIZE, &error);
    if (b == NULL) {
      fuzz_check_error (error);
      FUZZ_CHECK (error->domain == GST_HYRSM_BUNDLE_ERROR);
      g_clear_error (&error);
      continue;
    }
    check_bundle (b, model);
    gst_hyrsm_bundle_unref (b);
  }
  g_bytes_unref (key);
  return 0;
}
