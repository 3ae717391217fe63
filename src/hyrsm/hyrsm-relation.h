/* hyrsm-relation.h: the HyRSM++ relation head and the set-matching metric
 * (model.md sections 4 to 6), private to libhyrsm.
 *
 * The heavy products go through the model's backend (gemm_nt); the small
 * reductions (LayerNorm statistics, softmax, attention over T or M+1
 * tokens, cosine similarities) are done here in double so that float32
 * results stay within 1e-4 of a float64 reference. A backend with the
 * optional relation entries (relation_intra, relation_inter,
 * token_distances: CUDA) runs sections 4 to 6 on its device instead.
 *
 * Thread safety: a HyrsmRelation is read-only once made, and every function
 * below may run in any number of threads at once.
 */
#pragma once

#include "hyrsm-model-private.h"

G_BEGIN_DECLS

typedef struct _HyrsmRelation HyrsmRelation;

/* The relation head of @model with what is derived once per model (the two
 * halves of the fuse weight as contiguous D x D matrices), created on first
 * use and owned by the model. NULL when the model has no head. */
const HyrsmRelation *hyrsm_relation_get (HyrsmModel *model);

int hyrsm_relation_get_frames (const HyrsmRelation *rel);       /* T */
int hyrsm_relation_get_dim (const HyrsmRelation *rel);  /* D */

/* Intra-video relation (section 4): @features (T x D) -> @s (T x D). */
gboolean hyrsm_relation_intra (const HyrsmRelation *rel,
    const float *features, float *s, GError **error);

/* @u (D) = the mean over the T rows of @s (T x D). */
void hyrsm_relation_token_mean (const HyrsmRelation *rel, const float *s,
    float *u);

/* Query-independent half of the fuse: @out (rows x D) = @s W2a^T. */
gboolean hyrsm_relation_fuse_frames (const HyrsmRelation *rel,
    const float *s, int rows, float *out, GError **error);

/* Inter-video relation (section 5): @u (n_tokens x D, the query last) ->
 * @g (n_tokens x D, after the ReLU). */
gboolean hyrsm_relation_inter (const HyrsmRelation *rel, const float *u,
    int n_tokens, float *g, GError **error);

/* Query-dependent half of the fuse: @out (n_tokens x D) = @g W2b^T + b2. */
gboolean hyrsm_relation_fuse_tokens (const HyrsmRelation *rel,
    const float *g, int n_tokens, float *out, GError **error);

/* @e (T x D) = @frames_part (T x D, W2a S) + @token_part (D, W2b g + b2)
 * added to every row. */
void hyrsm_relation_fuse_add (const HyrsmRelation *rel,
    const float *frames_part, const float *token_part, float *e);

/* The last step of a decision (end of section 5, section 6): for each of
 * @n_tokens support tokens m, E_m = @frames_parts[m] (T x D, W2a S_m) plus
 * row m of @token_parts ((n_tokens + 1) x D, W2b g + b2, the query's row
 * last), E_q = @query_part (T x D) plus the last row, and @dist[m] =
 * Bi-MHM (E_m, E_q). With @e (room for (n_tokens + 1) x T x D: the E_m,
 * then E_q) the fused rows are kept too, and the work is done here in
 * double; without, on the backend's device when it has token_distances. */
gboolean hyrsm_relation_token_distances (const HyrsmRelation *rel,
    const float *query_part, const float *const *frames_parts,
    const float *token_parts, int n_tokens, double *dist, float *e,
    GError **error);

/* Row norms of @e (rows x D), each max(||e_i||, 1e-12), for hyrsm_bimhm. */
void hyrsm_row_norms (const float *e, int rows, int dim, double *norms);

/* Bidirectional Mean Hausdorff Metric (section 6) between two sets of
 * @rows vectors of width @dim with their hyrsm_row_norms():
 * sum_i min_j c[i,j] + sum_j min_i c[i,j], c = 1 - cosine similarity. */
double hyrsm_bimhm (const float *a, const double *a_norms, const float *b,
    const double *b_norms, int rows, int dim);

G_END_DECLS
