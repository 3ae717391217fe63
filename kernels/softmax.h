/* softmax.h: the small multi-head attention of the relation head
 * (softmax.cu). */
#pragma once

#include "hyrsm-kernels-types.h"

HYRSM_KERNELS_BEGIN_DECLS

/* Multi-head scaled dot-product attention over @n tokens (n <= 1024):
 * per head h (columns h*d .. h*d+d-1), O_h = softmax (Q_h K_h^T / sqrt (d))
 * V_h; row i of Q, K, V starts at q + i*ld, k + i*ld, v + i*ld, row i of O
 * at o + i*ld_o. docs/model.md sections 4.2 and 5.2. */
cudaError_t hyrsm_cuda_attention (const float *q, const float *k,
    const float *v, int ld, int n, int heads, int d, float *o, int ld_o,
    cudaStream_t stream);

HYRSM_KERNELS_END_DECLS
