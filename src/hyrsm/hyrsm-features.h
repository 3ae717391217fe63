/* hyrsm-features.h: `.hyrsm` feature files, the T x D backbone features of
 * one example video saved next to (or instead of) the video.
 *
 * Format: a safetensors file holding one float32 tensor "features" of shape
 * [T, D] and string metadata:
 *   hyrsm.fingerprint    the fingerprint of the model that computed the
 *                        features (#HyrsmModel:fingerprint)
 *   hyrsm.source         the clip the features come from (a file name)
 *   hyrsm.frames         T, as decimal text
 * and, where the writer knows them:
 *   hyrsm.source-size    the source file's size in bytes
 *   hyrsm.source-mtime   its modification time, microseconds since 1970
 *   hyrsm.duration       the clip's duration in nanoseconds
 *
 * Thread safety: the functions keep no state; any thread may call them.
 */
#pragma once

#include <glib-object.h>
#include "hyrsm-export.h"
#include "hyrsm-model.h"

G_BEGIN_DECLS

/**
 * HYRSM_FEATURES_EXTENSION:
 *
 * The file name extension of feature files, with its dot.
 */
#define HYRSM_FEATURES_EXTENSION ".hyrsm"

/**
 * HYRSM_FEATURES_TENSOR:
 *
 * The name of the T x D float32 tensor in a feature file.
 */
#define HYRSM_FEATURES_TENSOR "features"

/**
 * HYRSM_FEATURES_KEY_FINGERPRINT:
 *
 * Metadata key: the fingerprint of the model that computed the features.
 */
#define HYRSM_FEATURES_KEY_FINGERPRINT "hyrsm.fingerprint"
/**
 * HYRSM_FEATURES_KEY_SOURCE:
 *
 * Metadata key: the name of the clip the features come from.
 */
#define HYRSM_FEATURES_KEY_SOURCE "hyrsm.source"
/**
 * HYRSM_FEATURES_KEY_FRAMES:
 *
 * Metadata key: T, the number of frames (rows of the tensor).
 */
#define HYRSM_FEATURES_KEY_FRAMES "hyrsm.frames"
/**
 * HYRSM_FEATURES_KEY_SOURCE_SIZE:
 *
 * Metadata key: the source file's size in bytes (decimal).
 */
#define HYRSM_FEATURES_KEY_SOURCE_SIZE "hyrsm.source-size"
/**
 * HYRSM_FEATURES_KEY_SOURCE_MTIME:
 *
 * Metadata key: the source file's modification time in microseconds since
 * 1970-01-01 UTC (decimal).
 */
#define HYRSM_FEATURES_KEY_SOURCE_MTIME "hyrsm.source-mtime"
/**
 * HYRSM_FEATURES_KEY_DURATION:
 *
 * Metadata key: the source clip's duration in nanoseconds (decimal).
 */
#define HYRSM_FEATURES_KEY_DURATION "hyrsm.duration"

HYRSM_API
gboolean hyrsm_features_save (const char *path, const float *features,
    guint frames, guint dim, const char *fingerprint, const char *source,
    GHashTable *extra, GError **error);

HYRSM_API
gboolean hyrsm_features_load (const char *path, HyrsmModel *model,
    float **features_out, char **source, GError **error);

HYRSM_API
gboolean hyrsm_features_load_full (const char *path, HyrsmModel *model,
    float **features_out, GHashTable **metadata, GError **error);

HYRSM_API
gboolean hyrsm_features_save_bytes (const char *path, HyrsmModel *model,
    GBytes *features, const char *source, GError **error);

HYRSM_API
GBytes *hyrsm_features_load_bytes (const char *path, HyrsmModel *model,
    char **source, GError **error);

G_END_DECLS
