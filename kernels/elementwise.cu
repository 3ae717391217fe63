// elementwise.cu: layout changes, pooling and small fusions (see
// elementwise.h). Memory-bound one-pass kernels; grid-stride loops so any
// size launches with a bounded grid.
#include "common.cuh"
#include "elementwise.h"

namespace {

template <typename T>
__global__ void
nchw_to_nhwc_kernel (const float *in, int c, int hw, int c_out, size_t total,
    T *out)
{
  HYRSM_GRID_STRIDE (i, total) {
    int ch = (int) (i % c_out);
    size_t pixel = i / c_out;   // n * hw + p
    size_t frame = pixel / hw, p = pixel % hw;
    float v = ch < c ? in[(frame * c + ch) * hw + p] : 0.0f;
    hyrsm_store<T> (out + i, v);
  }
}

// One thread per (frame, channel): consecutive threads read consecutive
// channels of one pixel, so every load is coalesced.
template <typename T>
__global__ void
avgpool_kernel (const T *in, int n, int hw, int c, float *out)
{
  HYRSM_GRID_STRIDE (i, (size_t) n * c) {
    size_t frame = i / c, ch = i % c;
    const T *p = in + frame * hw * c + ch;
    float sum = 0.0f;
    for (int k = 0; k < hw; k++)
      sum += hyrsm_load<T> (p + (size_t) k * c);
    out[i] = sum / (float) hw;
  }
}

template <typename T>
__global__ void
bias_act_kernel (T *y, const T *bias, const T *residual, size_t total,
    int cols, int relu)
{
  HYRSM_GRID_STRIDE (i, total) {
    float v = hyrsm_load<T> (y + i) + hyrsm_load<T> (bias + i % cols);
    if (residual)
      v += hyrsm_load<T> (residual + i);
    if (relu)
      v = fmaxf (v, 0.0f);
    hyrsm_store<T> (y + i, v);
  }
}

__global__ void
f32_to_f16_kernel (const float *in, size_t n, __half *out)
{
  HYRSM_GRID_STRIDE (i, n) out[i] = __float2half_rn (in[i]);
}

__global__ void
scale_add_kernel (const float *x, float a, const float *p, float b, size_t n,
    float *y)
{
  HYRSM_GRID_STRIDE (i, n) y[i] = a * x[i] + b * p[i];
}

}                               // namespace

extern "C" cudaError_t
hyrsm_cuda_nchw_to_nhwc (const float *in, int n, int c, int h, int w,
    int c_out, int dtype, void *out, cudaStream_t stream)
{
  HYRSM_REQUIRE (in != NULL && out != NULL && n >= 0 && c >= 1 && c_out >= c);
  HYRSM_REQUIRE (h >= 1 && w >= 1);
  size_t total = (size_t) n * h * w * c_out;
  if (total == 0)
    return cudaSuccess;
  HYRSM_LAUNCH_BEGIN ();
  if (dtype == HYRSM_KERNEL_F16)
    nchw_to_nhwc_kernel<__half> <<<HYRSM_GRID (total), 0, stream>>> (in,
        c, h * w, c_out, total, (__half *) out);
  else
    nchw_to_nhwc_kernel<float> <<<HYRSM_GRID (total), 0, stream>>> (in,
        c, h * w, c_out, total, (float *) out);
  return HYRSM_LAUNCH_RESULT ();
}

extern "C" cudaError_t
hyrsm_cuda_avgpool_nhwc (const void *in, int dtype, int n, int hw, int c,
    float *out, cudaStream_t stream)
{
  HYRSM_REQUIRE (in != NULL && out != NULL && n >= 0 && hw >= 1 && c >= 1);
  size_t total = (size_t) n * c;
  if (total == 0)
    return cudaSuccess;
  HYRSM_LAUNCH_BEGIN ();
  if (dtype == HYRSM_KERNEL_F16)
    avgpool_kernel<__half> <<<HYRSM_GRID (total), 0, stream>>> (
        (const __half *) in, n, hw, c, out);
  else
    avgpool_kernel<float> <<<HYRSM_GRID (total), 0, stream>>> (
        (const float *) in, n, hw, c, out);
  return HYRSM_LAUNCH_RESULT ();
}

extern "C" cudaError_t
hyrsm_cuda_bias_act (void *y, int dtype, const void *bias,
    const void *residual, size_t rows, int cols, int relu,
    cudaStream_t stream)
{
  HYRSM_REQUIRE (y != NULL && bias != NULL && cols >= 1);
  size_t total = rows * cols;
  if (total == 0)
    return cudaSuccess;
  HYRSM_LAUNCH_BEGIN ();
  if (dtype == HYRSM_KERNEL_F16)
    bias_act_kernel<__half> <<<HYRSM_GRID (total), 0, stream>>> (
        (__half *) y, (const __half *) bias, (const __half *) residual, total,
        cols, relu);
  else
    bias_act_kernel<float> <<<HYRSM_GRID (total), 0, stream>>> (
        (float *) y, (const float *) bias, (const float *) residual, total,
        cols, relu);
  return HYRSM_LAUNCH_RESULT ();
}

extern "C" cudaError_t
hyrsm_cuda_f32_to_f16 (const float *in, size_t n, void *out,
    cudaStream_t stream)
{
  HYRSM_REQUIRE (in != NULL && out != NULL);
  if (n == 0)
    return cudaSuccess;
  HYRSM_LAUNCH_BEGIN ();
  f32_to_f16_kernel <<<HYRSM_GRID (n), 0, stream>>> (in, n,
      (__half *) out);
  return HYRSM_LAUNCH_RESULT ();
}

extern "C" cudaError_t
hyrsm_cuda_scale_add (const float *x, float a, const float *p, float b,
    size_t n, float *y, cudaStream_t stream)
{
  HYRSM_REQUIRE (x != NULL && p != NULL && y != NULL);
  if (n == 0)
    return cudaSuccess;
  HYRSM_LAUNCH_BEGIN ();
  scale_add_kernel <<<HYRSM_GRID (n), 0, stream>>> (x, a, p, b, n, y);
  return HYRSM_LAUNCH_RESULT ();
}

extern "C" cudaError_t
hyrsm_cuda_kernels_probe (void)
{
  cudaFuncAttributes attr;
  cudaError_t status = cudaFuncGetAttributes (&attr, scale_add_kernel);
  if (status != cudaSuccess)
    (void) cudaGetLastError ();
  return status;
}
