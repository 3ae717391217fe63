/* hyrsm-relation.h: the HyRSM++ relation head and the set-matching metric
 * (docs/model.md sections 4 to 6), private to libhyrsm.
 *
 * The heavy products go through the model's backend (gemm_nt), except on
 * the CPU, where each weight of the query path is packed once (when the
 * head is first used) for hyrsm_gemm_packed_nt() (hyrsm-gemm-thin.h); the small
 * reductions (LayerNorm statistics, softmax, attention over T or M+1
 * tokens, cosine similarities) are done here in double so that float32
 * results stay within 1e-4 of a float64 reference. A backend with the
 * optional relation entries (relation_intra, relation_inter: CUDA) runs
 * sections 4 and 5's attention blocks on its device instead; the fused
 * rows and Bi-MHM (section 6) run here, batched over the queries.
 *
 * Thread safety: a HyrsmRelation is read-only once made, and every function
 * below may run in any number of threads at once.
 */
#pragma once

#include "hyrsm-model-private.h"

G_BEGIN_DECLS

typedef struct _HyrsmRelation HyrsmRelation;

/* The relation head of @model with what is derived once per model (on the
 * CPU every weight of the query path packed for hyrsm_gemm_packed_nt(),
 * elsewhere the two halves of the fuse weight and the fc weight's heads as
 * contiguous matrices), created on first use and owned by the model. NULL
 * when the model has no head. */
const HyrsmRelation *hyrsm_relation_get (HyrsmModel *model);

int hyrsm_relation_get_frames (const HyrsmRelation *rel);       /* T */
int hyrsm_relation_get_dim (const HyrsmRelation *rel);  /* D */

/* Intra-video relation (section 4): @features (T x D) -> @s (T x D). */
gboolean hyrsm_relation_intra (const HyrsmRelation *rel,
    const float *features, float *s, GError **error);

/* The same for @n videos at once (@features, @s: n x T x D): every weight
 * is read once for all of them. */
gboolean hyrsm_relation_intra_batch (const HyrsmRelation *rel,
    const float *features, int n, float *s, GError **error);

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

/* ---- section 5 split at the query (the cached path) ----
 *
 * In the inter-relation of M support tokens and one query, everything of
 * the M support rows and columns is query-independent: their Q, K, V and
 * the M x M support-support logits. Softmax over the M + 1 tokens of a
 * support row i (head h) is then finished per query exactly:
 *   m' = max (m_ih, l_iq), a = s_ih e^(m_ih - m') / Z, b = e^(l_iq - m') / Z,
 *   Z = s_ih e^(m_ih - m') + e^(l_iq - m'),
 *   O_ih = a Abar_ih + b V_qh,
 * with m_ih, s_ih the max and exp-sum of the row's M support logits and
 * Abar_ih its support-only attention output; and since the output
 * projection is linear, O_i Wf^T = sum_h a P_ih + b R_h with
 * P_ih = Abar_ih Wf_h^T cached and R_h = V_qh Wf_h^T once per query
 * (Wf_h: the d columns of head h). A query costs O (M D) here instead of
 * O (M^2 D + M D^2). */

/* Per-token inputs of the inter-relation: @q, @k, @v (n x D each) =
 * @u (n x D) times Wq^T, Wk^T, Wv^T. Query-independent for supports. */
gboolean hyrsm_relation_token_qkv (const HyrsmRelation *rel, const float *u,
    int n, float *q, float *k, float *v, GError **error);

/* Both products that need only videos' S, for @n videos: @w2a_s (n T x D)
 * = @s W2a^T (hyrsm_relation_fuse_frames()) and @q, @k, @v (n x D each)
 * of their token means @u (hyrsm_relation_token_qkv()). On the CPU they
 * run side by side in one parallel region: from about 8 videos on, the
 * first waits on arithmetic and the second on memory, so together they
 * take little more than the first alone. */
gboolean hyrsm_relation_fuse_frames_and_token_qkv (const HyrsmRelation *rel,
    const float *s, const float *u, int n, float *w2a_s, float *q, float *k,
    float *v, GError **error);

typedef struct _HyrsmInterSupport HyrsmInterSupport;

/* The query-independent terms of @n_tokens support tokens (M >= 1):
 * takes @u, @q, @k, @v (M x D each, from hyrsm_relation_token_qkv) and
 * computes the row statistics and P. Cost O (M^2 D + M D^2), once. */
HyrsmInterSupport *hyrsm_inter_support_new_take (const HyrsmRelation *rel,
    float *u, float *q, float *k, float *v, int n_tokens, GError **error);
void hyrsm_inter_support_free (HyrsmInterSupport *sup);

typedef struct _HyrsmInterQueries HyrsmInterQueries;

/* The per-query terms of @n queries against @sup: takes their Q, K, V
 * (@qkv: three n x D blocks, Q then K then V, from
 * hyrsm_relation_token_qkv() of @u_q, their n x D token means) and
 * computes R_h and their own inter-relation output g_q. On error, @qkv is
 * freed too. */
HyrsmInterQueries *hyrsm_inter_queries_new_take (const HyrsmRelation *rel,
    const HyrsmInterSupport *sup, const float *u_q, float *qkv, int n,
    GError **error);
void hyrsm_inter_queries_free (HyrsmInterQueries *iq);

/* Query @b's inter-relation output (D, after the ReLU). */
const float *hyrsm_inter_queries_peek_g (const HyrsmInterQueries *iq, int b);

/* The M support tokens' inter-relation outputs for queries @b0 ..
 * @b0 + @nb - 1: query b0 + j's in @g + j @g_stride (M x D each, after the
 * ReLU), O (M D) work per query, all in one parallel region. Thread-safe
 * for distinct @g. */
void hyrsm_inter_support_rows (const HyrsmRelation *rel,
    const HyrsmInterSupport *sup, const HyrsmInterQueries *iq, int b0,
    int nb, float *g, gsize g_stride);

/* Query-dependent half of the fuse: @out (n_tokens x D) = @g W2b^T + b2. */
gboolean hyrsm_relation_fuse_tokens (const HyrsmRelation *rel,
    const float *g, int n_tokens, float *out, GError **error);

/* @e (T x D) = @frames_part (T x D, W2a S) + @token_part (D, W2b g + b2)
 * added to every row. */
void hyrsm_relation_fuse_add (const HyrsmRelation *rel,
    const float *frames_part, const float *token_part, float *e);

/* @e (T x D, in double) = @frames_part + @token_part as
 * hyrsm_relation_fuse_add() computes it in float, widened for the metric,
 * and @norms (T) its row norms (max (||e_t||, 1e-12)). */
void hyrsm_relation_fuse_rows_f64 (const HyrsmRelation *rel,
    const float *frames_part, const float *token_part, double *e,
    double *norms);

/* hyrsm_bimhm() between a token's E = @frames_part (T x D, W2a S) +
 * @token_part (D, W2b g + b2), summed in float as
 * hyrsm_relation_fuse_add() does but never stored, and the query's @e_q
 * (T x D, from hyrsm_relation_fuse_rows_f64()) with its @q_norms. */
double hyrsm_bimhm_fused (const HyrsmRelation *rel, const float *frames_part,
    const float *token_part, const double *e_q, const double *q_norms);

/* Row norms of @e (rows x D), each max(||e_i||, 1e-12), for hyrsm_bimhm. */
void hyrsm_row_norms (const float *e, int rows, int dim, double *norms);

/* Bidirectional Mean Hausdorff Metric (section 6) between two sets of
 * @rows vectors of width @dim with their hyrsm_row_norms():
 * sum_i min_j c[i,j] + sum_j min_i c[i,j], c = 1 - cosine similarity. */
double hyrsm_bimhm (const float *a, const double *a_norms, const float *b,
    const double *b_norms, int rows, int dim);

G_END_DECLS
