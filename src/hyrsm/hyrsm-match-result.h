/* hyrsm-match-result.h: the outcome of matching one query against a
 * support set (per-class distances, best label, confidence).
 *
 * Thread safety: a HyrsmMatchResult is immutable; it may be read from any
 * thread.
 */
#pragma once

#include <glib-object.h>
#include "hyrsm-export.h"

G_BEGIN_DECLS

/**
 * HYRSM_UNKNOWN_LABEL:
 *
 * The label a #HyrsmMatchResult reports when the best class distance is
 * above the support set's threshold.
 */
#define HYRSM_UNKNOWN_LABEL "unknown"

#define HYRSM_TYPE_MATCH_RESULT (hyrsm_match_result_get_type ())
HYRSM_API
G_DECLARE_FINAL_TYPE (HyrsmMatchResult, hyrsm_match_result, HYRSM,
    MATCH_RESULT, GObject)

HYRSM_API
guint hyrsm_match_result_get_n_classes (HyrsmMatchResult *self);
HYRSM_API
const char *const *hyrsm_match_result_get_labels (HyrsmMatchResult *self);
HYRSM_API
const double *hyrsm_match_result_get_distances (HyrsmMatchResult *self,
    guint *n_distances);
HYRSM_API
guint hyrsm_match_result_get_best_index (HyrsmMatchResult *self);
HYRSM_API
const char *hyrsm_match_result_get_label (HyrsmMatchResult *self);
HYRSM_API
double hyrsm_match_result_get_distance (HyrsmMatchResult *self);
HYRSM_API
double hyrsm_match_result_get_confidence (HyrsmMatchResult *self);
HYRSM_API
double hyrsm_match_result_get_threshold (HyrsmMatchResult *self);
HYRSM_API
gboolean hyrsm_match_result_is_unknown (HyrsmMatchResult *self);

G_END_DECLS
