/* hyrsm-support-set-private.h: the parts of HyrsmSupportSet and
 * HyrsmMatchResult that only libhyrsm and its tests use (private). */
#pragma once

#include "hyrsm-support-set.h"

G_BEGIN_DECLS

/* Takes @labels (NULL-terminated, @n_classes entries) and @distances
 * (@n_classes). */
HyrsmMatchResult *hyrsm_match_result_new_take (char **labels,
    double *distances, guint n_classes, double threshold);

/* The intermediates of one query (for tests). Rows are tokens: the M
 * support tokens in the order the relation used them (examples in insertion
 * order for the 1-shot rule, classes in first-insertion order for the
 * 5-shot rule), then the query. */
typedef struct
{
  int n_tokens;                 /* M (the arrays hold M + 1 rows) */
  gboolean prototypes;          /* tokens are class prototypes (5-shot rule) */
  float *g;                     /* (M+1) x D inter-relation output; NULL
                                 * for a backbone-only model */
  float *e;                     /* (M+1) x T x D what the metric compared
                                 * (fused E, or raw features) */
  double *token_distances;      /* M: Bi-MHM distance of each token */
} HyrsmMatchTrace;

void hyrsm_match_trace_free (HyrsmMatchTrace *trace);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (HyrsmMatchTrace, hyrsm_match_trace_free)

/* hyrsm_support_set_match_raw() that also returns the intermediates. */
HyrsmMatchResult *hyrsm_support_set_match_traced (HyrsmSupportSet *self,
    const float *query, HyrsmMatchTrace **trace, GError **error);

/* The intra-relation output S (T x D) cached for example @index (insertion
 * order), NULL when the model has no head or @index is out of range. Valid
 * until the set changes. */
const float *hyrsm_support_set_peek_intra (HyrsmSupportSet *self,
    guint index);

G_END_DECLS
