// softmax.cu: the small multi-head attention of the relation head (see
// softmax.h).
//
// The attention here is over T = 8 frames or M + 1 <= a few hundred
// tokens, far too small for a flash-attention kernel to pay: one block per
// (query row, head) computes its n scores into shared memory, the softmax,
// and the weighted sum of V, with d = D / H (64 or 256) columns per head.
#include "common.cuh"
#include "softmax.h"

#include <math.h>

namespace {

// Block (row i, head h); dynamic shared memory: n scores.
__global__ void
attention_kernel (const float *q, const float *k, const float *v, int ld,
    int n, int d, float scale, float *o, int ld_o)
{
  extern __shared__ float p[];
  __shared__ float stat[2];
  int i = blockIdx.x, h = blockIdx.y;
  int lane = threadIdx.x % HYRSM_WARP, warp = threadIdx.x / HYRSM_WARP;
  int warps = blockDim.x / HYRSM_WARP;
  const float *qi = q + (size_t) i * ld + (size_t) h * d;

  for (int j = warp; j < n; j += warps) {
    const float *kj = k + (size_t) j * ld + (size_t) h * d;
    float dot = 0.0f;
    for (int c = lane; c < d; c += HYRSM_WARP)
      dot += qi[c] * kj[c];
    dot = hyrsm_warp_sum (dot);
    if (lane == 0)
      p[j] = dot * scale;
  }
  __syncthreads ();
  if (warp == 0) {
    float max = -INFINITY;
    for (int j = lane; j < n; j += HYRSM_WARP)
      max = fmaxf (max, p[j]);
    max = hyrsm_warp_max (max);
    float sum = 0.0f;
    for (int j = lane; j < n; j += HYRSM_WARP)
      sum += expf (p[j] - max);
    sum = hyrsm_warp_sum (sum);
    if (lane == 0) {
      stat[0] = max;
      stat[1] = 1.0f / sum;
    }
  }
  __syncthreads ();
  for (int j = threadIdx.x; j < n; j += blockDim.x)
    p[j] = expf (p[j] - stat[0]) * stat[1];
  __syncthreads ();
  float *oi = o + (size_t) i * ld_o + (size_t) h * d;
  for (int c = threadIdx.x; c < d; c += blockDim.x) {
    float acc = 0.0f;
    for (int j = 0; j < n; j++)
      acc += p[j] * v[(size_t) j * ld + (size_t) h * d + c];
    oi[c] = acc;
  }
}

}                               // namespace

extern "C" cudaError_t
hyrsm_cuda_attention (const float *q, const float *k, const float *v, int ld,
    int n, int heads, int d, float *o, int ld_o, cudaStream_t stream)
{
  HYRSM_REQUIRE (q != NULL && k != NULL && v != NULL && o != NULL);
  HYRSM_REQUIRE (n >= 1 && n <= 1024 && heads >= 1 && heads <= 65535);
  HYRSM_REQUIRE (d >= 1 && ld >= heads * d && ld_o >= heads * d);
  unsigned int threads = d >= 128 ? 128 : 64;
  dim3 grid (n, heads);
  HYRSM_LAUNCH_BEGIN ();
  attention_kernel <<<grid, threads, n * sizeof (float), stream>>> (q, k, v,
      ld, n, d, 1.0f / sqrtf ((float) d), o, ld_o);
  return HYRSM_LAUNCH_RESULT ();
}
