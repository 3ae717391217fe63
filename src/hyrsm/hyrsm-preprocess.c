/* hyrsm-preprocess.c: RGB8 frame -> normalized backbone input
 * (docs/model.md section 2).
 *
 * The resize matches PyTorch's CPU `interpolate(mode="bilinear",
 * align_corners=False)` (no antialiasing) in float arithmetic: the source
 * coordinate of output pixel d is (d + 0.5) * in / out - 0.5, clamped at 0;
 * its integer part i0 and i1 = min(i0 + 1, in - 1) are blended with weights
 * 1 - f and f. Only the centre crop of the resized frame is computed, and
 * the index / weight tables are made once per frame.
 */
#include "hyrsm-preprocess.h"

typedef struct
{
  int i0, i1;                   /* source indices */
  float w0, w1;                 /* their weights */
} Tap;

/* Taps of output positions offset .. offset + count - 1 of a resize from
 * @in to @out samples. */
static void
make_taps (Tap *taps, int in, int out, int offset, int count)
{
  float scale = (float) in / (float) out;
  for (int k = 0; k < count; k++) {
    float src = scale * ((float) (k + offset) + 0.5f) - 0.5f;
    if (src < 0.0f)
      src = 0.0f;
    int i0 = (int) src;
    if (i0 > in - 1)
      i0 = in - 1;
    float f = src - (float) i0;
    taps[k].i0 = i0;
    taps[k].i1 = i0 < in - 1 ? i0 + 1 : i0;
    taps[k].w1 = f;
    taps[k].w0 = 1.0f - f;
  }
}

void
hyrsm_preprocess_rgb (const guint8 *rgb, int width, int height, int stride,
    int resize, int crop, const float mean[3], const float std[3], float *out)
{
  g_return_if_fail (rgb != NULL && out != NULL);
  g_return_if_fail (width > 0 && height > 0 && stride >= width * 3);
  g_return_if_fail (crop > 0 && crop <= resize);

  int offset = (resize - crop) / 2;
  gsize plane = (gsize) crop * crop;
  Tap *xs = g_new (Tap, crop);
  Tap *ys = g_new (Tap, crop);
  make_taps (xs, width, resize, offset, crop);
  make_taps (ys, height, resize, offset, crop);

  for (int y = 0; y < crop; y++) {
    const guint8 *row0 = rgb + (gsize) ys[y].i0 * stride;
    const guint8 *row1 = rgb + (gsize) ys[y].i1 * stride;
    float wy0 = ys[y].w0, wy1 = ys[y].w1;
    float *dst = out + (gsize) y * crop;
    for (int x = 0; x < crop; x++) {
      int a = xs[x].i0 * 3, b = xs[x].i1 * 3;
      float wx0 = xs[x].w0, wx1 = xs[x].w1;
      for (int c = 0; c < 3; c++) {
        float top = wx0 * row0[a + c] + wx1 * row0[b + c];
        float bottom = wx0 * row1[a + c] + wx1 * row1[b + c];
        float v = wy0 * top + wy1 * bottom;
        dst[c * plane + x] = (v / 255.0f - mean[c]) / std[c];
      }
    }
  }
  g_free (xs);
  g_free (ys);
}
