/* hyrsm-cuda-memory.c: device and pinned buffers that grow on demand,
 * uploads on the backend's stream, and the device copies of weights. */
#include "hyrsm-cuda-private.h"

typedef struct
{
  void *data;
  size_t bytes;
} DeviceCopy;

/* Makes *@ptr a device buffer of at least @need bytes (contents lost when
 * it grows). Sets *@grown when it did. */
gboolean
hyrsm_cuda_ensure_device (void **ptr, size_t *have, size_t need,
    gboolean *grown, const char *what, GError **error)
{
  if (need <= *have)
    return TRUE;
  if (*ptr)
    cudaFree (*ptr);
  *ptr = NULL;
  *have = 0;
  if (!HYRSM_CUDA_CHECK (cudaMalloc (ptr, need), error,
          "allocating %" G_GSIZE_FORMAT " bytes of device memory for %s",
          need, what)) {
    *ptr = NULL;
    return FALSE;
  }
  *have = need;
  if (grown)
    *grown = TRUE;
  return TRUE;
}

gboolean
hyrsm_cuda_ensure_pinned (void **ptr, size_t *have, size_t need,
    const char *what, GError **error)
{
  if (need <= *have)
    return TRUE;
  if (*ptr)
    cudaFreeHost (*ptr);
  *ptr = NULL;
  *have = 0;
  if (!HYRSM_CUDA_CHECK (cudaHostAlloc (ptr, need, cudaHostAllocDefault),
          error, "allocating %" G_GSIZE_FORMAT " bytes of pinned memory for %s",
          need, what)) {
    *ptr = NULL;
    return FALSE;
  }
  *have = need;
  return TRUE;
}

/* Copies @bytes of host memory (pageable) to device memory @dev on the
 * backend's stream and waits for it. Every weight goes up this way: a plain
 * cudaMemcpy runs on the legacy default stream, which the backend's
 * non-blocking stream does not wait for, so a kernel or cuBLAS call on our
 * stream could read the weight before it has arrived. */
static gboolean
copy_up (HyrsmBackendCuda *self, void *dev, const void *host, size_t bytes,
    const char *what, GError **error)
{
  return HYRSM_CUDA_CHECK (cudaMemcpyAsync (dev, host, bytes,
          cudaMemcpyHostToDevice, self->stream), error, "uploading %s", what)
      && HYRSM_CUDA_CHECK (cudaStreamSynchronize (self->stream), error,
      "uploading %s", what);
}

/* Copies @count floats to a new device array of the backend's element
 * type: float32 as is, float16 converted on the device. */
gboolean
hyrsm_cuda_upload (HyrsmBackendCuda *self, const float *host, size_t count,
    void **out, const char *what, GError **error)
{
  float *tmp = NULL;
  *out = NULL;
  if (!HYRSM_CUDA_CHECK (cudaMalloc ((void **) &tmp, count * sizeof (float)),
          error, "allocating %s", what))
    return FALSE;
  gboolean ok = copy_up (self, tmp, host, count * sizeof (float), what,
      error);
  if (ok && self->precision == HYRSM_PRECISION_FP32) {
    *out = tmp;
    return TRUE;
  }
  ok = ok && HYRSM_CUDA_CHECK (cudaMalloc (out, count * 2), error,
      "allocating %s", what)
      && HYRSM_CUDA_CHECK (hyrsm_cuda_f32_to_f16 (tmp, count, *out,
          self->stream), error, "converting %s to float16", what)
      && HYRSM_CUDA_CHECK (cudaStreamSynchronize (self->stream), error,
      "converting %s to float16", what);
  cudaFree (tmp);
  if (!ok && *out) {
    cudaFree (*out);
    *out = NULL;
  }
  return ok;
}

/* The device copy of weight @b (n x k), uploaded at first use. */
const float *
hyrsm_cuda_weight_on_device (HyrsmBackendCuda *self, const float *b,
    size_t bytes, GError **error)
{
  DeviceCopy *copy = g_hash_table_lookup (self->weights, b);
  if (copy && copy->bytes == bytes)
    return copy->data;
  copy = g_new0 (DeviceCopy, 1);
  copy->bytes = bytes;
  if (!HYRSM_CUDA_CHECK (cudaMalloc (&copy->data, bytes), error,
          "allocating a %" G_GSIZE_FORMAT "-byte weight", bytes)
      || !copy_up (self, copy->data, b, bytes, "a weight", error)) {
    if (copy->data)
      cudaFree (copy->data);
    g_free (copy);
    return NULL;
  }
  g_hash_table_replace (self->weights, (gpointer) b, copy);
  return copy->data;
}

void
hyrsm_cuda_device_copy_free (gpointer data)
{
  DeviceCopy *copy = data;
  cudaFree (copy->data);
  g_free (copy);
}
