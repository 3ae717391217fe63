/* hyrsm-gemm-thin.c: the relation head's products: a handful of rows (the
 * T frames of a query, or the M+1 tokens) times a D x D weight matrix.
 *
 * Such a product reads every weight once and does little work per weight,
 * so it is bound by memory bandwidth; oneDNN's sgemm packs B first and
 * moves far less than the machine can for m this small (measured 18-28
 * GB/s, about half of what two cores read here).
 *
 * Two kernels. hyrsm_gemm_packed_nt() (the bottom of this file) takes a
 * weight packed once when the model's relation head is set up, and is what
 * the CPU runs for every weight of the query path (hyrsm-relation.c).
 * hyrsm_gemm_thin_nt() takes B as it is (the CPU backend's gemm_nt, for the
 * other products): each block of 4 rows of B is read from memory once and
 * multiplied with every row of A (which stays in L2), two rows of A at a
 * time, with AVX-512 where the CPU has it, else with AVX2 and FMA; it
 * re-reads the block from L2 for every 2 rows of A (6 loads per 8 FMAs),
 * so at 8 rows and more it is bound by loads rather than memory.
 */
#include "hyrsm-gemm-thin.h"
#include "hyrsm-scratch.h"

#include <immintrin.h>
#include <stdlib.h>
#include <string.h>

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

/* ---- packed weights (see hyrsm-gemm-thin.h) ----
 *
 * C = A B^T with B packed in panels of NR = 24 rows, k-major: per step t,
 * 3 vector loads of B and 4 broadcasts of A feed 12 FMAs into a 4 x 24
 * block of C held in 12 registers. Each panel (k x 24 floats, 192 KB at
 * k = 2048) is read from memory once per call, whatever m is, and from L2
 * for every further 4 rows of A. Threads take panels dynamically, so a
 * thread the OS descheduled on a busy machine does not hold the others
 * back; each claims its next panel before it runs the current one, and
 * with many rows of A prefetches it meanwhile.
 *
 * A weight packed in bf16 holds the same panels at 2 bytes a value: each
 * block of KB steps is widened to floats (exactly: a bf16 is the high half
 * of a float) into a buffer in L1 once, and every row of A is multiplied
 * with that buffer by the same float kernel. The memory stream, which is
 * what a few rows of A wait for, is half as long; the sums are those of
 * the float kernel on the bf16-rounded weights, bit for bit. */

#define NR 24
#define MR 4
#define KB 256

struct _HyrsmPackedWeight
{
  int n, k;
  int n_panels;
  float *panels;                /* n_panels x k x NR, 32-byte aligned */
  guint16 *panels_bf16;         /* or the same in bf16 (panels NULL) */
};

gboolean
hyrsm_cpu_has_avx2_fma (void)
{
  static gsize checked = 0;
  static gboolean ok;
  if (g_once_init_enter (&checked)) {
    __builtin_cpu_init ();
    ok = __builtin_cpu_supports ("avx2") && __builtin_cpu_supports ("fma");
    g_once_init_leave (&checked, 1);
  }
  return ok;
}

gboolean
hyrsm_gemm_packed_supported (void)
{
  return hyrsm_cpu_has_avx2_fma ();
}

guint16
hyrsm_float_to_bf16 (float f)
{
  guint32 u;
  memcpy (&u, &f, sizeof u);
  if ((u & 0x7fffffffu) > 0x7f800000u)
    return (guint16) ((u >> 16) | 0x40);        /* NaN stays a (quiet) NaN */
  /* Round to nearest, ties to even (as PyTorch's and oneDNN's conversion) */
  u += 0x7fffu + ((u >> 16) & 1);
  return (guint16) (u >> 16);
}

float
hyrsm_bf16_to_float (guint16 h)
{
  guint32 u = (guint32) h << 16;
  float f;
  memcpy (&f, &u, sizeof f);
  return f;
}

HyrsmPackedWeight *
hyrsm_gemm_pack_nt (int n_parts, const float *const *parts, int n, int k,
    int ldb, gboolean bf16)
{
  if (!hyrsm_gemm_packed_supported () || n_parts <= 0 || n <= 0 || k <= 0)
    return NULL;
  HyrsmPackedWeight *w = g_new0 (HyrsmPackedWeight, 1);
  w->n = n_parts * n;
  w->k = k;
  w->n_panels = (w->n + NR - 1) / NR;
  gsize values = (gsize) w->n_panels * k * NR;
  if (bf16)
    w->panels_bf16 = g_aligned_alloc0 (values, sizeof (guint16), 64);
  else
    w->panels = g_aligned_alloc0 (values, sizeof (float), 64);
#pragma omp parallel for schedule(static)
  for (int p = 0; p < w->n_panels; p++) {
    gsize at = (gsize) p * k * NR;
    for (int q = 0; q < NR; q++) {
      int j = p * NR + q;
      if (j >= w->n)
        break;                  /* padding rows stay 0 */
      const float *row = parts[j / n] + (gsize) (j % n) * ldb;
      if (bf16)
        for (int t = 0; t < k; t++)
          w->panels_bf16[at + (gsize) t * NR + q] = hyrsm_float_to_bf16
              (row[t]);
      else
        for (int t = 0; t < k; t++)
          w->panels[at + (gsize) t * NR + q] = row[t];
    }
  }
  return w;
}

void
hyrsm_gemm_packed_free (HyrsmPackedWeight *w)
{
  if (w == NULL)
    return;
  g_aligned_free (w->panels);
  g_aligned_free (w->panels_bf16);
  g_free (w);
}

int
hyrsm_gemm_packed_get_n (const HyrsmPackedWeight *w)
{
  return w->n;
}

int
hyrsm_gemm_packed_get_k (const HyrsmPackedWeight *w)
{
  return w->k;
}

gboolean
hyrsm_gemm_packed_is_bf16 (const HyrsmPackedWeight *w)
{
  return w->panels_bf16 != NULL;
}

/* C[0..rows-1][0..cols-1] (+)= A[0..rows-1] . panel, rows <= MR a
 * constant where inlined (each row count gets its own code, the 3 x rows
 * accumulators in registers). */
#define ROW_FMA(r) \
  if (rows > r) { \
    __m256 x = _mm256_broadcast_ss (a + (gsize) r * lda + t); \
    acc##r##0 = _mm256_fmadd_ps (x, b0, acc##r##0); \
    acc##r##1 = _mm256_fmadd_ps (x, b1, acc##r##1); \
    acc##r##2 = _mm256_fmadd_ps (x, b2, acc##r##2); \
  }
#define ROW_STORE(r) \
  if (rows > r) \
    store_row (c + (gsize) r * ldc, cols, t0 == 0, acc##r##0, acc##r##1, \
        acc##r##2)

__attribute__ ((target ("avx2,fma")))
static inline void
store_row (float *cr, int cols, gboolean first, __m256 v0, __m256 v1,
    __m256 v2)
{
  if (cols == NR) {
    if (!first) {
      v0 = _mm256_add_ps (v0, _mm256_loadu_ps (cr));
      v1 = _mm256_add_ps (v1, _mm256_loadu_ps (cr + 8));
      v2 = _mm256_add_ps (v2, _mm256_loadu_ps (cr + 16));
    }
    _mm256_storeu_ps (cr, v0);
    _mm256_storeu_ps (cr + 8, v1);
    _mm256_storeu_ps (cr + 16, v2);
    return;
  }
  float tmp[NR];
  _mm256_storeu_ps (tmp, v0);
  _mm256_storeu_ps (tmp + 8, v1);
  _mm256_storeu_ps (tmp + 16, v2);
  for (int q = 0; q < cols; q++)
    cr[q] = first ? tmp[q] : cr[q] + tmp[q];
}

/* How packed_block() prefetches while it computes: not at all, the next
 * block of a float panel (96 bytes a step) or of a bf16 one (48 bytes a
 * step) into L1, or a line every 4 steps of the next panel into L2. */
typedef enum
{
  PREFETCH_NONE,
  PREFETCH_F32,
  PREFETCH_BF16,
  PREFETCH_NEXT_PANEL,
} Prefetch;

/* Steps t0..t1-1 (at most KB) of rows 0..rows-1 against @bt, the block's
 * first step, prefetching the next block from @pf meanwhile: with several
 * groups of 4 rows, the later groups find the block in L1 and the memory
 * would otherwise idle while they run. */
__attribute__ ((target ("avx2,fma"), always_inline))
static inline void
packed_block (int rows, Prefetch prefetch, int t0, int t1, const float *a,
    int lda, const float *bt, const char *pf, float *c, int ldc, int cols)
{
  __m256 z = _mm256_setzero_ps ();
  __m256 acc00 = z, acc01 = z, acc02 = z, acc10 = z, acc11 = z, acc12 = z;
  __m256 acc20 = z, acc21 = z, acc22 = z, acc30 = z, acc31 = z, acc32 = z;
  for (int t = t0; t < t1; t++, bt += NR) {
    if (prefetch == PREFETCH_F32) {
      _mm_prefetch (pf, _MM_HINT_T0);
      _mm_prefetch (pf + 64, _MM_HINT_T0);
      pf += NR * sizeof (float);
    } else if (prefetch == PREFETCH_BF16) {
      _mm_prefetch (pf, _MM_HINT_T0);
      pf += NR * sizeof (guint16);
    } else if (prefetch == PREFETCH_NEXT_PANEL && (t & 3) == 0) {
      _mm_prefetch (pf, _MM_HINT_T1);
      pf += 64;
    }
    __m256 b0 = _mm256_load_ps (bt);
    __m256 b1 = _mm256_load_ps (bt + 8);
    __m256 b2 = _mm256_load_ps (bt + 16);
    ROW_FMA (0);
    ROW_FMA (1);
    ROW_FMA (2);
    ROW_FMA (3);
  }
  ROW_STORE (0);
  ROW_STORE (1);
  ROW_STORE (2);
  ROW_STORE (3);
}

/* Rows i..i+rows-1 (rows <= MR), steps t0..t1-1, of one block: the
 * function above made for each row count and way of prefetching. */
__attribute__ ((target ("avx2,fma")))
static void
packed_rows (int rows, Prefetch prefetch, int t0, int t1, const float *a,
    int lda, const float *bt, const void *pf, float *c, int ldc, int cols)
{
#define CASE(r) \
  case r: \
    if (prefetch == PREFETCH_F32) \
      packed_block (r, PREFETCH_F32, t0, t1, a, lda, bt, pf, c, ldc, cols); \
    else if (prefetch == PREFETCH_BF16) \
      packed_block (r, PREFETCH_BF16, t0, t1, a, lda, bt, pf, c, ldc, cols); \
    else if (prefetch == PREFETCH_NEXT_PANEL) \
      packed_block (r, PREFETCH_NEXT_PANEL, t0, t1, a, lda, bt, pf, c, ldc, \
          cols); \
    else \
      packed_block (r, PREFETCH_NONE, t0, t1, a, lda, bt, pf, c, ldc, cols); \
    break
  switch (rows) {
      CASE (4);
      CASE (3);
      CASE (2);
      CASE (1);
    default:
      break;
  }
#undef CASE
}

/* Up to this many rows, a panel is run a block of KB steps at a time for
 * all rows (the block stays in L1 while the next is prefetched); above it,
 * a group of 4 rows at a time over the whole of k (C's rows stay in L1,
 * the panel in L2). */
#define BLOCKS_OUTER_MAX_ROWS 16

/* @count bf16 values (a multiple of 8, 16-byte aligned) widened into
 * @out. */
__attribute__ ((target ("avx2")))
static void
widen_block (const guint16 *in, int count, float *out)
{
  for (int i = 0; i < count; i += 8) {
    __m128i h = _mm_load_si128 ((const __m128i *) (in + i));
    __m256i x = _mm256_slli_epi32 (_mm256_cvtepu16_epi32 (h), 16);
    _mm256_store_ps (out + i, _mm256_castsi256_ps (x));
  }
}

/* Panel @p of @w as stored, and its size in bytes. */
static const char *
panel_bytes (const HyrsmPackedWeight *w, int p, gsize *bytes)
{
  gsize values = (gsize) w->k * NR;
  if (w->panels) {
    *bytes = values * sizeof (float);
    return (const char *) (w->panels + (gsize) p * values);
  }
  *bytes = values * sizeof (guint16);
  return (const char *) (w->panels_bf16 + (gsize) p * values);
}

/* One panel (24 columns of C) for all m rows; @next (@next_bytes, or NULL)
 * is the panel this thread runs next. */
__attribute__ ((target ("avx2,fma")))
static void
packed_panel (int m, const float *a, int lda, const HyrsmPackedWeight *w,
    int p, float *c, int ldc, const char *next, gsize next_bytes)
{
  int k = w->k, j = p * NR, cols = MIN (NR, w->n - j);
  c += j;
  if (m > BLOCKS_OUTER_MAX_ROWS) {
    /* Many rows: a float panel (a bf16 one widened once, whole: the rows
     * of A would not stay in cache with blocks outer), rows outer. */
    gsize values = (gsize) k * NR;
    const float *panel = w->panels ? w->panels + (gsize) p * values : NULL;
    if (panel == NULL) {
      float *whole = hyrsm_scratch_get (HYRSM_SCRATCH_GEMM_PANEL,
          values * sizeof (float));
      widen_block (w->panels_bf16 + (gsize) p * values, (int) values, whole);
      panel = whole;
    }
    /* The first group of rows waits for the panel to come from memory;
     * the later ones bring in this thread's next panel meanwhile, so that
     * its first group need not wait: 12-14% at 48 to 64 rows. */
    const char *next_end = next ? next + next_bytes : NULL;
    for (int i = 0; i < m; i += MR)
      for (int t0 = 0; t0 < k; t0 += KB) {
        int t1 = MIN (k, t0 + KB);
        gsize bytes = (gsize) (t1 - t0 + 3) / 4 * 64;
        gboolean ahead = i > 0 && next && next + bytes <= next_end;
        packed_rows (MIN (MR, m - i), ahead ? PREFETCH_NEXT_PANEL :
            PREFETCH_NONE, t0, t1, a + (gsize) i * lda, lda,
            panel + (gsize) t0 * NR, next, c + (gsize) i * ldc, ldc, cols);
        if (ahead)
          next += bytes;
      }
    return;
  }
  if (w->panels_bf16) {
    /* A few rows: each block of KB steps widened once into L1 for all of
     * them, the first group of rows prefetching the next block. */
    float block[KB * NR] __attribute__ ((aligned (32)));
    const guint16 *panel = w->panels_bf16 + (gsize) p * k * NR;
    for (int t0 = 0; t0 < k; t0 += KB) {
      int t1 = MIN (k, t0 + KB);
      const guint16 *bt = panel + (gsize) t0 * NR;
      widen_block (bt, (t1 - t0) * NR, block);
      for (int i = 0; i < m; i += MR)
        packed_rows (MIN (MR, m - i), i == 0 && t1 < k ? PREFETCH_BF16 :
            PREFETCH_NONE, t0, t1, a + (gsize) i * lda, lda, block,
            bt + KB * NR, c + (gsize) i * ldc, ldc, cols);
    }
    return;
  }
  /* A few rows of a float panel: blocks outer, the next one prefetched */
  const float *panel = w->panels + (gsize) p * k * NR;
  for (int t0 = 0; t0 < k; t0 += KB) {
    int t1 = MIN (k, t0 + KB);
    const float *bt = panel + (gsize) t0 * NR;
    /* the last block prefetches itself again: harmless */
    const float *pf = t1 < k ? bt + KB * NR : bt;
    for (int i = 0; i < m; i += MR)
      packed_rows (MIN (MR, m - i), PREFETCH_F32, t0, t1,
          a + (gsize) i * lda, lda, bt, pf, c + (gsize) i * ldc, ldc, cols);
  }
}

void
hyrsm_gemm_packed_nt (int m, const float *a, int lda,
    const HyrsmPackedWeight *w, float *c, int ldc)
{
  if (m <= 0)
    return;
  HyrsmPackedProduct product = {.m = m,.a = a,.lda = lda,.w = w,.c = c,
    .ldc = ldc
  };
  hyrsm_gemm_packed_nt_many (1, &product);
}

/* A panel of one of hyrsm_gemm_packed_nt_many()'s products, and where it
 * lies within its product (0..1), for the order the threads take them. */
typedef struct
{
  int product, panel;
  double at;
} ManyItem;

static int
many_item_compare (const void *a, const void *b)
{
  const ManyItem *x = a, *y = b;
  if (x->at != y->at)
    return x->at < y->at ? -1 : 1;
  return x->product - y->product;
}

void
hyrsm_gemm_packed_nt_many (int n, const HyrsmPackedProduct *products)
{
  int total = 0;
  for (int i = 0; i < n; i++)
    total += products[i].m > 0 ? products[i].w->n_panels : 0;
  if (total == 0)
    return;
  /* The products' panels interleaved (each product's in order, all of
   * them advancing together): a product of a few rows waits on memory and
   * one of many rows on arithmetic, so run side by side they overlap. */
  ManyItem *items = g_new (ManyItem, total);
  int at = 0;
  for (int i = 0; i < n; i++)
    if (products[i].m > 0)
      for (int p = 0; p < products[i].w->n_panels; p++)
        items[at++] = (ManyItem) {
        .product = i,.panel = p,.at = (p + 0.5) / products[i].w->n_panels};
  if (n > 1)
    qsort (items, total, sizeof (ManyItem), many_item_compare);
  /* Threads take panels as they go (one the OS deschedules on a busy
   * machine does not hold the others back), each claiming its next panel
   * before it runs the current one, so that it can prefetch it. */
  int claimed = 0;
#pragma omp parallel
  {
    int item = g_atomic_int_add (&claimed, 1);
    while (item < total) {
      int after = g_atomic_int_add (&claimed, 1);
      gsize next_bytes = 0;
      const char *next = after < total ? panel_bytes (products[items[after].
              product].w, items[after].panel, &next_bytes) : NULL;
      const HyrsmPackedProduct *x = products + items[item].product;
      packed_panel (x->m, x->a, x->lda, x->w, items[item].panel, x->c,
          x->ldc, next, next_bytes);
      item = after;
    }
  }
  g_free (items);
}
