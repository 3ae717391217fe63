/* hyrsm-model.h: a loaded HyRSM++ model (backbone and relation head).
 *
 * Thread safety: a HyrsmModel is read-only after hyrsm_model_new_from_file()
 * returns; any number of threads may embed with it at once.
 */
#pragma once

#include <glib-object.h>
#include "hyrsm-export.h"

G_BEGIN_DECLS

#define HYRSM_TYPE_MODEL (hyrsm_model_get_type ())
HYRSM_API
G_DECLARE_FINAL_TYPE (HyrsmModel, hyrsm_model, HYRSM, MODEL, GObject)

HYRSM_API
HyrsmModel *hyrsm_model_new_from_file (const char *path, GError **error);
HYRSM_API
HyrsmModel *hyrsm_model_new_from_file_full (const char *path,
    const char *device, GError **error);

HYRSM_API
HyrsmModel *hyrsm_model_new_full (const char *path, const char *device,
    const char *precision, GError **error);

HYRSM_API
HyrsmModel *hyrsm_model_new_shared (const char *path, const char *device,
    GError **error);
HYRSM_API
HyrsmModel *hyrsm_model_new_shared_full (const char *path, const char *device,
    const char *precision, GError **error);

HYRSM_API
const char *hyrsm_model_get_path (HyrsmModel *self);
HYRSM_API
const char *hyrsm_model_get_backbone (HyrsmModel *self);
HYRSM_API
const char *hyrsm_model_get_head (HyrsmModel *self);
HYRSM_API
gboolean hyrsm_model_has_head (HyrsmModel *self);

/**
 * hyrsm_model_has_backbone:
 * @self: a #HyrsmModel
 *
 * Whether @self has a ResNet backbone, that is whether it can embed frames
 * (hyrsm_model_embed_frames() and the like). A model without one (its
 * #HyrsmModel:backbone is "none") only matches precomputed features; asking
 * it to embed is %HYRSM_ERROR_NO_BACKBONE.
 *
 * Returns: %TRUE when @self has a backbone
 */
HYRSM_API
gboolean hyrsm_model_has_backbone (HyrsmModel *self);
HYRSM_API
guint hyrsm_model_get_frames (HyrsmModel *self);
HYRSM_API
guint hyrsm_model_get_feature_dim (HyrsmModel *self);
HYRSM_API
guint hyrsm_model_get_resize (HyrsmModel *self);
HYRSM_API
guint hyrsm_model_get_crop (HyrsmModel *self);
HYRSM_API
void hyrsm_model_get_mean (HyrsmModel *self, double *r, double *g, double *b);
HYRSM_API
void hyrsm_model_get_std (HyrsmModel *self, double *r, double *g, double *b);
HYRSM_API
double hyrsm_model_get_position_a (HyrsmModel *self);
HYRSM_API
double hyrsm_model_get_position_b (HyrsmModel *self);
HYRSM_API
guint64 hyrsm_model_get_parameter_count (HyrsmModel *self);
HYRSM_API
const char *hyrsm_model_get_fingerprint (HyrsmModel *self);
HYRSM_API
const char *hyrsm_model_get_device (HyrsmModel *self);
HYRSM_API
const char *hyrsm_model_get_precision (HyrsmModel *self);
HYRSM_API
char **hyrsm_model_list_metadata (HyrsmModel *self);
HYRSM_API
const char *hyrsm_model_get_metadata (HyrsmModel *self, const char *key);

/* Embedding (backbone features): see hyrsm-embed.c. */
HYRSM_API
GBytes *hyrsm_model_embed_frames (HyrsmModel *self, GBytes *rgb, guint n,
    guint width, guint height, GError **error);
HYRSM_API
GBytes *hyrsm_model_preprocess_frames (HyrsmModel *self, GBytes *rgb,
    guint n, guint width, guint height, GError **error);
HYRSM_API
GBytes *hyrsm_model_embed_normalized (HyrsmModel *self, GBytes *frames,
    guint n, GError **error);
HYRSM_API
gboolean hyrsm_model_embed_rgb_raw (HyrsmModel *self,
    const guint8 *const *frames, const int *strides, guint n, guint width,
    guint height, float *features, GError **error);

G_END_DECLS
