/* hyrsm-cuda-gemm.c: the relation head's matrix products on cuBLAS, from
 * host operands (gemm_nt, gemm_nt_weight) or on the device. */
#include "hyrsm-cuda-private.h"

#include <string.h>

static gboolean
gemm (HyrsmBackendCuda *self, int m, int n, int k, const float *a,
    const float *b, float *c, gboolean b_is_weight, GError **error)
{
  if (m <= 0 || n <= 0 || k <= 0) {
    g_set_error (error, HYRSM_ERROR, HYRSM_ERROR_INVALID_ARGUMENT,
        "cuda backend: gemm of %d x %d x %d", m, n, k);
    return FALSE;
  }
  size_t a_bytes = (size_t) m * k * sizeof (float);
  size_t b_bytes = (size_t) n * k * sizeof (float);
  size_t c_bytes = (size_t) m * n * sizeof (float);
  size_t in_bytes = a_bytes + (b_is_weight ? 0 : b_bytes);
  if (!hyrsm_cuda_lock (self, error))
    return FALSE;
  const float *db = NULL;
  gboolean ok = (!b_is_weight
      || (db = hyrsm_cuda_weight_on_device (self, b, b_bytes, error)) != NULL)
      && hyrsm_cuda_ensure_pinned (&self->pinned_in, &self->pinned_in_bytes,
      in_bytes, "gemm operands", error)
      && hyrsm_cuda_ensure_pinned (&self->pinned_out, &self->pinned_out_bytes,
      c_bytes, "gemm result", error)
      && hyrsm_cuda_ensure_device (&self->staging, &self->staging_bytes,
      in_bytes + c_bytes, NULL, "gemm operands", error);
  if (ok) {
    guint8 *dev = self->staging;
    float *da = (float *) dev, *dc = (float *) (dev + in_bytes);
    memcpy (self->pinned_in, a, a_bytes);
    if (!b_is_weight) {
      memcpy ((guint8 *) self->pinned_in + a_bytes, b, b_bytes);
      db = (const float *) (dev + a_bytes);
    }
    const float one = 1.0f, zero = 0.0f;
    /* Row-major C = A B^T is column-major C^T = B A^T: B is k x n
     * column-major (transposed), A^T is k x m column-major. */
    ok = HYRSM_CUDA_CHECK (cudaMemcpyAsync (dev, self->pinned_in, in_bytes,
            cudaMemcpyHostToDevice, self->stream), error,
        "copying gemm operands to the device")
        && HYRSM_CUBLAS_CHECK (cublasSgemm (self->cublas, CUBLAS_OP_T,
            CUBLAS_OP_N, n, m, k, &one, db, k, da, k, &zero, dc, n), error,
        "gemm %d x %d x %d", m, n, k)
        && HYRSM_CUDA_CHECK (cudaMemcpyAsync (self->pinned_out, dc, c_bytes,
            cudaMemcpyDeviceToHost, self->stream), error,
        "copying a gemm result to the host")
        && HYRSM_CUDA_CHECK (cudaStreamSynchronize (self->stream), error,
        "gemm %d x %d x %d", m, n, k);
    if (ok)
      memcpy (c, self->pinned_out, c_bytes);
  }
  g_mutex_unlock (&self->lock);
  return ok;
}

gboolean
hyrsm_cuda_gemm_nt (HyrsmBackend *backend, int m, int n, int k, const float *a,
    const float *b, float *c, GError **error)
{
  return gemm ((HyrsmBackendCuda *) backend, m, n, k, a, b, c, FALSE, error);
}

gboolean
hyrsm_cuda_gemm_nt_weight (HyrsmBackend *backend, int m, int n, int k,
    const float *a, const float *b, float *c, GError **error)
{
  return gemm ((HyrsmBackendCuda *) backend, m, n, k, a, b, c, TRUE, error);
}

/* C (m x n) = A (m x k) W^T on the device, W a weight (n x k), row-major:
 * column-major C^T = W A^T. */
gboolean
hyrsm_cuda_gemm_nt_device (HyrsmBackendCuda *self, int m, int n, int k,
    const float *a, const float *w, float *c, GError **error)
{
  const float one = 1.0f, zero = 0.0f;
  return HYRSM_CUBLAS_CHECK (cublasSgemm (self->cublas, CUBLAS_OP_T,
          CUBLAS_OP_N, n, m, k, &one, w, k, a, k, &zero, c, n), error,
      "relation gemm %d x %d x %d", m, n, k);
}
