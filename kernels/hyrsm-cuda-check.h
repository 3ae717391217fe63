/* hyrsm-cuda-check.h: CUDA, cuDNN and cuBLAS statuses -> GError.
 *
 * ggml checks every CUDA call with a macro that aborts the process; here
 * the same macros set a GError and evaluate to FALSE, so a failing call
 * becomes an error the element can post, never an abort():
 *
 *   if (!HYRSM_CUDA_CHECK (cudaMalloc (&p, size), error, "allocating %s", what))
 *     goto fail;
 *
 * The message is "cuda backend: <what>: <API>: <status name> (<text>)".
 * The includer defines HYRSM_CUDA_ERROR_DOMAIN and HYRSM_CUDA_ERROR_CODE
 * (libhyrsm: HYRSM_ERROR, HYRSM_ERROR_BACKEND) before including this. For
 * the CUDA runtime, the thread's last-error state is cleared as well, so a
 * recoverable failure does not resurface in the next unrelated check.
 */
#pragma once

#include <glib.h>
#include <stdarg.h>
#include <cuda_runtime_api.h>
#include <cudnn.h>
#include <cublas_v2.h>

#ifndef HYRSM_CUDA_ERROR_DOMAIN
#error "define HYRSM_CUDA_ERROR_DOMAIN and HYRSM_CUDA_ERROR_CODE first"
#endif

static inline const char *
hyrsm_cublas_status_name (cublasStatus_t s)
{
  switch (s) {
    case CUBLAS_STATUS_SUCCESS: return "CUBLAS_STATUS_SUCCESS";
    case CUBLAS_STATUS_NOT_INITIALIZED: return "CUBLAS_STATUS_NOT_INITIALIZED";
    case CUBLAS_STATUS_ALLOC_FAILED: return "CUBLAS_STATUS_ALLOC_FAILED";
    case CUBLAS_STATUS_INVALID_VALUE: return "CUBLAS_STATUS_INVALID_VALUE";
    case CUBLAS_STATUS_ARCH_MISMATCH: return "CUBLAS_STATUS_ARCH_MISMATCH";
    case CUBLAS_STATUS_MAPPING_ERROR: return "CUBLAS_STATUS_MAPPING_ERROR";
    case CUBLAS_STATUS_EXECUTION_FAILED: return "CUBLAS_STATUS_EXECUTION_FAILED";
    case CUBLAS_STATUS_INTERNAL_ERROR: return "CUBLAS_STATUS_INTERNAL_ERROR";
    case CUBLAS_STATUS_NOT_SUPPORTED: return "CUBLAS_STATUS_NOT_SUPPORTED";
    case CUBLAS_STATUS_LICENSE_ERROR: return "CUBLAS_STATUS_LICENSE_ERROR";
    default: return "unknown cuBLAS status";
  }
}

/* Sets @error from a failed status; @api_status is already formatted. */
static inline void
hyrsm_cuda_set_error (GError **error, const char *api_status,
    const char *format, va_list ap)
{
  char *what = g_strdup_vprintf (format, ap);
  g_set_error (error, HYRSM_CUDA_ERROR_DOMAIN, HYRSM_CUDA_ERROR_CODE,
      "cuda backend: %s: %s", what, api_status);
  g_free (what);
}

static inline gboolean G_GNUC_PRINTF (3, 4)
hyrsm_cuda_check (cudaError_t status, GError **error, const char *format, ...)
{
  if (G_LIKELY (status == cudaSuccess))
    return TRUE;
  (void) cudaGetLastError ();
  char *s = g_strdup_printf ("CUDA: %s (%s)", cudaGetErrorName (status),
      cudaGetErrorString (status));
  va_list ap;
  va_start (ap, format);
  hyrsm_cuda_set_error (error, s, format, ap);
  va_end (ap);
  g_free (s);
  return FALSE;
}

static inline gboolean G_GNUC_PRINTF (3, 4)
hyrsm_cudnn_check (cudnnStatus_t status, GError **error, const char *format,
    ...)
{
  if (G_LIKELY (status == CUDNN_STATUS_SUCCESS))
    return TRUE;
  char *s = g_strdup_printf ("cuDNN: %s (status %d)",
      cudnnGetErrorString (status), (int) status);
  va_list ap;
  va_start (ap, format);
  hyrsm_cuda_set_error (error, s, format, ap);
  va_end (ap);
  g_free (s);
  return FALSE;
}

static inline gboolean G_GNUC_PRINTF (3, 4)
hyrsm_cublas_check (cublasStatus_t status, GError **error, const char *format,
    ...)
{
  if (G_LIKELY (status == CUBLAS_STATUS_SUCCESS))
    return TRUE;
  char *s = g_strdup_printf ("cuBLAS: %s (status %d)",
      hyrsm_cublas_status_name (status), (int) status);
  va_list ap;
  va_start (ap, format);
  hyrsm_cuda_set_error (error, s, format, ap);
  va_end (ap);
  g_free (s);
  return FALSE;
}

/* Each evaluates @call once and is TRUE on success; else sets @error with
 * the printf-style description that follows and is FALSE. */
#define HYRSM_CUDA_CHECK(call, error, ...) \
  hyrsm_cuda_check ((call), (error), __VA_ARGS__)
#define HYRSM_CUDNN_CHECK(call, error, ...) \
  hyrsm_cudnn_check ((call), (error), __VA_ARGS__)
#define HYRSM_CUBLAS_CHECK(call, error, ...) \
  hyrsm_cublas_check ((call), (error), __VA_ARGS__)
