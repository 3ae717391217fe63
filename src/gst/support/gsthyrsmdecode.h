/* gsthyrsmdecode.h: decoded RGB frames, decoding clips and frame folders
 * into them, and embedding them (gsthyrsmdecode.c).
 *
 * Private to gst-hyrsm: neither installed nor introspected, and no stable
 * API. What is marked GST_HYRSM_API is exported from libgsthyrsm for the
 * gst-hyrsm tool (`gst-hyrsm enroll --source` keeps and embeds the frames
 * of a live source with it); the rest is internal to the library.
 */
#pragma once

#include "gsthyrsmsupport.h"

G_BEGIN_DECLS

/* One decoded frame, packed RGB8 (rows of exactly width * 3 bytes),
 * reference-counted: shared between the frames a decode keeps and the
 * samples picked from them. */
typedef struct
{
  guint width, height;
  guint8 *data;
} GstHyrsmFrame;

/* A copy of the frame in @sample, which must have RGB video caps; NULL with
 * @error set when it has not, or cannot be mapped or copied. */
GST_HYRSM_API
GstHyrsmFrame *gst_hyrsm_frame_new_from_sample (GstSample *sample,
    GError **error);
GstHyrsmFrame *gst_hyrsm_frame_ref (GstHyrsmFrame *frame);
/* Takes a gpointer to serve as a GDestroyNotify; NULL is allowed. */
GST_HYRSM_API
void gst_hyrsm_frame_unref (gpointer frame);

/* Embeds @n frames with @model (which needs a backbone): one backbone call
 * when they share a size, else one call each. Returns @n x D float32
 * features (free with g_free()), or NULL with @error set. */
GST_HYRSM_API
float *gst_hyrsm_embed_frames (HyrsmModel *model,
    GstHyrsmFrame *const *frames, guint n, GError **error);

/* A decoded clip: the T frames sampled from it and its duration. */
typedef struct
{
  GstHyrsmFrame **frames;       /* T */
  guint T;
  guint64 n_frames;             /* L, the frames sampled from */
  GstClockTime duration;        /* GST_CLOCK_TIME_NONE when unknown */
} GstHyrsmClip;

void gst_hyrsm_clip_clear (GstHyrsmClip *clip);

/* Decodes the video @file (in this thread) and samples T frames from it
 * into @clip (cleared by the caller, also on failure). */
gboolean gst_hyrsm_decode_video (const char *file, guint T,
    GCancellable *cancellable, GstHyrsmClip *clip, GError **error);
/* Samples T of @images (file names in @folder, in order) and decodes those
 * into @clip (cleared by the caller, also on failure). */
gboolean gst_hyrsm_decode_folder (const char *folder, GPtrArray *images,
    guint T, GCancellable *cancellable, GstHyrsmClip *clip, GError **error);

G_END_DECLS
