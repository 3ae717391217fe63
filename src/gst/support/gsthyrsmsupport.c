/* gsthyrsmsupport.c: the GstHyrsmSupportDir object and the public API of
 * gsthyrsmsupport.h: loading a support set from a directory
 * (docs/formats.md "The support-set directory"), embedding one clip, and
 * the frame sampling both use.
 *
 * The work is done by the files of gsthyrsmsupport-private.h:
 * gsthyrsmsupportscan.c walks the directory into labels and examples,
 * gsthyrsmfeaturecache.c keeps the features of decoded clips next to them,
 * gsthyrsmdecode.c decodes clips and frame folders and embeds frames.
 */
#include "gsthyrsmsupport-private.h"

GST_DEBUG_CATEGORY (gst_hyrsm_support_debug);
#define GST_CAT_DEFAULT gst_hyrsm_support_debug

static void
example_free (gpointer data)
{
  Example *e = data;
  g_free (e->label);
  g_free (e->file);
  g_clear_pointer (&e->features, g_bytes_unref);
  g_free (e);
}

G_DEFINE_FINAL_TYPE (GstHyrsmSupportDir, gst_hyrsm_support_dir,
    G_TYPE_OBJECT);

enum
{
  PROP_0,
  PROP_PATH,
  PROP_SUPPORT_SET,
  PROP_MEDIAN_DURATION,
  N_PROPS
};
static GParamSpec *properties[N_PROPS];

/* ---- sampling ---- */

/**
 * gst_hyrsm_sample_index:
 * @k: the sample, 0 <= @k < @n_samples
 * @n_frames: L, the number of frames of the clip (at least 1)
 * @n_samples: T, the number of frames sampled
 *
 * The frame that sample @k of @n_samples is taken from in a clip of
 * @n_frames frames: the centre of segment @k when the clip is cut into
 * @n_samples equal segments, round((k + 0.5) L / T - 0.5) clamped to
 * [0, L - 1] (docs/model.md section 1); a half-way case rounds up, to the
 * frame whose span holds the segment's centre. Clips shorter than T frames
 * repeat frames.
 *
 * Returns: the frame index
 */
guint
gst_hyrsm_sample_index (guint k, guint n_frames, guint n_samples)
{
  g_return_val_if_fail (n_frames > 0 && n_samples > 0, 0);
  /* Exact in integers: round(x) = floor(x + 0.5) with
   * x = ((2k + 1) L - T) / (2T), so floor(((2k + 1) L) / (2T)) for
   * round-half-up. */
  guint64 num = (2 * (guint64) k + 1) * n_frames;
  guint64 i = num / (2 * (guint64) n_samples);
  return (guint) MIN (i, (guint64) n_frames - 1);
}

/* ---- loading a directory ---- */

static GstClockTime
median (GArray *values)
{
  if (values->len == 0)
    return GST_CLOCK_TIME_NONE;
  GstClockTime *v = (GstClockTime *) values->data;
  for (guint i = 1; i < values->len; i++)       /* insertion sort: tiny */
    for (guint j = i; j > 0 && v[j - 1] > v[j]; j--) {
      GstClockTime t = v[j];
      v[j] = v[j - 1];
      v[j - 1] = t;
    }
  guint n = values->len;
  return n % 2 ? v[n / 2] : v[n / 2 - 1] / 2 + v[n / 2] / 2;
}

static gboolean
check_dir (const char *dir, const char *display, GError **error)
{
  if (!g_file_test (dir, G_FILE_TEST_EXISTS)) {
    g_set_error (error, HYRSM_ERROR, HYRSM_ERROR_FILE_NOT_FOUND,
        "support set %s does not exist", display);
    return FALSE;
  }
  if (!g_file_test (dir, G_FILE_TEST_IS_DIR)) {
    g_set_error (error, HYRSM_ERROR, HYRSM_ERROR_FILE_NOT_FOUND,
        "support set %s is not a directory (expected one folder per label "
        "holding its example clips)", display);
    return FALSE;
  }
  return TRUE;
}

static void
ensure_init (void)
{
  static gsize once = 0;
  if (g_once_init_enter (&once)) {
    if (!gst_is_initialized ())
      gst_init (NULL, NULL);
    GST_DEBUG_CATEGORY_INIT (gst_hyrsm_support_debug, "hyrsmsupport", 0,
        "hyrsm support-set directories");
    g_once_init_leave (&once, 1);
  }
}

/**
 * gst_hyrsm_support_dir_load_full:
 * @model: the model to embed the clips with
 * @path: (type filename): the support-set directory
 * @flags: cache options
 * @func: (scope call) (closure user_data) (nullable): called before each
 *   example, for progress reports
 * @user_data: data for @func
 * @cancellable: (nullable): cancels the load (between and during decodes)
 * @error: return location for a #GError
 *
 * Loads the support set in @path (docs/formats.md "The support-set directory"): each
 * folder of @path (hidden ones and `.hyrsm-cache` aside) is a label, in
 * sorted order; each of its entries, in sorted order, is a video clip
 * (anything GStreamer decodes), a folder of jpg/png frames or a `.hyrsm`
 * feature file. Clips and frame folders are decoded in this thread, T
 * frames are sampled (docs/model.md section 1, see gst_hyrsm_sample_index()),
 * embedded with @model and cached (see the top of gsthyrsmfeaturecache.c).
 *
 * Entries that cannot be used (undecodable or truncated files, feature
 * files of another model, broken links) are skipped with a warning and
 * listed by gst_hyrsm_support_dir_get_skipped(); a label with no usable
 * entry is left out. Text files (.txt, .md, .json, ...) are ignored.
 *
 * Returns: (transfer full): the loaded directory, or %NULL with @error set
 *   naming @path: %HYRSM_ERROR_FILE_NOT_FOUND when it does not exist or is
 *   not a readable directory, %HYRSM_ERROR_EMPTY_SUPPORT_SET when it holds
 *   no label folder or no usable example at all, %G_IO_ERROR_CANCELLED
 */
GstHyrsmSupportDir *
gst_hyrsm_support_dir_load_full (HyrsmModel *model, const gchar *path,
    GstHyrsmSupportDirFlags flags, GstHyrsmProgressFunc func,
    gpointer user_data, GCancellable *cancellable, GError **error)
{
  g_return_val_if_fail (HYRSM_IS_MODEL (model), NULL);
  g_return_val_if_fail (path != NULL, NULL);
  g_return_val_if_fail (cancellable == NULL || G_IS_CANCELLABLE (cancellable),
      NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);
  ensure_init ();

  g_autofree char *display = g_filename_display_name (path);
  if (!check_dir (path, display, error))
    return NULL;
  Loader l = {
    .model = model,
    .dir = path,
    .display_dir = display,
    .flags = flags,
    .cancellable = cancellable,
    .T = hyrsm_model_get_frames (model),
    .D = hyrsm_model_get_feature_dim (model),
    .can_embed = hyrsm_model_has_backbone (model),
    .durations = g_array_new (FALSE, FALSE, sizeof (GstClockTime)),
  };
  gst_hyrsm_feature_cache_init (&l.cache, path, model);
  GstHyrsmSupportDir *self = g_object_new (GST_HYRSM_TYPE_SUPPORT_DIR, NULL);
  self->path = g_strdup (path);
  self->set = hyrsm_support_set_new (model);
  l.result = self;

  gint64 start = g_get_monotonic_time ();
  gboolean ok = gst_hyrsm_support_scan (&l, func, user_data, error);
  if (ok) {
    self->labels = hyrsm_support_set_get_labels (self->set);
    self->median_duration = median (l.durations);
    GST_INFO ("support set %s: %u labels, %u examples (%u decoded, %u from "
        "cache, %u feature files, %u skipped) in %.3f s; median duration %"
        GST_TIME_FORMAT, display, g_strv_length (self->labels),
        hyrsm_support_set_get_n_examples (self->set), self->n_decoded,
        self->n_cached, self->n_feature_files, self->skipped->len,
        (g_get_monotonic_time () - start) / 1e6,
        GST_TIME_ARGS (self->median_duration));
  }
  gst_hyrsm_feature_cache_clear (&l.cache);
  g_array_unref (l.durations);
  if (!ok)
    g_clear_object (&self);
  return self;
}

/**
 * gst_hyrsm_support_dir_load:
 * @model: the model to embed the clips with
 * @path: (type filename): the support-set directory
 * @cancellable: (nullable): cancels the load
 * @error: return location for a #GError
 *
 * gst_hyrsm_support_dir_load_full() with the cache on and no progress
 * reports.
 *
 * Returns: (transfer full): the loaded directory, or %NULL with @error set
 */
GstHyrsmSupportDir *
gst_hyrsm_support_dir_load (HyrsmModel *model, const gchar *path,
    GCancellable *cancellable, GError **error)
{
  return gst_hyrsm_support_dir_load_full (model, path,
      GST_HYRSM_SUPPORT_DIR_NONE, NULL, NULL, cancellable, error);
}

/**
 * gst_hyrsm_support_set_load_dir:
 * @model: the model to embed the clips with
 * @path: (type filename): the support-set directory
 * @cancellable: (nullable): cancels the load
 * @error: return location for a #GError
 *
 * Loads a support-set directory (see gst_hyrsm_support_dir_load_full())
 * and returns only the support set. Skipped files are logged (debug
 * category `hyrsmsupport`).
 *
 * Returns: (transfer full): the support set, or %NULL with @error set
 */
HyrsmSupportSet *
gst_hyrsm_support_set_load_dir (HyrsmModel *model, const gchar *path,
    GCancellable *cancellable, GError **error)
{
  GstHyrsmSupportDir *dir = gst_hyrsm_support_dir_load (model, path,
      cancellable, error);
  if (dir == NULL)
    return NULL;
  HyrsmSupportSet *set = g_object_ref (dir->set);
  g_object_unref (dir);
  return set;
}

/* ---- one clip on its own ---- */

/**
 * gst_hyrsm_embed_clip:
 * @model: the model to embed with (it needs a backbone)
 * @path: (type filename): a video clip GStreamer can decode, or a folder
 *   of jpg/png frames
 * @cancellable: (nullable): cancels the decode
 * @duration: (out) (optional): the clip's duration in nanoseconds, or
 *   %GST_CLOCK_TIME_NONE when unknown (always for frame folders)
 * @error: return location for a #GError
 *
 * Decodes a whole clip the way support-set directories are decoded, samples
 * T frames over it (docs/model.md section 1, see gst_hyrsm_sample_index()) and
 * embeds them: the query of one decision per clip. Nothing is cached.
 *
 * Returns: (transfer full): T x D float32 backbone features, or %NULL with
 *   @error set naming @path
 */
GBytes *
gst_hyrsm_embed_clip (HyrsmModel *model, const gchar *path,
    GCancellable *cancellable, GstClockTime *duration, GError **error)
{
  g_return_val_if_fail (HYRSM_IS_MODEL (model), NULL);
  g_return_val_if_fail (path != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);
  ensure_init ();
  g_autofree char *display = g_filename_display_name (path);
  if (duration)
    *duration = GST_CLOCK_TIME_NONE;
  if (!hyrsm_model_has_backbone (model)) {
    g_set_error (error, HYRSM_ERROR, HYRSM_ERROR_NO_BACKBONE,
        "cannot embed %s: model %s has no backbone", display,
        hyrsm_model_get_path (model));
    return NULL;
  }
  if (!g_file_test (path, G_FILE_TEST_EXISTS)) {
    g_set_error (error, HYRSM_ERROR, HYRSM_ERROR_FILE_NOT_FOUND,
        "%s does not exist", display);
    return NULL;
  }
  if (!g_file_test (path, G_FILE_TEST_IS_DIR)
      && !g_file_test (path, G_FILE_TEST_IS_REGULAR)) {
    /* A named pipe or a device would block or never end. */
    g_set_error (error, HYRSM_ERROR, HYRSM_ERROR_FILE_NOT_FOUND,
        "%s is not a regular file or a folder of frames", display);
    return NULL;
  }
  guint T = hyrsm_model_get_frames (model);
  guint D = hyrsm_model_get_feature_dim (model);
  GstHyrsmClip clip = { 0 };
  g_autoptr (GError) local = NULL;
  gboolean ok;
  if (g_file_test (path, G_FILE_TEST_IS_DIR)) {
    g_autoptr (GPtrArray) images = gst_hyrsm_support_list_images (path,
        &local);
    ok = images && gst_hyrsm_decode_folder (path, images, T, cancellable,
        &clip, &local);
  } else {
    ok = gst_hyrsm_decode_video (path, T, cancellable, &clip, &local);
  }
  float *features = ok ? gst_hyrsm_embed_frames (model, clip.frames, T,
      &local) : NULL;
  if (features == NULL) {
    gst_hyrsm_clip_clear (&clip);
    if (g_error_matches (local, G_IO_ERROR, G_IO_ERROR_CANCELLED))
      g_propagate_error (error, g_steal_pointer (&local));
    else
      g_set_error (error, HYRSM_ERROR, HYRSM_ERROR_BAD_FORMAT,
          "cannot %s %s: %s", ok ? "embed" : "decode", display,
          local->message);
    return NULL;
  }
  if (duration)
    *duration = clip.duration;
  gst_hyrsm_clip_clear (&clip);
  return g_bytes_new_take (features, (gsize) T * D * sizeof (float));
}

/* ---- the result object ---- */

/**
 * gst_hyrsm_support_dir_get_support_set:
 * @self: a #GstHyrsmSupportDir
 *
 * Returns: (transfer none): the support set
 */
HyrsmSupportSet *
gst_hyrsm_support_dir_get_support_set (GstHyrsmSupportDir *self)
{
  g_return_val_if_fail (GST_HYRSM_IS_SUPPORT_DIR (self), NULL);
  return self->set;
}

/**
 * gst_hyrsm_support_dir_get_path:
 * @self: a #GstHyrsmSupportDir
 *
 * Returns: (type filename): the directory it was loaded from
 */
const gchar *
gst_hyrsm_support_dir_get_path (GstHyrsmSupportDir *self)
{
  g_return_val_if_fail (GST_HYRSM_IS_SUPPORT_DIR (self), NULL);
  return self->path;
}

/**
 * gst_hyrsm_support_dir_get_labels:
 * @self: a #GstHyrsmSupportDir
 *
 * Returns: (transfer full) (array zero-terminated=1): the labels that have
 *   at least one example, in the sorted order of their folders
 */
gchar **
gst_hyrsm_support_dir_get_labels (GstHyrsmSupportDir *self)
{
  g_return_val_if_fail (GST_HYRSM_IS_SUPPORT_DIR (self), NULL);
  return g_strdupv (self->labels);
}

/**
 * gst_hyrsm_support_dir_get_n_examples:
 * @self: a #GstHyrsmSupportDir
 * @label: a label
 *
 * Returns: the number of examples loaded for @label (0 when absent)
 */
guint
gst_hyrsm_support_dir_get_n_examples (GstHyrsmSupportDir *self,
    const gchar *label)
{
  g_return_val_if_fail (GST_HYRSM_IS_SUPPORT_DIR (self), 0);
  g_return_val_if_fail (label != NULL, 0);
  return GPOINTER_TO_UINT (g_hash_table_lookup (self->n_examples, label));
}

/**
 * gst_hyrsm_support_dir_get_median_duration:
 * @self: a #GstHyrsmSupportDir
 *
 * The median duration of the example clips whose duration is known (video
 * clips, and feature files that record it; not frame folders): what
 * hyrsmfilter uses as its window when `window` is 0.
 *
 * Returns: the median duration in nanoseconds, or %GST_CLOCK_TIME_NONE
 *   when no example has a known duration
 */
GstClockTime
gst_hyrsm_support_dir_get_median_duration (GstHyrsmSupportDir *self)
{
  g_return_val_if_fail (GST_HYRSM_IS_SUPPORT_DIR (self), GST_CLOCK_TIME_NONE);
  return self->median_duration;
}

/* A NULL-terminated copy of @strings (gchar*). */
static gchar **
strv_copy (GPtrArray *strings)
{
  gchar **v = g_new0 (gchar *, strings->len + 1);
  for (guint i = 0; i < strings->len; i++)
    v[i] = g_strdup (strings->pdata[i]);
  return v;
}

/**
 * gst_hyrsm_support_dir_get_skipped:
 * @self: a #GstHyrsmSupportDir
 *
 * The entries that could not be used, each as "label/file: reason" (a
 * label left out for lack of examples as "label/: reason"), in the order
 * they were met.
 *
 * Returns: (transfer full) (array zero-terminated=1): the skipped entries
 *   (an empty array when none)
 */
gchar **
gst_hyrsm_support_dir_get_skipped (GstHyrsmSupportDir *self)
{
  g_return_val_if_fail (GST_HYRSM_IS_SUPPORT_DIR (self), NULL);
  return strv_copy (self->skipped);
}

/**
 * gst_hyrsm_support_dir_get_warnings:
 * @self: a #GstHyrsmSupportDir
 *
 * The entries used despite something odd, each as "label/file: what":
 * examples of fewer frames than the model samples (a still image, a
 * two-frame clip), whose frames were repeated and whose duration does not
 * count toward the median window.
 *
 * Returns: (transfer full) (array zero-terminated=1): the warnings (an
 *   empty array when none)
 */
gchar **
gst_hyrsm_support_dir_get_warnings (GstHyrsmSupportDir *self)
{
  g_return_val_if_fail (GST_HYRSM_IS_SUPPORT_DIR (self), NULL);
  return strv_copy (self->warnings);
}

/**
 * gst_hyrsm_support_dir_get_cache_dir:
 * @self: a #GstHyrsmSupportDir
 *
 * Returns: (type filename) (nullable): the feature cache folder (for this
 *   model) that was last read or written: `DIR/.hyrsm-cache/<fingerprint>`
 *   (`<fingerprint>-bf16` or `-fp16` in those precisions) or one in the
 *   user cache dir; %NULL when no cache was used
 */
const gchar *
gst_hyrsm_support_dir_get_cache_dir (GstHyrsmSupportDir *self)
{
  g_return_val_if_fail (GST_HYRSM_IS_SUPPORT_DIR (self), NULL);
  return self->cache_dir;
}

/**
 * gst_hyrsm_support_dir_get_n_decoded:
 * @self: a #GstHyrsmSupportDir
 *
 * Returns: how many clips and frame folders were decoded and embedded
 */
guint
gst_hyrsm_support_dir_get_n_decoded (GstHyrsmSupportDir *self)
{
  g_return_val_if_fail (GST_HYRSM_IS_SUPPORT_DIR (self), 0);
  return self->n_decoded;
}

/**
 * gst_hyrsm_support_dir_get_n_cached:
 * @self: a #GstHyrsmSupportDir
 *
 * Returns: how many clips and frame folders were taken from the cache
 */
guint
gst_hyrsm_support_dir_get_n_cached (GstHyrsmSupportDir *self)
{
  g_return_val_if_fail (GST_HYRSM_IS_SUPPORT_DIR (self), 0);
  return self->n_cached;
}

/**
 * gst_hyrsm_support_dir_get_n_feature_files:
 * @self: a #GstHyrsmSupportDir
 *
 * Returns: how many `.hyrsm` feature files of the directory were loaded
 */
guint
gst_hyrsm_support_dir_get_n_feature_files (GstHyrsmSupportDir *self)
{
  g_return_val_if_fail (GST_HYRSM_IS_SUPPORT_DIR (self), 0);
  return self->n_feature_files;
}

/**
 * gst_hyrsm_support_dir_get_example:
 * @self: a #GstHyrsmSupportDir
 * @index: the example, in the order they were added to the support set
 *   (0 .. hyrsm_support_set_get_n_examples() - 1)
 * @label: (out) (optional) (transfer none): its label
 * @file: (out) (optional) (transfer none): where it came from, as
 *   "label-folder/name" relative to the directory
 * @features: (out) (optional) (nullable) (transfer none): its T x D float32
 *   backbone features when the directory was loaded with
 *   %GST_HYRSM_SUPPORT_DIR_KEEP_FEATURES, else %NULL
 *
 * One example of the loaded set.
 *
 * Returns: %FALSE when @index is out of range
 */
gboolean
gst_hyrsm_support_dir_get_example (GstHyrsmSupportDir *self, guint index,
    const gchar **label, const gchar **file, GBytes **features)
{
  g_return_val_if_fail (GST_HYRSM_IS_SUPPORT_DIR (self), FALSE);
  if (index >= self->examples->len)
    return FALSE;
  Example *e = self->examples->pdata[index];
  if (label)
    *label = e->label;
  if (file)
    *file = e->file;
  if (features)
    *features = e->features;
  return TRUE;
}

static void
gst_hyrsm_support_dir_finalize (GObject *object)
{
  GstHyrsmSupportDir *self = GST_HYRSM_SUPPORT_DIR (object);
  g_free (self->path);
  g_clear_object (&self->set);
  g_strfreev (self->labels);
  g_hash_table_unref (self->n_examples);
  g_ptr_array_unref (self->skipped);
  g_ptr_array_unref (self->warnings);
  g_ptr_array_unref (self->examples);
  g_free (self->cache_dir);
  G_OBJECT_CLASS (gst_hyrsm_support_dir_parent_class)->finalize (object);
}

static void
gst_hyrsm_support_dir_get_property (GObject *object, guint prop_id,
    GValue *value, GParamSpec *pspec)
{
  GstHyrsmSupportDir *self = GST_HYRSM_SUPPORT_DIR (object);
  switch (prop_id) {
    case PROP_PATH:
      g_value_set_string (value, self->path);
      break;
    case PROP_SUPPORT_SET:
      g_value_set_object (value, self->set);
      break;
    case PROP_MEDIAN_DURATION:
      g_value_set_uint64 (value, self->median_duration);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
  }
}

static void
gst_hyrsm_support_dir_class_init (GstHyrsmSupportDirClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  object_class->finalize = gst_hyrsm_support_dir_finalize;
  object_class->get_property = gst_hyrsm_support_dir_get_property;

  /**
   * GstHyrsmSupportDir:path:
   *
   * The directory the set was loaded from.
   */
  properties[PROP_PATH] = g_param_spec_string ("path", NULL, NULL, NULL,
      G_PARAM_READABLE | G_PARAM_STATIC_STRINGS);
  /**
   * GstHyrsmSupportDir:support-set:
   *
   * The loaded support set.
   */
  properties[PROP_SUPPORT_SET] = g_param_spec_object ("support-set", NULL,
      NULL, HYRSM_TYPE_SUPPORT_SET, G_PARAM_READABLE | G_PARAM_STATIC_STRINGS);
  /**
   * GstHyrsmSupportDir:median-duration:
   *
   * The median duration of the example clips in nanoseconds
   * (%GST_CLOCK_TIME_NONE when unknown).
   */
  properties[PROP_MEDIAN_DURATION] = g_param_spec_uint64 ("median-duration",
      NULL, NULL, 0, G_MAXUINT64, GST_CLOCK_TIME_NONE,
      G_PARAM_READABLE | G_PARAM_STATIC_STRINGS);
  g_object_class_install_properties (object_class, N_PROPS, properties);
}

static void
gst_hyrsm_support_dir_init (GstHyrsmSupportDir *self)
{
  self->n_examples = g_hash_table_new_full (g_str_hash, g_str_equal, g_free,
      NULL);
  self->skipped = g_ptr_array_new_with_free_func (g_free);
  self->warnings = g_ptr_array_new_with_free_func (g_free);
  self->examples = g_ptr_array_new_with_free_func (example_free);
  self->median_duration = GST_CLOCK_TIME_NONE;
}
