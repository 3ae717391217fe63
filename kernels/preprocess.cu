// preprocess.cu: frame (any of 8 pixel formats, any size) -> normalized
// crop tensor, in one pass (see preprocess.h for the rule).
//
// One thread per output pixel: it computes its two horizontal and two
// vertical taps exactly as hyrsm-preprocess.c does (same float operations,
// explicitly rounded so that nvcc cannot fuse them), reads the four source
// pixels, converts each to RGB8 and blends. Reads hit L2/L1 well because
// neighbouring threads read neighbouring source pixels.
#include "common.cuh"
#include "preprocess.h"

namespace {

struct Tap
{
  int i0, i1;
  float w0, w1;
};

__device__ __forceinline__ Tap
make_tap (int in, int out, int k)
{
  float scale = __fdiv_rn ((float) in, (float) out);
  float src = __fsub_rn (__fmul_rn (scale, __fadd_rn ((float) k, 0.5f)), 0.5f);
  if (src < 0.0f)
    src = 0.0f;
  int i0 = (int) src;
  if (i0 > in - 1)
    i0 = in - 1;
  float f = __fsub_rn (src, (float) i0);
  Tap t;
  t.i0 = i0;
  t.i1 = i0 < in - 1 ? i0 + 1 : i0;
  t.w1 = f;
  t.w0 = __fsub_rn (1.0f, f);
  return t;
}

__host__ __device__ __forceinline__ unsigned char
clamp_round (float v)
{
  // Half up, then clamp: floorf (v + 0.5f).
  float r = floorf (v + 0.5f);
  return (unsigned char) (r < 0.0f ? 0.0f : (r > 255.0f ? 255.0f : r));
}

// Plain float operations, rounded one at a time on both sides (nvcc would
// otherwise fuse a multiply and an add into one FMA on the device).
__host__ __device__ __forceinline__ float
mul_rn (float a, float b)
{
#ifdef __CUDA_ARCH__
  return __fmul_rn (a, b);
#else
  return a * b;
#endif
}

__host__ __device__ __forceinline__ float
add_rn (float a, float b)
{
#ifdef __CUDA_ARCH__
  return __fadd_rn (a, b);
#else
  return a + b;
#endif
}

__host__ __device__ __forceinline__ void
yuv_to_rgb (int matrix, int y, int u, int v, unsigned char *rgb)
{
  const bool bt709 = matrix == HYRSM_KERNEL_YUV_BT709;
  const float kr = bt709 ? 1.792741f : 1.596027f;
  const float kgu = bt709 ? 0.213249f : 0.391762f;
  const float kgv = bt709 ? 0.532909f : 0.812968f;
  const float kb = bt709 ? 2.112402f : 2.017232f;
  float c = mul_rn (1.164383f, (float) (y - 16));
  float du = (float) (u - 128), dv = (float) (v - 128);
  rgb[0] = clamp_round (add_rn (c, mul_rn (kr, dv)));
  rgb[1] = clamp_round (add_rn (add_rn (c, -mul_rn (kgu, du)),
          -mul_rn (kgv, dv)));
  rgb[2] = clamp_round (add_rn (c, mul_rn (kb, du)));
}

// The RGB8 value of source pixel (x, y).
__device__ __forceinline__ void
fetch (const HyrsmKernelFrame &f, int format, int matrix, int x, int y,
    float *out)
{
  const unsigned char *row = f.plane[0] + (size_t) y * f.stride[0];
  unsigned char rgb[3];
  switch (format) {
    case HYRSM_KERNEL_PIXEL_RGB:
      rgb[0] = row[3 * x]; rgb[1] = row[3 * x + 1]; rgb[2] = row[3 * x + 2];
      break;
    case HYRSM_KERNEL_PIXEL_BGR:
      rgb[2] = row[3 * x]; rgb[1] = row[3 * x + 1]; rgb[0] = row[3 * x + 2];
      break;
    case HYRSM_KERNEL_PIXEL_RGBX:
    case HYRSM_KERNEL_PIXEL_RGBA:
      rgb[0] = row[4 * x]; rgb[1] = row[4 * x + 1]; rgb[2] = row[4 * x + 2];
      break;
    case HYRSM_KERNEL_PIXEL_BGRX:
    case HYRSM_KERNEL_PIXEL_BGRA:
      rgb[2] = row[4 * x]; rgb[1] = row[4 * x + 1]; rgb[0] = row[4 * x + 2];
      break;
    case HYRSM_KERNEL_PIXEL_I420: {
      int u = f.plane[1][(size_t) (y / 2) * f.stride[1] + x / 2];
      int v = f.plane[2][(size_t) (y / 2) * f.stride[2] + x / 2];
      yuv_to_rgb (matrix, row[x], u, v, rgb);
      break;
    }
    default: {                  // NV12
      const unsigned char *uv = f.plane[1] + (size_t) (y / 2) * f.stride[1];
      yuv_to_rgb (matrix, row[x], uv[(x / 2) * 2], uv[(x / 2) * 2 + 1], rgb);
      break;
    }
  }
  out[0] = rgb[0];
  out[1] = rgb[1];
  out[2] = rgb[2];
}

template <typename T>
__global__ void
preprocess_kernel (const HyrsmKernelFrame *frames, HyrsmPreprocessParams p,
    T *out)
{
  int crop = p.crop;
  int pixel = blockIdx.x * blockDim.x + threadIdx.x;
  int frame = blockIdx.y;
  if (pixel >= crop * crop)
    return;
  int x = pixel % crop, y = pixel / crop;
  int offset = (p.resize - crop) / 2;
  Tap tx = make_tap (p.width, p.resize, x + offset);
  Tap ty = make_tap (p.height, p.resize, y + offset);
  HyrsmKernelFrame f = frames[frame];

  float a[3], b[3], c[3], d[3];
  fetch (f, p.format, p.yuv_matrix, tx.i0, ty.i0, a);
  fetch (f, p.format, p.yuv_matrix, tx.i1, ty.i0, b);
  fetch (f, p.format, p.yuv_matrix, tx.i0, ty.i1, c);
  fetch (f, p.format, p.yuv_matrix, tx.i1, ty.i1, d);

  size_t plane = (size_t) crop * crop;
  size_t base = (size_t) frame * p.channels * plane;
  for (int ch = 0; ch < p.channels; ch++) {
    float value = 0.0f;
    if (ch < 3) {
      float top = __fadd_rn (__fmul_rn (tx.w0, a[ch]), __fmul_rn (tx.w1, b[ch]));
      float bottom = __fadd_rn (__fmul_rn (tx.w0, c[ch]),
          __fmul_rn (tx.w1, d[ch]));
      float v = __fadd_rn (__fmul_rn (ty.w0, top), __fmul_rn (ty.w1, bottom));
      value = __fdiv_rn (__fsub_rn (__fdiv_rn (v, 255.0f), p.mean[ch]),
          p.std[ch]);
    }
    size_t at = p.layout == HYRSM_KERNEL_NHWC
        ? base + (size_t) pixel * p.channels + ch
        : base + (size_t) ch * plane + pixel;
    hyrsm_store<T> (out + at, value);
  }
}

}                               // namespace

extern "C" int
hyrsm_kernel_pixel_bytes (int format)
{
  switch (format) {
    case HYRSM_KERNEL_PIXEL_RGB:
    case HYRSM_KERNEL_PIXEL_BGR:
      return 3;
    case HYRSM_KERNEL_PIXEL_RGBX:
    case HYRSM_KERNEL_PIXEL_BGRX:
    case HYRSM_KERNEL_PIXEL_RGBA:
    case HYRSM_KERNEL_PIXEL_BGRA:
      return 4;
    case HYRSM_KERNEL_PIXEL_I420:
    case HYRSM_KERNEL_PIXEL_NV12:
      return 1;
    default:
      return 0;
  }
}

extern "C" void
hyrsm_kernel_yuv_to_rgb (int matrix, int y, int u, int v, unsigned char rgb[3])
{
  yuv_to_rgb (matrix, y, u, v, rgb);
}

extern "C" cudaError_t
hyrsm_cuda_preprocess (const HyrsmKernelFrame *frames, int n,
    const HyrsmPreprocessParams *params, void *out, cudaStream_t stream)
{
  HYRSM_REQUIRE (frames != NULL && params != NULL && out != NULL);
  const HyrsmPreprocessParams &p = *params;
  HYRSM_REQUIRE (n >= 1 && n <= 65535);
  HYRSM_REQUIRE (p.width >= 1 && p.height >= 1);
  HYRSM_REQUIRE (p.crop >= 1 && p.crop <= p.resize && p.channels >= 3);
  HYRSM_REQUIRE (hyrsm_kernel_pixel_bytes (p.format) > 0);
  const unsigned int threads = 256;
  dim3 grid (hyrsm_blocks ((size_t) p.crop * p.crop, threads), n);
  HYRSM_LAUNCH_BEGIN ();
  if (p.dtype == HYRSM_KERNEL_F16)
    preprocess_kernel<__half> <<<grid, threads, 0, stream>>> (frames, p,
        (__half *) out);
  else
    preprocess_kernel<float> <<<grid, threads, 0, stream>>> (frames, p,
        (float *) out);
  return HYRSM_LAUNCH_RESULT ();
}
