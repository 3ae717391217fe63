/* gsthyrsmsupport-private.h: what the files of the support-set loader
 * share; internal to libgsthyrsm (neither installed nor introspected).
 *
 *   gsthyrsmsupport.c        the GstHyrsmSupportDir object and the public
 *                            API of gsthyrsmsupport.h
 *   gsthyrsmsupportscan.c    walking the directory into labels and examples
 *   gsthyrsmfeaturecache.c   the cache of features next to the clips
 *   gsthyrsmdecode.c         decoding clips and frame folders, embedding
 *                            (gsthyrsmdecode.h)
 */
#pragma once

#include "gsthyrsmdecode.h"

G_BEGIN_DECLS

/* "hyrsmsupport", set up by gsthyrsmsupport.c before a load. */
GST_DEBUG_CATEGORY_EXTERN (gst_hyrsm_support_debug);

struct _GstHyrsmSupportDir
{
  GObject parent;

  char *path;
  HyrsmSupportSet *set;
  char **labels;                /* in set order */
  GHashTable *n_examples;       /* label -> GUINT_TO_POINTER (count) */
  GstClockTime median_duration;
  GPtrArray *skipped;           /* "file: reason" */
  GPtrArray *warnings;          /* "file: what is odd about it" */
  char *cache_dir;              /* where features were cached, or NULL */
  guint n_decoded, n_cached, n_feature_files;
  GPtrArray *examples;          /* Example*, in the set's insertion order */
};

/* One loaded example, for gst_hyrsm_support_dir_get_example(). */
typedef struct
{
  char *label;
  char *file;                   /* "label_dir/name", for display */
  GBytes *features;             /* T x D; only with KEEP_FEATURES */
} Example;

/* What a cached file is checked against: its source's size and mtime. */
typedef struct
{
  guint64 size;
  gint64 mtime;                 /* microseconds since 1970 */
} Signature;

/* The feature cache of one load. */
typedef struct
{
  /* Cache roots (…/<fingerprint>): the one in DIR, the user's; which one
   * writes go to (NULL: none works). */
  char *local, *user;
  char *write;
  gboolean write_tried, warned;
} FeatureCache;

/* One load of a directory. */
typedef struct
{
  HyrsmModel *model;
  const char *dir;
  char *display_dir;
  GstHyrsmSupportDirFlags flags;
  GCancellable *cancellable;
  guint T, D;
  gboolean can_embed;
  FeatureCache cache;
  GArray *durations;            /* GstClockTime of each example that has one */
  guint n_file_skips;           /* skipped files (not labels) */
  const char *first_file_skip;  /* in result->skipped */
  GstHyrsmSupportDir *result;
} Loader;

/* ---- gsthyrsmsupportscan.c ---- */

/* Loads every label folder of @l->dir into @l->result; FALSE with @error
 * set when the directory has no usable example, or when cancelled. */
gboolean gst_hyrsm_support_scan (Loader *l, GstHyrsmProgressFunc func,
    gpointer user_data, GError **error);
/* The jpg/png files of a frame folder, sorted; NULL with @error set when
 * the folder cannot be read or holds none. */
GPtrArray *gst_hyrsm_support_list_images (const char *folder,
    GError **error);

/* ---- gsthyrsmfeaturecache.c ---- */

/* Sets up @cache for the features @model computes from the clips of
 * @dir; gst_hyrsm_feature_cache_clear() frees it. */
void gst_hyrsm_feature_cache_init (FeatureCache *cache, const char *dir,
    HyrsmModel *model);
void gst_hyrsm_feature_cache_clear (FeatureCache *cache);
/* The signature of a clip, or with @images of a frame folder. */
gboolean gst_hyrsm_feature_cache_signature (const char *path,
    GPtrArray *images, Signature *sig, GError **error);
/* The cached features of @label_dir/@name if they match @sig (T x D, free
 * with g_free()), else NULL; never with the NO_CACHE or REFRESH flags. */
float *gst_hyrsm_feature_cache_lookup (Loader *l, const char *label_dir,
    const char *name, const Signature *sig, GstClockTime *duration,
    guint64 *n_frames);
/* Writes the features of a decoded example, when a cache root works. */
void gst_hyrsm_feature_cache_store (Loader *l, const char *label_dir,
    const char *name, const float *features, const Signature *sig,
    const GstHyrsmClip *clip);

G_END_DECLS
