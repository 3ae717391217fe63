// layernorm.cu: LayerNorm over rows (see layernorm.h).
//
// One block per row. The row is read twice from global memory (mean, then
// the centred sum of squares, which is more accurate than E[x^2] - E[x]^2
// in float), then written once; rows are D <= a few thousand floats, which
// stay in L1/L2 between the passes.
#include "common.cuh"
#include "layernorm.h"

namespace {

__global__ void
layernorm_kernel (const float *x, int dim, const float *weight,
    const float *bias, float eps, float *y)
{
  __shared__ float scratch[HYRSM_WARP];
  const float *xr = x + (size_t) blockIdx.x * dim;
  float *yr = y + (size_t) blockIdx.x * dim;

  float sum = 0.0f;
  for (int j = threadIdx.x; j < dim; j += blockDim.x)
    sum += xr[j];
  float mean = hyrsm_block_sum (sum, scratch) / (float) dim;

  float sq = 0.0f;
  for (int j = threadIdx.x; j < dim; j += blockDim.x) {
    float c = xr[j] - mean;
    sq += c * c;
  }
  float var = hyrsm_block_sum (sq, scratch) / (float) dim;
  float inv = rsqrtf (var + eps);
  __syncthreads ();             // every read of xr done before an in-place write
  for (int j = threadIdx.x; j < dim; j += blockDim.x) {
    float v = (xr[j] - mean) * inv;
    if (weight)
      v *= weight[j];
    if (bias)
      v += bias[j];
    yr[j] = v;
  }
}

}                               // namespace

extern "C" cudaError_t
hyrsm_cuda_layernorm (const float *x, int rows, int dim, const float *weight,
    const float *bias, float eps, float *y, cudaStream_t stream)
{
  HYRSM_REQUIRE (x != NULL && y != NULL && rows >= 0 && dim >= 1);
  if (rows == 0)
    return cudaSuccess;
  unsigned int threads = dim >= 1024 ? 256 : 128;
  HYRSM_LAUNCH_BEGIN ();
  layernorm_kernel <<<rows, threads, 0, stream>>> (x, dim, weight, bias, eps,
      y);
  return HYRSM_LAUNCH_RESULT ();
}
