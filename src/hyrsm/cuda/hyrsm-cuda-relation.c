/* hyrsm-cuda-relation.c: the relation head's attention blocks on the GPU
 * (docs/model.md sections 4 and 5), weights kept on the device. */
#include "hyrsm-cuda-private.h"

#include <string.h>

/* Device copies of the head's weights, uploaded at first use and kept
 * (hyrsm_cuda_weight_on_device, keyed by the model's arrays). Always
 * float32: the head is small, and float32 keeps its 1e-4 parity in both
 * precisions. */
typedef struct
{
  const float *pe, *pre_w, *pre_b, *qkv, *out_w, *out_b;
  const float *wq, *wk, *wv, *fc_w, *fc_b, *ln_w, *ln_b;
} DeviceHead;

static gboolean
head_on_device (HyrsmBackendCuda *self, const HyrsmHeadWeights *w,
    DeviceHead *d, GError **error)
{
  size_t v = (size_t) w->dim * sizeof (float), m = v * w->dim;
#define UP(field, src, bytes) \
  ((d->field = hyrsm_cuda_weight_on_device (self, (src), (bytes), \
          error)) != NULL)
  return UP (pe, w->pe, v * w->pe_rows) && UP (pre_w, w->pre_norm_weight, v)
      && UP (pre_b, w->pre_norm_bias, v) && UP (qkv, w->qkv_weight, 3 * m)
      && UP (out_w, w->out_weight, m) && UP (out_b, w->out_bias, v)
      && UP (wq, w->wq, m) && UP (wk, w->wk, m) && UP (wv, w->wv, m)
      && UP (fc_w, w->fc_weight, m) && UP (fc_b, w->fc_bias, v)
      && UP (ln_w, w->ln_weight, v) && UP (ln_b, w->ln_bias, v);
#undef UP
}

/* Locks the device and prepares @floats of relation activations, @in
 * floats of pinned input (filled from @host) and @out floats of pinned
 * output; on success the lock is held and the input is on its way to
 * self->relation. */
static gboolean
relation_begin (HyrsmBackendCuda *self, const HyrsmHeadWeights *w,
    DeviceHead *d, size_t floats, const float *host, size_t in,
    size_t out, GError **error)
{
  if (!hyrsm_cuda_lock (self, error))
    return FALSE;
  if (head_on_device (self, w, d, error)
      && hyrsm_cuda_ensure_device ((void **) &self->relation,
          &self->relation_bytes, floats * sizeof (float), NULL,
          "the relation head", error)
      && hyrsm_cuda_ensure_pinned (&self->pinned_in, &self->pinned_in_bytes,
          in * sizeof (float), "relation input", error)
      && hyrsm_cuda_ensure_pinned (&self->pinned_out, &self->pinned_out_bytes,
          out * sizeof (float), "relation output", error)) {
    memcpy (self->pinned_in, host, in * sizeof (float));
    if (HYRSM_CUDA_CHECK (cudaMemcpyAsync (self->relation, self->pinned_in,
                in * sizeof (float), cudaMemcpyHostToDevice, self->stream),
            error, "copying relation input to the device"))
      return TRUE;
  }
  g_mutex_unlock (&self->lock);
  return FALSE;
}

/* Copies @count floats from @dev to @host once the stream has run, and
 * releases the lock relation_begin() took. */
static gboolean
relation_end (HyrsmBackendCuda *self, gboolean ok, const float *dev,
    size_t count, float *host, const char *what, GError **error)
{
  ok = ok && HYRSM_CUDA_CHECK (cudaMemcpyAsync (self->pinned_out, dev,
          count * sizeof (float), cudaMemcpyDeviceToHost, self->stream),
      error, "copying %s to the host", what)
      && HYRSM_CUDA_CHECK (cudaStreamSynchronize (self->stream), error,
      "%s", what);
  if (ok)
    memcpy (host, self->pinned_out, count * sizeof (float));
  g_mutex_unlock (&self->lock);
  return ok;
}

static gboolean
check_relation_args (const HyrsmHeadWeights *w, int rows, int max_rows,
    const char *what, GError **error)
{
  if (w->n_heads < 1 || w->dim % w->n_heads != 0 || rows < 1
      || rows > max_rows) {
    g_set_error (error, HYRSM_ERROR, HYRSM_ERROR_INVALID_ARGUMENT,
        "cuda backend: %s of %d rows (1 to %d) with %d heads over %d "
        "channels", what, rows, max_rows, w->n_heads, w->dim);
    return FALSE;
  }
  return TRUE;
}

gboolean
hyrsm_cuda_relation_intra (HyrsmBackend *backend, const HyrsmHeadWeights *w,
    int frames, double input_scale, double position_b,
    const float *features, float *s, GError **error)
{
  HyrsmBackendCuda *self = (HyrsmBackendCuda *) backend;
  int T = frames, D = w->dim, heads = w->n_heads;
  size_t td = (size_t) T * D;
  DeviceHead d;
  if (!check_relation_args (w, T, MIN (w->pe_rows,
              HYRSM_RELATION_MAX_TOKENS), "intra-video relation", error)
      || !relation_begin (self, w, &d, 7 * td, features, td, td, error))
    return FALSE;
  /* f | x | z | q k v | y */
  float *f = self->relation, *x = f + td, *z = x + td, *qkv = z + td;
  float *y = qkv + 3 * td;
  gboolean ok =
      /* X = F sqrt (D / A) + B P; Z = LayerNorm (X) */
      HYRSM_CUDA_CHECK (hyrsm_cuda_scale_add (f, (float) input_scale, d.pe,
          (float) position_b, td, x, self->stream), error, "relation input")
      && HYRSM_CUDA_CHECK (hyrsm_cuda_layernorm (x, T, D, d.pre_w, d.pre_b,
          1e-5f, z, self->stream), error, "relation pre-norm")
      /* [Q K V] = Z Wqkv^T; O (into z) = attention; Y = O Wo^T */
      && hyrsm_cuda_gemm_nt_device (self, T, 3 * D, D, z, d.qkv, qkv, error)
      && HYRSM_CUDA_CHECK (hyrsm_cuda_attention (qkv, qkv + D, qkv + 2 * D,
          3 * D, T, heads, D / heads, z, D, self->stream), error,
      "intra-video attention")
      && hyrsm_cuda_gemm_nt_device (self, T, D, D, z, d.out_w, y, error)
      /* S = ReLU (Y + bo + X) */
      && HYRSM_CUDA_CHECK (hyrsm_cuda_bias_act (y, HYRSM_KERNEL_F32, d.out_b,
          x, T, D, TRUE, self->stream), error, "relation residual");
  return relation_end (self, ok, y, td, s, "the intra-video relation",
      error);
}

gboolean
hyrsm_cuda_relation_inter (HyrsmBackend *backend, const HyrsmHeadWeights *w,
    const float *u, int n_tokens, float *g, GError **error)
{
  HyrsmBackendCuda *self = (HyrsmBackendCuda *) backend;
  int D = w->dim, heads = w->n_heads;
  size_t nd = (size_t) n_tokens * D;
  DeviceHead d;
  if (!check_relation_args (w, n_tokens, HYRSM_RELATION_MAX_TOKENS,
          "inter-video relation", error)
      || !relation_begin (self, w, &d, 5 * nd, u, nd, nd, error))
    return FALSE;
  /* u | q | k | v | o */
  float *du = self->relation, *q = du + nd, *k = q + nd, *v = k + nd;
  float *o = v + nd;
  gboolean ok =
      hyrsm_cuda_gemm_nt_device (self, n_tokens, D, D, du, d.wq, q, error)
      && hyrsm_cuda_gemm_nt_device (self, n_tokens, D, D, du, d.wk, k, error)
      && hyrsm_cuda_gemm_nt_device (self, n_tokens, D, D, du, d.wv, v, error)
      && HYRSM_CUDA_CHECK (hyrsm_cuda_attention (q, k, v, D, n_tokens, heads,
          D / heads, o, D, self->stream), error, "inter-video attention")
      /* G = LayerNorm (O Wf^T + bf + U) (into q); g = ReLU (G), the
       * LayerNorm's bias added with the ReLU */
      && hyrsm_cuda_gemm_nt_device (self, n_tokens, D, D, o, d.fc_w, k, error)
      && HYRSM_CUDA_CHECK (hyrsm_cuda_bias_act (k, HYRSM_KERNEL_F32, d.fc_b,
          du, n_tokens, D, FALSE, self->stream), error, "relation residual")
      && HYRSM_CUDA_CHECK (hyrsm_cuda_layernorm (k, n_tokens, D, d.ln_w,
          NULL, 1e-5f, q, self->stream), error, "relation LayerNorm")
      && HYRSM_CUDA_CHECK (hyrsm_cuda_bias_act (q, HYRSM_KERNEL_F32, d.ln_b,
          NULL, n_tokens, D, TRUE, self->stream), error, "relation ReLU");
  return relation_end (self, ok, q, nd, g, "the inter-video relation",
      error);
}
