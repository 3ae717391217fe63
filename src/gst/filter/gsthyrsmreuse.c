/* gsthyrsmreuse.c: loaded models and support sets kept across restarts
 * (see gsthyrsmreuse.h). */
#include "gsthyrsmreuse.h"

#include <glib/gstdio.h>

typedef struct
{
  GstHyrsmLoaded *loaded;
  gint64 expires;               /* monotonic µs */
} Kept;

static GMutex lock;
static GCond changed;
static GQueue kept;             /* Kept*, oldest first */
static GThread *reaper;

void
gst_hyrsm_loaded_free (GstHyrsmLoaded *loaded)
{
  if (loaded == NULL)
    return;
  g_clear_object (&loaded->set);
  g_clear_object (&loaded->model);
  g_free (loaded->support_path);
  g_strfreev (loaded->labels);
  g_free (loaded->signature);
  g_free (loaded);
}

/* Appends each entry below @dir (two levels: label folders, their files
 * and frame folders' frames) with its size and modification time. */
static void
sign_dir (GString *out, const gchar *dir, const gchar *rel, int depth)
{
  GDir *d = g_dir_open (dir, 0, NULL);
  if (d == NULL)
    return;
  GPtrArray *names = g_ptr_array_new_with_free_func (g_free);
  const gchar *name;
  while ((name = g_dir_read_name (d)))
    if (!g_str_equal (name, ".hyrsm-cache"))
      g_ptr_array_add (names, g_strdup (name));
  g_dir_close (d);
  g_ptr_array_sort (names, (GCompareFunc) g_strcmp0);
  for (guint i = 0; i < names->len; i++) {
    const gchar *n = g_ptr_array_index (names, i);
    gchar *path = g_build_filename (dir, n, NULL);
    gchar *sub = g_build_filename (rel, n, NULL);
    GStatBuf st;
    if (g_stat (path, &st) == 0) {
      g_string_append_printf (out, "%s\t%" G_GINT64_FORMAT "\t%"
          G_GINT64_FORMAT "\t%ld\n", sub, (gint64) st.st_size,
          (gint64) st.st_mtim.tv_sec, (long) st.st_mtim.tv_nsec);
      if (S_ISDIR (st.st_mode) && depth < 3)
        sign_dir (out, path, sub, depth + 1);
    }
    g_free (sub);
    g_free (path);
  }
  g_ptr_array_unref (names);
}

gchar *
gst_hyrsm_support_signature (const gchar *path)
{
  GString *out = g_string_new (NULL);
  sign_dir (out, path, "", 1);
  return g_string_free (out, FALSE);
}

/* Lets expired entries go; runs while anything is kept. */
static gpointer
reap (gpointer data)
{
  g_mutex_lock (&lock);
  while (!g_queue_is_empty (&kept)) {
    Kept *k = g_queue_peek_head (&kept);
    if (g_get_monotonic_time () < k->expires) {
      g_cond_wait_until (&changed, &lock, k->expires);
      continue;
    }
    g_queue_pop_head (&kept);
    g_mutex_unlock (&lock);
    gst_hyrsm_loaded_free (k->loaded);
    g_free (k);
    g_mutex_lock (&lock);
  }
  g_thread_unref (reaper);
  reaper = NULL;
  g_mutex_unlock (&lock);
  return NULL;
}

void
gst_hyrsm_reuse_keep (GstHyrsmLoaded *loaded)
{
  Kept *k = g_new0 (Kept, 1);
  k->loaded = loaded;
  k->expires = g_get_monotonic_time () + GST_HYRSM_REUSE_SECONDS *
      G_USEC_PER_SEC;
  g_mutex_lock (&lock);
  g_queue_push_tail (&kept, k);
  if (reaper == NULL)
    reaper = g_thread_new ("hyrsm-reuse", reap, NULL);
  g_cond_broadcast (&changed);
  g_mutex_unlock (&lock);
}

GstHyrsmLoaded *
gst_hyrsm_reuse_take (HyrsmModel *model, const gchar *support_path,
    const gchar *signature)
{
  GstHyrsmLoaded *found = NULL;
  g_mutex_lock (&lock);
  for (GList *l = kept.tail; l; l = l->prev) {
    Kept *k = l->data;
    if (k->loaded->model == model
        && g_strcmp0 (k->loaded->support_path, support_path) == 0
        && g_strcmp0 (k->loaded->signature, signature) == 0) {
      found = k->loaded;
      g_queue_delete_link (&kept, l);
      g_free (k);
      break;
    }
  }
  g_mutex_unlock (&lock);
  return found;
}
