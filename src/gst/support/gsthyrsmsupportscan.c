/* gsthyrsmsupportscan.c: walking a support-set directory into labels and
 * examples (docs/formats.md "The support-set directory").
 *
 *   DIR/<label>/<clip>.<ext>   a video (gsthyrsmdecode.c)
 *   DIR/<label>/<clip>/        a folder of jpg/png frames, sorted by name
 *   DIR/<label>/<clip>.hyrsm   precomputed features (hyrsm-features.h)
 *
 * Each label folder, in sorted order, is listed first (so that progress has
 * a total), then each of its entries becomes an example of the set: a
 * feature file is read; a clip or frame folder is taken from the feature
 * cache (gsthyrsmfeaturecache.c), else decoded, embedded and cached.
 *
 * Nothing that a user may put in the directory crashes or fails the load:
 * an unusable file is skipped, logged with GST_WARNING and listed in
 * gst_hyrsm_support_dir_get_skipped(). Only a missing or empty directory,
 * or one without a single usable example, is an error.
 */
#include "gsthyrsmsupport-private.h"

#include <string.h>

#define GST_CAT_DEFAULT gst_hyrsm_support_debug

/* ---- file names ---- */

/* Natural order: runs of digits compare by value (frame_2 < frame_10), the
 * rest byte by byte. Deterministic, whatever the locale. */
static int
natural_compare (const char *a, const char *b)
{
  while (*a && *b) {
    if (g_ascii_isdigit (*a) && g_ascii_isdigit (*b)) {
      const char *za = a, *zb = b;
      while (*za == '0')
        za++;
      while (*zb == '0')
        zb++;
      const char *ea = za, *eb = zb;
      while (g_ascii_isdigit (*ea))
        ea++;
      while (g_ascii_isdigit (*eb))
        eb++;
      if (ea - za != eb - zb)
        return (ea - za) < (eb - zb) ? -1 : 1;
      int c = strncmp (za, zb, ea - za);
      if (c)
        return c;
      /* Equal values: fewer leading zeros first, then go on. */
      if (za - a != zb - b)
        return (za - a) < (zb - b) ? -1 : 1;
      a = ea;
      b = eb;
    } else {
      if (*a != *b)
        return (guchar) * a < (guchar) * b ? -1 : 1;
      a++;
      b++;
    }
  }
  return *a ? 1 : *b ? -1 : 0;
}

static gint
natural_compare_ptr (gconstpointer a, gconstpointer b)
{
  return natural_compare (*(const char *const *) a, *(const char *const *) b);
}

/* The entries of @dir (no hidden ones), sorted; NULL with @error set when
 * the folder cannot be read. */
static GPtrArray *
list_dir (const char *dir, GError **error)
{
  GDir *d = g_dir_open (dir, 0, error);
  if (d == NULL)
    return NULL;
  GPtrArray *names = g_ptr_array_new_with_free_func (g_free);
  const char *name;
  while ((name = g_dir_read_name (d)))
    if (name[0] != '.')
      g_ptr_array_add (names, g_strdup (name));
  g_dir_close (d);
  g_ptr_array_sort (names, natural_compare_ptr);
  return names;
}

static gboolean
is_image_name (const char *name)
{
  static const char *const exts[] = { ".jpg", ".jpeg", ".png", NULL };
  g_autofree char *lower = g_ascii_strdown (name, -1);
  for (guint i = 0; exts[i]; i++)
    if (g_str_has_suffix (lower, exts[i]))
      return TRUE;
  return FALSE;
}

GPtrArray *
gst_hyrsm_support_list_images (const char *folder, GError **error)
{
  g_autoptr (GPtrArray) entries = list_dir (folder, error);
  if (entries == NULL)
    return NULL;
  GPtrArray *images = g_ptr_array_new_with_free_func (g_free);
  for (guint i = 0; i < entries->len; i++)
    if (is_image_name (entries->pdata[i]))
      g_ptr_array_add (images, g_strdup (entries->pdata[i]));
  if (images->len == 0) {
    g_set_error (error, GST_STREAM_ERROR, GST_STREAM_ERROR_WRONG_TYPE,
        "a folder without .jpg or .png frames");
    g_ptr_array_unref (images);
    return NULL;
  }
  return images;
}

/* Files that are obviously not media (notes, lists next to the clips):
 * ignored without a warning. */
static gboolean
is_document_name (const char *name)
{
  static const char *const exts[] = { ".txt", ".md", ".json", ".csv",
    ".yaml", ".yml", ".ini", ".log", NULL
  };
  g_autofree char *lower = g_ascii_strdown (name, -1);
  for (guint i = 0; exts[i]; i++)
    if (g_str_has_suffix (lower, exts[i]))
      return TRUE;
  return FALSE;
}


/* ---- the walk ---- */

static void
skip (Loader *l, const char *file, const char *fmt, ...) G_GNUC_PRINTF (3, 4);

static void
skip (Loader *l, const char *file, const char *fmt, ...)
{
  va_list args;
  va_start (args, fmt);
  g_autofree char *raw = g_strdup_vprintf (fmt, args);
  va_end (args);
  /* Reasons quote file names, which need not be UTF-8; what is listed
   * (and ends up in GError messages and element warnings) must be. */
  g_autofree char *reason = g_utf8_make_valid (raw, -1);
  g_autofree char *name = g_filename_display_name (file);
  GST_WARNING ("support set %s: skipping %s: %s", l->display_dir, name,
      reason);
  char *entry = g_strdup_printf ("%s: %s", name, reason);
  g_ptr_array_add (l->result->skipped, entry);
  if (!g_str_has_suffix (file, G_DIR_SEPARATOR_S) && l->n_file_skips++ == 0)
    l->first_file_skip = entry;
}

/* @n_frames: the frames the example was sampled from (0: unknown, as for
 * feature files). An example of fewer than T frames (a still image, a
 * two-frame clip) is used, its frames repeated, with a warning; its
 * duration does not count toward the median window, which it would pull
 * below what an action takes. */
static void
add_example (Loader *l, const char *label, const char *file,
    const float *features, GstClockTime duration, guint64 n_frames,
    guint *n_added)
{
  g_autoptr (GError) error = NULL;
  if (!hyrsm_support_set_add_raw (l->result->set, label, features, &error)) {
    skip (l, file, "%s", error->message);
    return;
  }
  (*n_added)++;
  gboolean short_example = n_frames > 0 && n_frames < l->T;
  if (short_example) {
    g_autofree char *name = g_filename_display_name (file);
    char *entry = g_strdup_printf ("%s: only %" G_GUINT64_FORMAT " frame(s), "
        "fewer than the model's %u: used with repeated frames, and left out "
        "of the median window", name, n_frames, l->T);
    GST_WARNING ("support set %s: %s", l->display_dir, entry);
    g_ptr_array_add (l->result->warnings, entry);
  }
  if (GST_CLOCK_TIME_IS_VALID (duration) && duration > 0 && !short_example)
    g_array_append_val (l->durations, duration);
  Example *e = g_new0 (Example, 1);
  e->label = g_strdup (label);
  e->file = g_strdup (file);
  if (l->flags & GST_HYRSM_SUPPORT_DIR_KEEP_FEATURES)
    e->features = g_bytes_new (features,
        (gsize) l->T * l->D * sizeof (float));
  g_ptr_array_add (l->result->examples, e);
}

/* A video clip or a frame folder: from the cache, else decoded, embedded
 * and cached. Returns FALSE only when cancelled. */
static gboolean
load_media (Loader *l, const char *label, const char *label_dir,
    const char *name, const char *path, GPtrArray *images, guint *n_added,
    GError **error)
{
  g_autofree char *display = g_build_filename (label_dir, name, NULL);
  if (!l->can_embed) {
    skip (l, display, "model %s has no backbone to embed frames with "
        "(only .hyrsm feature files can be used)",
        hyrsm_model_get_path (l->model));
    return TRUE;
  }
  Signature sig;
  g_autoptr (GError) local = NULL;
  if (!gst_hyrsm_feature_cache_signature (path, images, &sig, &local)) {
    skip (l, display, "%s", local->message);
    return TRUE;
  }

  GstClockTime duration = GST_CLOCK_TIME_NONE;
  guint64 n_frames = 0;
  float *cached = gst_hyrsm_feature_cache_lookup (l, label_dir, name, &sig,
      &duration, &n_frames);
  if (cached) {
    l->result->n_cached++;
    add_example (l, label, display, cached, duration, n_frames, n_added);
    g_free (cached);
    return TRUE;
  }

  GstHyrsmClip clip = { 0 };
  gint64 t0 = g_get_monotonic_time ();
  gboolean ok = images ? gst_hyrsm_decode_folder (path, images, l->T,
      l->cancellable, &clip, &local)
      : gst_hyrsm_decode_video (path, l->T, l->cancellable, &clip, &local);
  gint64 t1 = g_get_monotonic_time ();
  if (!ok) {
    gst_hyrsm_clip_clear (&clip);
    if (g_error_matches (local, G_IO_ERROR, G_IO_ERROR_CANCELLED)) {
      g_propagate_error (error, g_steal_pointer (&local));
      return FALSE;
    }
    skip (l, display, "cannot decode: %s", local->message);
    return TRUE;
  }
  l->result->n_decoded++;
  float *features = gst_hyrsm_embed_frames (l->model, clip.frames, l->T,
      &local);
  GST_DEBUG ("%s: %" G_GUINT64_FORMAT " frames decoded in %.1f ms, %u "
      "embedded in %.1f ms", display, clip.n_frames, (t1 - t0) / 1e3, l->T,
      (g_get_monotonic_time () - t1) / 1e3);
  if (features == NULL) {
    skip (l, display, "cannot embed: %s", local->message);
  } else {
    add_example (l, label, display, features, clip.duration, clip.n_frames,
        n_added);
    gst_hyrsm_feature_cache_store (l, label_dir, name, features, &sig, &clip);
    g_free (features);
  }
  gst_hyrsm_clip_clear (&clip);
  return TRUE;
}

static void
load_feature_file (Loader *l, const char *label, const char *label_dir,
    const char *name, const char *path, guint *n_added)
{
  g_autofree char *display = g_build_filename (label_dir, name, NULL);
  float *features = NULL;
  g_autoptr (GHashTable) meta = NULL;
  g_autoptr (GError) error = NULL;
  if (!hyrsm_features_load_full (path, l->model, &features, &meta, &error)) {
    skip (l, display, "%s", error->message);
    return;
  }
  GstClockTime duration = GST_CLOCK_TIME_NONE;
  const char *d = g_hash_table_lookup (meta, HYRSM_FEATURES_KEY_DURATION);
  guint64 v;
  if (d && g_ascii_string_to_unsigned (d, 10, 1, G_MAXUINT64, &v, NULL))
    duration = v;
  l->result->n_feature_files++;
  add_example (l, label, display, features, duration, 0, n_added);
  g_free (features);
}

/* One entry of a label folder. Returns FALSE only when cancelled. */
static gboolean
load_entry (Loader *l, const char *label, const char *label_dir,
    const char *name, guint *n_added, GError **error)
{
  g_autofree char *path = g_build_filename (l->dir, label_dir, name, NULL);
  g_autofree char *display = g_build_filename (label_dir, name, NULL);
  /* Follows symbolic links: a broken one fails here. */
  if (g_file_test (path, G_FILE_TEST_IS_DIR)) {
    g_autoptr (GError) local = NULL;
    g_autoptr (GPtrArray) images = gst_hyrsm_support_list_images (path,
        &local);
    if (images == NULL) {
      skip (l, display, "%s", local->message);
      return TRUE;
    }
    return load_media (l, label, label_dir, name, path, images, n_added,
        error);
  }
  if (!g_file_test (path, G_FILE_TEST_IS_REGULAR)) {
    /* A link to a device or a FIFO exists: only a dangling one is broken. */
    skip (l, display, !g_file_test (path, G_FILE_TEST_EXISTS) ?
        "a broken symbolic link" : g_file_test (path, G_FILE_TEST_IS_SYMLINK)
        ? "a symbolic link to what is not a regular file (a device, a named "
        "pipe or a socket)" : "not a regular file");
    return TRUE;
  }
  if (g_str_has_suffix (name, HYRSM_FEATURES_EXTENSION)) {
    load_feature_file (l, label, label_dir, name, path, n_added);
    return TRUE;
  }
  if (is_document_name (name)) {
    GST_INFO ("support set %s: ignoring %s", l->display_dir, display);
    return TRUE;
  }
  return load_media (l, label, label_dir, name, path, NULL, n_added, error);
}

/* The label folders of the directory, sorted. */
static GPtrArray *
list_labels (Loader *l, GError **error)
{
  g_autoptr (GError) local = NULL;
  GPtrArray *entries = list_dir (l->dir, &local);
  if (entries == NULL) {
    g_set_error (error, HYRSM_ERROR, HYRSM_ERROR_FILE_NOT_FOUND,
        "support set %s cannot be read: %s", l->display_dir, local->message);
    return NULL;
  }
  GPtrArray *labels = g_ptr_array_new_with_free_func (g_free);
  for (guint i = 0; i < entries->len; i++) {
    const char *name = entries->pdata[i];
    g_autofree char *p = g_build_filename (l->dir, name, NULL);
    if (g_file_test (p, G_FILE_TEST_IS_DIR))
      g_ptr_array_add (labels, g_strdup (name));
    else
      GST_INFO ("support set %s: ignoring %s (not a label folder)",
          l->display_dir, name);
  }
  g_ptr_array_unref (entries);
  if (labels->len == 0) {
    g_set_error (error, HYRSM_ERROR, HYRSM_ERROR_EMPTY_SUPPORT_SET,
        "support set %s has no label folders (expected %s/<label>/<clip>)",
        l->display_dir, l->display_dir);
    g_ptr_array_unref (labels);
    return NULL;
  }
  return labels;
}

typedef struct
{
  char *label_dir;              /* file name of the label folder */
  char *label;                  /* UTF-8 */
  GPtrArray *entries;           /* file names */
} LabelFolder;

static void
label_folder_free (gpointer data)
{
  LabelFolder *f = data;
  g_free (f->label_dir);
  g_free (f->label);
  g_clear_pointer (&f->entries, g_ptr_array_unref);
  g_free (f);
}

/* The label of a folder: its name, with each byte that is not part of
 * valid UTF-8 written as \xNN. Unlike g_filename_display_name(), which
 * maps every such byte to U+FFFD, two folders whose names differ give two
 * labels (cam\xff, cam\xfe), and the label still says which folder. */
static char *
label_of_folder (const char *name)
{
  GString *s = g_string_new (NULL);
  const char *p = name;
  while (*p) {
    const char *end;
    g_utf8_validate (p, -1, &end);
    g_string_append_len (s, p, end - p);
    p = end;
    if (*p) {
      g_string_append_printf (s, "\\x%02x", (guchar) * p);
      p++;
    }
  }
  return g_string_free (s, FALSE);
}

/* The folder of @folders whose label is @label, or NULL. */
static LabelFolder *
find_label (GPtrArray *folders, const char *label)
{
  for (guint i = 0; i < folders->len; i++) {
    LabelFolder *f = folders->pdata[i];
    if (strcmp (f->label, label) == 0)
      return f;
  }
  return NULL;
}

/* Lists every label folder's entries first, so that progress has a total.
 * A folder whose label is already another folder's (a literal "cam\xff"
 * beside a folder named cam + byte 0xff) is refused with a warning naming
 * both: one label is one class, and merging two folders silently would
 * make the per-label counts lie. */
static GPtrArray *
scan (Loader *l, GPtrArray *labels, guint *total)
{
  GPtrArray *folders = g_ptr_array_new_with_free_func (label_folder_free);
  *total = 0;
  for (guint i = 0; i < labels->len; i++) {
    g_autofree char *label = label_of_folder (labels->pdata[i]);
    LabelFolder *same = find_label (folders, label);
    if (same != NULL) {
      g_autofree char *what = g_strconcat (labels->pdata[i],
          G_DIR_SEPARATOR_S, NULL);
      g_autofree char *other = g_filename_display_name (same->label_dir);
      skip (l, what, "its label \"%s\" is already the label of folder "
          "%s%s (bytes that are not UTF-8 are written \\xNN): rename one",
          label, other, G_DIR_SEPARATOR_S);
      continue;
    }
    LabelFolder *f = g_new0 (LabelFolder, 1);
    f->label_dir = g_strdup (labels->pdata[i]);
    f->label = g_steal_pointer (&label);
    g_autofree char *p = g_build_filename (l->dir, f->label_dir, NULL);
    g_autoptr (GError) error = NULL;
    f->entries = list_dir (p, &error);
    if (f->entries == NULL) {
      skip (l, f->label_dir, "%s", error->message);
      f->entries = g_ptr_array_new_with_free_func (g_free);
    }
    *total += f->entries->len;
    g_ptr_array_add (folders, f);
  }
  return folders;
}

gboolean
gst_hyrsm_support_scan (Loader *l, GstHyrsmProgressFunc func,
    gpointer user_data, GError **error)
{
  g_autoptr (GPtrArray) labels = list_labels (l, error);
  if (labels == NULL)
    return FALSE;
  guint total, done = 0;
  g_autoptr (GPtrArray) folders = scan (l, labels, &total);
  for (guint i = 0; i < folders->len; i++) {
    LabelFolder *f = folders->pdata[i];
    guint n_added = 0;
    for (guint j = 0; j < f->entries->len; j++) {
      const char *name = f->entries->pdata[j];
      if (func) {
        g_autofree char *display = g_filename_display_name (name);
        func (done, total, f->label, display, user_data);
      }
      if (!load_entry (l, f->label, f->label_dir, name, &n_added, error))
        return FALSE;
      done++;
    }
    if (n_added == 0) {
      g_autofree char *what = g_strconcat (f->label_dir, G_DIR_SEPARATOR_S,
          NULL);
      skip (l, what, "label \"%s\" left out: no usable example", f->label);
    } else {
      g_hash_table_insert (l->result->n_examples, g_strdup (f->label),
          GUINT_TO_POINTER (n_added));
    }
  }
  if (func)
    func (total, total, NULL, NULL, user_data);

  if (hyrsm_support_set_get_n_examples (l->result->set) == 0) {
    /* Name the first file that failed: the likeliest fix. */
    if (l->n_file_skips > 0)
      g_set_error (error, HYRSM_ERROR, HYRSM_ERROR_EMPTY_SUPPORT_SET,
          "support set %s has no usable example (%u files skipped; first: "
          "%s)", l->display_dir, l->n_file_skips, l->first_file_skip);
    else
      g_set_error (error, HYRSM_ERROR, HYRSM_ERROR_EMPTY_SUPPORT_SET,
          "support set %s has no examples: its %u label folders are empty",
          l->display_dir, folders->len);
    return FALSE;
  }
  return TRUE;
}

