/* gpu-test-frame.h: random frames in every pixel format the device
 * pre-processing takes, with the RGB frame the CPU path would get; shared by
 * the pre-processing kernel's tests (test-gpu-kernels.c) and the backend's
 * fused pre-processing (test-gpu-backbone.c). */
#pragma once

#include "hyrsm-kernels.h"

#include <glib.h>

typedef struct
{
  HyrsmKernelPixelFormat format;
  const char *name;
} Format;

/* Sized so that G_N_ELEMENTS (formats) works where it is only declared. */
#define GPU_N_FORMATS 8
extern const Format formats[GPU_N_FORMATS];

/* A random frame: planes with padded strides, and the packed RGB8 frame
 * the CPU path would get after conversion. */
typedef struct
{
  int n_planes;
  guint8 *plane[3];
  int stride[3], rows[3];
  guint8 *rgb;                  /* width x height x 3 */
} TestFrame;

void test_frame_make (TestFrame *f, int format, int matrix, int width,
    int height, guint32 seed);
void test_frame_clear (TestFrame *f);

extern const float test_mean[3];
extern const float test_std[3];
