// common.cuh: what every kernel file shares (private to kernels/ and the
// test-only kernels of tests/gpu).
//
// Launchers never abort: they return the cudaError_t of the launch (a bad
// configuration or an earlier asynchronous fault), and the caller turns it
// into a GError (hyrsm-cuda-check.h). Nothing here synchronizes.
#pragma once

#include <cuda_runtime.h>
#include <cuda_fp16.h>
#include <stddef.h>
#include <stdint.h>

#define HYRSM_WARP 32

// Before a launch: clears the error state that another library may have
// left behind (cuDNN and cuBLAS launch kernels of their own and do not
// always consume a failed launch, e.g. out of memory inside
// cudnnFindConvolutionForwardAlgorithm), so that HYRSM_LAUNCH_RESULT()
// reports this launch only. A sticky error (a fault that destroyed the
// context) cannot be cleared and is then reported by the launch itself.
#define HYRSM_LAUNCH_BEGIN() ((void) cudaGetLastError ())

// After a launch: the error of the kernel launch just made, if any.
#define HYRSM_LAUNCH_RESULT() cudaGetLastError ()

// Rejects arguments a kernel cannot run with before anything is launched.
#define HYRSM_REQUIRE(cond) \
  do { if (!(cond)) return cudaErrorInvalidValue; } while (0)

static inline unsigned int
hyrsm_blocks (size_t n, unsigned int threads)
{
  size_t b = (n + threads - 1) / threads;
  return (unsigned int) (b > 0x7fffffffu ? 0x7fffffffu : (b ? b : 1));
}

__device__ __forceinline__ float
hyrsm_warp_sum (float v)
{
  for (int o = HYRSM_WARP / 2; o > 0; o >>= 1)
    v += __shfl_xor_sync (0xffffffffu, v, o);
  return v;
}

__device__ __forceinline__ float
hyrsm_warp_max (float v)
{
  for (int o = HYRSM_WARP / 2; o > 0; o >>= 1)
    v = fmaxf (v, __shfl_xor_sync (0xffffffffu, v, o));
  return v;
}

// Sum over the block (blockDim.x a multiple of 32, at most 1024); every
// thread gets the result. @scratch: 32 floats of shared memory.
__device__ __forceinline__ float
hyrsm_block_sum (float v, float *scratch)
{
  int lane = threadIdx.x % HYRSM_WARP, warp = threadIdx.x / HYRSM_WARP;
  int warps = blockDim.x / HYRSM_WARP;
  v = hyrsm_warp_sum (v);
  __syncthreads ();             // scratch may still be read by a previous call
  if (lane == 0)
    scratch[warp] = v;
  __syncthreads ();
  v = lane < warps ? scratch[lane] : 0.0f;
  return hyrsm_warp_sum (v);
}

// Loads and stores of either element type, computing in float.
template <typename T> __device__ __forceinline__ float hyrsm_load (const T *p);
template <> __device__ __forceinline__ float hyrsm_load<float> (const float *p) { return *p; }
template <> __device__ __forceinline__ float hyrsm_load<__half> (const __half *p) { return __half2float (*p); }
template <typename T> __device__ __forceinline__ void hyrsm_store (T *p, float v);
template <> __device__ __forceinline__ void hyrsm_store<float> (float *p, float v) { *p = v; }
template <> __device__ __forceinline__ void hyrsm_store<__half> (__half *p, float v) { *p = __float2half_rn (v); }

// Grid-stride loops over n elements: a bounded grid launches any size.
#define HYRSM_GRID_THREADS 256u

static inline unsigned int
hyrsm_grid (size_t n)
{
  unsigned int b = hyrsm_blocks (n, HYRSM_GRID_THREADS);
  return b < 65535u ? b : 65535u;
}

// The grid and block of a launch of such a loop: <<<HYRSM_GRID (n), ...>>>.
#define HYRSM_GRID(n) hyrsm_grid (n), HYRSM_GRID_THREADS

#define HYRSM_GRID_STRIDE(i, n) \
  for (size_t i = (size_t) blockIdx.x * blockDim.x + threadIdx.x; i < (n); \
       i += (size_t) gridDim.x * blockDim.x)
