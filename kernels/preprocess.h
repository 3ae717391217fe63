/* preprocess.h: fused frame pre-processing (preprocess.cu).
 *
 * One kernel takes n frames of one pixel format and size and writes the
 * backbone's input directly (docs/model.md section 2): colour conversion to RGB8,
 * bilinear resize to resize x resize with half-pixel centres (PyTorch
 * `interpolate(mode="bilinear", align_corners=False)`, no antialiasing),
 * centre crop crop x crop at offset (resize - crop) / 2, and
 * (v / 255 - mean[c]) / std[c]. Only the cropped pixels are computed; the
 * float arithmetic is the one of hyrsm-preprocess.c, operation by operation
 * (no fused multiply-adds), so RGB input gives the same values as the CPU.
 *
 * YUV input (I420, NV12) is converted per source pixel to RGB8 first, as
 * videoconvert would before the CPU path, with limited-range BT.601 or
 * BT.709 (the hyrsm_kernel_yuv_to_rgb formula below) and the chroma sample
 * covering the pixel (no chroma interpolation); then resized as RGB.
 */
#pragma once

#include "hyrsm-kernels-types.h"

HYRSM_KERNELS_BEGIN_DECLS

/* Pixel formats; same order as HyrsmPixelFormat in hyrsm-backend.h. */
typedef enum
{
  HYRSM_KERNEL_PIXEL_RGB = 0,
  HYRSM_KERNEL_PIXEL_BGR,
  HYRSM_KERNEL_PIXEL_RGBX,
  HYRSM_KERNEL_PIXEL_BGRX,
  HYRSM_KERNEL_PIXEL_RGBA,
  HYRSM_KERNEL_PIXEL_BGRA,
  HYRSM_KERNEL_PIXEL_I420,
  HYRSM_KERNEL_PIXEL_NV12,
  HYRSM_KERNEL_PIXEL_N_FORMATS
} HyrsmKernelPixelFormat;

typedef enum
{
  HYRSM_KERNEL_YUV_BT601 = 0,
  HYRSM_KERNEL_YUV_BT709 = 1,
} HyrsmKernelYuvMatrix;

/* Where one frame's planes are: device memory or pinned host memory.
 * Packed formats use plane[0]; I420 uses Y, U, V; NV12 uses Y, UV. */
typedef struct
{
  const unsigned char *plane[3];
  int stride[3];                /* bytes per row of each plane */
} HyrsmKernelFrame;

typedef struct
{
  int format;                   /* HyrsmKernelPixelFormat */
  int yuv_matrix;               /* HyrsmKernelYuvMatrix, for I420 / NV12 */
  int width, height;            /* source size, >= 1 (even not required) */
  int resize, crop;             /* 1 <= crop <= resize */
  float mean[3], std[3];
  int layout;                   /* HyrsmKernelLayout of the output */
  int dtype;                    /* HyrsmKernelDtype of the output */
  int channels;                 /* output channels, >= 3; 4th.. are zero
                                   (NHWC padding for tensor cores) */
} HyrsmPreprocessParams;

/* Writes n x channels x crop x crop (NCHW) or n x crop x crop x channels
 * (NHWC) to @out. @frames: n descriptors, in device (or pinned) memory. */
cudaError_t hyrsm_cuda_preprocess (const HyrsmKernelFrame *frames, int n,
    const HyrsmPreprocessParams *params, void *out, cudaStream_t stream);

/* Bytes per pixel of the first plane, 0 for an unknown format. */
int hyrsm_kernel_pixel_bytes (int format);

/* The YUV -> RGB8 rule of the kernel, for references and tests:
 * limited range, c = 1.164383 (Y - 16), then R = c + kr (V - 128),
 * G = c - kgu (U - 128) - kgv (V - 128), B = c + kb (U - 128), each
 * rounded half up and clamped to 0..255, in float, one operation at a time.
 * BT.601: kr 1.596027, kgu 0.391762, kgv 0.812968, kb 2.017232;
 * BT.709: kr 1.792741, kgu 0.213249, kgv 0.532909, kb 2.112402. */
void hyrsm_kernel_yuv_to_rgb (int matrix, int y, int u, int v,
    unsigned char rgb[3]);

HYRSM_KERNELS_END_DECLS
