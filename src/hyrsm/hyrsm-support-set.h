/* hyrsm-support-set.h: labelled example videos (as T x D backbone
 * features) and matching a query video against them.
 *
 * Thread safety: every function may be called from any thread at any time.
 * hyrsm_support_set_match() (and _match_batch()) may run in any number of
 * threads at once; it
 * works on a snapshot of the set taken when it starts, so it never waits for
 * hyrsm_support_set_add() or hyrsm_support_set_remove_label() (which are
 * serialized among themselves), and they never wait for it.
 */
#pragma once

#include <glib-object.h>
#include "hyrsm-export.h"
#include "hyrsm-model.h"
#include "hyrsm-match-result.h"

G_BEGIN_DECLS

#define HYRSM_TYPE_SUPPORT_SET (hyrsm_support_set_get_type ())
HYRSM_API
G_DECLARE_FINAL_TYPE (HyrsmSupportSet, hyrsm_support_set, HYRSM,
    SUPPORT_SET, GObject)

HYRSM_API
HyrsmSupportSet *hyrsm_support_set_new (HyrsmModel *model);

HYRSM_API
HyrsmModel *hyrsm_support_set_get_model (HyrsmSupportSet *self);

HYRSM_API
gboolean hyrsm_support_set_add (HyrsmSupportSet *self, const char *label,
    GBytes *features, GError **error);
HYRSM_API
gboolean hyrsm_support_set_add_raw (HyrsmSupportSet *self, const char *label,
    const float *features, GError **error);
HYRSM_API
gboolean hyrsm_support_set_remove_label (HyrsmSupportSet *self,
    const char *label, GError **error);

HYRSM_API
guint hyrsm_support_set_get_n_examples (HyrsmSupportSet *self);
HYRSM_API
guint hyrsm_support_set_get_n_classes (HyrsmSupportSet *self);
HYRSM_API
char **hyrsm_support_set_get_labels (HyrsmSupportSet *self);

HYRSM_API
void hyrsm_support_set_set_threshold (HyrsmSupportSet *self,
    double threshold);
HYRSM_API
double hyrsm_support_set_get_threshold (HyrsmSupportSet *self);

HYRSM_API
HyrsmMatchResult *hyrsm_support_set_match (HyrsmSupportSet *self,
    GBytes *query, GError **error);
HYRSM_API
HyrsmMatchResult *hyrsm_support_set_match_raw (HyrsmSupportSet *self,
    const float *query, GError **error);

HYRSM_API
GPtrArray *hyrsm_support_set_match_batch (HyrsmSupportSet *self,
    GBytes *queries, GError **error);
HYRSM_API
gboolean hyrsm_support_set_match_batch_raw (HyrsmSupportSet *self,
    const float *queries, guint n_queries, HyrsmMatchResult **results,
    GError **error);

G_END_DECLS
