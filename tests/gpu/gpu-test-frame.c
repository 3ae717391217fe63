/* gpu-test-frame.c: random test frames (gpu-test-frame.h). */
#include "gpu-test-frame.h"

#include <string.h>

const Format formats[GPU_N_FORMATS] = {
  {HYRSM_KERNEL_PIXEL_RGB, "RGB"}, {HYRSM_KERNEL_PIXEL_BGR, "BGR"},
  {HYRSM_KERNEL_PIXEL_RGBX, "RGBx"}, {HYRSM_KERNEL_PIXEL_BGRX, "BGRx"},
  {HYRSM_KERNEL_PIXEL_RGBA, "RGBA"}, {HYRSM_KERNEL_PIXEL_BGRA, "BGRA"},
  {HYRSM_KERNEL_PIXEL_I420, "I420"}, {HYRSM_KERNEL_PIXEL_NV12, "NV12"},
};

void
test_frame_make (TestFrame *f, int format, int matrix, int width, int height,
    guint32 seed)
{
  GRand *rand = g_rand_new_with_seed (seed);
  int cw = (width + 1) / 2, ch = (height + 1) / 2;
  int bpp = hyrsm_kernel_pixel_bytes (format);
  memset (f, 0, sizeof *f);
  if (format == HYRSM_KERNEL_PIXEL_I420) {
    f->n_planes = 3;
    f->stride[0] = width + 5;
    f->rows[0] = height;
    f->stride[1] = f->stride[2] = cw + 3;
    f->rows[1] = f->rows[2] = ch;
  } else if (format == HYRSM_KERNEL_PIXEL_NV12) {
    f->n_planes = 2;
    f->stride[0] = width + 5;
    f->rows[0] = height;
    f->stride[1] = 2 * cw + 6;
    f->rows[1] = ch;
  } else {
    f->n_planes = 1;
    f->stride[0] = width * bpp + 7;
    f->rows[0] = height;
  }
  for (int p = 0; p < f->n_planes; p++) {
    gsize size = (gsize) f->stride[p] * f->rows[p];
    f->plane[p] = g_malloc (size);
    for (gsize i = 0; i < size; i++)
      f->plane[p][i] = (guint8) g_rand_int_range (rand, 0, 256);
  }
  g_rand_free (rand);

  f->rgb = g_malloc ((gsize) width * height * 3);
  for (int y = 0; y < height; y++)
    for (int x = 0; x < width; x++) {
      guint8 *out = f->rgb + ((gsize) y * width + x) * 3;
      const guint8 *row = f->plane[0] + (gsize) y * f->stride[0];
      switch (format) {
        case HYRSM_KERNEL_PIXEL_RGB:
        case HYRSM_KERNEL_PIXEL_RGBX:
        case HYRSM_KERNEL_PIXEL_RGBA:
          memcpy (out, row + x * bpp, 3);
          break;
        case HYRSM_KERNEL_PIXEL_BGR:
        case HYRSM_KERNEL_PIXEL_BGRX:
        case HYRSM_KERNEL_PIXEL_BGRA:
          out[0] = row[x * bpp + 2];
          out[1] = row[x * bpp + 1];
          out[2] = row[x * bpp];
          break;
        case HYRSM_KERNEL_PIXEL_I420:
          hyrsm_kernel_yuv_to_rgb (matrix, row[x],
              f->plane[1][(y / 2) * f->stride[1] + x / 2],
              f->plane[2][(y / 2) * f->stride[2] + x / 2], out);
          break;
        default:{
          const guint8 *uv = f->plane[1] + (y / 2) * f->stride[1];
          hyrsm_kernel_yuv_to_rgb (matrix, row[x], uv[(x / 2) * 2],
              uv[(x / 2) * 2 + 1], out);
          break;
        }
      }
    }
}

void
test_frame_clear (TestFrame *f)
{
  for (int p = 0; p < 3; p++)
    g_free (f->plane[p]);
  g_free (f->rgb);
}

const float test_mean[3] = { 0.485f, 0.456f, 0.406f };
const float test_std[3] = { 0.229f, 0.224f, 0.225f };
