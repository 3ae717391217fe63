/* hyrsm-winograd.c: 3x3 stride-1 convolutions by Winograd F(2x2, 3x3)
 * (Lavin and Gray, "Fast Algorithms for Convolutional Neural Networks",
 * 2016), AVX2 and FMA, fused with the bias, the residual add and ReLU.
 *
 * Why: on a CPU without AVX-512 oneDNN offers only direct convolution for
 * fp32, which is already at the machine's FMA limit, and 3x3 stride-1
 * layers are 83% of ResNet-18's multiply-adds. F(2x2, 3x3) computes a 2x2
 * block of outputs from a 4x4 block of inputs with 16 products per
 * channel pair instead of 36 (2.25x fewer), for the cost of transforms
 * that are additions only.
 *
 * With d a 4x4 input tile, g a 3x3 filter and Y the 2x2 output tile:
 *   U = G g G^T     (per filter, once, in double, at load)
 *   V = B^T d B     (per input tile and channel)
 *   M = sum over input channels of U (.) V, for each of the 16 positions
 *   Y = A^T M A     (per output tile and channel) + bias (+ residual), ReLU
 * with B^T = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1],
 *      G   = [1 0 0; 1/2 1/2 1/2; 1/2 -1/2 1/2; 0 0 1],
 *      A^T = [1 1 1 0; 0 1 -1 -1].
 * Every coefficient is 0, +-1 or +-1/2, so the transforms add no rounding
 * beyond a few additions: measured against PyTorch, the features of a
 * whole ResNet stay within a few 1e-7 relative, as oneDNN's direct
 * convolution does (tests/unit/test-winograd.c, tests/python).
 *
 * The sum over channels is 16 matrix products (tiles x ic) . (ic x oc),
 * one per position. The tiles are taken a block at a time (12 per thread,
 * V and M in L2; or the whole batch, for the widest layers: geometry()):
 * the input transform of the block writes V[16][tiles][ic], a 6 x 16
 * kernel (6 tiles, 16 output channels: 12 accumulators, the
 * hyrsm-gemm-thin.c habit of broadcasting A and loading a packed B panel)
 * computes M[16][tiles][oc], and the output transform reads M and writes
 * the block's outputs. Blocks go to OpenMP's threads as they come.
 *
 * Activations are in the layout oneDNN picked for the layer: nChw8c
 * (AVX2), nChw16c or nhwc (AVX-512; nhwc is nChw<C>c): the 8 channels a
 * vector holds are contiguous in each, so the neighbouring oneDNN layers
 * need no reorder.
 */
#include "hyrsm-winograd.h"
#include "hyrsm-gemm-thin.h"    /* hyrsm_cpu_has_avx2_fma() */

#include <immintrin.h>
#ifdef _OPENMP
#include <omp.h>
#endif
#include <stdlib.h>
#include <string.h>

#define ALPHA 4                 /* input tile side: 2 + 3 - 1 */
#define POSITIONS (ALPHA * ALPHA)
#define ROWS 6                  /* tiles per kernel call */
#define COLS 16                 /* output channels per kernel call */
#define VEC 8
/* A block's V and M together stay under this (bytes), to live in L2. */
#define BLOCK_BUDGET (96 * 1024)
#define MAX_BLOCK_TILES 96
#define MIN_BLOCK_TILES 12
/* The wide schedule (geometry()) from this much transformed weight, while
 * the batch's V and M stay under the second figure. */
#define WIDE_MIN_WEIGHTS (2 * 1024 * 1024)
#define WIDE_MAX_SCRATCH (16 * 1024 * 1024)

struct _HyrsmWinograd
{
  int ic, oc;
  float *u;                     /* [16][oc / 16][ic][16], 32-byte aligned */
  float *bias;                  /* [oc] */
};

gboolean
hyrsm_winograd_supported (void)
{
  return hyrsm_cpu_has_avx2_fma ();
}

gboolean
hyrsm_winograd_fits (int ic, int oc, int kernel, int stride, int padding)
{
  return kernel == 3 && stride == 1 && padding == 1 && ic > 0 && oc > 0
      && ic % VEC == 0 && oc % COLS == 0;
}

gboolean
hyrsm_winograd_layout_fits (int channels, int block)
{
  return block > 0 && block % VEC == 0 && channels % block == 0;
}

HyrsmWinograd *
hyrsm_winograd_new (int ic, int oc, const float *weights, const float *bias)
{
  if (!hyrsm_winograd_supported () || !hyrsm_winograd_fits (ic, oc, 3, 1, 1))
    return NULL;
  static const double G[ALPHA][3] = {
    {1, 0, 0}, {0.5, 0.5, 0.5}, {0.5, -0.5, 0.5}, {0, 0, 1}
  };
  HyrsmWinograd *wg = g_new0 (HyrsmWinograd, 1);
  wg->ic = ic;
  wg->oc = oc;
  gsize count = (gsize) POSITIONS * ic * oc;
  if (posix_memalign ((void **) &wg->u, 32, count * sizeof (float)) != 0) {
    g_free (wg);
    return NULL;
  }
  wg->bias = g_memdup2 (bias, sizeof (float) * oc);
  int n_oc_blocks = oc / COLS;
  for (int o = 0; o < oc; o++)
    for (int i = 0; i < ic; i++) {
      const float *g = weights + ((gsize) o * ic + i) * 9;
      double gt[ALPHA][3];       /* G g */
      for (int r = 0; r < ALPHA; r++)
        for (int c = 0; c < 3; c++)
          gt[r][c] = G[r][0] * g[c] + G[r][1] * g[3 + c] + G[r][2] * g[6 + c];
      for (int r = 0; r < ALPHA; r++)
        for (int c = 0; c < ALPHA; c++) {
          double u = gt[r][0] * G[c][0] + gt[r][1] * G[c][1]
              + gt[r][2] * G[c][2];
          gsize at = (((gsize) (r * ALPHA + c) * n_oc_blocks + o / COLS) * ic
              + i) * COLS + o % COLS;
          wg->u[at] = (float) u;
        }
    }
  return wg;
}

void
hyrsm_winograd_free (HyrsmWinograd *wg)
{
  if (wg == NULL)
    return;
  free (wg->u);
  g_free (wg->bias);
  g_free (wg);
}

/* ---- blocks of tiles ---- */

typedef struct
{
  int n, h, w;                  /* the batch */
  int src_block, dst_block;     /* the layouts: nChw<block>c */
  int th, tw;                   /* tiles per column and row of a frame */
  int tiles;                    /* in the batch */
  gboolean wide;                /* one block for all threads (see below) */
  int per_block;                /* tiles per block */
  int rows;                     /* per_block rounded up to ROWS */
} Geometry;

/* Two schedules. Blocks of a few tiles per thread, V and M in L2, where
 * the transformed weights are small enough to be read again for every
 * block (measured here: blocks of 12 tiles beat larger ones, whose V and
 * M spill from L2); or, where they are large (the last stages: 4 and
 * 16 MB at 256 and 512 channels), the whole batch as one block whose
 * products the threads share out by position and output channels, so
 * that each weight is read once per run. */
static Geometry
geometry (const HyrsmWinograd *wg, int n, int h, int w, int threads)
{
  Geometry g = {.n = n,.h = h,.w = w,.th = (h + 1) / 2,.tw = (w + 1) / 2 };
  g.tiles = n * g.th * g.tw;
  gsize weights = (gsize) POSITIONS * wg->ic * wg->oc * sizeof (float);
  gsize per_tile = (gsize) POSITIONS * (wg->ic + wg->oc) * sizeof (float);
  g.wide = weights >= WIDE_MIN_WEIGHTS
      && per_tile * g.tiles <= WIDE_MAX_SCRATCH;
  if (g.wide)
    g.per_block = g.tiles;
  else {
    int most = (int) (BLOCK_BUDGET / per_tile) / ROWS * ROWS;
    most = CLAMP (most, MIN_BLOCK_TILES, MAX_BLOCK_TILES);
    /* at least a block per thread where the batch allows */
    int share = (g.tiles + MAX (threads, 1) - 1) / MAX (threads, 1);
    share = (share + ROWS - 1) / ROWS * ROWS;
    g.per_block = MIN (most, share);
  }
  g.rows = (g.per_block + ROWS - 1) / ROWS * ROWS;
  return g;
}

/* V and M of a block, floats */
static gsize
block_floats (const HyrsmWinograd *wg, const Geometry *g)
{
  return (gsize) POSITIONS * g->rows * (wg->ic + wg->oc);
}

gsize
hyrsm_winograd_scratch_size (const HyrsmWinograd *wg, int n, int h, int w,
    int threads)
{
  Geometry g = geometry (wg, n, h, w, threads);
  return block_floats (wg, &g) * sizeof (float)
      * (g.wide ? 1 : MAX (threads, 1));
}

/* Where channels c..c+7 of frame @img start in nChw<block>c: pixel
 * (y, x) is (y * w + x) * block floats further. */
static inline gsize
channels_at (const Geometry *g, int channels, int block, int img, int c)
{
  return ((gsize) img * (channels / block) + c / block) * g->h * g->w * block
      + c % block;
}

/* B^T d for column @x of the 4 input rows from @y0, channels at @at (of
 * layout nChw<block>c): zeros outside the frame (the padding). */
__attribute__ ((target ("avx2,fma"), always_inline))
static inline void
column (const Geometry *g, const float *at, int block, int y0, int x,
    __m256 r[ALPHA])
{
  __m256 d[ALPHA];
  gboolean x_in = x >= 0 && x < g->w;
  for (int i = 0; i < ALPHA; i++) {
    int y = y0 + i;
    d[i] = x_in && y >= 0 && y < g->h ?
        _mm256_loadu_ps (at + ((gsize) y * g->w + x) * block) :
        _mm256_setzero_ps ();
  }
  r[0] = _mm256_sub_ps (d[0], d[2]);
  r[1] = _mm256_add_ps (d[1], d[2]);
  r[2] = _mm256_sub_ps (d[2], d[1]);
  r[3] = _mm256_sub_ps (d[1], d[3]);
}

/* V[p][t0 + k][c] = (B^T d B)[p] of tiles first + k, k < @count, all
 * channels. Channels outer: a tile that continues the previous one along
 * its row shares two of its four input columns, whose B^T d it takes
 * over (half the loads and a quarter of the additions). */
__attribute__ ((target ("avx2,fma")))
static void
input_tiles (const Geometry *g, int ic, const float *src, int first,
    int count, int t0, float *v, int tiles_in_block)
{
  int block = g->src_block, per_frame = g->th * g->tw;
  gsize plane = (gsize) tiles_in_block * ic;  /* between positions */
  for (int c = 0; c < ic; c += VEC) {
    __m256 col[ALPHA][ALPHA];   /* col[j]: B^T d of input column j */
    for (int k = 0; k < count; k++) {
      int tile = first + k;
      int img = tile / per_frame, rest = tile % per_frame;
      int tx = rest % g->tw, y0 = rest / g->tw * 2 - 1, x0 = tx * 2 - 1;
      const float *at = src + channels_at (g, ic, block, img, c);
      if (k > 0 && tx > 0) {
        for (int i = 0; i < ALPHA; i++) {
          col[0][i] = col[2][i];
          col[1][i] = col[3][i];
        }
        column (g, at, block, y0, x0 + 2, col[2]);
        column (g, at, block, y0, x0 + 3, col[3]);
      } else
        for (int j = 0; j < ALPHA; j++)
          column (g, at, block, y0, x0 + j, col[j]);
      float *out = v + (gsize) (t0 + k) * ic + c;
      for (int i = 0; i < ALPHA; i++) { /* (B^T d) B, row i */
        float *o = out + (gsize) (i * ALPHA) * plane;
        _mm256_storeu_ps (o, _mm256_sub_ps (col[0][i], col[2][i]));
        _mm256_storeu_ps (o + plane, _mm256_add_ps (col[1][i], col[2][i]));
        _mm256_storeu_ps (o + 2 * plane, _mm256_sub_ps (col[2][i],
                col[1][i]));
        _mm256_storeu_ps (o + 3 * plane, _mm256_sub_ps (col[1][i],
                col[3][i]));
      }
    }
  }
}

/* Row r of the kernel below: one broadcast of A, two FMAs; and its store. */
#define ROW_FMA(r) \
  do { \
    __m256 x = _mm256_broadcast_ss (a + (gsize) r * lda + p); \
    acc##r##0 = _mm256_fmadd_ps (x, b0, acc##r##0); \
    acc##r##1 = _mm256_fmadd_ps (x, b1, acc##r##1); \
  } while (0)
#define ROW_STORE(r) \
  do { \
    _mm256_storeu_ps (c + (gsize) r * ldc, acc##r##0); \
    _mm256_storeu_ps (c + (gsize) r * ldc + VEC, acc##r##1); \
  } while (0)

/* C[6][16] = A[6][k] . B[k][16], A's rows @lda apart, B packed: 12
 * accumulators, B's two vectors loaded once per step for 6 rows. */
__attribute__ ((target ("avx2,fma")))
static void
kernel_6x16 (int k, const float *a, int lda, const float *b, float *c,
    int ldc)
{
  __m256 z = _mm256_setzero_ps ();
  __m256 acc00 = z, acc01 = z, acc10 = z, acc11 = z, acc20 = z, acc21 = z;
  __m256 acc30 = z, acc31 = z, acc40 = z, acc41 = z, acc50 = z, acc51 = z;
  for (int p = 0; p < k; p++, b += COLS) {
    __m256 b0 = _mm256_load_ps (b), b1 = _mm256_load_ps (b + VEC);
    ROW_FMA (0);
    ROW_FMA (1);
    ROW_FMA (2);
    ROW_FMA (3);
    ROW_FMA (4);
    ROW_FMA (5);
  }
  ROW_STORE (0);
  ROW_STORE (1);
  ROW_STORE (2);
  ROW_STORE (3);
  ROW_STORE (4);
  ROW_STORE (5);
}

#undef ROW_FMA
#undef ROW_STORE

/* Y = A^T M A (+ bias, + what @dst held when @sum, ReLU when @relu) of
 * tile @tile (block-local @t) for output channels c..c+7. */
__attribute__ ((target ("avx2,fma")))
static void
output_tile (const Geometry *g, const HyrsmWinograd *wg, const float *m,
    int tile, int t, float *dst, gboolean sum, gboolean relu,
    int tiles_in_block)
{
  int oc = wg->oc;
  int img = tile / (g->th * g->tw), rest = tile % (g->th * g->tw);
  int y0 = rest / g->tw * 2, x0 = rest % g->tw * 2;
  gsize plane = (gsize) tiles_in_block * oc;
  int block = g->dst_block;
  __m256 zero = _mm256_setzero_ps ();
  for (int c = 0; c < oc; c += VEC) {
    const float *in = m + (gsize) t * oc + c;
    __m256 s[2][ALPHA];         /* A^T M */
    for (int j = 0; j < ALPHA; j++) {
      __m256 m0 = _mm256_loadu_ps (in + (gsize) j * plane);
      __m256 m1 = _mm256_loadu_ps (in + (gsize) (ALPHA + j) * plane);
      __m256 m2 = _mm256_loadu_ps (in + (gsize) (2 * ALPHA + j) * plane);
      __m256 m3 = _mm256_loadu_ps (in + (gsize) (3 * ALPHA + j) * plane);
      s[0][j] = _mm256_add_ps (_mm256_add_ps (m0, m1), m2);
      s[1][j] = _mm256_sub_ps (_mm256_sub_ps (m1, m2), m3);
    }
    __m256 bias = _mm256_loadu_ps (wg->bias + c);
    float *base = dst + channels_at (g, oc, block, img, c);
    for (int i = 0; i < 2; i++) {
      if (y0 + i >= g->h)
        break;
      __m256 y[2] = {           /* (A^T M) A */
        _mm256_add_ps (_mm256_add_ps (s[i][0], s[i][1]), s[i][2]),
        _mm256_sub_ps (_mm256_sub_ps (s[i][1], s[i][2]), s[i][3]),
      };
      for (int j = 0; j < 2 && x0 + j < g->w; j++) {
        float *at = base + ((gsize) (y0 + i) * g->w + x0 + j) * block;
        __m256 out = _mm256_add_ps (y[j], bias);
        if (sum)
          out = _mm256_add_ps (out, _mm256_loadu_ps (at));
        if (relu)
          out = _mm256_max_ps (out, zero);
        _mm256_storeu_ps (at, out);
      }
    }
  }
}

/* Position @p's product for output channels ob * 16.. of rows
 * r0..r1-1 of a block (V and M hold @rows rows per position). */
__attribute__ ((target ("avx2,fma")))
static void
product (const HyrsmWinograd *wg, int rows, int p, int ob, int r0, int r1,
    const float *v, float *m)
{
  int ic = wg->ic, oc = wg->oc;
  const float *vp = v + (gsize) p * rows * ic;
  float *mp = m + (gsize) p * rows * oc;
  const float *u = wg->u + ((gsize) p * (oc / COLS) + ob) * ic * COLS;
  for (int r = r0; r < r1; r += ROWS)
    kernel_6x16 (ic, vp + (gsize) r * ic, ic, u,
        mp + (gsize) r * oc + ob * COLS, oc);
}

/* The spare rows of the last kernel call: zeros, their results unread. */
static void
zero_spare_rows (const HyrsmWinograd *wg, int count, int rows, float *v)
{
  for (int p = 0; p < POSITIONS; p++)
    memset (v + ((gsize) p * rows + count) * wg->ic, 0,
        sizeof (float) * (rows - count) * wg->ic);
}

/* Tiles first..first+count-1 on this thread, with its own @v and @m. */
static void
run_block (const HyrsmWinograd *wg, const Geometry *g, const float *src,
    float *dst, gboolean sum, gboolean relu, int first, int count, float *v,
    float *m)
{
  int rows = (count + ROWS - 1) / ROWS * ROWS;
  input_tiles (g, wg->ic, src, first, count, 0, v, rows);
  zero_spare_rows (wg, count, rows, v);
  for (int p = 0; p < POSITIONS; p++)
    for (int ob = 0; ob < wg->oc / COLS; ob++)
      product (wg, rows, p, ob, 0, rows, v, m);
  for (int t = 0; t < count; t++)
    output_tile (g, wg, m, first + t, t, dst, sum, relu, rows);
}

/* The whole batch as one block, each step shared by the threads: a
 * thread's products are consecutive positions (its V rows stay in L2
 * across output channels), each weight panel read once. */
static void
run_wide (const HyrsmWinograd *wg, const Geometry *g, const float *src,
    float *dst, gboolean sum, gboolean relu, float *v, float *m, int threads)
{
  int n_oc_blocks = wg->oc / COLS;
#pragma omp parallel num_threads (threads)
  {
#pragma omp for schedule (static)
    for (int t = 0; t < g->tiles; t += ROWS)
      input_tiles (g, wg->ic, src, t, MIN (ROWS, g->tiles - t), t, v,
          g->rows);
#pragma omp single
    zero_spare_rows (wg, g->tiles, g->rows, v);
#pragma omp for schedule (static)
    for (int pair = 0; pair < POSITIONS * n_oc_blocks; pair++)
      product (wg, g->rows, pair / n_oc_blocks, pair % n_oc_blocks, 0,
          g->rows, v, m);
#pragma omp for schedule (static)
    for (int t = 0; t < g->tiles; t++)
      output_tile (g, wg, m, t, t, dst, sum, relu, g->rows);
  }
}

void
hyrsm_winograd_run (const HyrsmWinograd *wg, int n, int h, int w,
    int src_block, int dst_block, const float *src, float *dst, gboolean sum,
    gboolean relu, void *scratch, int threads)
{
  g_return_if_fail (hyrsm_winograd_layout_fits (wg->ic, src_block));
  g_return_if_fail (hyrsm_winograd_layout_fits (wg->oc, dst_block));
  threads = MAX (threads, 1);
  Geometry g = geometry (wg, n, h, w, threads);
  g.src_block = src_block;
  g.dst_block = dst_block;
  gsize per_block = block_floats (wg, &g);
  gsize v_floats = (gsize) POSITIONS * g.rows * wg->ic;
  if (g.wide) {
    run_wide (wg, &g, src, dst, sum, relu, scratch,
        (float *) scratch + v_floats, threads);
    return;
  }
  int n_blocks = (g.tiles + g.per_block - 1) / g.per_block;
  int claimed = 0;
#pragma omp parallel num_threads (threads)
  {
    int id = 0;
#ifdef _OPENMP
    id = omp_get_thread_num ();
#endif
    float *v = (float *) scratch + per_block * id;
    for (int b = g_atomic_int_add (&claimed, 1); b < n_blocks;
        b = g_atomic_int_add (&claimed, 1)) {
      int first = b * g.per_block;
      run_block (wg, &g, src, dst, sum, relu, first,
          MIN (g.per_block, g.tiles - first), v, v + v_floats);
    }
  }
}
