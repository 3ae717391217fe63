/* test-kernels.h: CUDA kernels that libhyrsm does not call, kept for the
 * GPU tests (test-kernels.cu). Same conventions as kernels/. */
#pragma once

#include "hyrsm-kernels-types.h"

HYRSM_KERNELS_BEGIN_DECLS

/* y[r, j] = exp (scale x[r, j] - max) / sum, row-wise over @rows rows of
 * @n floats. In place allowed. */
cudaError_t hyrsm_cuda_softmax_rows (const float *x, int rows, int n,
    float scale, float *y, cudaStream_t stream);

/* y[r, j] = x[r, j] + row[j] over @rows rows of @cols (the fuse's
 * E = W2a S + (W2b g + b2)); in place allowed. */
cudaError_t hyrsm_cuda_add_row (const float *x, const float *row, int rows,
    int cols, float *y, cudaStream_t stream);

/* hyrsm_cuda_add_row for @batch matrices at once, each with its own row:
 * y[b, r, j] = x[b, r, j] + rows_in[b, j] (x, y: batch x rows x cols;
 * rows_in: batch x cols). In place allowed. */
cudaError_t hyrsm_cuda_add_row_batched (const float *x, const float *rows_in,
    int batch, int rows, int cols, float *y, cudaStream_t stream);

/* out[j] = mean over @rows rows of x[r, j], for each of @batch matrices
 * (x: batch x rows x cols, out: batch x cols): token means u_m. */
cudaError_t hyrsm_cuda_mean_rows (const float *x, int batch, int rows,
    int cols, float *out, cudaStream_t stream);

HYRSM_KERNELS_END_DECLS
