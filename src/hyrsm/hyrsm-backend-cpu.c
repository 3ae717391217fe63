/* hyrsm-backend-cpu.c: the CPU backend, on oneDNN (2.x C API). */
#include "hyrsm-backend.h"
#include "hyrsm-error.h"

#include <dnnl.h>

typedef struct
{
  HyrsmBackend parent;
} HyrsmBackendCpu;

static HyrsmBackend *
cpu_create (const HyrsmBackboneWeights *backbone, int crop, GError **error)
{
  HyrsmBackendCpu *self = g_new0 (HyrsmBackendCpu, 1);
  self->parent.ops = &hyrsm_backend_cpu_ops;
  return &self->parent;
}

static gboolean
cpu_embed (HyrsmBackend *backend, const float *frames, int n, float *features,
    GError **error)
{
  g_set_error (error, HYRSM_ERROR, HYRSM_ERROR_BACKEND,
      "cpu backend: the backbone is not implemented yet");
  return FALSE;
}

static gboolean
cpu_gemm_nt (HyrsmBackend *backend, int m, int n, int k, const float *a,
    const float *b, float *c, GError **error)
{
  /* Row-major C = A B^T. */
  dnnl_status_t status = dnnl_sgemm ('N', 'T', m, n, k, 1.0f, a, k, b, k,
      0.0f, c, n);
  if (status != dnnl_success) {
    g_set_error (error, HYRSM_ERROR, HYRSM_ERROR_BACKEND,
        "cpu backend: oneDNN sgemm (%d x %d x %d) failed with status %d", m, n,
        k, (int) status);
    return FALSE;
  }
  return TRUE;
}

static void
cpu_destroy (HyrsmBackend *backend)
{
  g_free (backend);
}

const HyrsmBackendOps hyrsm_backend_cpu_ops = {
  .name = "cpu",
  .create = cpu_create,
  .embed = cpu_embed,
  .gemm_nt = cpu_gemm_nt,
  .destroy = cpu_destroy,
};
