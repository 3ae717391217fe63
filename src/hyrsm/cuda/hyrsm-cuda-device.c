/* hyrsm-cuda-device.c: CUDA devices: counting them, the default precision,
 * environment switches, the per-backend runtime (stream, cuDNN and cuBLAS
 * handles, descriptors) and the lock every entry point takes. */
#include "hyrsm-cuda-private.h"

int
hyrsm_cuda_device_count (char **reason)
{
  int count = 0;
  cudaError_t status = cudaGetDeviceCount (&count);
  if (status != cudaSuccess) {
    /* No driver, an old driver (error 35 on machines without a GPU), ...:
     * all mean "no usable device" here. */
    (void) cudaGetLastError ();
    if (reason)
      *reason = g_strdup_printf ("%s (%s)", cudaGetErrorName (status),
          cudaGetErrorString (status));
    return 0;
  }
  if (count <= 0 && reason)
    *reason = g_strdup ("the CUDA driver reports no device");
  return MAX (count, 0);
}

gboolean
hyrsm_cuda_env_flag (const char *name, gboolean fallback)
{
  const char *v = g_getenv (name);
  if (v == NULL || *v == '\0')
    return fallback;
  return !(g_str_equal (v, "0") || g_ascii_strcasecmp (v, "false") == 0
      || g_ascii_strcasecmp (v, "no") == 0);
}

gboolean
hyrsm_cuda_lock (HyrsmBackendCuda *self, GError **error)
{
  g_mutex_lock (&self->lock);
  if (HYRSM_CUDA_CHECK (cudaSetDevice (self->device), error,
          "selecting device cuda:%d", self->device))
    return TRUE;
  g_mutex_unlock (&self->lock);
  return FALSE;
}

/* Handles, stream and descriptors; the device is current. */
gboolean
hyrsm_cuda_init_runtime (HyrsmBackendCuda *self, GError **error)
{
  return HYRSM_CUDA_CHECK (cudaStreamCreateWithFlags (&self->stream,
          cudaStreamNonBlocking), error, "creating a stream")
      && HYRSM_CUDNN_CHECK (cudnnCreate (&self->cudnn), error,
      "creating the cuDNN handle")
      && HYRSM_CUDNN_CHECK (cudnnSetStream (self->cudnn, self->stream), error,
      "cudnnSetStream")
      && HYRSM_CUBLAS_CHECK (cublasCreate (&self->cublas), error,
      "creating the cuBLAS handle")
      && HYRSM_CUBLAS_CHECK (cublasSetStream (self->cublas, self->stream),
      error, "cublasSetStream")
      /* float32: no TF32 anywhere; float16 mode: TF32 GEMMs. */
      && HYRSM_CUBLAS_CHECK (cublasSetMathMode (self->cublas,
          self->precision == HYRSM_PRECISION_FP16 ? CUBLAS_TF32_TENSOR_OP_MATH
          : CUBLAS_PEDANTIC_MATH), error, "cublasSetMathMode")
      && HYRSM_CUDNN_CHECK (cudnnCreateActivationDescriptor (&self->relu),
      error, "ReLU descriptor")
      && HYRSM_CUDNN_CHECK (cudnnSetActivationDescriptor (self->relu,
          CUDNN_ACTIVATION_RELU, CUDNN_NOT_PROPAGATE_NAN, 0.0), error,
      "ReLU descriptor")
      && HYRSM_CUDNN_CHECK (cudnnCreatePoolingDescriptor (&self->maxpool),
      error, "maxpool descriptor")
      && HYRSM_CUDNN_CHECK (cudnnSetPooling2dDescriptor (self->maxpool,
          CUDNN_POOLING_MAX, CUDNN_NOT_PROPAGATE_NAN, 3, 3, 1, 1, 2, 2),
      error, "maxpool descriptor");
}
