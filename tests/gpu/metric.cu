// metric.cu: Bi-MHM set distance, one block per support token (see
// metric.h; docs/model.md section 6). Test-only: libhyrsm computes the
// metric on the CPU (hyrsm-relation.c); test-gpu-kernels.c checks this kernel.
//
// rows = T = 8 in practice: the block computes the 2T row norms and the
// T x T dot products with one warp per vector pair (lanes stride over D,
// coalesced), keeps the T x T cosine distances in shared memory, and
// reduces the row and column minima. The query is re-read by every block;
// it is T x D floats and stays in L2.
#include "common.cuh"
#include "metric.h"

namespace {

__global__ void
bimhm_kernel (const float *support, const float *query, int rows, int dim,
    float *dist)
{
  __shared__ float norm_s[HYRSM_METRIC_MAX_ROWS];
  __shared__ float norm_q[HYRSM_METRIC_MAX_ROWS];
  __shared__ float c[HYRSM_METRIC_MAX_ROWS * HYRSM_METRIC_MAX_ROWS];
  __shared__ float mins[2 * HYRSM_METRIC_MAX_ROWS];
  const float *s = support + (size_t) blockIdx.x * rows * dim;
  int lane = threadIdx.x % HYRSM_WARP, warp = threadIdx.x / HYRSM_WARP;
  int warps = blockDim.x / HYRSM_WARP;

  for (int r = warp; r < 2 * rows; r += warps) {
    const float *x = r < rows ? s + (size_t) r * dim
        : query + (size_t) (r - rows) * dim;
    float sq = 0.0f;
    for (int j = lane; j < dim; j += HYRSM_WARP)
      sq += x[j] * x[j];
    sq = hyrsm_warp_sum (sq);
    if (lane == 0) {
      float norm = fmaxf (sqrtf (sq), 1e-12f);
      if (r < rows)
        norm_s[r] = norm;
      else
        norm_q[r - rows] = norm;
    }
  }
  __syncthreads ();
  for (int pair = warp; pair < rows * rows; pair += warps) {
    int i = pair / rows, j = pair % rows;
    const float *a = s + (size_t) i * dim, *b = query + (size_t) j * dim;
    float dot = 0.0f;
    for (int x = lane; x < dim; x += HYRSM_WARP)
      dot += a[x] * b[x];
    dot = hyrsm_warp_sum (dot);
    if (lane == 0)
      c[pair] = 1.0f - dot / (norm_s[i] * norm_q[j]);
  }
  __syncthreads ();
  for (int t = threadIdx.x; t < 2 * rows; t += blockDim.x) {
    float m = INFINITY;
    if (t < rows) {             // row t: min over j
      for (int j = 0; j < rows; j++)
        m = fminf (m, c[t * rows + j]);
    } else {                    // column t - rows: min over i
      for (int i = 0; i < rows; i++)
        m = fminf (m, c[i * rows + t - rows]);
    }
    mins[t] = m;
  }
  __syncthreads ();
  if (threadIdx.x == 0) {
    float total = 0.0f;
    for (int t = 0; t < 2 * rows; t++)
      total += mins[t];
    dist[blockIdx.x] = total;
  }
}

}                               // namespace

extern "C" cudaError_t
hyrsm_cuda_bimhm (const float *support, int n_tokens, const float *query,
    int rows, int dim, float *dist, cudaStream_t stream)
{
  HYRSM_REQUIRE (support != NULL && query != NULL && dist != NULL);
  HYRSM_REQUIRE (n_tokens >= 0 && rows >= 1 && rows <= HYRSM_METRIC_MAX_ROWS);
  HYRSM_REQUIRE (dim >= 1);
  if (n_tokens == 0)
    return cudaSuccess;
  HYRSM_LAUNCH_BEGIN ();
  bimhm_kernel <<<n_tokens, 256, 0, stream>>> (support, query, rows, dim,
      dist);
  return HYRSM_LAUNCH_RESULT ();
}
