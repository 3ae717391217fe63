/* hyrsm-gemm-thin.h: C = A·Bᵀ for a few rows of A against a large weight
 * matrix B (private to the CPU backend). */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* Largest m the thin kernel is used for. */
#define HYRSM_GEMM_THIN_MAX_ROWS 64

/* Row-major C (m x n) = A (m x k) . B (n x k)^T with AVX-512 (or AVX2 and
 * FMA) on OpenMP threads (OMP_NUM_THREADS). Returns FALSE (computing
 * nothing) when the CPU has neither or m is above HYRSM_GEMM_THIN_MAX_ROWS:
 * the caller then uses sgemm. */
gboolean hyrsm_gemm_thin_nt (int m, int n, int k, const float *a,
    const float *b, float *c);

G_END_DECLS
