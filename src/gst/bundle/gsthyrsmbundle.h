/* gsthyrsmbundle.h: support-set bundles, one file or MQTT message holding a
 * whole support set's features so that a fleet of elements can share it
 * (docs/formats.md "The support-set bundle", docs/decisions.md "Support
 * sets over MQTT").
 *
 * A bundle carries the labels, each example's T x D float32 features, the
 * fingerprint of the model that computed them, a version (monotonic, set
 * by the publisher), the publisher's name (origin) and the time it was
 * made, and optionally an HMAC-SHA-256 over all of it with a shared key.
 * Parsing treats the bytes as hostile: every count is checked against the
 * bytes there are before anything is allocated for it.
 *
 * Thread safety: a #GstHyrsmBundle is not locked; build it in one thread,
 * then share it read-only (gst_hyrsm_bundle_ref()).
 */
#pragma once

#include <gst/gst.h>
#include <hyrsm/hyrsm.h>
#include "gsthyrsmsupport.h"

G_BEGIN_DECLS

/* The first 8 bytes of every bundle. */
#define GST_HYRSM_BUNDLE_MAGIC "HYRSMSET"
/* The layout version this code writes and reads. */
#define GST_HYRSM_BUNDLE_FORMAT 1
/* Bytes of the fixed header (docs/formats.md). */
#define GST_HYRSM_BUNDLE_HEADER_SIZE 48
/* Bytes of the HMAC-SHA-256 trailer. */
#define GST_HYRSM_BUNDLE_HMAC_SIZE 32
/* The default largest bundle accepted: ~200 classes of 5 shots at
 * T = 8, D = 2048 (320 KiB a class). */
#define GST_HYRSM_BUNDLE_DEFAULT_MAX_SIZE (64 * 1024 * 1024)
/* Limits of the format's fields (each checked when parsing and writing). */
#define GST_HYRSM_BUNDLE_MAX_FRAMES 1024
#define GST_HYRSM_BUNDLE_MAX_DIM 65536
#define GST_HYRSM_BUNDLE_MAX_LABELS 65535
#define GST_HYRSM_BUNDLE_MAX_LABEL_LEN 255
#define GST_HYRSM_BUNDLE_MAX_STRING_LEN 1024
#define GST_HYRSM_BUNDLE_MAX_FINGERPRINT_LEN 64

#define GST_HYRSM_BUNDLE_ERROR (gst_hyrsm_bundle_error_quark ())

/**
 * GstHyrsmBundleError:
 * @GST_HYRSM_BUNDLE_ERROR_TOO_LARGE: over the size limit
 * @GST_HYRSM_BUNDLE_ERROR_BAD_FORMAT: not a bundle, truncated, or a field
 *   out of its bounds (the message names the field and its offset)
 * @GST_HYRSM_BUNDLE_ERROR_NO_HMAC: a key is required but the bundle has no
 *   HMAC
 * @GST_HYRSM_BUNDLE_ERROR_BAD_HMAC: the HMAC does not match the key
 * @GST_HYRSM_BUNDLE_ERROR_WRONG_MODEL: another model's fingerprint, T or D
 * @GST_HYRSM_BUNDLE_ERROR_STALE: not newer than the set in use
 * @GST_HYRSM_BUNDLE_ERROR_INVALID: building a bundle from bad arguments
 * @GST_HYRSM_BUNDLE_ERROR_IO: reading or writing a file, the key
 */
typedef enum
{
  GST_HYRSM_BUNDLE_ERROR_TOO_LARGE,
  GST_HYRSM_BUNDLE_ERROR_BAD_FORMAT,
  GST_HYRSM_BUNDLE_ERROR_NO_HMAC,
  GST_HYRSM_BUNDLE_ERROR_BAD_HMAC,
  GST_HYRSM_BUNDLE_ERROR_WRONG_MODEL,
  GST_HYRSM_BUNDLE_ERROR_STALE,
  GST_HYRSM_BUNDLE_ERROR_INVALID,
  GST_HYRSM_BUNDLE_ERROR_IO,
} GstHyrsmBundleError;

typedef struct _GstHyrsmBundle GstHyrsmBundle;

GST_HYRSM_API
GQuark gst_hyrsm_bundle_error_quark (void);

GST_HYRSM_API
GstHyrsmBundle *gst_hyrsm_bundle_new (const gchar *fingerprint, guint frames,
    guint dim, guint64 version, const gchar *origin, gint64 created_us,
    GError **error);
GST_HYRSM_API
GstHyrsmBundle *gst_hyrsm_bundle_ref (GstHyrsmBundle *self);
GST_HYRSM_API
void gst_hyrsm_bundle_unref (GstHyrsmBundle *self);

GST_HYRSM_API
gboolean gst_hyrsm_bundle_add (GstHyrsmBundle *self, const gchar *label,
    const gchar *source, const float *features, GError **error);

GST_HYRSM_API
GBytes *gst_hyrsm_bundle_serialize (GstHyrsmBundle *self, GBytes *key,
    GError **error);
GST_HYRSM_API
GstHyrsmBundle *gst_hyrsm_bundle_parse (const guint8 *data, gsize size,
    GBytes *key, gsize max_size, GError **error);
GST_HYRSM_API
gboolean gst_hyrsm_bundle_peek_version (const guint8 *data, gsize size,
    guint64 *version);

GST_HYRSM_API
const gchar *gst_hyrsm_bundle_get_fingerprint (GstHyrsmBundle *self);
GST_HYRSM_API
const gchar *gst_hyrsm_bundle_get_origin (GstHyrsmBundle *self);
GST_HYRSM_API
guint64 gst_hyrsm_bundle_get_version (GstHyrsmBundle *self);
GST_HYRSM_API
gint64 gst_hyrsm_bundle_get_created (GstHyrsmBundle *self);
GST_HYRSM_API
guint gst_hyrsm_bundle_get_frames (GstHyrsmBundle *self);
GST_HYRSM_API
guint gst_hyrsm_bundle_get_dim (GstHyrsmBundle *self);
GST_HYRSM_API
gboolean gst_hyrsm_bundle_is_signed (GstHyrsmBundle *self);
GST_HYRSM_API
gchar **gst_hyrsm_bundle_get_labels (GstHyrsmBundle *self);
GST_HYRSM_API
guint gst_hyrsm_bundle_get_n_examples (GstHyrsmBundle *self);
GST_HYRSM_API
gboolean gst_hyrsm_bundle_get_example (GstHyrsmBundle *self, guint index,
    const gchar **label, const gchar **source, const float **features);

GST_HYRSM_API
gboolean gst_hyrsm_bundle_check_model (GstHyrsmBundle *self,
    HyrsmModel *model, GError **error);
GST_HYRSM_API
HyrsmSupportSet *gst_hyrsm_bundle_to_support_set (GstHyrsmBundle *self,
    HyrsmModel *model, GError **error);
GST_HYRSM_API
GstHyrsmBundle *gst_hyrsm_bundle_from_support_dir (GstHyrsmSupportDir *dir,
    HyrsmModel *model, guint64 version, const gchar *origin, GError **error);
GST_HYRSM_API
gboolean gst_hyrsm_bundle_write_dir (GstHyrsmBundle *self, const gchar *dir,
    GError **error);

GST_HYRSM_API
GBytes *gst_hyrsm_bundle_load_key (const gchar *path, GError **error);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (GstHyrsmBundle, gst_hyrsm_bundle_unref)

G_END_DECLS
