/* gsthyrsmfeaturecache.c: the cache of the features of decoded clips and
 * frame folders, next to them in the support-set directory.
 *
 * The features of a decoded clip or frame folder are written to
 * DIR/.hyrsm-cache/<fingerprint>/<label>/<name>.hyrsm (<fingerprint>-bf16
 * or -fp16 for a model in that precision), with the source's size and
 * mtime, and reused while both match. When that folder cannot be written,
 * the user cache dir is used instead
 * ($XDG_CACHE_HOME/gst-hyrsm/<hash of DIR>/<fingerprint>/...); when neither
 * works, the load goes on without a cache. A cache problem never fails a
 * load.
 */
#include "gsthyrsmsupport-private.h"

#include <errno.h>
#include <stdlib.h>

#define GST_CAT_DEFAULT gst_hyrsm_support_debug

/* Bumped when what is cached for a clip changes (sampling, pre-decoding),
 * so that older cache files are recomputed. */
#define CACHE_VERSION "1"
#define KEY_CACHE_VERSION "hyrsm.cache-version"
#define KEY_SOURCE_FRAMES "hyrsm.source-frames"

/* ---- source signatures (what the cache is checked against) ---- */

static gboolean
file_signature (const char *path, Signature *sig, GError **error)
{
  g_autoptr (GFile) file = g_file_new_for_path (path);
  g_autoptr (GFileInfo) info = g_file_query_info (file,
      G_FILE_ATTRIBUTE_STANDARD_SIZE "," G_FILE_ATTRIBUTE_TIME_MODIFIED ","
      G_FILE_ATTRIBUTE_TIME_MODIFIED_USEC, G_FILE_QUERY_INFO_NONE, NULL,
      error);
  if (info == NULL)
    return FALSE;
  sig->size = g_file_info_get_size (info);
  sig->mtime = (gint64) g_file_info_get_attribute_uint64 (info,
      G_FILE_ATTRIBUTE_TIME_MODIFIED) * G_USEC_PER_SEC
      + g_file_info_get_attribute_uint32 (info,
      G_FILE_ATTRIBUTE_TIME_MODIFIED_USEC);
  return TRUE;
}

/* A frame folder: total size of its images, latest mtime of the folder and
 * its images (adding, removing or editing a frame changes one of them). */
static gboolean
folder_signature (const char *dir, GPtrArray *images, Signature *sig,
    GError **error)
{
  if (!file_signature (dir, sig, error))
    return FALSE;
  sig->size = 0;
  for (guint i = 0; i < images->len; i++) {
    Signature s;
    g_autofree char *p = g_build_filename (dir, images->pdata[i], NULL);
    if (!file_signature (p, &s, error))
      return FALSE;
    sig->size += s.size;
    sig->mtime = MAX (sig->mtime, s.mtime);
  }
  return TRUE;
}

gboolean
gst_hyrsm_feature_cache_signature (const char *path, GPtrArray *images,
    Signature *sig, GError **error)
{
  return images ? folder_signature (path, images, sig, error)
      : file_signature (path, sig, error);
}

/* ---- the cache roots ---- */

static char *
user_cache_root (const char *dir, const char *fingerprint)
{
  char *real = realpath (dir, NULL);
  char *abs = real ? g_strdup (real) : g_canonicalize_filename (dir, NULL);
  free (real);
  g_autofree char *hash = g_compute_checksum_for_string (G_CHECKSUM_SHA256,
      abs, -1);
  g_free (abs);
  hash[16] = '\0';
  return g_build_filename (g_get_user_cache_dir (), "gst-hyrsm", hash,
      fingerprint, NULL);
}

void
gst_hyrsm_feature_cache_init (FeatureCache *cache, const char *dir,
    HyrsmModel *model)
{
  /* bf16 or fp16 features are not the fp32 ones: each precision has its
   * own cache folder, fp32's being the bare fingerprint. */
  const char *precision = hyrsm_model_get_precision (model);
  g_autofree char *fp = g_str_equal (precision, "fp32") ?
      g_strdup (hyrsm_model_get_fingerprint (model)) :
      g_strdup_printf ("%s-%s", hyrsm_model_get_fingerprint (model),
      precision);
  *cache = (FeatureCache) {
    .local = g_build_filename (dir, GST_HYRSM_SUPPORT_CACHE_DIR, fp, NULL),
    .user = user_cache_root (dir, fp),
  };
}

void
gst_hyrsm_feature_cache_clear (FeatureCache *cache)
{
  g_clear_pointer (&cache->local, g_free);
  g_clear_pointer (&cache->user, g_free);
  g_clear_pointer (&cache->write, g_free);
}

/* ---- reading and writing ---- */

static char *
cache_file (const char *root, const char *label_dir, const char *name)
{
  g_autofree char *file = g_strconcat (name, HYRSM_FEATURES_EXTENSION, NULL);
  return g_build_filename (root, label_dir, file, NULL);
}

/* Features cached under @root for @name, if they match @sig. */
static float *
lookup_in (Loader *l, const char *root, const char *label_dir,
    const char *name, const Signature *sig, GstClockTime *duration,
    guint64 *n_frames)
{
  g_autofree char *path = cache_file (root, label_dir, name);
  if (!g_file_test (path, G_FILE_TEST_EXISTS))
    return NULL;
  float *features = NULL;
  g_autoptr (GHashTable) meta = NULL;
  g_autoptr (GError) error = NULL;
  if (!hyrsm_features_load_full (path, l->model, &features, &meta, &error)) {
    GST_INFO ("cache %s unusable: %s", path, error->message);
    return NULL;
  }
  const char *size = g_hash_table_lookup (meta, HYRSM_FEATURES_KEY_SOURCE_SIZE);
  const char *mtime = g_hash_table_lookup (meta,
      HYRSM_FEATURES_KEY_SOURCE_MTIME);
  const char *version = g_hash_table_lookup (meta, KEY_CACHE_VERSION);
  g_autofree char *want_size = g_strdup_printf ("%" G_GUINT64_FORMAT,
      sig->size);
  g_autofree char *want_mtime = g_strdup_printf ("%" G_GINT64_FORMAT,
      sig->mtime);
  if (g_strcmp0 (size, want_size) || g_strcmp0 (mtime, want_mtime)
      || g_strcmp0 (version, CACHE_VERSION)) {
    GST_DEBUG ("cache %s is stale (size %s / %s, mtime %s / %s)", path, size,
        want_size, mtime, want_mtime);
    g_free (features);
    return NULL;
  }
  const char *d = g_hash_table_lookup (meta, HYRSM_FEATURES_KEY_DURATION);
  guint64 v;
  if (d && g_ascii_string_to_unsigned (d, 10, 1, G_MAXUINT64, &v, NULL))
    *duration = v;
  const char *frames = g_hash_table_lookup (meta, KEY_SOURCE_FRAMES);
  if (frames && g_ascii_string_to_unsigned (frames, 10, 1, G_MAXUINT64, &v,
          NULL))
    *n_frames = v;
  GST_DEBUG ("cache hit: %s", path);
  g_free (l->result->cache_dir);
  l->result->cache_dir = g_strdup (root);
  return features;
}

float *
gst_hyrsm_feature_cache_lookup (Loader *l, const char *label_dir,
    const char *name, const Signature *sig, GstClockTime *duration,
    guint64 *n_frames)
{
  if (l->flags & (GST_HYRSM_SUPPORT_DIR_NO_CACHE
          | GST_HYRSM_SUPPORT_DIR_REFRESH))
    return NULL;
  const char *roots[] = { l->cache.local, l->cache.user };
  for (guint i = 0; i < G_N_ELEMENTS (roots); i++) {
    float *cached = lookup_in (l, roots[i], label_dir, name, sig, duration,
        n_frames);
    if (cached)
      return cached;
  }
  return NULL;
}

static gboolean
try_write (const char *root, const char *label_dir, const char *name,
    const float *features, Loader *l, GHashTable *meta, const char *source,
    GError **error)
{
  g_autofree char *folder = g_build_filename (root, label_dir, NULL);
  if (g_mkdir_with_parents (folder, 0755) != 0) {
    int e = errno;
    g_set_error (error, G_IO_ERROR, g_io_error_from_errno (e),
        "cannot create %s: %s", folder, g_strerror (e));
    return FALSE;
  }
  g_autofree char *path = cache_file (root, label_dir, name);
  return hyrsm_features_save (path, features, l->T, l->D,
      hyrsm_model_get_fingerprint (l->model), source, meta, error);
}

/* Writes the features of a decoded example to the first cache root that
 * works, remembering it for the next ones. */
void
gst_hyrsm_feature_cache_store (Loader *l, const char *label_dir,
    const char *name, const float *features, const Signature *sig,
    const GstHyrsmClip *clip)
{
  if (l->flags & GST_HYRSM_SUPPORT_DIR_NO_CACHE)
    return;
  g_autoptr (GHashTable) meta = g_hash_table_new_full (g_str_hash,
      g_str_equal, NULL, g_free);
  g_hash_table_insert (meta, HYRSM_FEATURES_KEY_SOURCE_SIZE,
      g_strdup_printf ("%" G_GUINT64_FORMAT, sig->size));
  g_hash_table_insert (meta, HYRSM_FEATURES_KEY_SOURCE_MTIME,
      g_strdup_printf ("%" G_GINT64_FORMAT, sig->mtime));
  g_hash_table_insert (meta, KEY_CACHE_VERSION, g_strdup (CACHE_VERSION));
  g_hash_table_insert (meta, KEY_SOURCE_FRAMES,
      g_strdup_printf ("%" G_GUINT64_FORMAT, clip->n_frames));
  if (GST_CLOCK_TIME_IS_VALID (clip->duration))
    g_hash_table_insert (meta, HYRSM_FEATURES_KEY_DURATION,
        g_strdup_printf ("%" G_GUINT64_FORMAT, (guint64) clip->duration));
  g_autofree char *source = g_build_filename (label_dir, name, NULL);

  const char *roots[] = { l->cache.local, l->cache.user };
  g_autoptr (GError) first_error = NULL;
  if (l->cache.write_tried && l->cache.write == NULL)
    return;
  for (guint i = 0; i < G_N_ELEMENTS (roots); i++) {
    if (l->cache.write && !g_str_equal (l->cache.write, roots[i]))
      continue;
    g_autoptr (GError) error = NULL;
    if (try_write (roots[i], label_dir, name, features, l, meta, source,
            &error)) {
      if (l->cache.write == NULL)
        GST_INFO ("support set %s: caching features in %s", l->display_dir,
            roots[i]);
      g_free (l->cache.write);
      l->cache.write = g_strdup (roots[i]);
      l->cache.write_tried = TRUE;
      g_free (l->result->cache_dir);
      l->result->cache_dir = g_strdup (roots[i]);
      return;
    }
    GST_INFO ("cannot cache in %s: %s", roots[i], error->message);
    if (first_error == NULL)
      first_error = g_steal_pointer (&error);
    if (l->cache.write) {
      /* The root that worked before failed now (disk full?): try the
       * others from the start. */
      g_clear_pointer (&l->cache.write, g_free);
      i = (guint) - 1;
    }
  }
  l->cache.write_tried = TRUE;
  if (!l->cache.warned) {
    GST_WARNING ("support set %s: features cannot be cached (%s); going on "
        "without a cache", l->display_dir, first_error->message);
    l->cache.warned = TRUE;
  }
}

