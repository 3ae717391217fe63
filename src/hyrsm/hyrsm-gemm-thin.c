/* hyrsm-gemm-thin.c: the relation head's products: a handful of rows (the
 * T frames of a query, or the M+1 tokens) times a D x D weight matrix.
 *
 * Such a product reads every weight once and does little work per weight,
 * so it is bound by memory bandwidth; oneDNN's sgemm packs B first and
 * moves far less than the machine can for m this small (measured 18-28
 * GB/s, about half of what two cores read here). This kernel streams B
 * once: each block of 4 rows of B is read from memory once and multiplied
 * with every row of A (which stays in L2), two rows of A at a time.
 */
#include "hyrsm-gemm-thin.h"

#include <immintrin.h>

#define B_ROWS 4

__attribute__ ((target ("avx512f")))
static inline float
reduce (__m512 v)
{
  return _mm512_reduce_add_ps (v);
}

/* C[i][j..j+3] for rows i (and i+1 when two) of A; k tail masked. */
__attribute__ ((target ("avx512f")))
static void
block_2x4 (int k, const float *a0, const float *a1, const float *const b[4],
    float *c0, float *c1)
{
  __m512 acc0[B_ROWS], acc1[B_ROWS];
  for (int q = 0; q < B_ROWS; q++)
    acc0[q] = acc1[q] = _mm512_setzero_ps ();
  int t = 0;
  for (; t + 16 <= k; t += 16) {
    __m512 x0 = _mm512_loadu_ps (a0 + t);
    __m512 x1 = _mm512_loadu_ps (a1 + t);
    for (int q = 0; q < B_ROWS; q++) {
      __m512 w = _mm512_loadu_ps (b[q] + t);
      acc0[q] = _mm512_fmadd_ps (x0, w, acc0[q]);
      acc1[q] = _mm512_fmadd_ps (x1, w, acc1[q]);
    }
  }
  if (t < k) {
    __mmask16 mask = (__mmask16) ((1u << (k - t)) - 1);
    __m512 x0 = _mm512_maskz_loadu_ps (mask, a0 + t);
    __m512 x1 = _mm512_maskz_loadu_ps (mask, a1 + t);
    for (int q = 0; q < B_ROWS; q++) {
      __m512 w = _mm512_maskz_loadu_ps (mask, b[q] + t);
      acc0[q] = _mm512_fmadd_ps (x0, w, acc0[q]);
      acc1[q] = _mm512_fmadd_ps (x1, w, acc1[q]);
    }
  }
  for (int q = 0; q < B_ROWS; q++) {
    c0[q] = reduce (acc0[q]);
    if (c1)
      c1[q] = reduce (acc1[q]);
  }
}

__attribute__ ((target ("avx512f")))
static void
thin_avx512 (int m, int n, int k, const float *a, const float *b, float *c)
{
  int n_blocks = (n + B_ROWS - 1) / B_ROWS;
#pragma omp parallel for schedule(static)
  for (int jb = 0; jb < n_blocks; jb++) {
    int j = jb * B_ROWS;
    int rows = n - j < B_ROWS ? n - j : B_ROWS;
    /* A partial last block repeats its last row; extra results are
     * dropped below. */
    const float *rb[B_ROWS];
    for (int q = 0; q < B_ROWS; q++)
      rb[q] = b + (gsize) (j + (q < rows ? q : rows - 1)) * k;
    float out0[B_ROWS], out1[B_ROWS];
    for (int i = 0; i < m; i += 2) {
      gboolean two = i + 1 < m;
      block_2x4 (k, a + (gsize) i * k, a + (gsize) (two ? i + 1 : i) * k, rb,
          out0, two ? out1 : NULL);
      for (int q = 0; q < rows; q++) {
        c[(gsize) i * n + j + q] = out0[q];
        if (two)
          c[(gsize) (i + 1) * n + j + q] = out1[q];
      }
    }
  }
}

gboolean
hyrsm_gemm_thin_nt (int m, int n, int k, const float *a, const float *b,
    float *c)
{
  static gsize checked = 0;
  static gboolean have_avx512;
  if (g_once_init_enter (&checked)) {
    __builtin_cpu_init ();
    have_avx512 = __builtin_cpu_supports ("avx512f");
    g_once_init_leave (&checked, 1);
  }
  if (!have_avx512 || m > HYRSM_GEMM_THIN_MAX_ROWS || m <= 0 || n <= 0
      || k <= 0)
    return FALSE;
  thin_avx512 (m, n, k, a, b, c);
  return TRUE;
}
