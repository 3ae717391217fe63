/* elementwise.h: layout changes, pooling and the small fusions of the
 * backbone and the relation head (elementwise.cu). */
#pragma once

#include "hyrsm-kernels-types.h"

HYRSM_KERNELS_BEGIN_DECLS

/* n x c x h x w float32 (NCHW) -> n x h x w x c_out (NHWC) of @dtype,
 * channels c .. c_out-1 set to zero (c_out >= c). */
cudaError_t hyrsm_cuda_nchw_to_nhwc (const float *in, int n, int c, int h,
    int w, int c_out, int dtype, void *out, cudaStream_t stream);

/* Global average pool: n x hw x c (NHWC, @dtype) -> n x c float32. */
cudaError_t hyrsm_cuda_avgpool_nhwc (const void *in, int dtype, int n,
    int hw, int c, float *out, cudaStream_t stream);

/* y[r, j] = act (y[r, j] + bias[j] + residual[r, j]) over @rows rows of
 * @cols, all of @dtype; @residual may be NULL; act is ReLU when @relu,
 * else identity. The epilogue of a convolution when cuDNN's fused
 * convolution-bias-activation is unavailable for a configuration. */
cudaError_t hyrsm_cuda_bias_act (void *y, int dtype, const void *bias,
    const void *residual, size_t rows, int cols, int relu,
    cudaStream_t stream);

/* @n float32 -> float16 (round to nearest). */
cudaError_t hyrsm_cuda_f32_to_f16 (const float *in, size_t n, void *out,
    cudaStream_t stream);

/* y = a x + b p, elementwise over @n floats (the relation head's
 * X = F sqrt (D / A) + B P). */
cudaError_t hyrsm_cuda_scale_add (const float *x, float a, const float *p,
    float b, size_t n, float *y, cudaStream_t stream);

/* cudaSuccess when the current device can run this build's kernels (the
 * build has machine code or PTX for it), else the error that a launch
 * would give (cudaErrorNoKernelImageForDevice, ...). Launches nothing. */
cudaError_t hyrsm_cuda_kernels_probe (void);

HYRSM_KERNELS_END_DECLS
