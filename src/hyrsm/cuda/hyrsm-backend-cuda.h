/* hyrsm-backend-cuda.h: what libhyrsm (device selection) and the GPU tests
 * and benchmark use of the CUDA backend beyond its vtable. Private; only
 * built with CUDA (HYRSM_HAVE_CUDA). Needs no CUDA header. */
#pragma once

#include "hyrsm-backend.h"

G_BEGIN_DECLS

typedef enum
{
  HYRSM_PRECISION_FP16,         /* half activations and weights, tensor cores,
                                   float accumulation (the default) */
  HYRSM_PRECISION_FP32,         /* float everywhere, no TF32 */
} HyrsmPrecision;

/* The number of CUDA devices this process can use. 0 when there is none,
 * no driver, or the driver is too old: then *@reason (if not NULL) gets a
 * newly allocated explanation. Never fails otherwise; clears the CUDA error
 * state it causes. */
int hyrsm_cuda_device_count (char **reason);

/* Creates the CUDA backend on device @device (0-based) with @precision.
 * Errors: HYRSM_ERROR_NO_DEVICE when there is no such device (or no usable
 * driver, or a GPU this build has no code for); HYRSM_ERROR_BACKEND for any
 * other CUDA/cuDNN/cuBLAS failure, out of memory included, naming the
 * operation. The vtable's create() resolves the precision ("fp32": fp32,
 * else fp16, CUDA's 16-bit precision), then calls this. */
HyrsmBackend *hyrsm_backend_cuda_new (const HyrsmBackboneWeights *backbone,
    int crop, int device, HyrsmPrecision precision, GError **error);

/* "cuda:0 (NVIDIA H100 80GB HBM3, sm_90, fp16)", for logs. Owned by the
 * backend. */
const char *hyrsm_backend_cuda_describe (HyrsmBackend *self);

/* For the benchmark: runs the backbone @iters times on a batch of @n
 * frames already on the device (whatever the input buffer holds, after
 * @warmup untimed runs) and gives the mean GPU time per run, measured with
 * CUDA events on the backend's stream. No host copies are timed. */
gboolean hyrsm_backend_cuda_time_backbone (HyrsmBackend *self, int n,
    int warmup, int iters, double *seconds_per_run, GError **error);

G_END_DECLS
