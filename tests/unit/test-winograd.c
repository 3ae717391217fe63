/* test-winograd.c: the Winograd F(2x2, 3x3) convolution
 * (src/hyrsm/cpu/hyrsm-winograd.c) against a direct convolution in double
 * precision, in both of oneDNN's blocked layouts, with the fused bias,
 * residual add and ReLU, on frame sizes that are odd (partial tiles at
 * the right and bottom edges) and batches that do not fill a block. */
#include "hyrsm-winograd.h"
#include "test-random-net.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct
{
  int n, ic, oc, h, w;
} Shape;

/* Index of (img, c, y, x) in nChw<block>c. */
static gsize
blocked (const Shape *s, int channels, int block, int img, int c, int y,
    int x)
{
  return ((((gsize) img * (channels / block) + c / block) * s->h + y) * s->w
      + x) * block + c % block;
}

/* relu? (conv (src) + bias (+ residual)) in double, padding 1. */
static double
reference (const Shape *s, int src_block, int dst_block, const float *src,
    const float *weights,
    const float *bias, const float *residual, gboolean relu, int img, int o,
    int y, int x)
{
  double acc = bias[o];
  for (int i = 0; i < s->ic; i++)
    for (int ky = 0; ky < 3; ky++)
      for (int kx = 0; kx < 3; kx++) {
        int sy = y + ky - 1, sx = x + kx - 1;
        if (sy < 0 || sy >= s->h || sx < 0 || sx >= s->w)
          continue;
        acc += (double) weights[(((gsize) o * s->ic + i) * 3 + ky) * 3 + kx]
            * src[blocked (s, s->ic, src_block, img, i, sy, sx)];
      }
  if (residual)
    acc += residual[blocked (s, s->oc, dst_block, img, o, y, x)];
  return relu && acc < 0 ? 0 : acc;
}

/* The largest error relative to the output's largest magnitude. */
static double
run_case (const Shape *s, int src_block, int dst_block, gboolean sum,
    gboolean relu, int threads)
{
  gsize in_count = (gsize) s->n * s->ic * s->h * s->w;
  gsize out_count = (gsize) s->n * s->oc * s->h * s->w;
  float *src = random_floats (in_count, -2, 2, 1);
  /* fan-in scaled, as a trained network's are */
  double scale = 1.0 / sqrt (9.0 * s->ic);
  float *weights = random_floats ((gsize) s->oc * s->ic * 9, -scale, scale, 2);
  float *bias = random_floats (s->oc, -0.5, 0.5, 3);
  float *residual = random_floats (out_count, -1, 1, 4);
  float *dst = g_memdup2 (residual, out_count * sizeof (float));

  HyrsmWinograd *wg = hyrsm_winograd_new (s->ic, s->oc, weights, bias);
  g_assert_nonnull (wg);
  void *scratch = NULL;
  g_assert_cmpint (posix_memalign (&scratch, 32,
          hyrsm_winograd_scratch_size (wg, s->n, s->h, s->w, threads)), ==,
      0);
  hyrsm_winograd_run (wg, s->n, s->h, s->w, src_block, dst_block, src, dst,
      sum, relu, scratch, threads);

  double worst = 0, largest = 0;
  for (int img = 0; img < s->n; img++)
    for (int o = 0; o < s->oc; o++)
      for (int y = 0; y < s->h; y++)
        for (int x = 0; x < s->w; x++) {
          double want = reference (s, src_block, dst_block, src, weights,
              bias,
              sum ? residual : NULL, relu, img, o, y, x);
          double got = dst[blocked (s, s->oc, dst_block, img, o, y, x)];
          g_assert_true (isfinite (got));
          worst = MAX (worst, fabs (got - want));
          largest = MAX (largest, fabs (want));
        }
  free (scratch);
  hyrsm_winograd_free (wg);
  g_free (src);
  g_free (weights);
  g_free (bias);
  g_free (residual);
  g_free (dst);
  return worst / MAX (largest, 1e-30);
}

static gboolean
skip_without_avx2 (void)
{
  if (hyrsm_winograd_supported ())
    return FALSE;
  g_test_skip ("this CPU has no AVX2 and FMA: the Winograd kernels do not "
      "run here");
  return TRUE;
}

/* Every combination of fusions and layouts (nChw8c, nChw16c, nhwc, and
 * a source in one and the output in another), a float's error. */
static void
test_fusions_and_layouts (void)
{
  if (skip_without_avx2 ())
    return;
  const Shape shapes[] = {
    {2, 16, 32, 5, 9},          /* partial tiles on both edges */
    {3, 32, 16, 7, 7},          /* ResNet's last stage size */
    {1, 64, 64, 8, 8},
  };
  for (guint i = 0; i < G_N_ELEMENTS (shapes); i++) {
    const Shape *s = &shapes[i];
    const int layouts[][2] = { {8, 8}, {16, 16}, {s->ic, s->oc}, {s->ic, 8},
    {8, 16}
    };
    for (guint l = 0; l < G_N_ELEMENTS (layouts); l++)
      for (int f = 0; f < 4; f++) {
        gboolean sum = f & 1, relu = f & 2;
        int from = layouts[l][0], to = layouts[l][1];
        g_assert_true (hyrsm_winograd_layout_fits (s->ic, from));
        g_assert_true (hyrsm_winograd_layout_fits (s->oc, to));
        double err = run_case (s, from, to, sum, relu, 2);
        g_test_message ("n=%d ic=%d oc=%d %dx%d nChw%dc -> nChw%dc sum=%d "
            "relu=%d: relative error %.2g", s->n, s->ic, s->oc, s->h, s->w,
            from, to, sum, relu, err);
        g_assert_cmpfloat (err, <, 1e-6);
      }
  }
}

/* 256 channels and more: the schedule that runs the batch as one block
 * (4 MB of transformed weights), in oneDNN's AVX2 and AVX-512 layouts. */
static void
test_wide_layer (void)
{
  if (skip_without_avx2 ())
    return;
  const Shape s = { 2, 256, 256, 5, 7 };
  g_assert_cmpfloat (run_case (&s, 8, 8, TRUE, TRUE, 2), <, 1e-6);
  g_assert_cmpfloat (run_case (&s, 256, 256, FALSE, TRUE, 2), <, 1e-6);
}

/* A batch spread over more blocks than threads and fewer tiles than a
 * block: the same numbers however the blocks fall. */
static void
test_threads_agree (void)
{
  if (skip_without_avx2 ())
    return;
  const Shape s = { 5, 24, 48, 11, 6 };
  for (int threads = 1; threads <= 4; threads++)
    g_assert_cmpfloat (run_case (&s, 8, 8, TRUE, TRUE, threads), <, 1e-6);
}

/* Layers a 3x3 stride-1 padding-1 convolution of another shape cannot take. */
static void
test_fits (void)
{
  g_assert_true (hyrsm_winograd_fits (64, 64, 3, 1, 1));
  g_assert_false (hyrsm_winograd_fits (64, 64, 3, 2, 1));
  g_assert_false (hyrsm_winograd_fits (64, 64, 1, 1, 0));
  g_assert_false (hyrsm_winograd_fits (64, 64, 7, 1, 3));
  g_assert_false (hyrsm_winograd_fits (3, 64, 3, 1, 1));
  g_assert_false (hyrsm_winograd_fits (64, 40, 3, 1, 1));
  float w[16 * 12 * 9] = { 0 }, b[12] = { 0 };
  g_assert_null (hyrsm_winograd_new (16, 12, w, b));
  g_assert_false (hyrsm_winograd_layout_fits (24, 16));
  g_assert_false (hyrsm_winograd_layout_fits (24, 4));
  g_assert_true (hyrsm_winograd_layout_fits (24, 24));
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/winograd/fusions-and-layouts", test_fusions_and_layouts);
  g_test_add_func ("/winograd/wide-layer", test_wide_layer);
  g_test_add_func ("/winograd/threads-agree", test_threads_agree);
  g_test_add_func ("/winograd/fits", test_fits);
  return g_test_run ();
}
