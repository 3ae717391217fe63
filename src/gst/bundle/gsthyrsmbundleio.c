/* gsthyrsmbundleio.c: support-set bundles meet models, support sets,
 * directories and key files (gsthyrsmbundle.h). */
#include "gsthyrsmbundle.h"

#include <errno.h>
#include <glib/gstdio.h>
#include <string.h>

/**
 * gst_hyrsm_bundle_check_model:
 * @self: a bundle
 * @model: the model it is meant for
 * @error: return location for a #GError
 *
 * Returns: %TRUE when @self was computed by @model (same fingerprint, T
 *   and D), else %FALSE with %GST_HYRSM_BUNDLE_ERROR_WRONG_MODEL naming both
 */
gboolean
gst_hyrsm_bundle_check_model (GstHyrsmBundle *self, HyrsmModel *model,
    GError **error)
{
  const char *fp = hyrsm_model_get_fingerprint (model);
  if (g_strcmp0 (fp, gst_hyrsm_bundle_get_fingerprint (self)) != 0) {
    g_set_error (error, GST_HYRSM_BUNDLE_ERROR,
        GST_HYRSM_BUNDLE_ERROR_WRONG_MODEL, "bundle: computed by another "
        "model (fingerprint %s), not by %s (fingerprint %s)",
        gst_hyrsm_bundle_get_fingerprint (self),
        hyrsm_model_get_path (model), fp);
    return FALSE;
  }
  guint T = hyrsm_model_get_frames (model);
  guint D = hyrsm_model_get_feature_dim (model);
  if (gst_hyrsm_bundle_get_frames (self) != T
      || gst_hyrsm_bundle_get_dim (self) != D) {
    g_set_error (error, GST_HYRSM_BUNDLE_ERROR,
        GST_HYRSM_BUNDLE_ERROR_WRONG_MODEL, "bundle: %u x %u features, but "
        "model %s needs %u x %u", gst_hyrsm_bundle_get_frames (self),
        gst_hyrsm_bundle_get_dim (self), hyrsm_model_get_path (model), T, D);
    return FALSE;
  }
  return TRUE;
}

/**
 * gst_hyrsm_bundle_to_support_set:
 * @self: a bundle
 * @model: the model to match with; checked first
 * @error: return location for a #GError
 *
 * Returns: (transfer full): a support set holding every example, or %NULL
 *   with @error set
 */
HyrsmSupportSet *
gst_hyrsm_bundle_to_support_set (GstHyrsmBundle *self, HyrsmModel *model,
    GError **error)
{
  if (!gst_hyrsm_bundle_check_model (self, model, error))
    return NULL;
  HyrsmSupportSet *set = hyrsm_support_set_new (model);
  guint n = gst_hyrsm_bundle_get_n_examples (self);
  for (guint i = 0; i < n; i++) {
    const char *label;
    const float *f;
    gst_hyrsm_bundle_get_example (self, i, &label, NULL, &f);
    if (!hyrsm_support_set_add_raw (set, label, f, error)) {
      g_object_unref (set);
      return NULL;
    }
  }
  return set;
}

/**
 * gst_hyrsm_bundle_from_support_dir:
 * @dir: a support set loaded with %GST_HYRSM_SUPPORT_DIR_KEEP_FEATURES
 * @model: the model it was loaded with
 * @version: the bundle's version
 * @origin: (nullable): who publishes it
 * @error: return location for a #GError
 *
 * Returns: (transfer full): a bundle of every example of @dir, or %NULL
 *   with @error set (%GST_HYRSM_BUNDLE_ERROR_INVALID when @dir kept no
 *   features or a label cannot be a bundle label)
 */
GstHyrsmBundle *
gst_hyrsm_bundle_from_support_dir (GstHyrsmSupportDir *dir, HyrsmModel *model,
    guint64 version, const gchar *origin, GError **error)
{
  guint T = hyrsm_model_get_frames (model);
  guint D = hyrsm_model_get_feature_dim (model);
  g_autoptr (GstHyrsmBundle) b = gst_hyrsm_bundle_new (
      hyrsm_model_get_fingerprint (model), T, D, version, origin,
      g_get_real_time (), error);
  if (b == NULL)
    return NULL;
  const char *label, *file;
  GBytes *features;
  for (guint i = 0; gst_hyrsm_support_dir_get_example (dir, i, &label, &file,
          &features); i++) {
    gsize size = 0;
    const float *f = features ? g_bytes_get_data (features, &size) : NULL;
    if (f == NULL || size != (gsize) T * D * sizeof (float)) {
      g_set_error (error, GST_HYRSM_BUNDLE_ERROR,
          GST_HYRSM_BUNDLE_ERROR_INVALID, "%s: no features kept for %s "
          "(load the set with GST_HYRSM_SUPPORT_DIR_KEEP_FEATURES)",
          gst_hyrsm_support_dir_get_path (dir), file);
      return NULL;
    }
    /* GBytes data need not be aligned for floats. */
    g_autofree float *copy = NULL;
    if (((guintptr) f) % G_ALIGNOF (float) != 0)
      f = copy = g_memdup2 (f, size);
    if (!gst_hyrsm_bundle_add (b, label, file, f, error))
      return NULL;
  }
  return g_steal_pointer (&b);
}

static gboolean
dir_is_empty_or_missing (const char *path, GError **error)
{
  GError *e = NULL;
  GDir *d = g_dir_open (path, 0, &e);
  if (d == NULL) {
    gboolean missing = g_error_matches (e, G_FILE_ERROR, G_FILE_ERROR_NOENT);
    if (!missing)
      g_set_error (error, GST_HYRSM_BUNDLE_ERROR, GST_HYRSM_BUNDLE_ERROR_IO,
          "%s: %s", path, e->message);
    g_error_free (e);
    return missing;
  }
  gboolean empty = g_dir_read_name (d) == NULL;
  g_dir_close (d);
  if (!empty)
    g_set_error (error, GST_HYRSM_BUNDLE_ERROR, GST_HYRSM_BUNDLE_ERROR_IO,
        "%s: exists and is not empty: remove it or pull into another "
        "directory", path);
  return empty;
}

static void
rm_tree (const char *path)
{
  GDir *d = g_dir_open (path, 0, NULL);
  if (d) {
    const char *name;
    while ((name = g_dir_read_name (d))) {
      g_autofree char *p = g_build_filename (path, name, NULL);
      if (g_file_test (p, G_FILE_TEST_IS_DIR)
          && !g_file_test (p, G_FILE_TEST_IS_SYMLINK))
        rm_tree (p);
      else
        g_unlink (p);
    }
    g_dir_close (d);
  }
  g_rmdir (path);
}

/**
 * gst_hyrsm_bundle_write_dir:
 * @self: a bundle
 * @dir: a directory that does not exist yet or is empty
 * @error: return location for a #GError
 *
 * Writes @self as a support-set directory of feature files,
 * @dir/<label>/<n>.hyrsm (n from 1 in bundle order), each carrying the
 * bundle's fingerprint and the example's source. The files are written
 * into a hidden sibling first and renamed into place, so a failure leaves
 * no half set behind.
 *
 * Returns: %TRUE, or %FALSE with @error set
 */
gboolean
gst_hyrsm_bundle_write_dir (GstHyrsmBundle *self, const gchar *dir,
    GError **error)
{
  if (!dir_is_empty_or_missing (dir, error))
    return FALSE;
  g_autofree char *parent = g_path_get_dirname (dir);
  g_autofree char *base = g_path_get_basename (dir);
  g_autofree char *tmpl = g_strdup_printf (".%s.pull-XXXXXX", base);
  g_autofree char *tmp = g_build_filename (parent, tmpl, NULL);
  if (g_mkdtemp (tmp) == NULL) {
    g_set_error (error, GST_HYRSM_BUNDLE_ERROR, GST_HYRSM_BUNDLE_ERROR_IO,
        "%s: cannot create a folder next to it: %s", dir, g_strerror (errno));
    return FALSE;
  }
  g_autoptr (GHashTable) counts = g_hash_table_new (g_str_hash, g_str_equal);
  guint n = gst_hyrsm_bundle_get_n_examples (self);
  for (guint i = 0; i < n; i++) {
    const char *label, *source;
    const float *f;
    gst_hyrsm_bundle_get_example (self, i, &label, &source, &f);
    guint k = GPOINTER_TO_UINT (g_hash_table_lookup (counts, label)) + 1;
    g_hash_table_insert (counts, (gpointer) label, GUINT_TO_POINTER (k));
    g_autofree char *ldir = g_build_filename (tmp, label, NULL);
    g_autofree char *name = g_strdup_printf ("%u" HYRSM_FEATURES_EXTENSION, k);
    g_autofree char *path = g_build_filename (ldir, name, NULL);
    GError *e = NULL;
    if (g_mkdir_with_parents (ldir, 0755) != 0) {
      g_set_error (error, GST_HYRSM_BUNDLE_ERROR, GST_HYRSM_BUNDLE_ERROR_IO,
          "%s: %s", ldir, g_strerror (errno));
      rm_tree (tmp);
      return FALSE;
    }
    if (!hyrsm_features_save (path, f, gst_hyrsm_bundle_get_frames (self),
            gst_hyrsm_bundle_get_dim (self),
            gst_hyrsm_bundle_get_fingerprint (self), source, NULL, &e)) {
      g_set_error (error, GST_HYRSM_BUNDLE_ERROR, GST_HYRSM_BUNDLE_ERROR_IO,
          "%s", e->message);
      g_error_free (e);
      rm_tree (tmp);
      return FALSE;
    }
  }
  /* An empty @dir is replaced; rename() refuses a non-empty one, which
   * keeps a folder someone filled meanwhile. */
  g_rmdir (dir);
  if (g_rename (tmp, dir) != 0) {
    g_set_error (error, GST_HYRSM_BUNDLE_ERROR, GST_HYRSM_BUNDLE_ERROR_IO,
        "%s: cannot move the pulled set into place: %s", dir,
        g_strerror (errno));
    rm_tree (tmp);
    return FALSE;
  }
  return TRUE;
}

/* The most a key file may hold: keys are short secrets; a large file is
 * most likely the wrong file. */
#define MAX_KEY_SIZE 4096

/**
 * gst_hyrsm_bundle_load_key:
 * @path: a file holding the shared key
 * @error: return location for a #GError
 *
 * Reads a key file: its bytes, less one trailing "\n" or "\r\n" (so that
 * `echo SECRET > key` and `printf SECRET > key` give the same key).
 *
 * Returns: (transfer full): the key, or %NULL with @error set (missing,
 *   unreadable, empty, over 4096 bytes)
 */
GBytes *
gst_hyrsm_bundle_load_key (const gchar *path, GError **error)
{
  gchar *data;
  gsize size;
  GError *e = NULL;
  if (!g_file_get_contents (path, &data, &size, &e)) {
    g_set_error (error, GST_HYRSM_BUNDLE_ERROR, GST_HYRSM_BUNDLE_ERROR_IO,
        "key file %s", e->message);
    g_error_free (e);
    return NULL;
  }
  if (size > 0 && data[size - 1] == '\n')
    size--;
  if (size > 0 && data[size - 1] == '\r')
    size--;
  if (size == 0 || size > MAX_KEY_SIZE) {
    g_set_error (error, GST_HYRSM_BUNDLE_ERROR, GST_HYRSM_BUNDLE_ERROR_IO,
        "key file %s: %s", path, size ? "over 4096 bytes" : "empty");
    g_free (data);
    return NULL;
  }
  return g_bytes_new_take (data, size);
}
