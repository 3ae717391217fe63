/* fuzz-safetensors.c: the safetensors container parser on raw bytes
 * (hyrsm_safetensors_new_from_bytes, the code under every model and
 * feature file). The input is parsed straight from libFuzzer's buffer, so
 * a read past its end is an AddressSanitizer error.
 *
 * Checked besides "no crash": a failure is a HYRSM_ERROR with a message;
 * a success describes only bytes inside the input, tensors that tile the
 * data section, sizes that match their shapes, and names that look up. */
#include "fuzz-common.h"
#include "hyrsm-safetensors.h"

#include <string.h>

static void
check_tensors (const HyrsmSafetensors *st, const uint8_t *data, size_t size)
{
  guint n = hyrsm_safetensors_get_n_tensors (st);
  const guint8 *expected = NULL;
  for (guint i = 0; i < n; i++) {
    const HyrsmTensorInfo *t = hyrsm_safetensors_get_tensor (st, i);
    FUZZ_CHECK (t != NULL && t->name != NULL);
    FUZZ_CHECK (hyrsm_safetensors_lookup (st, t->name) == t);
    FUZZ_CHECK (t->rank >= 0 && t->rank <= HYRSM_TENSOR_MAX_RANK);
    gint64 count = 1;
    for (int d = 0; d < t->rank; d++) {
      FUZZ_CHECK (t->shape[d] >= 0);
      count *= t->shape[d];
    }
    FUZZ_CHECK (count == t->n_elements);
    FUZZ_CHECK (t->n_bytes == (gsize) t->n_elements * hyrsm_dtype_size
        (t->dtype));
    FUZZ_CHECK (t->data >= data + 8 && t->data + t->n_bytes <= data + size);
    /* Sorted by offset and tiling: each starts where the last ended. */
    FUZZ_CHECK (expected == NULL || t->data == expected);
    expected = t->data + t->n_bytes;
    if (t->dtype == HYRSM_DTYPE_F32 && t->n_bytes <= 1 << 20) {
      float *copy = g_malloc (MAX (t->n_bytes, 1));
      hyrsm_tensor_copy_f32 (t, copy);
      g_free (copy);
    }
  }
  if (expected)
    FUZZ_CHECK (expected == data + size);
}

static void
check_metadata (const HyrsmSafetensors *st)
{
  GHashTable *table = hyrsm_safetensors_get_metadata_table (st);
  if (table == NULL)
    return;
  GHashTableIter it;
  gpointer k, v;
  g_hash_table_iter_init (&it, table);
  while (g_hash_table_iter_next (&it, &k, &v)) {
    FUZZ_CHECK (k != NULL && v != NULL);
    FUZZ_CHECK (g_strcmp0 (hyrsm_safetensors_get_metadata (st, k), v) == 0);
  }
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  GBytes *bytes = g_bytes_new_static (data, size);
  GError *error = NULL;
  HyrsmSafetensors *st = hyrsm_safetensors_new_from_bytes (bytes, "fuzz",
      &error);
  if (st == NULL) {
    fuzz_check_error (error);
    FUZZ_CHECK (error->domain == HYRSM_ERROR);
    g_error_free (error);
  } else {
    FUZZ_CHECK (error == NULL);
    FUZZ_CHECK (size >= 8);
    check_tensors (st, data, size);
    check_metadata (st);
    hyrsm_safetensors_free (st);
  }
  g_bytes_unref (bytes);
  return 0;
}
