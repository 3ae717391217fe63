/* gsthyrsmsupport.h: support sets from a directory (docs/formats.md "The
 * support-set directory"): one folder per label holding video clips, folders of frames or
 * `.hyrsm` feature files, decoded with GStreamer, sampled to T frames,
 * embedded, and cached.
 *
 * Thread safety: gst_hyrsm_support_dir_load() and friends keep no global
 * state and may run in any number of threads at once (each call decodes in
 * its own pipelines; cache files are replaced atomically). A
 * #GstHyrsmSupportDir is immutable once returned.
 */
#pragma once

#include <gst/gst.h>
#include <gio/gio.h>
#include <hyrsm/hyrsm.h>

G_BEGIN_DECLS

#ifndef GST_HYRSM_API
#ifdef GST_HYRSM_COMPILATION
#define GST_HYRSM_API __attribute__ ((visibility ("default"))) extern
#else
#define GST_HYRSM_API extern
#endif
#endif

/**
 * GST_HYRSM_SUPPORT_CACHE_DIR:
 *
 * The folder inside a support-set directory where the features of decoded
 * clips are cached, one subfolder per model fingerprint. Ignored when
 * listing labels.
 */
#define GST_HYRSM_SUPPORT_CACHE_DIR ".hyrsm-cache"

/**
 * GstHyrsmSupportDirFlags:
 * @GST_HYRSM_SUPPORT_DIR_NONE: read and write the feature cache
 * @GST_HYRSM_SUPPORT_DIR_NO_CACHE: neither read nor write the cache: decode
 *   every clip
 * @GST_HYRSM_SUPPORT_DIR_REFRESH: decode every clip and rewrite its cache
 *   file
 * @GST_HYRSM_SUPPORT_DIR_KEEP_FEATURES: keep each example's T x D features
 *   for gst_hyrsm_support_dir_get_example() (for tools that use the examples
 *   one by one, such as `gst-hyrsm eval`)
 *
 * Options of gst_hyrsm_support_dir_load_full().
 */
typedef enum
{
  GST_HYRSM_SUPPORT_DIR_NONE = 0,
  GST_HYRSM_SUPPORT_DIR_NO_CACHE = 1 << 0,
  GST_HYRSM_SUPPORT_DIR_REFRESH = 1 << 1,
  GST_HYRSM_SUPPORT_DIR_KEEP_FEATURES = 1 << 2,
} GstHyrsmSupportDirFlags;

/**
 * GstHyrsmProgressFunc:
 * @done: examples handled so far (loaded or skipped)
 * @total: examples found in the directory
 * @label: the label of the example about to be handled, %NULL when
 *   @done == @total
 * @file: its file name inside the label folder, %NULL when @done == @total
 * @user_data: (closure): the data given with the function
 *
 * Called before each example is handled and once more at the end, from the
 * thread that called gst_hyrsm_support_dir_load_full().
 */
typedef void (*GstHyrsmProgressFunc) (guint done, guint total,
    const gchar *label, const gchar *file, gpointer user_data);

#define GST_HYRSM_TYPE_SUPPORT_DIR (gst_hyrsm_support_dir_get_type ())
GST_HYRSM_API
G_DECLARE_FINAL_TYPE (GstHyrsmSupportDir, gst_hyrsm_support_dir, GST_HYRSM,
    SUPPORT_DIR, GObject)

GST_HYRSM_API
GstHyrsmSupportDir *gst_hyrsm_support_dir_load (HyrsmModel *model,
    const gchar *path, GCancellable *cancellable, GError **error);
GST_HYRSM_API
GstHyrsmSupportDir *gst_hyrsm_support_dir_load_full (HyrsmModel *model,
    const gchar *path, GstHyrsmSupportDirFlags flags,
    GstHyrsmProgressFunc func, gpointer user_data,
    GCancellable *cancellable, GError **error);

GST_HYRSM_API
HyrsmSupportSet *gst_hyrsm_support_dir_get_support_set (GstHyrsmSupportDir *self);
GST_HYRSM_API
const gchar *gst_hyrsm_support_dir_get_path (GstHyrsmSupportDir *self);
GST_HYRSM_API
gchar **gst_hyrsm_support_dir_get_labels (GstHyrsmSupportDir *self);
GST_HYRSM_API
guint gst_hyrsm_support_dir_get_n_examples (GstHyrsmSupportDir *self,
    const gchar *label);
GST_HYRSM_API
GstClockTime gst_hyrsm_support_dir_get_median_duration (GstHyrsmSupportDir *self);
GST_HYRSM_API
gchar **gst_hyrsm_support_dir_get_skipped (GstHyrsmSupportDir *self);
GST_HYRSM_API
gchar **gst_hyrsm_support_dir_get_warnings (GstHyrsmSupportDir *self);
GST_HYRSM_API
const gchar *gst_hyrsm_support_dir_get_cache_dir (GstHyrsmSupportDir *self);
GST_HYRSM_API
guint gst_hyrsm_support_dir_get_n_decoded (GstHyrsmSupportDir *self);
GST_HYRSM_API
guint gst_hyrsm_support_dir_get_n_cached (GstHyrsmSupportDir *self);
GST_HYRSM_API
guint gst_hyrsm_support_dir_get_n_feature_files (GstHyrsmSupportDir *self);

GST_HYRSM_API
gboolean gst_hyrsm_support_dir_get_example (GstHyrsmSupportDir *self,
    guint index, const gchar **label, const gchar **file, GBytes **features);

GST_HYRSM_API
HyrsmSupportSet *gst_hyrsm_support_set_load_dir (HyrsmModel *model,
    const gchar *path, GCancellable *cancellable, GError **error);

GST_HYRSM_API
GBytes *gst_hyrsm_embed_clip (HyrsmModel *model, const gchar *path,
    GCancellable *cancellable, GstClockTime *duration, GError **error);

GST_HYRSM_API
guint gst_hyrsm_sample_index (guint k, guint n_frames, guint n_samples);

G_END_DECLS
