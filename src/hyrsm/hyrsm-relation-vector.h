/* hyrsm-relation-vector.h: the vector helpers of the relation head
 * (hyrsm-relation.c), apart so that the head's file reads as the model's
 * sections. Static functions, included by hyrsm-relation.c alone, so that
 * the compiler inlines them into the head's loops exactly as before. */
#pragma once

#include "hyrsm-gemm-thin.h"

#include <glib.h>
#include <immintrin.h>

/* ---- vector helpers ----
 *
 * The reductions stay in double (the float32 results must stay within 1e-4
 * of a float64 reference); AVX2 versions where the CPU has it: they only
 * change the order of the double additions. */

static gboolean
have_avx2 (void)
{
  return hyrsm_cpu_has_avx2_fma ();
}

__attribute__ ((target ("avx2,fma")))
static double
hsum_pd (__m256d v)
{
  __m128d s = _mm_add_pd (_mm256_castpd256_pd128 (v),
      _mm256_extractf128_pd (v, 1));
  return _mm_cvtsd_f64 (_mm_add_sd (s, _mm_unpackhi_pd (s, s)));
}

__attribute__ ((target ("avx2,fma")))
static double
dot_ff_avx2 (const float *a, const float *b, int n)
{
  __m256d acc0 = _mm256_setzero_pd (), acc1 = _mm256_setzero_pd ();
  int c = 0;
  for (; c + 8 <= n; c += 8) {
    acc0 = _mm256_fmadd_pd (_mm256_cvtps_pd (_mm_loadu_ps (a + c)),
        _mm256_cvtps_pd (_mm_loadu_ps (b + c)), acc0);
    acc1 = _mm256_fmadd_pd (_mm256_cvtps_pd (_mm_loadu_ps (a + c + 4)),
        _mm256_cvtps_pd (_mm_loadu_ps (b + c + 4)), acc1);
  }
  double dot = hsum_pd (_mm256_add_pd (acc0, acc1));
  for (; c < n; c++)
    dot += (double) a[c] * b[c];
  return dot;
}

/* sum_c a[c] b[c], accumulated in double */
static double
dot_ff (const float *a, const float *b, int n)
{
  if (have_avx2 ())
    return dot_ff_avx2 (a, b, n);
  double dot = 0;
  for (int c = 0; c < n; c++)
    dot += (double) a[c] * b[c];
  return dot;
}

/* acc[c] += p * v[c] (acc in double) */
__attribute__ ((target ("avx2,fma")))
static void
axpy_df_avx2 (double p, const float *v, double *acc, int n)
{
  __m256d vp = _mm256_set1_pd (p);
  int c = 0;
  for (; c + 4 <= n; c += 4)
    _mm256_storeu_pd (acc + c, _mm256_fmadd_pd (vp,
            _mm256_cvtps_pd (_mm_loadu_ps (v + c)), _mm256_loadu_pd (acc
                + c)));
  for (; c < n; c++)
    acc[c] += p * v[c];
}

static void
axpy_df (double p, const float *v, double *acc, int n)
{
  if (have_avx2 ()) {
    axpy_df_avx2 (p, v, acc, n);
    return;
  }
  for (int c = 0; c < n; c++)
    acc[c] += p * v[c];
}

/* y[c] += p * x[c] in float (the terms of one float32 product) */
__attribute__ ((target ("avx2,fma")))
static void
axpy_ff_avx2 (float p, const float *x, float *y, int n)
{
  __m256 vp = _mm256_set1_ps (p);
  int c = 0;
  for (; c + 8 <= n; c += 8)
    _mm256_storeu_ps (y + c, _mm256_fmadd_ps (vp, _mm256_loadu_ps (x + c),
            _mm256_loadu_ps (y + c)));
  for (; c < n; c++)
    y[c] += p * x[c];
}

static void
axpy_ff (float p, const float *x, float *y, int n)
{
  if (have_avx2 ()) {
    axpy_ff_avx2 (p, x, y, n);
    return;
  }
  for (int c = 0; c < n; c++)
    y[c] += p * x[c];
}

/* out[r][j] = (float) (a[r][j] + bias[j] + b[r][j]) summed in double, and
 * with @relu the ReLU of it (0 for NaN, as x > 0 ? x : 0), for @rows rows
 * of @dim: a product's bias and residual. */
__attribute__ ((target ("avx2,fma")))
static void
bias_residual_avx2 (const float *a, const float *bias, const float *b,
    int dim, gboolean relu, float *out)
{
  int j = 0;
  for (; j + 4 <= dim; j += 4) {
    __m256d r = _mm256_add_pd (_mm256_add_pd (_mm256_cvtps_pd (_mm_loadu_ps
                (a + j)), _mm256_cvtps_pd (_mm_loadu_ps (bias + j))),
        _mm256_cvtps_pd (_mm_loadu_ps (b + j)));
    if (relu)
      r = _mm256_max_pd (r, _mm256_setzero_pd ());
    _mm_storeu_ps (out + j, _mm256_cvtpd_ps (r));
  }
  for (; j < dim; j++) {
    double r = (double) a[j] + bias[j] + b[j];
    out[j] = relu && !(r > 0) ? 0.0f : (float) r;
  }
}

static void
bias_residual (const float *a, const float *bias, const float *b, int rows,
    int dim, gboolean relu, float *out)
{
  for (int r = 0; r < rows; r++) {
    gsize at = (gsize) r * dim;
    if (have_avx2 ()) {
      bias_residual_avx2 (a + at, bias, b + at, dim, relu, out + at);
      continue;
    }
    for (int j = 0; j < dim; j++) {
      double v = (double) a[at + j] + bias[j] + b[at + j];
      out[at + j] = relu && !(v > 0) ? 0.0f : (float) v;
    }
  }
}

/* y = ReLU (y) in place (0 for NaN, as MAX (y, 0)) */
__attribute__ ((target ("avx2")))
static void
relu_avx2 (float *y, gsize n)
{
  gsize i = 0;
  for (; i + 8 <= n; i += 8)
    _mm256_storeu_ps (y + i, _mm256_max_ps (_mm256_loadu_ps (y + i),
            _mm256_setzero_ps ()));
  for (; i < n; i++)
    y[i] = MAX (y[i], 0.0f);
}

static void
relu (float *y, gsize n)
{
  if (have_avx2 ()) {
    relu_avx2 (y, n);
    return;
  }
  for (gsize i = 0; i < n; i++)
    y[i] = MAX (y[i], 0.0f);
}

/* Rows @a0 + @cm and @a1 + @cm of a token's E (the float sums the fuse
 * makes, widened): out0[q] = (a0 + cm) . b[q], out1[q] likewise, for 4
 * rows b[q] of the query's E, and their squared norms. Two rows at a time
 * so that each load of @b serves two products. */
__attribute__ ((target ("avx2,fma")))
static void
fused_dots_2x4_avx2 (const float *a0, const float *a1, const float *cm,
    const double *const b[4], int n, double out0[4], double out1[4],
    double norm_sq[2])
{
  /* named accumulators, not arrays: with arrays GCC kept them on the
   * stack and every product waited for the previous one's store (12% of
   * a 500-class match) */
  __m256d z = _mm256_setzero_pd ();
  __m256d d00 = z, d01 = z, d02 = z, d03 = z, d10 = z, d11 = z, d12 = z;
  __m256d d13 = z, n0 = z, n1 = z;
  const double *b0 = b[0], *b1 = b[1], *b2 = b[2], *b3 = b[3];
  int c = 0;
  for (; c + 4 <= n; c += 4) {
    __m128 t = _mm_loadu_ps (cm + c);
    __m256d x0 = _mm256_cvtps_pd (_mm_add_ps (_mm_loadu_ps (a0 + c), t));
    __m256d x1 = _mm256_cvtps_pd (_mm_add_ps (_mm_loadu_ps (a1 + c), t));
    n0 = _mm256_fmadd_pd (x0, x0, n0);
    n1 = _mm256_fmadd_pd (x1, x1, n1);
    __m256d y = _mm256_loadu_pd (b0 + c);
    d00 = _mm256_fmadd_pd (x0, y, d00);
    d10 = _mm256_fmadd_pd (x1, y, d10);
    y = _mm256_loadu_pd (b1 + c);
    d01 = _mm256_fmadd_pd (x0, y, d01);
    d11 = _mm256_fmadd_pd (x1, y, d11);
    y = _mm256_loadu_pd (b2 + c);
    d02 = _mm256_fmadd_pd (x0, y, d02);
    d12 = _mm256_fmadd_pd (x1, y, d12);
    y = _mm256_loadu_pd (b3 + c);
    d03 = _mm256_fmadd_pd (x0, y, d03);
    d13 = _mm256_fmadd_pd (x1, y, d13);
  }
  norm_sq[0] = hsum_pd (n0);
  norm_sq[1] = hsum_pd (n1);
  out0[0] = hsum_pd (d00);
  out0[1] = hsum_pd (d01);
  out0[2] = hsum_pd (d02);
  out0[3] = hsum_pd (d03);
  out1[0] = hsum_pd (d10);
  out1[1] = hsum_pd (d11);
  out1[2] = hsum_pd (d12);
  out1[3] = hsum_pd (d13);
  for (; c < n; c++) {
    double x0 = (float) (a0[c] + cm[c]), x1 = (float) (a1[c] + cm[c]);
    norm_sq[0] += x0 * x0;
    norm_sq[1] += x1 * x1;
    for (int q = 0; q < 4; q++) {
      out0[q] += x0 * b[q][c];
      out1[q] += x1 * b[q][c];
    }
  }
}

static double
dot_dd (const double *a, const double *b, int n)
{
  double dot = 0;
  for (int c = 0; c < n; c++)
    dot += a[c] * b[c];
  return dot;
}
