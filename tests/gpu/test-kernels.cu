// test-kernels.cu: CUDA kernels that libhyrsm does not call, kept here with
// their parity tests (test-gpu-kernels.c) rather than in the library: row
// softmax, adding a row to every row, row means (see test-kernels.h).
#include "common.cuh"
#include "test-kernels.h"

#include <math.h>

namespace {

__global__ void
add_row_kernel (const float *x, const float *row, size_t total,
    size_t per_matrix, int cols, float *y)
{
  HYRSM_GRID_STRIDE (i, total)
      y[i] = x[i] + row[i / per_matrix * cols + i % cols];
}

__global__ void
mean_rows_kernel (const float *x, int batch, int rows, int cols, float *out)
{
  HYRSM_GRID_STRIDE (i, (size_t) batch * cols) {
    size_t b = i / cols, j = i % cols;
    const float *p = x + b * rows * cols + j;
    float sum = 0.0f;
    for (int r = 0; r < rows; r++)
      sum += p[(size_t) r * cols];
    out[i] = sum / (float) rows;
  }
}

// One warp per row.
__global__ void
softmax_rows_kernel (const float *x, int rows, int n, float scale, float *y)
{
  int row = blockIdx.x * (blockDim.x / HYRSM_WARP) + threadIdx.x / HYRSM_WARP;
  int lane = threadIdx.x % HYRSM_WARP;
  if (row >= rows)
    return;
  const float *xr = x + (size_t) row * n;
  float *yr = y + (size_t) row * n;
  float max = -INFINITY;
  for (int j = lane; j < n; j += HYRSM_WARP)
    max = fmaxf (max, scale * xr[j]);
  max = hyrsm_warp_max (max);
  float sum = 0.0f;
  for (int j = lane; j < n; j += HYRSM_WARP)
    sum += expf (scale * xr[j] - max);
  sum = hyrsm_warp_sum (sum);
  float inv = 1.0f / sum;
  for (int j = lane; j < n; j += HYRSM_WARP)
    yr[j] = expf (scale * xr[j] - max) * inv;
}

}                               // namespace

extern "C" cudaError_t
hyrsm_cuda_add_row_batched (const float *x, const float *rows_in, int batch,
    int rows, int cols, float *y, cudaStream_t stream)
{
  HYRSM_REQUIRE (x != NULL && rows_in != NULL && y != NULL);
  HYRSM_REQUIRE (batch >= 0 && rows >= 0 && cols >= 1);
  size_t per_matrix = (size_t) rows * cols;
  size_t total = (size_t) batch * per_matrix;
  if (total == 0)
    return cudaSuccess;
  HYRSM_LAUNCH_BEGIN ();
  add_row_kernel <<<HYRSM_GRID (total), 0, stream>>> (x, rows_in,
      total, per_matrix, cols, y);
  return HYRSM_LAUNCH_RESULT ();
}

extern "C" cudaError_t
hyrsm_cuda_add_row (const float *x, const float *row, int rows, int cols,
    float *y, cudaStream_t stream)
{
  return hyrsm_cuda_add_row_batched (x, row, 1, rows, cols, y, stream);
}

extern "C" cudaError_t
hyrsm_cuda_mean_rows (const float *x, int batch, int rows, int cols,
    float *out, cudaStream_t stream)
{
  HYRSM_REQUIRE (x != NULL && out != NULL && batch >= 0 && rows >= 1);
  HYRSM_REQUIRE (cols >= 1);
  size_t total = (size_t) batch * cols;
  if (total == 0)
    return cudaSuccess;
  HYRSM_LAUNCH_BEGIN ();
  mean_rows_kernel <<<HYRSM_GRID (total), 0, stream>>> (x, batch,
      rows, cols, out);
  return HYRSM_LAUNCH_RESULT ();
}

extern "C" cudaError_t
hyrsm_cuda_softmax_rows (const float *x, int rows, int n, float scale,
    float *y, cudaStream_t stream)
{
  HYRSM_REQUIRE (x != NULL && y != NULL && rows >= 0 && n >= 1);
  if (rows == 0)
    return cudaSuccess;
  const int warps = 4;
  HYRSM_LAUNCH_BEGIN ();
  softmax_rows_kernel <<<(rows + warps - 1) / warps, warps * HYRSM_WARP, 0,
      stream>>> (x, rows, n, scale, y);
  return HYRSM_LAUNCH_RESULT ();
}
