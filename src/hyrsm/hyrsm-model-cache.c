/* hyrsm-model-cache.c: one loaded model per (file, device, precision) in a
 * process.
 *
 * Models are read-only after load, so every stream that names the same
 * file, device and precision shares one copy of the weights and one
 * backend. The
 * cache holds weak references: the model goes when its last user drops it.
 * A file changed on disk (size or mtime) is loaded afresh; users of the old
 * copy keep it until they let go.
 */
#include "hyrsm-model-private.h"

#include <glib/gstdio.h>

typedef struct
{
  GWeakRef model;
  gint64 mtime;
  goffset size;
} CacheEntry;

static GMutex cache_lock;
static GHashTable *cache;       /* "device\nprecision\npath" -> CacheEntry* */

static void
cache_entry_free (gpointer p)
{
  CacheEntry *e = p;
  g_weak_ref_clear (&e->model);
  g_free (e);
}

static gboolean
file_identity (const char *path, gint64 *mtime, goffset *size)
{
  GStatBuf st;
  if (g_stat (path, &st) != 0)
    return FALSE;
  *mtime = (gint64) st.st_mtim.tv_sec * G_USEC_PER_SEC +
      st.st_mtim.tv_nsec / 1000;
  *size = st.st_size;
  return TRUE;
}

/**
 * hyrsm_model_new_shared:
 * @path: (type filename): a model file
 * @device: (nullable): "auto", "cpu", "cuda" or "cuda:N"; %NULL for "auto"
 * @error: return location for a #GError
 *
 * Like hyrsm_model_new_from_file_full(), but returns the model already
 * loaded in this process for the same file and device when there is one
 * and the file has not changed since.
 *
 * Returns: (transfer full): the model, or %NULL with @error set
 */
HyrsmModel *
hyrsm_model_new_shared (const char *path, const char *device, GError **error)
{
  return hyrsm_model_new_shared_full (path, device, NULL, error);
}

/**
 * hyrsm_model_new_shared_full:
 * @path: (type filename): a model file
 * @device: (nullable): "auto", "cpu", "cuda" or "cuda:N"; %NULL for "auto"
 * @precision: (nullable): "auto", "fp32", "bf16" or "fp16"; %NULL for "auto"
 * @error: return location for a #GError
 *
 * Like hyrsm_model_new_full(), but returns the model already loaded in this
 * process for the same file, device and precision when there is one and
 * the file has not changed since.
 *
 * Returns: (transfer full): the model, or %NULL with @error set
 */
HyrsmModel *
hyrsm_model_new_shared_full (const char *path, const char *device,
    const char *precision, GError **error)
{
  g_return_val_if_fail (path != NULL, NULL);
  if (device == NULL)
    device = "auto";
  /* Keyed by the request after HYRSM_PRECISION, which may say what "auto"
   * means: models loaded under another value of it are not this one; nor
   * are models loaded under another HYRSM_CPU_CONV (the CPU backend's
   * convolution algorithms). */
  const char *request = hyrsm_precision_request (precision, error);
  if (request == NULL)
    return NULL;
  const char *conv = g_getenv ("HYRSM_CPU_CONV");
  g_autofree char *key = g_strconcat (device, "\n", request, "\n",
      conv ? conv : "", "\n", path, NULL);
  gint64 mtime = 0;
  goffset size = 0;
  gboolean exists = file_identity (path, &mtime, &size);

  /* Loading happens under the lock on purpose: two streams starting at
   * once with the same model must not load it twice. */
  g_mutex_lock (&cache_lock);
  if (cache == NULL)
    cache = g_hash_table_new_full (g_str_hash, g_str_equal, g_free,
        cache_entry_free);
  CacheEntry *e = g_hash_table_lookup (cache, key);
  HyrsmModel *model = e ? g_weak_ref_get (&e->model) : NULL;
  if (model && (!exists || e->mtime != mtime || e->size != size))
    g_clear_object (&model);
  if (model == NULL) {
    model = hyrsm_model_new_full (path, device, request, error);
    if (model) {
      e = g_new0 (CacheEntry, 1);
      g_weak_ref_init (&e->model, model);
      e->mtime = mtime;
      e->size = size;
      g_hash_table_replace (cache, g_strdup (key), e);
    }
  }
  g_mutex_unlock (&cache_lock);
  return model;
}
