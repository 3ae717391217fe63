/* hyrsm-relation.c: the HyRSM++ relation head (model.md sections 4 and 5)
 * and the Bi-MHM set-matching metric (section 6).
 *
 * Dense products (QKV, output projections, the fuse) are the backend's
 * gemm_nt with the PyTorch Linear weights as stored (out x in). What is
 * left is small (T x T or (M+1) x (M+1) attention, row statistics) and is
 * accumulated in double. A backend with relation_intra / relation_inter
 * (CUDA) computes sections 4 and 5 whole on its device instead.
 */
#include "hyrsm-relation.h"
#include "hyrsm-backend.h"
#include "hyrsm-error.h"

#include <math.h>
#include <string.h>

#define LAYER_NORM_EPS 1e-5
#define NORM_EPS 1e-12

struct _HyrsmRelation
{
  const HyrsmHeadWeights *w;    /* owned by the model */
  HyrsmBackend *backend;        /* owned by the model */
  int frames;                   /* T */
  int dim;                      /* D */
  int heads;                    /* H */
  double input_scale;           /* sqrt (D / position_a) */
  double position_b;
  float *w2a;                   /* D x D: columns 0..D-1 of the fuse weight */
  float *w2b;                   /* D x D: columns D..2D-1 */
};

G_DEFINE_QUARK (hyrsm-relation, hyrsm_relation)

static void
relation_free (gpointer data)
{
  HyrsmRelation *rel = data;
  g_free (rel->w2a);
  g_free (rel->w2b);
  g_free (rel);
}

static HyrsmRelation *
relation_new (HyrsmModel *model, const HyrsmHeadWeights *w)
{
  HyrsmRelation *rel = g_new0 (HyrsmRelation, 1);
  gsize D = w->dim;
  rel->w = w;
  rel->backend = hyrsm_model_get_backend (model);
  rel->frames = hyrsm_model_get_frames (model);
  rel->dim = w->dim;
  rel->heads = w->n_heads;
  rel->input_scale = sqrt ((double) w->dim / hyrsm_model_get_position_a
      (model));
  rel->position_b = hyrsm_model_get_position_b (model);
  /* gemm_nt wants each right-hand matrix contiguous, row-major D x D. */
  rel->w2a = g_new (float, D * D);
  rel->w2b = g_new (float, D * D);
  for (gsize i = 0; i < D; i++) {
    memcpy (rel->w2a + i * D, w->fuse_weight + i * 2 * D, D * sizeof (float));
    memcpy (rel->w2b + i * D, w->fuse_weight + i * 2 * D + D,
        D * sizeof (float));
  }
  return rel;
}

const HyrsmRelation *
hyrsm_relation_get (HyrsmModel *model)
{
  static GMutex lock;
  const HyrsmHeadWeights *w = hyrsm_model_get_head_weights (model);
  if (w == NULL)
    return NULL;
  g_mutex_lock (&lock);
  HyrsmRelation *rel = g_object_get_qdata (G_OBJECT (model),
      hyrsm_relation_quark ());
  if (rel == NULL) {
    rel = relation_new (model, w);
    g_object_set_qdata_full (G_OBJECT (model), hyrsm_relation_quark (), rel,
        relation_free);
  }
  g_mutex_unlock (&lock);
  return rel;
}

int
hyrsm_relation_get_frames (const HyrsmRelation *rel)
{
  return rel->frames;
}

int
hyrsm_relation_get_dim (const HyrsmRelation *rel)
{
  return rel->dim;
}

/* C = A W^T where W is a model weight (or our copy of one, owned by the
 * model, so it outlives the backend's use of it): the backend may keep W
 * on its device (gemm_nt_weight). */
static gboolean
gemm (const HyrsmRelation *rel, int m, int n, int k, const float *a,
    const float *w, float *c, GError **error)
{
  const HyrsmBackendOps *ops = rel->backend->ops;
  if (ops->gemm_nt_weight)
    return ops->gemm_nt_weight (rel->backend, m, n, k, a, w, c, error);
  return ops->gemm_nt (rel->backend, m, n, k, a, w, c, error);
}

/* ---- building blocks ---- */

/* out = LayerNorm (x) row by row (biased variance, as PyTorch). */
static void
layer_norm_rows (const float *x, int rows, int dim, const float *weight,
    const float *bias, float *out)
{
  for (int r = 0; r < rows; r++) {
    const float *xr = x + (gsize) r * dim;
    float *yr = out + (gsize) r * dim;
    double sum = 0;
    for (int j = 0; j < dim; j++)
      sum += xr[j];
    double mean = sum / dim;
    double var = 0;
    for (int j = 0; j < dim; j++) {
      double c = xr[j] - mean;
      var += c * c;
    }
    double inv = 1.0 / sqrt (var / dim + LAYER_NORM_EPS);
    for (int j = 0; j < dim; j++)
      yr[j] = (float) ((xr[j] - mean) * inv * weight[j] + bias[j]);
  }
}

/* Multi-head scaled dot-product attention over @n tokens:
 * o (n x heads*d) = concat_h softmax (Q_h K_h^T / sqrt (d)) V_h, where row i
 * of Q, K, V starts at q + i*ld, k + i*ld, v + i*ld. */
static void
attention (const float *q, const float *k, const float *v, gsize ld, int n,
    int heads, int d, float *o)
{
  double *p = g_new (double, n);
  double *acc = g_new (double, d);
  double scale = 1.0 / sqrt ((double) d);
  gsize width = (gsize) heads * d;

  for (int h = 0; h < heads; h++) {
    gsize col = (gsize) h * d;
    for (int i = 0; i < n; i++) {
      const float *qi = q + i * ld + col;
      double max = -INFINITY;
      for (int j = 0; j < n; j++) {
        const float *kj = k + j * ld + col;
        double dot = 0;
        for (int c = 0; c < d; c++)
          dot += (double) qi[c] * kj[c];
        p[j] = dot * scale;
        max = MAX (max, p[j]);
      }
      double sum = 0;
      for (int j = 0; j < n; j++) {
        p[j] = exp (p[j] - max);
        sum += p[j];
      }
      memset (acc, 0, d * sizeof (double));
      for (int j = 0; j < n; j++) {
        const float *vj = v + j * ld + col;
        double pj = p[j] / sum;
        for (int c = 0; c < d; c++)
          acc[c] += pj * vj[c];
      }
      float *oi = o + i * width + col;
      for (int c = 0; c < d; c++)
        oi[c] = (float) acc[c];
    }
  }
  g_free (p);
  g_free (acc);
}

/* ---- section 4: intra-video relation ---- */

gboolean
hyrsm_relation_intra (const HyrsmRelation *rel, const float *features,
    float *s, GError **error)
{
  const HyrsmHeadWeights *w = rel->w;
  int T = rel->frames, D = rel->dim;
  const HyrsmBackendOps *ops = rel->backend->ops;
  if (ops->relation_intra && T <= MIN (w->pe_rows, HYRSM_RELATION_MAX_TOKENS))
    return ops->relation_intra (rel->backend, w, T, rel->input_scale,
        rel->position_b, features, s, error);
  gsize n = (gsize) T * D;
  float *x = g_new (float, n);
  float *z = g_new (float, n);
  float *qkv = g_new (float, 3 * n);
  float *y = g_new (float, n);
  gboolean ok = FALSE;

  /* X = F sqrt (D / A) + B P */
  for (gsize i = 0; i < n; i++)
    x[i] = (float) (features[i] * rel->input_scale
        + rel->position_b * w->pe[i]);
  /* Z = LayerNorm (X); [Q K V] = Z Wqkv^T */
  layer_norm_rows (x, T, D, w->pre_norm_weight, w->pre_norm_bias, z);
  if (!gemm (rel, T, 3 * D, D, z, w->qkv_weight, qkv, error))
    goto out;
  /* O (reusing z) = attention; Y = O Wo^T */
  attention (qkv, qkv + D, qkv + 2 * D, 3 * (gsize) D, T, rel->heads,
      D / rel->heads, z);
  if (!gemm (rel, T, D, D, z, w->out_weight, y, error))
    goto out;
  /* S = ReLU (Y + bo + X) */
  for (int t = 0; t < T; t++)
    for (int j = 0; j < D; j++) {
      gsize i = (gsize) t * D + j;
      double r = (double) y[i] + w->out_bias[j] + x[i];
      s[i] = r > 0 ? (float) r : 0.0f;
    }
  ok = TRUE;

out:
  g_free (x);
  g_free (z);
  g_free (qkv);
  g_free (y);
  return ok;
}

void
hyrsm_relation_token_mean (const HyrsmRelation *rel, const float *s,
    float *u)
{
  int T = rel->frames, D = rel->dim;
  for (int j = 0; j < D; j++) {
    double sum = 0;
    for (int t = 0; t < T; t++)
      sum += s[(gsize) t * D + j];
    u[j] = (float) (sum / T);
  }
}

/* ---- section 5: inter-video relation and fuse ---- */

gboolean
hyrsm_relation_inter (const HyrsmRelation *rel, const float *u,
    int n_tokens, float *g, GError **error)
{
  const HyrsmHeadWeights *w = rel->w;
  int D = rel->dim;
  const HyrsmBackendOps *ops = rel->backend->ops;
  if (ops->relation_inter && n_tokens <= HYRSM_RELATION_MAX_TOKENS)
    return ops->relation_inter (rel->backend, w, u, n_tokens, g, error);
  gsize n = (gsize) n_tokens * D;
  float *q = g_new (float, n);
  float *k = g_new (float, n);
  float *v = g_new (float, n);
  float *o = g_new (float, n);
  gboolean ok = FALSE;

  if (!gemm (rel, n_tokens, D, D, u, w->wq, q, error)
      || !gemm (rel, n_tokens, D, D, u, w->wk, k, error)
      || !gemm (rel, n_tokens, D, D, u, w->wv, v, error))
    goto out;
  attention (q, k, v, D, n_tokens, rel->heads, D / rel->heads, o);
  /* G = LayerNorm (O Wf^T + bf + U), computed into q; g = ReLU (G) */
  if (!gemm (rel, n_tokens, D, D, o, w->fc_weight, k, error))
    goto out;
  for (int m = 0; m < n_tokens; m++)
    for (int j = 0; j < D; j++) {
      gsize i = (gsize) m * D + j;
      q[i] = (float) ((double) k[i] + w->fc_bias[j] + u[i]);
    }
  layer_norm_rows (q, n_tokens, D, w->ln_weight, w->ln_bias, g);
  for (gsize i = 0; i < n; i++)
    g[i] = MAX (g[i], 0.0f);
  ok = TRUE;

out:
  g_free (q);
  g_free (k);
  g_free (v);
  g_free (o);
  return ok;
}

gboolean
hyrsm_relation_fuse_frames (const HyrsmRelation *rel, const float *s,
    int rows, float *out, GError **error)
{
  return gemm (rel, rows, rel->dim, rel->dim, s, rel->w2a, out, error);
}

gboolean
hyrsm_relation_fuse_tokens (const HyrsmRelation *rel, const float *g,
    int n_tokens, float *out, GError **error)
{
  int D = rel->dim;
  if (!gemm (rel, n_tokens, D, D, g, rel->w2b, out, error))
    return FALSE;
  for (int m = 0; m < n_tokens; m++)
    for (int j = 0; j < D; j++)
      out[(gsize) m * D + j] += rel->w->fuse_bias[j];
  return TRUE;
}

void
hyrsm_relation_fuse_add (const HyrsmRelation *rel, const float *frames_part,
    const float *token_part, float *e)
{
  int T = rel->frames, D = rel->dim;
  for (int t = 0; t < T; t++)
    for (int j = 0; j < D; j++) {
      gsize i = (gsize) t * D + j;
      e[i] = frames_part[i] + token_part[j];
    }
}

/* ---- section 6: Bi-MHM ---- */

gboolean
hyrsm_relation_token_distances (const HyrsmRelation *rel,
    const float *query_part, const float *const *frames_parts,
    const float *token_parts, int n_tokens, double *dist, float *e,
    GError **error)
{
  int T = rel->frames, D = rel->dim;
  const HyrsmBackendOps *ops = rel->backend->ops;
  if (e == NULL && ops->token_distances && T <= HYRSM_RELATION_MAX_ROWS)
    return ops->token_distances (rel->backend, T, D, query_part,
        frames_parts, token_parts, n_tokens, dist, error);

  gsize td = (gsize) T * D;
  float *e_q = e ? e + n_tokens * td : g_new (float, td);
  float *e_m = e ? NULL : g_new (float, td);
  double *norms = g_new (double, 2 * T);
  hyrsm_relation_fuse_add (rel, query_part, token_parts + (gsize) n_tokens
      * D, e_q);
  hyrsm_row_norms (e_q, T, D, norms + T);
  for (int m = 0; m < n_tokens; m++) {
    float *row = e ? e + m * td : e_m;
    hyrsm_relation_fuse_add (rel, frames_parts[m], token_parts + (gsize) m
        * D, row);
    hyrsm_row_norms (row, T, D, norms);
    dist[m] = hyrsm_bimhm (row, norms, e_q, norms + T, T, D);
  }
  if (e == NULL) {
    g_free (e_q);
    g_free (e_m);
  }
  g_free (norms);
  return TRUE;
}

void
hyrsm_row_norms (const float *e, int rows, int dim, double *norms)
{
  for (int r = 0; r < rows; r++) {
    const float *er = e + (gsize) r * dim;
    double sum = 0;
    for (int j = 0; j < dim; j++)
      sum += (double) er[j] * er[j];
    norms[r] = MAX (sqrt (sum), NORM_EPS);
  }
}

double
hyrsm_bimhm (const float *a, const double *a_norms, const float *b,
    const double *b_norms, int rows, int dim)
{
  double *c = g_new (double, (gsize) rows * rows);
  for (int i = 0; i < rows; i++)
    for (int j = 0; j < rows; j++) {
      const float *ai = a + (gsize) i * dim;
      const float *bj = b + (gsize) j * dim;
      double dot = 0;
      for (int x = 0; x < dim; x++)
        dot += (double) ai[x] * bj[x];
      c[i * rows + j] = 1.0 - dot / (a_norms[i] * b_norms[j]);
    }
  double total = 0;
  for (int i = 0; i < rows; i++) {
    double row_min = INFINITY, col_min = INFINITY;
    for (int j = 0; j < rows; j++) {
      row_min = MIN (row_min, c[i * rows + j]);
      col_min = MIN (col_min, c[j * rows + i]);
    }
    total += row_min + col_min;
  }
  g_free (c);
  return total;
}
