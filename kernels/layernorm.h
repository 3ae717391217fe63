/* layernorm.h: LayerNorm over the rows of a matrix (layernorm.cu). */
#pragma once

#include "hyrsm-kernels-types.h"

HYRSM_KERNELS_BEGIN_DECLS

/* y[r] = (x[r] - mean) / sqrt (var + eps) * weight + bias for each of
 * @rows rows of @dim floats (biased variance, as PyTorch). In place allowed
 * (@y == @x). @weight / @bias may be NULL (1 / 0). */
cudaError_t hyrsm_cuda_layernorm (const float *x, int rows, int dim,
    const float *weight, const float *bias, float eps, float *y,
    cudaStream_t stream);

HYRSM_KERNELS_END_DECLS
