/* hyrsm-gemm-thin.c: the relation head's products: a handful of rows (the
 * T frames of a query, or the M+1 tokens) times a D x D weight matrix.
 *
 * Such a product reads every weight once and does little work per weight,
 * so it is bound by memory bandwidth; oneDNN's sgemm packs B first and
 * moves far less than the machine can for m this small (measured 18-28
 * GB/s, about half of what two cores read here). This kernel streams B
 * once: each block of 4 rows of B is read from memory once and multiplied
 * with every row of A (which stays in L2), two rows of A at a time. With
 * AVX-512 where the CPU has it, else with AVX2 and FMA.
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

/* The same with AVX2 and FMA (8 floats a vector), for CPUs without
 * AVX-512. */
__attribute__ ((target ("avx2,fma")))
static inline float
reduce8 (__m256 v)
{
  __m128 s = _mm_add_ps (_mm256_castps256_ps128 (v),
      _mm256_extractf128_ps (v, 1));
  s = _mm_add_ps (s, _mm_movehl_ps (s, s));
  s = _mm_add_ss (s, _mm_movehdup_ps (s));
  return _mm_cvtss_f32 (s);
}

__attribute__ ((target ("avx2,fma")))
static void
block_2x4_avx2 (int k, const float *a0, const float *a1,
    const float *const b[4], float *c0, float *c1)
{
  __m256 acc0[B_ROWS], acc1[B_ROWS];
  for (int q = 0; q < B_ROWS; q++)
    acc0[q] = acc1[q] = _mm256_setzero_ps ();
  int t = 0;
  for (; t + 8 <= k; t += 8) {
    __m256 x0 = _mm256_loadu_ps (a0 + t);
    __m256 x1 = _mm256_loadu_ps (a1 + t);
    for (int q = 0; q < B_ROWS; q++) {
      __m256 w = _mm256_loadu_ps (b[q] + t);
      acc0[q] = _mm256_fmadd_ps (x0, w, acc0[q]);
      acc1[q] = _mm256_fmadd_ps (x1, w, acc1[q]);
    }
  }
  if (t < k) {
    int left = k - t;
    __m256i mask = _mm256_cmpgt_epi32 (_mm256_set1_epi32 (left),
        _mm256_setr_epi32 (0, 1, 2, 3, 4, 5, 6, 7));
    __m256 x0 = _mm256_maskload_ps (a0 + t, mask);
    __m256 x1 = _mm256_maskload_ps (a1 + t, mask);
    for (int q = 0; q < B_ROWS; q++) {
      __m256 w = _mm256_maskload_ps (b[q] + t, mask);
      acc0[q] = _mm256_fmadd_ps (x0, w, acc0[q]);
      acc1[q] = _mm256_fmadd_ps (x1, w, acc1[q]);
    }
  }
  for (int q = 0; q < B_ROWS; q++) {
    c0[q] = reduce8 (acc0[q]);
    if (c1)
      c1[q] = reduce8 (acc1[q]);
  }
}

__attribute__ ((target ("avx2,fma")))
static void
thin_avx2 (int m, int n, int k, const float *a, const float *b, float *c)
{
  int n_blocks = (n + B_ROWS - 1) / B_ROWS;
#pragma omp parallel for schedule(static)
  for (int jb = 0; jb < n_blocks; jb++) {
    int j = jb * B_ROWS;
    int rows = n - j < B_ROWS ? n - j : B_ROWS;
    const float *rb[B_ROWS];
    for (int q = 0; q < B_ROWS; q++)
      rb[q] = b + (gsize) (j + (q < rows ? q : rows - 1)) * k;
    float out0[B_ROWS], out1[B_ROWS];
    for (int i = 0; i < m; i += 2) {
      gboolean two = i + 1 < m;
      block_2x4_avx2 (k, a + (gsize) i * k, a + (gsize) (two ? i + 1 : i) *
          k, rb, out0, two ? out1 : NULL);
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
  static gboolean have_avx512, have_avx2;
  if (g_once_init_enter (&checked)) {
    __builtin_cpu_init ();
    have_avx512 = __builtin_cpu_supports ("avx512f");
    have_avx2 = __builtin_cpu_supports ("avx2")
        && __builtin_cpu_supports ("fma");
    g_once_init_leave (&checked, 1);
  }
  if (!(have_avx512 || have_avx2) || m <= 0 || n <= 0 || k <= 0
      || m > (have_avx512 ? HYRSM_GEMM_THIN_MAX_ROWS :
          HYRSM_GEMM_THIN_MAX_ROWS_AVX2))
    return FALSE;
  if (have_avx512)
    thin_avx512 (m, n, k, a, b, c);
  else
    thin_avx2 (m, n, k, a, b, c);
  return TRUE;
}
