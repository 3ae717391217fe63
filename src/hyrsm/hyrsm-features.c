/* hyrsm-features.c: reading and writing `.hyrsm` feature files (the
 * format is described in hyrsm-features.h), on top of the safetensors
 * reader and writer. Loading validates everything against the model the
 * features are meant for, so a file from another model or a damaged file
 * fails with an error that names it instead of giving wrong matches. */
#include "hyrsm-features.h"
#include "hyrsm-error.h"
#include "hyrsm-safetensors.h"

#include <string.h>

/**
 * hyrsm_features_save: (skip)
 * @path: the file to write (replaced atomically if it exists)
 * @features: (array): @frames x @dim float32 values, frame-major
 * @frames: T, the number of frames
 * @dim: D, the feature width
 * @fingerprint: (nullable): the fingerprint of the model that computed
 *   @features (hyrsm_model_get_fingerprint()); %NULL leaves it out, and
 *   the file is then accepted by any model of the same T and D
 * @source: (nullable): the name of the clip the features come from
 * @extra: (nullable) (element-type utf8 utf8): more metadata (string keys
 *   and values), e.g. %HYRSM_FEATURES_KEY_SOURCE_SIZE; it cannot override
 *   the three keys above
 * @error: return location for a #GError
 *
 * Writes a feature file. The file is written to a temporary name first and
 * renamed, so readers never see half a file.
 *
 * Returns: %TRUE on success, %FALSE with @error set
 */
gboolean
hyrsm_features_save (const char *path, const float *features, guint frames,
    guint dim, const char *fingerprint, const char *source, GHashTable *extra,
    GError **error)
{
  g_return_val_if_fail (path != NULL, FALSE);
  g_return_val_if_fail (features != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);
  if (frames == 0 || dim == 0) {
    g_set_error (error, HYRSM_ERROR, HYRSM_ERROR_INVALID_ARGUMENT,
        "%s: cannot save %u x %u features", path, frames, dim);
    return FALSE;
  }

  g_autoptr (GHashTable) meta = g_hash_table_new_full (g_str_hash,
      g_str_equal, g_free, g_free);
  if (extra) {
    GHashTableIter it;
    gpointer k, v;
    g_hash_table_iter_init (&it, extra);
    while (g_hash_table_iter_next (&it, &k, &v))
      if (k && v)
        g_hash_table_insert (meta, g_strdup (k), g_strdup (v));
  }
  g_hash_table_insert (meta, g_strdup (HYRSM_FEATURES_KEY_FRAMES),
      g_strdup_printf ("%u", frames));
  if (fingerprint)
    g_hash_table_insert (meta, g_strdup (HYRSM_FEATURES_KEY_FINGERPRINT),
        g_strdup (fingerprint));
  else
    g_hash_table_remove (meta, HYRSM_FEATURES_KEY_FINGERPRINT);
  if (source)
    g_hash_table_insert (meta, g_strdup (HYRSM_FEATURES_KEY_SOURCE),
        g_strdup (source));

  HyrsmTensorWrite t = {
    .name = HYRSM_FEATURES_TENSOR,
    .rank = 2,
    .shape = {frames, dim},
    .data = features,
  };
  return hyrsm_safetensors_write (path, &t, 1, meta, error);
}

/* The "features" tensor of @st, checked to be F32 [T, D] for @model. */
static const HyrsmTensorInfo *
check_tensor (const HyrsmSafetensors *st, const char *path, HyrsmModel *model,
    GError **error)
{
  guint T = hyrsm_model_get_frames (model);
  guint D = hyrsm_model_get_feature_dim (model);
  const HyrsmTensorInfo *t = hyrsm_safetensors_lookup (st,
      HYRSM_FEATURES_TENSOR);
  if (t == NULL) {
    g_set_error (error, HYRSM_ERROR, HYRSM_ERROR_MISSING_TENSOR,
        "%s: no tensor \"" HYRSM_FEATURES_TENSOR "\": not a feature file",
        path);
    return NULL;
  }
  if (t->dtype != HYRSM_DTYPE_F32) {
    g_set_error (error, HYRSM_ERROR, HYRSM_ERROR_BAD_DTYPE,
        "%s: tensor \"" HYRSM_FEATURES_TENSOR "\" is %s, expected F32", path,
        hyrsm_dtype_to_string (t->dtype));
    return NULL;
  }
  if (t->rank != 2 || t->shape[0] != T || t->shape[1] != D) {
    GString *shape = g_string_new (NULL);
    for (int i = 0; i < t->rank; i++)
      g_string_append_printf (shape, "%s%" G_GINT64_FORMAT, i ? " x " : "",
          t->shape[i]);
    g_set_error (error, HYRSM_ERROR, HYRSM_ERROR_SHAPE_MISMATCH,
        "%s: tensor \"" HYRSM_FEATURES_TENSOR "\" is [%s], but model %s "
        "needs %u x %u (frames x feature width)", path, shape->str,
        hyrsm_model_get_path (model), T, D);
    g_string_free (shape, TRUE);
    return NULL;
  }
  return t;
}

/* The metadata that must agree with @model and the tensor. */
static gboolean
check_metadata (const HyrsmSafetensors *st, const char *path,
    HyrsmModel *model, GError **error)
{
  const char *fp = hyrsm_safetensors_get_metadata (st,
      HYRSM_FEATURES_KEY_FINGERPRINT);
  const char *model_fp = hyrsm_model_get_fingerprint (model);
  if (fp && model_fp && !g_str_equal (fp, model_fp)) {
    g_set_error (error, HYRSM_ERROR, HYRSM_ERROR_BAD_METADATA,
        "%s: the features were computed by another model (fingerprint %s), "
        "not by %s (fingerprint %s)", path, fp, hyrsm_model_get_path (model),
        model_fp);
    return FALSE;
  }
  const char *frames = hyrsm_safetensors_get_metadata (st,
      HYRSM_FEATURES_KEY_FRAMES);
  guint64 n;
  if (frames && (!g_ascii_string_to_unsigned (frames, 10, 1, G_MAXUINT, &n,
              NULL) || n != hyrsm_model_get_frames (model))) {
    g_set_error (error, HYRSM_ERROR, HYRSM_ERROR_BAD_METADATA,
        "%s: __metadata__ " HYRSM_FEATURES_KEY_FRAMES " is \"%s\", but the "
        "tensor has %u frames", path, frames, hyrsm_model_get_frames (model));
    return FALSE;
  }
  return TRUE;
}

/**
 * hyrsm_features_load_full: (skip)
 * @path: a feature file
 * @model: the model the features must belong to
 * @features_out: (out) (transfer full) (optional): T x D floats, free
 *   with g_free()
 * @metadata: (out) (transfer full) (optional) (element-type utf8 utf8):
 *   every metadata entry of the file (empty when it has none)
 * @error: return location for a #GError
 *
 * Loads a feature file and checks it against @model: the tensor must be
 * float32 of T x D (#HyrsmModel:frames x #HyrsmModel:feature-dim), and the
 * fingerprint, where the file has one, must be @model's.
 *
 * Returns: %TRUE on success; %FALSE with @error set, naming @path:
 *   %HYRSM_ERROR_FILE_NOT_FOUND, %HYRSM_ERROR_BAD_FORMAT (not a
 *   safetensors file, truncated), %HYRSM_ERROR_MISSING_TENSOR,
 *   %HYRSM_ERROR_BAD_DTYPE, %HYRSM_ERROR_SHAPE_MISMATCH, or
 *   %HYRSM_ERROR_BAD_METADATA (another model's fingerprint, frames
 *   disagreeing with the tensor)
 */
gboolean
hyrsm_features_load_full (const char *path, HyrsmModel *model,
    float **features_out, GHashTable **metadata, GError **error)
{
  g_return_val_if_fail (path != NULL, FALSE);
  g_return_val_if_fail (HYRSM_IS_MODEL (model), FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  HyrsmSafetensors *st = hyrsm_safetensors_open (path, error);
  if (st == NULL)
    return FALSE;
  const HyrsmTensorInfo *t = check_tensor (st, path, model, error);
  gboolean ok = t != NULL && check_metadata (st, path, model, error);
  if (ok && features_out) {
    *features_out = g_try_malloc (t->n_bytes);
    if (*features_out == NULL) {
      g_set_error (error, HYRSM_ERROR, HYRSM_ERROR_BACKEND,
          "%s: out of memory for %" G_GSIZE_FORMAT " bytes of features",
          path, t->n_bytes);
      ok = FALSE;
    } else {
      hyrsm_tensor_copy_f32 (t, *features_out);
    }
  }
  if (ok && metadata) {
    *metadata = g_hash_table_new_full (g_str_hash, g_str_equal, g_free,
        g_free);
    GHashTable *table = hyrsm_safetensors_get_metadata_table (st);
    if (table) {
      GHashTableIter it;
      gpointer k, v;
      g_hash_table_iter_init (&it, table);
      while (g_hash_table_iter_next (&it, &k, &v))
        g_hash_table_insert (*metadata, g_strdup (k), g_strdup (v));
    }
  }
  hyrsm_safetensors_free (st);
  return ok;
}

/**
 * hyrsm_features_load: (skip)
 * @path: a feature file
 * @model: the model the features must belong to
 * @features_out: (out) (transfer full): T x D floats, free with g_free()
 * @source: (out) (transfer full) (optional) (nullable): the clip the
 *   features come from, %NULL when the file does not say
 * @error: return location for a #GError
 *
 * Loads a feature file and checks it against @model, as
 * hyrsm_features_load_full() does.
 *
 * Returns: %TRUE on success, %FALSE with @error set (naming @path)
 */
gboolean
hyrsm_features_load (const char *path, HyrsmModel *model,
    float **features_out, char **source, GError **error)
{
  g_autoptr (GHashTable) meta = NULL;
  if (!hyrsm_features_load_full (path, model, features_out,
          source ? &meta : NULL, error))
    return FALSE;
  if (source)
    *source = g_strdup (g_hash_table_lookup (meta, HYRSM_FEATURES_KEY_SOURCE));
  return TRUE;
}

/**
 * hyrsm_features_save_bytes: (rename-to hyrsm_features_save)
 * @path: the file to write (replaced atomically if it exists)
 * @model: the model that computed @features (gives T, D and the
 *   fingerprint)
 * @features: T x D float32 values in native byte order, frame-major, as
 *   hyrsm_model_embed_frames() gives them
 * @source: (nullable): the name of the clip the features come from
 * @error: return location for a #GError
 *
 * Writes the features of one example video as a `.hyrsm` feature file for
 * @model.
 *
 * Returns: %TRUE on success, %FALSE with @error set
 */
gboolean
hyrsm_features_save_bytes (const char *path, HyrsmModel *model,
    GBytes *features, const char *source, GError **error)
{
  g_return_val_if_fail (path != NULL, FALSE);
  g_return_val_if_fail (HYRSM_IS_MODEL (model), FALSE);
  g_return_val_if_fail (features != NULL, FALSE);
  guint T = hyrsm_model_get_frames (model);
  guint D = hyrsm_model_get_feature_dim (model);
  gsize size;
  const float *data = g_bytes_get_data (features, &size);
  if (size != (gsize) T * D * sizeof (float)) {
    g_set_error (error, HYRSM_ERROR, HYRSM_ERROR_SHAPE_MISMATCH,
        "%s: %" G_GSIZE_FORMAT " bytes of features, but model %s needs "
        "%u x %u float32 values (%" G_GSIZE_FORMAT " bytes)", path, size,
        hyrsm_model_get_path (model), T, D, (gsize) T * D * sizeof (float));
    return FALSE;
  }
  /* GBytes data need not be aligned for floats: copy when it is not. */
  g_autofree float *copy = NULL;
  if (((guintptr) data) % G_ALIGNOF (float) != 0)
    data = copy = g_memdup2 (data, size);
  return hyrsm_features_save (path, data, T, D,
      hyrsm_model_get_fingerprint (model), source, NULL, error);
}

/**
 * hyrsm_features_load_bytes: (rename-to hyrsm_features_load)
 * @path: a feature file
 * @model: the model the features must belong to
 * @source: (out) (transfer full) (optional) (nullable): the clip the
 *   features come from, %NULL when the file does not say
 * @error: return location for a #GError
 *
 * Loads a `.hyrsm` feature file and checks it against @model (see
 * hyrsm_features_load_full()).
 *
 * Returns: (transfer full): T x D float32 values in native byte order, as
 *   hyrsm_support_set_add() takes them, or %NULL with @error set
 */
GBytes *
hyrsm_features_load_bytes (const char *path, HyrsmModel *model,
    char **source, GError **error)
{
  float *features = NULL;
  if (!hyrsm_features_load (path, model, &features, source, error))
    return NULL;
  gsize size = (gsize) hyrsm_model_get_frames (model)
      * hyrsm_model_get_feature_dim (model) * sizeof (float);
  return g_bytes_new_take (features, size);
}
