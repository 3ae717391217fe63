/* metric.h: the Bidirectional Mean Hausdorff Metric, batched over all
 * support tokens (metric.cu; docs/model.md section 6). */
#pragma once

#include "hyrsm-kernels-types.h"

HYRSM_KERNELS_BEGIN_DECLS

#define HYRSM_METRIC_MAX_ROWS 64

/* For each of @n_tokens tokens m (support: n_tokens x rows x dim) against
 * @query (rows x dim), with e = x / max (||x||, 1e-12) row-wise and
 * c[i, j] = 1 - e_m[i] . e_q[j]:
 * dist[m] = sum_i min_j c[i, j] + sum_j min_i c[i, j].
 * rows <= HYRSM_METRIC_MAX_ROWS. @dist: n_tokens floats. */
cudaError_t hyrsm_cuda_bimhm (const float *support, int n_tokens,
    const float *query, int rows, int dim, float *dist, cudaStream_t stream);

HYRSM_KERNELS_END_DECLS
