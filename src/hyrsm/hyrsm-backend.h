/* hyrsm-backend.h: the compute backend interface (private to libhyrsm).
 *
 * A backend runs the heavy operations of one model on one device: the
 * backbone over a batch of normalized frames, and the dense matrix products
 * of the relation head. The CPU backend (hyrsm-backend-cpu.c, oneDNN) always
 * exists; the CUDA backend (hyrsm-backend-cuda.c) when built with CUDA.
 * One backend instance serves one model; the model owns it.
 */
#pragma once

#include "hyrsm-model-private.h"

G_BEGIN_DECLS

typedef struct _HyrsmBackendOps HyrsmBackendOps;

/* Every backend instance starts with this header; backends extend it. */
struct _HyrsmBackend
{
  const HyrsmBackendOps *ops;
};

struct _HyrsmBackendOps
{
  /* Short name for logs and the `device` property: "cpu", "cuda". */
  const char *name;

  /* Prepares @backbone (may be NULL for a head-only model) for frames of
   * @crop x @crop pixels: copies or uploads the weights once, creates what
   * can be created ahead. Returns NULL and sets @error on failure. */
  HyrsmBackend *(*create) (const HyrsmBackboneWeights *backbone, int crop,
      GError **error);

  /* Runs the backbone on @n normalized frames (@n x 3 x crop x crop float32,
   * NCHW) and writes @n x D float32 features (global average pool output).
   * Safe to call from several threads at once (the backend serializes or
   * keeps per-call state as it needs). */
  gboolean (*embed) (HyrsmBackend *self, const float *frames, int n,
      float *features, GError **error);

  /* C (m x n) = A (m x k) . B (n x k)^T, row-major float32: the relation
   * head's products with PyTorch Linear weights (out x in). Thread-safe. */
  gboolean (*gemm_nt) (HyrsmBackend *self, int m, int n, int k,
      const float *a, const float *b, float *c, GError **error);

  /* Releases everything create() made. */
  void (*destroy) (HyrsmBackend *self);
};

extern const HyrsmBackendOps hyrsm_backend_cpu_ops;
#ifdef HYRSM_HAVE_CUDA
extern const HyrsmBackendOps hyrsm_backend_cuda_ops;
#endif

G_END_DECLS
