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

G_END_DECLS
