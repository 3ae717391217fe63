/* gsthyrsmwindows-private.h: what the two files of the window pipeline
 * share: gsthyrsmwindows.c (the object, its tracks and their sampling, on
 * the streaming thread) and gsthyrsmwindowjob.c (what a window costs the
 * engine: its frames' embeddings and its match, and the decision made of
 * it, on the engine's thread). */
#pragma once

#include "gsthyrsmwindows.h"
#include "gsthyrsmadmission.h"
#include "gsthyrsmgrid.h"

#include <hyrsm-engine.h>

G_BEGIN_DECLS

GST_DEBUG_CATEGORY_EXTERN (gst_hyrsm_windows_debug);

/* Used when window=0 and the support set knows no clip durations. */
#define FALLBACK_WINDOW (2 * GST_SECOND)
/* Live backstops behind admission (gsthyrsmadmission.c), for a stream
 * alone on an engine too slow for it: frames waiting for embedding, and
 * windows waiting for a decision, per element. */
#define MAX_PENDING_EMBEDS(T) (4 * (T))
#define MAX_PENDING_WINDOWS 4
/* A live stream's turn on a busy engine lasts at least this many windows
 * (and MIN_SLICE): a turn's first window costs T frames, the next ones a
 * stride's worth each. */
#define SLICE_WINDOWS 5
#define MIN_SLICE (8 * GST_SECOND)
/* The shortest sampling period (window / T) when the frame rate is
 * unknown; with a known rate the period is at least one frame. */
#define MIN_PERIOD GST_MSECOND
/* The stride before configure() is called. */
#define DEFAULT_STRIDE (500 * GST_MSECOND)
/* Tracked regions at most: a detector gone wild costs memory, not more. */
#define MAX_TRACKS 256

/* What a grid point holds; the last T points are kept in a ring. */
typedef enum
{
  POINT_GAP,                    /* no frame covered it */
  POINT_SKIPPED,                /* live and behind: its frame was not embedded */
  POINT_FRAME,                  /* its frame's embedding */
} PointKind;

typedef struct
{
  guint64 index;
  PointKind kind;
  HyrsmEmbedding *embedding;    /* POINT_FRAME; NULL if the frame could not
                                 * be read */
  gint64 arrival;               /* monotonic time its frame arrived */
} Sample;

/* A frame whose duration is unknown (no duration, no frame rate): it lasts
 * until the next frame, so it is placed on the grid when that arrives. */
typedef struct
{
  GstBuffer *buffer;
  GstVideoRectangle crop;       /* what of it is embedded (ROI mode) */
  GstClockTime start;           /* running time */
  gboolean discont;
  gint64 arrival;
} HeldFrame;

/* One timeline of windows: the whole frame, or (roi=true) one tracked
 * region, per region id (gsthyrsmanalytics.c). Belongs to the streaming
 * thread; window jobs copy what they need of it. */
typedef struct
{
  gboolean is_roi;
  gint roi_id;
  GstVideoRectangle box;        /* the region as its meta gave it */
  GQuark roi_type;              /* and its type */
  GstClockTime last_seen;       /* running time of its last frame */
  GstHyrsmGrid grid;
  HeldFrame held;
  Sample *ring;                 /* its last T points */
  GstHyrsmAdmissionClient *admission;   /* live: its turns on the engine */
  guint64 needed_end;           /* live: points before it serve an admitted
                                 * window */
} Track;

struct _GstHyrsmWindows
{
  GstHyrsmWindowsCallbacks callbacks;
  gpointer user_data;
  HyrsmModel *model;            /* a reference */
  HyrsmEngine *engine;
  guint frames;                 /* T */
  guint dim;                    /* D */
  gboolean roi;

  /* The streaming thread's. */
  GstVideoInfo info;
  GstVideoConverter *converter; /* to packed RGB, same size */
  GstSegment segment;           /* of the frame being pushed */
  GstHyrsmGrid geometry;        /* the grid every track starts from */
  Track whole;                  /* the whole frame (roi=false) */
  GHashTable *tracks;           /* ROI id -> Track* (roi=true) */
  gboolean live;

  /* Shared with the engine's thread (and the getters' callers). */
  GMutex lock;
  GCond cond;
  HyrsmSupportSet *support;
  gchar *support_path;
  GstClockTime support_median;
  gchar *stream_id;
  gboolean blocking;
  /* Written under the lock; read atomically too, per grid point, where a
   * flush must stop a long walk without taking the lock each time. */
  gint flushing;
  GCancellable *cancellable;    /* cancelled by a flush; a new one after */
  guint pending_embeds;
  guint pending_windows;
  guint jobs_in_flight;
  GPtrArray *results_for_meta;  /* async: decisions for the next buffer */
  float *last_window;           /* T x D of the last decided window */
  gboolean have_last_window;
  GstHyrsmWindowsStats stats;
  GstClockTime reported_latency;        /* sync: what LATENCY queries add */
};

/* A buffer being sampled, converted to RGB at most once however many
 * regions of it are embedded. */
typedef struct
{
  GstBuffer *buf;
  guint8 *rgb;                  /* packed RGB of the whole frame, or NULL */
  int stride;
  gboolean failed;
} FrameSource;

/* gsthyrsmwindowjob.c */
void gst_hyrsm_windows_rgb_info (const GstVideoInfo *info, GstVideoInfo *rgb);
void gst_hyrsm_frame_source_clear (FrameSource *src);
HyrsmEmbedding *gst_hyrsm_windows_queue_embedding (GstHyrsmWindows *w,
    FrameSource *src, const GstVideoRectangle *crop);
GstStructure *gst_hyrsm_windows_queue_window (GstHyrsmWindows *w,
    Track *track, guint64 last);
void gst_hyrsm_windows_estimate_latency (GstHyrsmWindows *w);

G_END_DECLS
