/* hyrsm-gemm-thin.h: C = A·Bᵀ for a few rows of A against a large weight
 * matrix B (private to the CPU backend). */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* Largest m the thin kernel is used for: with AVX-512, and with AVX2
 * (whose 2 x 4 blocks re-read A from L2 for every 4 rows of B: at m = 64,
 * batch-8 queries on an AMD EPYC, sgemm took 10 ms per window where this
 * kernel took 23; at m <= 16 this kernel is ahead). */
#define HYRSM_GEMM_THIN_MAX_ROWS 64
#define HYRSM_GEMM_THIN_MAX_ROWS_AVX2 16

/* Row-major C (m x n) = A (m x k) . B (n x k)^T with AVX-512 (or AVX2 and
 * FMA) on OpenMP threads (OMP_NUM_THREADS). Returns FALSE (computing
 * nothing) when the CPU has neither or m is above its limit: the caller
 * then uses sgemm. */
gboolean hyrsm_gemm_thin_nt (int m, int n, int k, const float *a,
    const float *b, float *c);

/* A weight matrix B (n x k) packed once, at load, for
 * hyrsm_gemm_packed_nt(): panels of 24 rows of B stored k-major (each
 * step t holds B[j..j+23][t] together), so that the kernel reads B as one
 * sequential stream and multiplies each 24 values with 4 rows of A held
 * in registers. */
typedef struct _HyrsmPackedWeight HyrsmPackedWeight;

/* Whether this CPU has AVX2 and FMA (checked once). */
gboolean hyrsm_cpu_has_avx2_fma (void);

/* Whether this CPU runs the packed kernel (AVX2 and FMA). */
gboolean hyrsm_gemm_packed_supported (void);

/* Packs B = the @n_parts matrices @parts[i] (each @n x @k, row i of part
 * p at parts[p] + i * @ldb) stacked: B is (n_parts n) x k; with @bf16,
 * each value rounded to bf16 (nearest, ties to even), which halves the
 * bytes a product reads. NULL when the CPU cannot run the packed kernel. */
HyrsmPackedWeight *hyrsm_gemm_pack_nt (int n_parts, const float *const *parts,
    int n, int k, int ldb, gboolean bf16);
void hyrsm_gemm_packed_free (HyrsmPackedWeight *w);
int hyrsm_gemm_packed_get_n (const HyrsmPackedWeight *w);
int hyrsm_gemm_packed_get_k (const HyrsmPackedWeight *w);
gboolean hyrsm_gemm_packed_is_bf16 (const HyrsmPackedWeight *w);
/* bf16 <-> float as hyrsm_gemm_pack_nt() rounds and the kernel widens. */
guint16 hyrsm_float_to_bf16 (float f);
float hyrsm_bf16_to_float (guint16 h);

/* Row-major C (m x n, rows @ldc apart) = A (m x k, rows @lda apart) .
 * B^T on OpenMP threads, for any m. Each C element is summed in float over
 * blocks of 256 of k, the blocks' sums added in order (a bf16 B: the same
 * sums as of its values widened to float). */
void hyrsm_gemm_packed_nt (int m, const float *a, int lda,
    const HyrsmPackedWeight *w, float *c, int ldc);

/* One product of hyrsm_gemm_packed_nt_many(). */
typedef struct
{
  int m;
  const float *a;
  int lda;
  const HyrsmPackedWeight *w;
  float *c;
  int ldc;
} HyrsmPackedProduct;

/* @n products at once, in one parallel region (one fork and join of the
 * OpenMP threads instead of @n), each as hyrsm_gemm_packed_nt() computes
 * it. The products must not write where another reads. */
void hyrsm_gemm_packed_nt_many (int n, const HyrsmPackedProduct *products);

G_END_DECLS
