/* hyrsm-relation.c: the HyRSM++ relation head (docs/model.md sections 4 and 5)
 * and the Bi-MHM set-matching metric (section 6).
 *
 * Dense products (QKV, output projections, the fuse) are the backend's
 * gemm_nt with the PyTorch Linear weights as stored (out x in), or on the
 * CPU hyrsm_gemm_packed_nt() with those weights packed once in
 * relation_new() (the inter-relation's Wq, Wk, Wv stacked, so that a
 * token's Q, K, V are one pass over it). What is
 * left is small (T x T or (M+1) x (M+1) attention, row statistics) and is
 * accumulated in double. A backend with relation_intra / relation_inter
 * (CUDA) computes sections 4 and 5 whole on its device instead.
 */
#include "hyrsm-relation.h"
#include "hyrsm-backend.h"
#include "hyrsm-error.h"
#include "hyrsm-gemm-thin.h"
#include "hyrsm-scratch.h"
#include "hyrsm-relation-vector.h"

#include <immintrin.h>
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
  /* Other backends than the CPU's (gemm_nt_weight wants each weight
   * contiguous, row-major): */
  float *w2a;                   /* D x D: columns 0..D-1 of the fuse weight */
  float *w2b;                   /* D x D: columns D..2D-1 */
  float *wf_heads;              /* H x D x d: Wf_h, the d columns of head h
                                 * of the inter-relation's fc weight */
  /* The CPU (AVX2 and FMA): every weight of the query path packed once for
   * hyrsm_gemm_packed_nt() (the plain copies above are then not made) */
  struct
  {
    HyrsmPackedWeight *qkv;     /* intra: Wqkv, 3D x D */
    HyrsmPackedWeight *out;     /* intra: Wo */
    HyrsmPackedWeight *token_qkv;       /* inter: [Wq; Wk; Wv], 3D x D */
    HyrsmPackedWeight *w2a, *w2b;
    HyrsmPackedWeight **wf_heads;       /* H of them, D x d */
  } packed;
};

G_DEFINE_QUARK (hyrsm-relation, hyrsm_relation)

static void
relation_free (gpointer data)
{
  HyrsmRelation *rel = data;
  g_free (rel->w2a);
  g_free (rel->w2b);
  g_free (rel->wf_heads);
  hyrsm_gemm_packed_free (rel->packed.qkv);
  hyrsm_gemm_packed_free (rel->packed.out);
  hyrsm_gemm_packed_free (rel->packed.token_qkv);
  hyrsm_gemm_packed_free (rel->packed.w2a);
  hyrsm_gemm_packed_free (rel->packed.w2b);
  for (int h = 0; rel->packed.wf_heads && h < rel->heads; h++)
    hyrsm_gemm_packed_free (rel->packed.wf_heads[h]);
  g_free (rel->packed.wf_heads);
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
  gsize d = D / w->n_heads;
  if ((rel->backend->ops->caps & HYRSM_BACKEND_HOST_RELATION)
      && hyrsm_gemm_packed_supported ()) {
    /* Packed once here, so that a query reads each weight once, as one
     * stream, and packs nothing; in the model's precision bf16, as bf16
     * (half the bytes to read; within docs/decisions.md's tolerance). */
    gboolean bf16 = g_strcmp0 (hyrsm_model_get_precision (model), "bf16") == 0;
    const float *qkv[3] = { w->wq, w->wk, w->wv };
    const float *intra_qkv = w->qkv_weight, *intra_out = w->out_weight;
    rel->packed.qkv = hyrsm_gemm_pack_nt (1, &intra_qkv, 3 * D, D, D, bf16);
    rel->packed.out = hyrsm_gemm_pack_nt (1, &intra_out, D, D, D, bf16);
    rel->packed.token_qkv = hyrsm_gemm_pack_nt (3, qkv, D, D, D, bf16);
    const float *w2a = w->fuse_weight, *w2b = w->fuse_weight + D;
    rel->packed.w2a = hyrsm_gemm_pack_nt (1, &w2a, D, D, 2 * D, bf16);
    rel->packed.w2b = hyrsm_gemm_pack_nt (1, &w2b, D, D, 2 * D, bf16);
    rel->packed.wf_heads = g_new0 (HyrsmPackedWeight *, w->n_heads);
    for (int h = 0; h < w->n_heads; h++) {
      const float *wf_h = w->fc_weight + h * d;
      rel->packed.wf_heads[h] = hyrsm_gemm_pack_nt (1, &wf_h, D, d, D, bf16);
    }
    return rel;
  }
  /* gemm_nt wants each right-hand matrix contiguous, row-major D x D. */
  rel->w2a = g_new (float, D * D);
  rel->w2b = g_new (float, D * D);
  for (gsize i = 0; i < D; i++) {
    memcpy (rel->w2a + i * D, w->fuse_weight + i * 2 * D, D * sizeof (float));
    memcpy (rel->w2b + i * D, w->fuse_weight + i * 2 * D + D,
        D * sizeof (float));
  }
  rel->wf_heads = g_new (float, D * D);
  for (int h = 0; h < w->n_heads; h++)
    for (gsize j = 0; j < D; j++)
      memcpy (rel->wf_heads + (h * D + j) * d, w->fc_weight + j * D + h * d,
          d * sizeof (float));
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

/* The same for a weight of the query path: @packed (this model's copy,
 * packed at load) where the CPU has one, else @w through the backend. */
static gboolean
gemm_packed (const HyrsmRelation *rel, int m, int n, int k, const float *a,
    const HyrsmPackedWeight *packed, const float *w, float *c,
    GError **error)
{
  if (packed) {
    hyrsm_gemm_packed_nt (m, a, k, packed, c, n);
    return TRUE;
  }
  return gemm (rel, m, n, k, a, w, c, error);
}

/* C_h = A_h Wf_h^T for every head h of the inter-relation's fc weight
 * (A_h: @rows x d at @a + h rows d; C_h: @rows x D at @c + h rows D), on
 * the CPU in one parallel region for all heads. */
static gboolean
gemm_fc_heads (const HyrsmRelation *rel, int rows, const float *a, float *c,
    GError **error)
{
  int D = rel->dim, H = rel->heads, d = D / H;
  if (rel->packed.wf_heads) {
    HyrsmPackedProduct *p = g_newa (HyrsmPackedProduct, H);
    for (int h = 0; h < H; h++)
      p[h] = (HyrsmPackedProduct) {
      .m = rows,.a = a + (gsize) h * rows * d,.lda = d,
            .w = rel->packed.wf_heads[h],.c = c + (gsize) h * rows * D,
            .ldc = D};
    hyrsm_gemm_packed_nt_many (H, p);
    return TRUE;
  }
  for (int h = 0; h < H; h++)
    if (!gemm (rel, rows, D, d, a + (gsize) h * rows * d,
            rel->wf_heads + (gsize) h * D * d, c + (gsize) h * rows * D,
            error))
      return FALSE;
  return TRUE;
}

/* ---- building blocks ---- */

/* One row of LayerNorm: the mean and variance summed in double 4 lanes
 * at a time (the lanes added at the end), each output as the scalar
 * version computes it (no FMA). */
__attribute__ ((target ("avx2,fma")))
static void
layer_norm_row_avx2 (const float *xr, int dim, const float *weight,
    const float *bias, float *yr)
{
  __m256d acc = _mm256_setzero_pd ();
  int j = 0;
  for (; j + 4 <= dim; j += 4)
    acc = _mm256_add_pd (acc, _mm256_cvtps_pd (_mm_loadu_ps (xr + j)));
  double sum = hsum_pd (acc);
  for (; j < dim; j++)
    sum += xr[j];
  double mean = sum / dim;
  __m256d vmean = _mm256_set1_pd (mean);
  acc = _mm256_setzero_pd ();
  for (j = 0; j + 4 <= dim; j += 4) {
    __m256d c = _mm256_sub_pd (_mm256_cvtps_pd (_mm_loadu_ps (xr + j)),
        vmean);
    acc = _mm256_add_pd (acc, _mm256_mul_pd (c, c));
  }
  double var = hsum_pd (acc);
  for (; j < dim; j++) {
    double c = xr[j] - mean;
    var += c * c;
  }
  double inv = 1.0 / sqrt (var / dim + LAYER_NORM_EPS);
  __m256d vinv = _mm256_set1_pd (inv);
  for (j = 0; j + 4 <= dim; j += 4) {
    __m256d c = _mm256_sub_pd (_mm256_cvtps_pd (_mm_loadu_ps (xr + j)),
        vmean);
    __m256d y = _mm256_add_pd (_mm256_mul_pd (_mm256_mul_pd (c, vinv),
            _mm256_cvtps_pd (_mm_loadu_ps (weight + j))),
        _mm256_cvtps_pd (_mm_loadu_ps (bias + j)));
    _mm_storeu_ps (yr + j, _mm256_cvtpd_ps (y));
  }
  for (; j < dim; j++)
    yr[j] = (float) ((xr[j] - mean) * inv * weight[j] + bias[j]);
}

/* out = LayerNorm (x) row by row (biased variance, as PyTorch). */
static void
layer_norm_rows (const float *x, int rows, int dim, const float *weight,
    const float *bias, float *out)
{
  for (int r = 0; r < rows; r++) {
    const float *xr = x + (gsize) r * dim;
    float *yr = out + (gsize) r * dim;
    if (have_avx2 ()) {
      layer_norm_row_avx2 (xr, dim, weight, bias, yr);
      continue;
    }
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
        p[j] = dot_ff (qi, k + j * ld + col, d) * scale;
        max = MAX (max, p[j]);
      }
      double sum = 0;
      for (int j = 0; j < n; j++) {
        p[j] = exp (p[j] - max);
        sum += p[j];
      }
      memset (acc, 0, d * sizeof (double));
      for (int j = 0; j < n; j++)
        axpy_df (p[j] / sum, v + j * ld + col, acc, d);
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
  return hyrsm_relation_intra_batch (rel, features, 1, s, error);
}

gboolean
hyrsm_relation_intra_batch (const HyrsmRelation *rel, const float *features,
    int n_videos, float *s, GError **error)
{
  const HyrsmHeadWeights *w = rel->w;
  int T = rel->frames, D = rel->dim, rows = n_videos * T;
  gsize td = (gsize) T * D, n = (gsize) rows * D;
  const HyrsmBackendOps *ops = rel->backend->ops;
  if (ops->relation_intra && T <= MIN (w->pe_rows, HYRSM_RELATION_MAX_TOKENS)) {
    /* The device's own path, a video at a time. */
    for (int v = 0; v < n_videos; v++)
      if (!ops->relation_intra (rel->backend, w, T, rel->input_scale,
              rel->position_b, features + v * td, s + v * td, error))
        return FALSE;
    return TRUE;
  }
  float *x = hyrsm_scratch_get (HYRSM_SCRATCH_INTRA_X, n * sizeof (float));
  float *z = hyrsm_scratch_get (HYRSM_SCRATCH_INTRA_Z, n * sizeof (float));
  float *qkv = hyrsm_scratch_get (HYRSM_SCRATCH_INTRA_QKV,
      3 * n * sizeof (float));
  float *y = hyrsm_scratch_get (HYRSM_SCRATCH_INTRA_Y, n * sizeof (float));

  /* X = F sqrt (D / A) + B P (P's rows again for every video) */
  for (int v = 0; v < n_videos; v++)
    for (gsize i = 0; i < td; i++) {
      gsize at = v * td + i;
      x[at] = (float) (features[at] * rel->input_scale
          + rel->position_b * w->pe[i]);
    }
  /* Z = LayerNorm (X); [Q K V] = Z Wqkv^T, all videos in one product */
  layer_norm_rows (x, rows, D, w->pre_norm_weight, w->pre_norm_bias, z);
  if (!gemm_packed (rel, rows, 3 * D, D, z, rel->packed.qkv, w->qkv_weight,
          qkv, error))
    return FALSE;
  /* O (reusing z) = attention within each video; Y = O Wo^T */
  for (int v = 0; v < n_videos; v++) {
    const float *qkv_v = qkv + 3 * v * td;
    attention (qkv_v, qkv_v + D, qkv_v + 2 * D, 3 * (gsize) D, T,
        rel->heads, D / rel->heads, z + v * td);
  }
  if (!gemm_packed (rel, rows, D, D, z, rel->packed.out, w->out_weight, y,
          error))
    return FALSE;
  /* S = ReLU (Y + bo + X) */
  bias_residual (y, w->out_bias, x, rows, D, TRUE, s);
  return TRUE;
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
  bias_residual (k, w->fc_bias, u, n_tokens, D, FALSE, q);
  layer_norm_rows (q, n_tokens, D, w->ln_weight, w->ln_bias, g);
  relu (g, n);
  ok = TRUE;

out:
  g_free (q);
  g_free (k);
  g_free (v);
  g_free (o);
  return ok;
}

/* ---- section 5 split at the query (see hyrsm-relation.h) ---- */

struct _HyrsmInterSupport
{
  int n;                        /* M */
  float *u, *q, *k, *v;         /* M x D each */
  double *row_max;              /* M x H: max of the M support logits */
  double *row_sum;              /* M x H: sum of exp (logit - row_max) */
  float *proj;                  /* H x M x D: P_ih = Abar_ih Wf_h^T */
};

struct _HyrsmInterQueries
{
  int n;                        /* queries */
  int dim;
  float *q, *k, *v;             /* n x D each, blocks of one buffer (q) */
  float *r;                     /* H x n x D: R_h = V_qh Wf_h^T */
  float *g;                     /* n x D: the queries' own output */
};

/* Rows of [Q K V] (n x 3D) into @q, @k, @v (n x D each) */
static void
split_qkv (const float *qkv, int n, int D, float *q, float *k, float *v)
{
  for (int i = 0; i < n; i++) {
    const float *row = qkv + (gsize) i * 3 * D;
    memcpy (q + (gsize) i * D, row, D * sizeof (float));
    memcpy (k + (gsize) i * D, row + D, D * sizeof (float));
    memcpy (v + (gsize) i * D, row + 2 * D, D * sizeof (float));
  }
}

gboolean
hyrsm_relation_token_qkv (const HyrsmRelation *rel, const float *u, int n,
    float *q, float *k, float *v, GError **error)
{
  const HyrsmHeadWeights *w = rel->w;
  int D = rel->dim;
  if (rel->packed.token_qkv) {
    /* one pass over u for the three: [Q K V] (n x 3D), then split */
    float *qkv = g_new (float, (gsize) n * 3 * D);
    hyrsm_gemm_packed_nt (n, u, D, rel->packed.token_qkv, qkv, 3 * D);
    split_qkv (qkv, n, D, q, k, v);
    g_free (qkv);
    return TRUE;
  }
  return gemm (rel, n, D, D, u, w->wq, q, error)
      && gemm (rel, n, D, D, u, w->wk, k, error)
      && gemm (rel, n, D, D, u, w->wv, v, error);
}

gboolean
hyrsm_relation_fuse_frames_and_token_qkv (const HyrsmRelation *rel,
    const float *s, const float *u, int n, float *w2a_s, float *q, float *k,
    float *v, GError **error)
{
  int T = rel->frames, D = rel->dim;
  if (!(rel->packed.w2a && rel->packed.token_qkv))
    return hyrsm_relation_fuse_frames (rel, s, n * T, w2a_s, error)
        && hyrsm_relation_token_qkv (rel, u, n, q, k, v, error);
  float *qkv = g_new (float, (gsize) n * 3 * D);
  HyrsmPackedProduct p[2] = {
    {.m = n * T,.a = s,.lda = D,.w = rel->packed.w2a,.c = w2a_s,.ldc = D},
    {.m = n,.a = u,.lda = D,.w = rel->packed.token_qkv,.c = qkv,.ldc = 3 * D},
  };
  hyrsm_gemm_packed_nt_many (2, p);
  split_qkv (qkv, n, D, q, k, v);
  g_free (qkv);
  return TRUE;
}

void
hyrsm_inter_support_free (HyrsmInterSupport *sup)
{
  if (sup == NULL)
    return;
  g_free (sup->u);
  g_free (sup->q);
  g_free (sup->k);
  g_free (sup->v);
  g_free (sup->row_max);
  g_free (sup->row_sum);
  g_free (sup->proj);
  g_free (sup);
}

HyrsmInterSupport *
hyrsm_inter_support_new_take (const HyrsmRelation *rel, float *u, float *q,
    float *k, float *v, int M, GError **error)
{
  int D = rel->dim, H = rel->heads, d = D / H;
  double scale = 1.0 / sqrt ((double) d);
  HyrsmInterSupport *sup = g_new0 (HyrsmInterSupport, 1);
  sup->n = M;
  sup->u = u;
  sup->q = q;
  sup->k = k;
  sup->v = v;
  sup->row_max = g_new (double, (gsize) M * H);
  sup->row_sum = g_new (double, (gsize) M * H);
  sup->proj = g_new (float, (gsize) H * M * D);
  float *abar = g_new (float, (gsize) H * M * d);       /* H x M x d */
  double *p = g_new (double, M);
  double *acc = g_new (double, d);

  for (int h = 0; h < H; h++)
    for (int i = 0; i < M; i++) {
      const float *qi = q + (gsize) i * D + h * d;
      double max = -INFINITY, sum = 0;
      for (int j = 0; j < M; j++) {
        p[j] = dot_ff (qi, k + (gsize) j * D + h * d, d) * scale;
        max = MAX (max, p[j]);
      }
      for (int j = 0; j < M; j++) {
        p[j] = exp (p[j] - max);
        sum += p[j];
      }
      memset (acc, 0, d * sizeof (double));
      for (int j = 0; j < M; j++)
        axpy_df (p[j] / sum, v + (gsize) j * D + h * d, acc, d);
      float *ai = abar + ((gsize) h * M + i) * d;
      for (int c = 0; c < d; c++)
        ai[c] = (float) acc[c];
      sup->row_max[(gsize) i * H + h] = max;
      sup->row_sum[(gsize) i * H + h] = sum;
    }
  gboolean ok = gemm_fc_heads (rel, M, abar, sup->proj, error);
  g_free (abar);
  g_free (p);
  g_free (acc);
  if (!ok)
    g_clear_pointer (&sup, hyrsm_inter_support_free);
  return sup;
}

void
hyrsm_inter_queries_free (HyrsmInterQueries *iq)
{
  if (iq == NULL)
    return;
  g_free (iq->q);               /* k and v too */
  g_free (iq->r);
  g_free (iq->g);
  g_free (iq);
}

/* G = ReLU (LayerNorm (y)) in place, @y being O Wf^T + bf + U of @rows
 * tokens (the post-norm of the inter-relation). */
static void
inter_post_norm (const HyrsmRelation *rel, float *y, int rows)
{
  int D = rel->dim;
  layer_norm_rows (y, rows, D, rel->w->ln_weight, rel->w->ln_bias, y);
  relu (y, (gsize) rows * D);
}

HyrsmInterQueries *
hyrsm_inter_queries_new_take (const HyrsmRelation *rel,
    const HyrsmInterSupport *sup, const float *u_q, float *qkv, int n,
    GError **error)
{
  const HyrsmHeadWeights *w = rel->w;
  int D = rel->dim, H = rel->heads, d = D / H, M = sup->n;
  double scale = 1.0 / sqrt ((double) d);
  HyrsmInterQueries *iq = g_new0 (HyrsmInterQueries, 1);
  iq->n = n;
  iq->dim = D;
  iq->q = qkv;
  iq->k = qkv + (gsize) n * D;
  iq->v = qkv + (gsize) 2 * n * D;
  iq->r = g_new (float, (gsize) H * n * D);
  iq->g = g_new (float, (gsize) n * D);
  /* per head: rows 0..n-1 V_qh, rows n..2n-1 O_qh (the queries' own
   * attention output); times Wf_h^T they give R_h and O_q Wf^T's terms */
  float *x = g_new (float, (gsize) H * 2 * n * d);
  float *y = g_new (float, (gsize) H * 2 * n * D);
  double *p = g_new (double, M + 1);
  double *acc = g_new (double, d);
  gboolean ok = FALSE;

  /* The query's row attends over the M supports and itself. */
  for (int b = 0; b < n; b++)
    for (int h = 0; h < H; h++) {
      const float *qb = iq->q + (gsize) b * D + h * d;
      const float *vb = iq->v + (gsize) b * D + h * d;
      double max = -INFINITY, sum = 0;
      for (int j = 0; j < M; j++)
        max = MAX (max, p[j] = dot_ff (qb, sup->k + (gsize) j * D + h * d,
                d) * scale);
      max = MAX (max, p[M] = dot_ff (qb, iq->k + (gsize) b * D + h * d,
              d) * scale);
      for (int j = 0; j <= M; j++) {
        p[j] = exp (p[j] - max);
        sum += p[j];
      }
      memset (acc, 0, d * sizeof (double));
      for (int j = 0; j < M; j++)
        axpy_df (p[j] / sum, sup->v + (gsize) j * D + h * d, acc, d);
      axpy_df (p[M] / sum, vb, acc, d);
      float *xv = x + ((gsize) h * 2 * n + b) * d;
      float *xo = x + ((gsize) h * 2 * n + n + b) * d;
      memcpy (xv, vb, d * sizeof (float));
      for (int c = 0; c < d; c++)
        xo[c] = (float) acc[c];
    }
  /* y (H x 2n x D): per head [V_qh; O_qh] Wf_h^T; yq (n x D) accumulates
   * sum_h O_qh Wf_h^T, i.e. O_q Wf^T */
  if (!gemm_fc_heads (rel, 2 * n, x, y, error))
    goto out;
  float *yq = g_new0 (float, (gsize) n * D);
  for (int h = 0; h < H; h++) {
    const float *yh = y + (gsize) h * 2 * n * D;
    memcpy (iq->r + (gsize) h * n * D, yh, (gsize) n * D * sizeof (float));
    for (gsize i = 0; i < (gsize) n * D; i++)
      yq[i] += yh[(gsize) n * D + i];
  }
  bias_residual (yq, w->fc_bias, u_q, n, D, FALSE, iq->g);
  g_free (yq);
  inter_post_norm (rel, iq->g, n);
  ok = TRUE;

out:
  g_free (x);
  g_free (y);
  g_free (p);
  g_free (acc);
  if (!ok)
    g_clear_pointer (&iq, hyrsm_inter_queries_free);
  return iq;
}

const float *
hyrsm_inter_queries_peek_g (const HyrsmInterQueries *iq, int b)
{
  return iq->g + (gsize) b * iq->dim;
}

void
hyrsm_inter_support_rows (const HyrsmRelation *rel,
    const HyrsmInterSupport *sup, const HyrsmInterQueries *iq, int b0,
    int nb, float *g, gsize g_stride)
{
  const HyrsmHeadWeights *w = rel->w;
  int D = rel->dim, H = rel->heads, d = D / H, M = sup->n, n = iq->n;
  double scale = 1.0 / sqrt ((double) d);

#pragma omp parallel for schedule(dynamic, 4)
  for (int item = 0; item < nb * M; item++) {
    int j = item / M, i = item % M, b = b0 + j;
    const float *kq = iq->k + (gsize) b * D;
    float *y = g + j * g_stride + (gsize) i * D;
    const float *ui = sup->u + (gsize) i * D;
    for (int c = 0; c < D; c++)
      y[c] = 0;
    for (int h = 0; h < H; h++) {
      /* finish the softmax over the M + 1 tokens with the query's column */
      double l = dot_ff (sup->q + (gsize) i * D + h * d, kq + h * d, d)
          * scale;
      double m = sup->row_max[(gsize) i * H + h];
      double top = MAX (m, l);
      double alpha = sup->row_sum[(gsize) i * H + h] * exp (m - top);
      double beta = exp (l - top);
      double z = alpha + beta;
      axpy_ff ((float) (alpha / z), sup->proj + ((gsize) h * M + i) * D, y,
          D);
      axpy_ff ((float) (beta / z), iq->r + ((gsize) h * n + b) * D, y, D);
    }
    bias_residual (y, w->fc_bias, ui, 1, D, FALSE, y);
    inter_post_norm (rel, y, 1);
  }
}

gboolean
hyrsm_relation_fuse_frames (const HyrsmRelation *rel, const float *s,
    int rows, float *out, GError **error)
{
  return gemm_packed (rel, rows, rel->dim, rel->dim, s, rel->packed.w2a,
      rel->w2a, out, error);
}

gboolean
hyrsm_relation_fuse_tokens (const HyrsmRelation *rel, const float *g,
    int n_tokens, float *out, GError **error)
{
  int D = rel->dim;
  if (!gemm_packed (rel, n_tokens, D, D, g, rel->packed.w2b, rel->w2b, out,
          error))
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

void
hyrsm_relation_fuse_rows_f64 (const HyrsmRelation *rel,
    const float *frames_part, const float *token_part, double *e,
    double *norms)
{
  int T = rel->frames, D = rel->dim;
  for (int t = 0; t < T; t++) {
    double *et = e + (gsize) t * D;
    const float *ft = frames_part + (gsize) t * D;
    for (int j = 0; j < D; j++)
      et[j] = (float) (ft[j] + token_part[j]);
    norms[t] = MAX (sqrt (dot_dd (et, et, D)), NORM_EPS);
  }
}

/* ---- section 6: Bi-MHM ---- */

/* sum_i min_j c[i,j] + sum_j min_i c[i,j] of the rows x rows costs @c */
static double
bimhm_from_costs (const double *c, int rows)
{
  double total = 0;
  for (int i = 0; i < rows; i++) {
    double row_min = INFINITY, col_min = INFINITY;
    for (int j = 0; j < rows; j++) {
      row_min = MIN (row_min, c[i * rows + j]);
      col_min = MIN (col_min, c[j * rows + i]);
    }
    total += row_min + col_min;
  }
  return total;
}


/* The token-by-query dot products and the token's row norms the metric
 * needs, in plain double arithmetic: the rows AVX2 does not cover. */
static void
fused_dots_rows (const float *frames_part, const float *token_part,
    const double *e_q, int T, int D, int i0, double *c, double *norms)
{
  for (int i = i0; i < T; i++) {
    const float *ai = frames_part + (gsize) i * D;
    double nsq = 0;
    for (int x = 0; x < D; x++) {
      double v = (float) (ai[x] + token_part[x]);
      nsq += v * v;
    }
    norms[i] = nsq;
    for (int j = 0; j < T; j++) {
      const double *bj = e_q + (gsize) j * D;
      double dot = 0;
      for (int x = 0; x < D; x++)
        dot += (double) (float) (ai[x] + token_part[x]) * bj[x];
      c[i * T + j] = dot;
    }
  }
}

double
hyrsm_bimhm_fused (const HyrsmRelation *rel, const float *frames_part,
    const float *token_part, const double *e_q, const double *q_norms)
{
  int T = rel->frames, D = rel->dim;
  double *c = g_newa (double, (gsize) T * T);
  double *norms = g_newa (double, T);   /* squared first */
  int i = 0;
  if (have_avx2 () && T % 4 == 0)
    for (; i + 2 <= T; i += 2) {
      const float *a0 = frames_part + (gsize) i * D, *a1 = a0 + D;
      for (int j = 0; j < T; j += 4) {
        const double *bj[4];
        double nsq[2];
        for (int q = 0; q < 4; q++)
          bj[q] = e_q + (gsize) (j + q) * D;
        fused_dots_2x4_avx2 (a0, a1, token_part, bj, D, c + i * T + j,
            c + (i + 1) * T + j, nsq);
        norms[i] = nsq[0];
        norms[i + 1] = nsq[1];
      }
    }
  fused_dots_rows (frames_part, token_part, e_q, T, D, i, c, norms);
  for (i = 0; i < T; i++) {
    double norm = MAX (sqrt (norms[i]), NORM_EPS);
    for (int j = 0; j < T; j++)
      c[i * T + j] = 1.0 - c[i * T + j] / (norm * q_norms[j]);
  }
  return bimhm_from_costs (c, T);
}

void
hyrsm_row_norms (const float *e, int rows, int dim, double *norms)
{
  for (int r = 0; r < rows; r++) {
    const float *er = e + (gsize) r * dim;
    norms[r] = MAX (sqrt (dot_ff (er, er, dim)), NORM_EPS);
  }
}

double
hyrsm_bimhm (const float *a, const double *a_norms, const float *b,
    const double *b_norms, int rows, int dim)
{
  double *c = g_new (double, (gsize) rows * rows);
  for (int i = 0; i < rows; i++)
    for (int j = 0; j < rows; j++)
      c[i * rows + j] = 1.0 - dot_ff (a + (gsize) i * dim, b + (gsize) j * dim,
          dim) / (a_norms[i] * b_norms[j]);
  double total = bimhm_from_costs (c, rows);
  g_free (c);
  return total;
}
