/* gsthyrsmwindows.h: hyrsmfilter's window pipeline, an object of its own
 * with no element inside: video frames in, decisions out. It keeps one
 * timeline per track (the whole frame, or each tracked region), samples
 * frames onto the track's grid (gsthyrsmgrid.c), queues their embedding on
 * the model's engine (each an HyrsmEmbedding the window jobs hold),
 * admits windows on a busy engine (gsthyrsmadmission.c), queues each
 * window's match and makes its decision (gsthyrsmdecision.h). The element
 * (gsthyrsmfilter.c) is its adapter: properties, caps, events, pads, the
 * bus.
 *
 * Threads: the streaming thread calls everything but the getters, which
 * any thread may call; the callbacks run on the engine's thread (decision,
 * error) or on the caller's. Its own lock guards what both threads touch;
 * it never takes the element's. */
#pragma once

#include <gst/gst.h>
#include <gst/video/video.h>
#include <hyrsm.h>

G_BEGIN_DECLS

typedef struct _GstHyrsmWindows GstHyrsmWindows;

typedef struct
{
  /* A window's decision (transfer none), on the engine's thread. */
  void (*decision) (gpointer user_data, const GstStructure *decision);
  /* Embedding or matching failed: a message for the user and details. */
  void (*error) (gpointer user_data, const gchar *message,
      const gchar *debug);
  /* Sync mode on a live stream: the latency to report grew. */
  void (*latency_changed) (gpointer user_data);
} GstHyrsmWindowsCallbacks;

/* The regions followed in ROI mode, read for each frame. */
typedef struct
{
  GQuark type;                  /* 0: every type */
  gdouble margin;
  gboolean square;
  GstClockTime timeout;         /* a region unseen that long is forgotten */
} GstHyrsmRegionSettings;

typedef struct
{
  guint64 frames_sampled, frames_embedded;
  guint64 windows_classified, windows_dropped, windows_incomplete;
  GstClockTime latency;         /* the last decision's */
} GstHyrsmWindowsStats;

/* Windows of @model's T frames on its engine; @roi: one timeline per
 * tracked region instead of the whole frame. */
GstHyrsmWindows *gst_hyrsm_windows_new (HyrsmModel *model, gboolean roi,
    const GstHyrsmWindowsCallbacks *callbacks, gpointer user_data);
/* Drops what is queued (as on a flush) and waits for the engine to be done
 * with it. */
void gst_hyrsm_windows_free (GstHyrsmWindows *windows);

/* The set windows are matched on from now (NULL: none, windows are
 * dropped), its folder as decisions name it (UTF-8) and its median clip
 * length (the window when the user sets none). */
void gst_hyrsm_windows_set_support (GstHyrsmWindows *windows,
    HyrsmSupportSet *support, const gchar *support_path,
    GstClockTime median);
void gst_hyrsm_windows_set_stream_id (GstHyrsmWindows *windows,
    const gchar *stream_id);

/* New caps: frames are converted from @info to packed RGB from now (FALSE
 * when they cannot be); a held frame is placed first. *@rate_changed says
 * whether the grid must be configured again. */
gboolean gst_hyrsm_windows_set_caps (GstHyrsmWindows *windows,
    const GstVideoInfo *info, gboolean *rate_changed);
/* Every track restarts on a grid of @window (0: the support set's median
 * clip) and @stride. Returns the window in use: longer than asked when a
 * sample would be shorter than a frame; *@asked is the window asked for. */
GstClockTime gst_hyrsm_windows_configure (GstHyrsmWindows *windows,
    GstClockTime window, GstClockTime stride, GstClockTime *asked);
/* `stride` from the next frame on, every track. */
void gst_hyrsm_windows_set_stride (GstHyrsmWindows *windows,
    GstClockTime stride);
/* Sync (@blocking: the streaming thread waits for each decision) or async
 * (windows are dropped when inference falls behind); @live: upstream is
 * live (sync mode then measures the latency to report before the first
 * decision). */
void gst_hyrsm_windows_set_mode (GstHyrsmWindows *windows, gboolean blocking,
    gboolean live);
gboolean gst_hyrsm_windows_is_blocking (GstHyrsmWindows *windows);

/* Samples @frame (a timestamped buffer of the caps' format) at its running
 * time in @segment; @regions: ROI mode's settings. Adds to @out (of
 * GstStructure) the decisions the frame carries: in sync mode those of the
 * windows it completed, in async mode the latest that came in meanwhile,
 * one per track. */
void gst_hyrsm_windows_push (GstHyrsmWindows *windows, GstBuffer *frame,
    const GstSegment *segment, const GstHyrsmRegionSettings *regions,
    GPtrArray *out);
/* The end of a stream (EOS, new stream, new caps, new window): a frame
 * whose duration was unknown is placed as lasting one sampling period. */
void gst_hyrsm_windows_finish (GstHyrsmWindows *windows);
/* Waits until none of its jobs is queued on the engine. */
void gst_hyrsm_windows_wait (GstHyrsmWindows *windows);
/* Forgets the timeline (flush, new stream): the next frame starts a new
 * grid; tracked regions are forgotten. */
void gst_hyrsm_windows_reset (GstHyrsmWindows *windows);
/* While flushing, queued windows are dropped silently. */
void gst_hyrsm_windows_set_flushing (GstHyrsmWindows *windows,
    gboolean flushing);

void gst_hyrsm_windows_get_stats (GstHyrsmWindows *windows,
    GstHyrsmWindowsStats *stats);
/* Sync mode: what the element adds to LATENCY queries. */
GstClockTime gst_hyrsm_windows_get_latency (GstHyrsmWindows *windows);
/* The T x D features of the last decided window (NULL before one), for
 * `enroll`. */
float *gst_hyrsm_windows_dup_last_window (GstHyrsmWindows *windows);

/* Attaches @decision to @buf: as HyrsmMeta, and a region's decision also
 * as a parameter of the buffer's region meta of that id (the convention
 * classifiers follow). */
void gst_hyrsm_windows_attach (GstBuffer *buf, const GstStructure *decision);

G_END_DECLS
