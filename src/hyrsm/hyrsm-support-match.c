/* hyrsm-support-match.c: matching queries against a HyrsmSupportSet's
 * snapshot (docs/model.md sections 5 and 6): the query's intra-relation,
 * its Q, K, V, the support rows' attention finished with the query's
 * column, W2b g for every token, the fuse additions and the metric, for
 * one query or a batch with each weight read once. The set itself, and
 * what is computed once per example, is hyrsm-support-set.c. */
#include "hyrsm-support-set-private.h"
#include "hyrsm-support-snapshot.h"
#include "hyrsm-error.h"
#include "hyrsm-scratch.h"

#include <math.h>
#include <string.h>

/* Whether the 5-shot rule applies to @snap. */
static gboolean
use_prototypes (HyrsmSupportSet *self, const Snapshot *snap)
{
  if (self->head_kind == HYRSM_HEAD_5SHOT)
    return TRUE;
  if (self->head_kind != HYRSM_HEAD_AUTO)
    return FALSE;
  for (guint c = 0; c < snap->classes->len; c++)
    if (((Class *) g_ptr_array_index (snap->classes, c))->n_examples > 1)
      return TRUE;
  return FALSE;
}

/* Queries matched together at most: bounds the memory of a batch (their
 * intra-relation buffers); the weights are read once per group. */
#define MAX_GROUP 32
/* Token rows per W2b product: queries against few tokens share it, a query
 * against many tokens has its own. */
#define FUSE_ROWS 512

/* The inter-relation terms of @snap's @M tokens, made on first use (the
 * first match of a snapshot waits for them, later ones share them). */
static const HyrsmInterSupport *
snapshot_inter (HyrsmSupportSet *self, Snapshot *snap,
    const Derived *const *tokens, int M, GError **error)
{
  g_mutex_lock (&snap->inter_lock);
  if (snap->inter == NULL) {
    gsize D = self->dim;
    float *u = g_new (float, M * D);
    float *q = g_new (float, M * D);
    float *k = g_new (float, M * D);
    float *v = g_new (float, M * D);
    for (int m = 0; m < M; m++) {
      memcpy (u + m * D, tokens[m]->u, D * sizeof (float));
      memcpy (q + m * D, tokens[m]->qkv, D * sizeof (float));
      memcpy (k + m * D, tokens[m]->qkv + D, D * sizeof (float));
      memcpy (v + m * D, tokens[m]->qkv + 2 * D, D * sizeof (float));
    }
    snap->inter = hyrsm_inter_support_new_take (self->rel, u, q, k, v, M,
        error);
  }
  const HyrsmInterSupport *inter = snap->inter;
  g_mutex_unlock (&snap->inter_lock);
  return inter;
}

/* Every token's Bi-MHM distance to each of @n queries (@token_dist: n x M)
 * through the relation head (docs/model.md sections 4 to 6); @trace (only with
 * n = 1) gets the intermediates. */
static gboolean
relation_distances (HyrsmSupportSet *self, const HyrsmInterSupport *inter,
    const Derived *const *tokens, int M, const float *queries, int n,
    double *token_dist, HyrsmMatchTrace *trace, GError **error)
{
  const HyrsmRelation *rel = self->rel;
  int T = self->frames, D = self->dim;
  gsize td = (gsize) T * D, row = (gsize) (M + 1) * D;
  int chunk = CLAMP (FUSE_ROWS / (M + 1), 1, n);
  /* the large ones kept by this thread from match to match */
  float *s_q = hyrsm_scratch_get (HYRSM_SCRATCH_QUERY_S,
      n * td * sizeof (float));
  float *w2a_q = hyrsm_scratch_get (HYRSM_SCRATCH_QUERY_W2A_S,
      n * td * sizeof (float));
  float *g = hyrsm_scratch_get (HYRSM_SCRATCH_TOKEN_G,
      chunk * row * sizeof (float));
  float *tok = hyrsm_scratch_get (HYRSM_SCRATCH_TOKEN_FUSED,
      chunk * row * sizeof (float));
  double *e_q = hyrsm_scratch_get (HYRSM_SCRATCH_QUERY_E,
      chunk * td * sizeof (double));
  float *u_q = g_new (float, (gsize) n * D);
  double *norms = g_new (double, (gsize) chunk * T);
  HyrsmInterQueries *iq = NULL;
  gboolean ok = FALSE;

  /* The queries' own terms, each weight read once for all of them. */
  if (!hyrsm_relation_intra_batch (rel, queries, n, s_q, error))
    goto out;
  for (int b = 0; b < n; b++)
    hyrsm_relation_token_mean (rel, s_q + b * td, u_q + (gsize) b * D);
  gsize nd = (gsize) n * D;
  float *qkv = g_new (float, 3 * nd);   /* Q, K, V blocks; iq takes it */
  if (!hyrsm_relation_fuse_frames_and_token_qkv (rel, s_q, u_q, n, w2a_q,
          qkv, qkv + nd, qkv + 2 * nd, error)) {
    g_free (qkv);
    goto out;
  }
  iq = hyrsm_inter_queries_new_take (rel, inter, u_q, qkv, n, error);
  if (iq == NULL)
    goto out;

  for (int b0 = 0; b0 < n; b0 += chunk) {
    int nb = MIN (chunk, n - b0);
    /* g of every token for each query (the query's row last), then
     * W2b g + b2 for all of them in one product */
    hyrsm_inter_support_rows (rel, inter, iq, b0, nb, g, row);
    for (int b = 0; b < nb; b++)
      memcpy (g + b * row + (gsize) M * D, hyrsm_inter_queries_peek_g (iq,
              b0 + b), D * sizeof (float));
    if (!hyrsm_relation_fuse_tokens (rel, g, nb * (M + 1), tok, error))
      goto out;
    /* every query's E, then every (query, token) pair's Bi-MHM in one
     * parallel region */
    for (int b = 0; b < nb; b++)
      hyrsm_relation_fuse_rows_f64 (rel, w2a_q + (b0 + b) * td,
          tok + b * row + (gsize) M * D, e_q + b * td, norms + (gsize) b * T);
#pragma omp parallel for schedule(dynamic, 4)
    for (int item = 0; item < nb * M; item++) {
      int b = item / M, m = item % M;
      token_dist[(gsize) (b0 + b) * M + m] = hyrsm_bimhm_fused (rel,
          tokens[m]->w2a_s, tok + b * row + (gsize) m * D, e_q + b * td,
          norms + (gsize) b * T);
    }
  }
  if (trace) {
    trace->g = g_memdup2 (g, row * sizeof (float));
    trace->e = g_new (float, (M + 1) * td);
    for (int m = 0; m < M; m++)
      hyrsm_relation_fuse_add (rel, tokens[m]->w2a_s, tok + (gsize) m * D,
          trace->e + m * td);
    hyrsm_relation_fuse_add (rel, w2a_q, tok + (gsize) M * D,
        trace->e + M * td);
  }
  ok = TRUE;

out:
  hyrsm_inter_queries_free (iq);
  g_free (u_q);
  g_free (norms);
  return ok;
}

/* Backbone-only model: Bi-MHM on the raw features of every example. */
static void
raw_distances (HyrsmSupportSet *self, const Snapshot *snap,
    const float *query, double *token_dist, HyrsmMatchTrace *trace)
{
  int T = self->frames, D = self->dim;
  gsize td = (gsize) T * D;
  guint M = snap->examples->len;
  double *norms = g_new (double, 2 * T);
  hyrsm_row_norms (query, T, D, norms + T);
  for (guint m = 0; m < M; m++) {
    const Example *ex = g_ptr_array_index (snap->examples, m);
    hyrsm_row_norms (ex->features, T, D, norms);
    token_dist[m] = hyrsm_bimhm (ex->features, norms, query, norms + T, T, D);
  }
  if (trace) {
    trace->e = g_new (float, td * (M + 1));
    for (guint m = 0; m < M; m++)
      memcpy (trace->e + m * td, ((Example *) g_ptr_array_index
              (snap->examples, m))->features, td * sizeof (float));
    memcpy (trace->e + M * td, query, td * sizeof (float));
  }
  g_free (norms);
}

static guint
class_index (const Snapshot *snap, guint class_id)
{
  for (guint c = 0; c < snap->classes->len; c++)
    if (((Class *) g_ptr_array_index (snap->classes, c))->id == class_id)
      return c;
  g_assert_not_reached ();
  return 0;
}

/* Matches @n queries (n x T x D) against @snap: @results[i] gets query i's
 * result. @trace (only with n = 1) gets the intermediates. */
static gboolean
match_snapshot (HyrsmSupportSet *self, Snapshot *snap, const float *queries,
    int n, double threshold, HyrsmMatchResult **results,
    HyrsmMatchTrace *trace, GError **error)
{
  guint n_classes = snap->classes->len;
  if (n_classes == 0) {
    g_set_error (error, HYRSM_ERROR, HYRSM_ERROR_EMPTY_SUPPORT_SET,
        "cannot match a query: the support set has no examples");
    return FALSE;
  }
  gsize td = (gsize) self->frames * self->dim;
  gboolean prototypes = self->rel && use_prototypes (self, snap);
  guint M = prototypes ? n_classes : snap->examples->len;
  const Derived **tokens = g_new (const Derived *, M);
  guint *token_class = g_new (guint, M);
  double *token_dist = g_new (double, (gsize) n * M);
  for (guint m = 0; m < M; m++) {
    if (prototypes) {
      tokens[m] = &((Class *) g_ptr_array_index (snap->classes, m))->proto;
      token_class[m] = m;
    } else {
      const Example *ex = g_ptr_array_index (snap->examples, m);
      tokens[m] = &ex->d;
      token_class[m] = class_index (snap, ex->class_id);
    }
  }

  gboolean ok = TRUE;
  if (self->rel) {
    const HyrsmInterSupport *inter = snapshot_inter (self, snap, tokens, M,
        error);
    for (int b0 = 0; ok && b0 < n; b0 += MAX_GROUP)
      ok = inter != NULL && relation_distances (self, inter, tokens, M,
          queries + b0 * td, MIN (MAX_GROUP, n - b0), token_dist + (gsize) b0 *
          M, trace, error);
  } else {
    for (int b = 0; b < n; b++)
      raw_distances (self, snap, queries + b * td, token_dist + (gsize) b * M,
          trace);
  }
  if (!ok)
    goto out;

  /* class distance: the mean over the class's tokens */
  guint *counts = g_new0 (guint, n_classes);
  for (guint m = 0; m < M; m++)
    counts[token_class[m]]++;
  for (int b = 0; b < n; b++) {
    double *distances = g_new0 (double, n_classes);
    for (guint m = 0; m < M; m++)
      distances[token_class[m]] += token_dist[(gsize) b * M + m];
    for (guint c = 0; c < n_classes; c++)
      distances[c] /= counts[c];
    results[b] = hyrsm_match_result_new_take (hyrsm_support_snapshot_labels (snap),
        distances, n_classes, threshold);
  }
  g_free (counts);
  if (trace) {
    trace->n_tokens = M;
    trace->prototypes = prototypes;
    trace->token_distances = g_steal_pointer (&token_dist);
  }

out:
  g_free (tokens);
  g_free (token_class);
  g_free (token_dist);
  return ok;
}

/* The checks and the snapshot of every match entry point. */
static gboolean
match_checked (HyrsmSupportSet *self, const float *queries, guint n,
    HyrsmMatchResult **results, HyrsmMatchTrace *trace, GError **error)
{
  gsize td = (gsize) self->frames * self->dim;
  for (guint b = 0; b < n; b++) {
    g_autofree char *what = n == 1 ? g_strdup ("query") :
        g_strdup_printf ("query %u", b);
    if (!hyrsm_support_check_finite (self, what, queries + b * td, error))
      return FALSE;
  }
  if (n == 0)
    return TRUE;
  double threshold;
  g_autoptr (Snapshot) snap = hyrsm_support_snapshot_acquire (self, &threshold);
  return match_snapshot (self, snap, queries, (int) n, threshold, results,
      trace, error);
}

HyrsmMatchResult *
hyrsm_support_set_match_traced (HyrsmSupportSet *self, const float *query,
    HyrsmMatchTrace **trace, GError **error)
{
  g_return_val_if_fail (HYRSM_IS_SUPPORT_SET (self), NULL);
  g_return_val_if_fail (query != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);
  HyrsmMatchTrace *t = trace ? g_new0 (HyrsmMatchTrace, 1) : NULL;
  HyrsmMatchResult *result = NULL;
  gboolean ok = match_checked (self, query, 1, &result, t, error);
  if (trace) {
    if (ok)
      *trace = t;
    else
      hyrsm_match_trace_free (t);
  }
  return result;
}

/**
 * hyrsm_support_set_match_raw: (skip)
 * @self: a #HyrsmSupportSet
 * @query: (array): T x D float32 backbone features of the query video
 * @error: return location for a #GError
 *
 * Like hyrsm_support_set_match(), with the query as a float array of
 * exactly T x D values.
 *
 * Returns: (transfer full): the result, or %NULL with @error set
 */
HyrsmMatchResult *
hyrsm_support_set_match_raw (HyrsmSupportSet *self, const float *query,
    GError **error)
{
  return hyrsm_support_set_match_traced (self, query, NULL, error);
}

/**
 * hyrsm_support_set_match:
 * @self: a #HyrsmSupportSet
 * @query: T x D float32 backbone features of the query video
 * @error: return location for a #GError
 *
 * Matches @query against every class: intra-relation of the query,
 * inter-relation with all support tokens, fuse, and the Bi-MHM distance to
 * each token, averaged per class (docs/model.md sections 4 to 6).
 *
 * Returns: (transfer full): the result, or %NULL with @error set
 *   (%HYRSM_ERROR_EMPTY_SUPPORT_SET when the set has no examples,
 *   %HYRSM_ERROR_SHAPE_MISMATCH when @query is not T x D x 4 bytes)
 */
HyrsmMatchResult *
hyrsm_support_set_match (HyrsmSupportSet *self, GBytes *query,
    GError **error)
{
  g_return_val_if_fail (HYRSM_IS_SUPPORT_SET (self), NULL);
  g_return_val_if_fail (query != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);
  if (!hyrsm_support_check_size (self, "query", g_bytes_get_size (query), error))
    return NULL;
  g_autofree float *copy = NULL;
  return hyrsm_support_set_match_traced (self, hyrsm_support_bytes_as_floats (query,
          &copy), NULL, error);
}

/**
 * hyrsm_support_set_match_batch_raw: (skip)
 * @self: a #HyrsmSupportSet
 * @queries: (array): @n_queries x T x D float32 backbone features
 * @n_queries: the number of query videos
 * @results: (out caller-allocates) (array length=n_queries): where each
 *   query's result goes (transfer full), untouched on failure
 * @error: return location for a #GError
 *
 * Like hyrsm_support_set_match_batch(), with the queries as a float array.
 *
 * Returns: %TRUE on success, %FALSE with @error set
 */
gboolean
hyrsm_support_set_match_batch_raw (HyrsmSupportSet *self,
    const float *queries, guint n_queries, HyrsmMatchResult **results,
    GError **error)
{
  g_return_val_if_fail (HYRSM_IS_SUPPORT_SET (self), FALSE);
  g_return_val_if_fail (queries != NULL || n_queries == 0, FALSE);
  g_return_val_if_fail (results != NULL || n_queries == 0, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);
  return match_checked (self, queries, n_queries, results, NULL, error);
}

/**
 * hyrsm_support_set_match_batch:
 * @self: a #HyrsmSupportSet
 * @queries: the T x D float32 backbone features of several query videos,
 *   one after the other (B x T x D values)
 * @error: return location for a #GError
 *
 * Matches every query of @queries as hyrsm_support_set_match() does, all
 * against the same state of the set, with the relation head run once for
 * the batch: each weight is read once for all the queries, so a batch
 * costs much less per query than as many single matches. The distances
 * are those of hyrsm_support_set_match() for each query.
 *
 * Returns: (transfer container) (element-type HyrsmMatchResult): the
 *   result of each query, in order (empty for empty @queries); the array
 *   holds the results' references (free it with g_ptr_array_unref()), or
 *   %NULL with @error
 *   set (%HYRSM_ERROR_SHAPE_MISMATCH when the size of @queries is not a
 *   multiple of T x D x 4 bytes, %HYRSM_ERROR_EMPTY_SUPPORT_SET,
 *   %HYRSM_ERROR_INVALID_ARGUMENT for a non-finite value)
 */
GPtrArray *
hyrsm_support_set_match_batch (HyrsmSupportSet *self, GBytes *queries,
    GError **error)
{
  g_return_val_if_fail (HYRSM_IS_SUPPORT_SET (self), NULL);
  g_return_val_if_fail (queries != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);
  gsize size = g_bytes_get_size (queries);
  gsize per = (gsize) self->frames * self->dim * sizeof (float);
  if (size % per != 0) {
    g_set_error (error, HYRSM_ERROR, HYRSM_ERROR_SHAPE_MISMATCH,
        "queries: expected a whole number of T x D = %d x %d float32 "
        "videos (%" G_GSIZE_FORMAT " bytes each), got %" G_GSIZE_FORMAT
        " bytes", self->frames, self->dim, per, size);
    return NULL;
  }
  guint n = size / per;
  g_autofree float *copy = NULL;
  const float *data = hyrsm_support_bytes_as_floats (queries, &copy);
  g_autofree HyrsmMatchResult **results = g_new0 (HyrsmMatchResult *,
      MAX (n, 1));
  if (!match_checked (self, data, n, results, NULL, error))
    return NULL;
  GPtrArray *out = g_ptr_array_new_full (n, g_object_unref);
  for (guint b = 0; b < n; b++)
    g_ptr_array_add (out, results[b]);
  return out;
}

const float *
hyrsm_support_set_peek_intra (HyrsmSupportSet *self, guint index)
{
  g_return_val_if_fail (HYRSM_IS_SUPPORT_SET (self), NULL);
  g_autoptr (Snapshot) snap = hyrsm_support_snapshot_acquire (self, NULL);
  return index < snap->examples->len ?
      ((Example *) g_ptr_array_index (snap->examples, index))->d.s : NULL;
}

void
hyrsm_match_trace_free (HyrsmMatchTrace *trace)
{
  if (trace == NULL)
    return;
  g_free (trace->g);
  g_free (trace->e);
  g_free (trace->token_distances);
  g_free (trace);
}
