/* fuzz-model.c: the model loader (hyrsm_model_new_from_file_full on the
 * CPU): safetensors parsing, naming schemes, architecture inference from
 * the tensors and __metadata__, validation of every tensor, BatchNorm
 * folding and the head's weights. The input is written to a file first,
 * as the loader maps files.
 *
 * A model that loads is also used: its properties are read, and when it
 * has a relation head a small support set is matched, so that odd but
 * accepted metadata (frames, position scales, a stored positional table)
 * cannot crash matching later. A failure must be a HYRSM_ERROR naming the
 * file. */
#include "fuzz-common.h"

#include <string.h>

static void
use_model (HyrsmModel *model)
{
  guint T = hyrsm_model_get_frames (model);
  guint D = hyrsm_model_get_feature_dim (model);
  FUZZ_CHECK (T >= 1 && T <= 64);
  FUZZ_CHECK (hyrsm_model_get_fingerprint (model) != NULL);
  FUZZ_CHECK (hyrsm_model_get_crop (model) <= hyrsm_model_get_resize (model));
  char **keys = hyrsm_model_list_metadata (model);
  for (guint i = 0; keys && keys[i]; i++)
    FUZZ_CHECK (hyrsm_model_get_metadata (model, keys[i]) != NULL);
  g_strfreev (keys);
  if (!hyrsm_model_has_head (model) || D == 0 || D > 4096)
    return;

  /* Two labels, one with two examples (the 5-shot rule applies when the
   * head is unnamed), then one query. */
  HyrsmSupportSet *set = hyrsm_support_set_new (model);
  gsize n = (gsize) T * D;
  float *features = g_new (float, n);
  for (gsize i = 0; i < n; i++)
    features[i] = (float) ((i * 2654435761u) % 1000) / 1000.0f - 0.5f;
  const char *labels[] = { "a", "b", "a" };
  for (guint e = 0; e < G_N_ELEMENTS (labels); e++) {
    features[e] += 0.25f;
    GError *error = NULL;
    if (!hyrsm_support_set_add_raw (set, labels[e], features, &error)) {
      fuzz_check_error (error);
      g_error_free (error);
    }
  }
  GError *error = NULL;
  HyrsmMatchResult *res = hyrsm_support_set_match_raw (set, features, &error);
  if (res) {
    FUZZ_CHECK (hyrsm_match_result_get_label (res) != NULL);
    g_object_unref (res);
  } else {
    fuzz_check_error (error);
    g_error_free (error);
  }
  g_free (features);
  g_object_unref (set);
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  /* Bigger inputs only slow the fuzzer down: every valid model with a
   * backbone is megabytes, and libFuzzer's inputs stay far below that. */
  if (size > 1 << 20)
    return 0;
  g_autofree char *path = fuzz_write_file ("input.safetensors", data, size);
  GError *error = NULL;
  HyrsmModel *model = hyrsm_model_new_from_file_full (path, "cpu", &error);
  if (model == NULL) {
    fuzz_check_error (error);
    FUZZ_CHECK (error->domain == HYRSM_ERROR);
    FUZZ_CHECK (strstr (error->message, path) != NULL
        || strstr (error->message, "device") != NULL);
    g_error_free (error);
    return 0;
  }
  FUZZ_CHECK (error == NULL);
  use_model (model);
  g_object_unref (model);
  return 0;
}
