/* gsthyrsmfilter-private.h: what the files of hyrsmfilter share: the
 * element's instance struct, the window machinery's types, and the entry
 * points of gsthyrsmwindows.c (sampling frames into windows, deciding
 * them) and gsthyrsmfiltersupport.c (the element's support sets). */
#pragma once

#include "gsthyrsmfilter.h"
#include "gsthyrsmadmission.h"
#include "gsthyrsmanalytics.h"
#include "gsthyrsmgrid.h"

#include <gst/video/video.h>
#include <hyrsm.h>
#include <hyrsm-engine.h>

G_BEGIN_DECLS

GST_DEBUG_CATEGORY_EXTERN (gst_hyrsm_filter_debug);

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

/* The features of one sampled frame: shared by the grid points the frame
 * covers and by the windows holding them, so that a window owns what it
 * reads however far the grid has moved on (slow cameras). */
typedef enum
{
  EMBEDDING_PENDING,            /* queued on the engine */
  EMBEDDING_READY,              /* features written */
  EMBEDDING_FAILED,
} EmbeddingState;

typedef struct
{
  gint ref;
  EmbeddingState state;         /* state_lock */
  gint64 arrival;               /* monotonic time the frame arrived */
  float *features;              /* D floats */
} Embedding;

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
  Embedding *embedding;         /* POINT_FRAME */
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
  guint frames;                 /* T */
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

typedef struct _GstHyrsmFilterMqtt GstHyrsmFilterMqtt;

struct _GstHyrsmFilter
{
  GstBaseTransform parent;

  /* Properties, under the object lock. */
  gchar *model_path;
  gchar *support_path;
  gchar *device;
  gchar *precision;
  GstClockTime window;
  gboolean window_changed;      /* applies at the next grid restart */
  GstClockTime stride;
  gdouble threshold;
  GstHyrsmSync sync;
  gboolean post_messages;
  gboolean attach_meta;
  gboolean attach_analytics;    /* `analytics-meta` */
  gboolean roi;
  gchar *roi_type;
  gdouble roi_margin;
  gboolean roi_square;
  GstClockTime roi_timeout;

  /* Between start() and stop(). The support set and its labels are
   * swapped under the object lock; the rest belongs to the streaming
   * thread unless noted. */
  HyrsmModel *model;
  HyrsmEngine *engine;
  HyrsmSupportSet *support;     /* object lock */
  gchar **labels;               /* object lock */
  gchar *support_in_use;        /* the directory of `support`; object lock */
  /* support_in_use as UTF-8 (g_filename_display_name()), for decisions:
   * GstStructure refuses a string that is not; object lock */
  gchar *support_display;
  gchar *support_signature;     /* its files when loaded; object lock */
  GstClockTime support_median;  /* object lock */
  guint frames;                 /* T */
  guint dim;                    /* D */
  GThread *loader;              /* background support loads, object lock */
  gchar *loader_path;           /* next path to load, object lock */
  /* support=mqtt://: its properties and subscriber
   * (gsthyrsmfiltermqtt.c) */
  GstHyrsmFilterMqtt *mqtt;

  GstVideoInfo info;
  GstVideoConverter *converter; /* to packed RGB, same size */
  gboolean live_checked;
  gboolean live;
  gboolean blocking;            /* sync mode in effect */
  GstHyrsmGrid geometry;        /* the grid every track starts from */
  gboolean configured;          /* the grid knows the caps' frame rate */
  gboolean roi_mode;            /* `roi` as read at start */
  Track whole;                  /* the whole frame (roi=false) */
  GHashTable *tracks;           /* ROI id -> Track* (roi=true) */
  gboolean warned_no_pts;
  GstClockTime reported_latency;        /* sync: what LATENCY queries add */

  /* Shared with the engine thread, under state_lock. */
  GMutex state_lock;
  GCond state_cond;
  guint pending_embeds;
  guint pending_windows;
  guint jobs_in_flight;
  gboolean flushing;
  guint64 decided_window;       /* last window index whose result is in */
  GPtrArray *results_for_meta;  /* async: decisions for the next buffer */
  GPtrArray *decisions;         /* streaming thread: this buffer's, reused */
  float *last_window;           /* T x D of the last decided window */
  gboolean have_last_window;
  guint64 frames_in;
  guint64 frames_sampled;
  guint64 frames_embedded;
  guint64 windows_classified;
  guint64 windows_dropped;      /* live and behind */
  guint64 windows_incomplete;   /* a point had no frame (gap) or failed */
  GstClockTime last_latency;
};

/* gsthyrsmfiltersupport.c: support sets (the streaming thread never waits
 * for one). */
gboolean gst_hyrsm_filter_load_initial_support (GstHyrsmFilter *self);
void gst_hyrsm_filter_request_support_load_locked (GstHyrsmFilter *self,
    const gchar *path);
gboolean gst_hyrsm_filter_enroll (GstHyrsmFilter *self, const gchar *label);
void gst_hyrsm_filter_reload (GstHyrsmFilter *self);
gboolean gst_hyrsm_filter_install_support (GstHyrsmFilter *self,
    HyrsmModel *model, const gchar *path, HyrsmSupportSet *set,
    gchar **labels, GstClockTime median, gchar *signature);

/* gsthyrsmfiltermqtt.c: support=mqtt://HOST:PORT/TOPIC, a support set
 * shared as a retained bundle on a broker. */
void gst_hyrsm_filter_mqtt_init (GstHyrsmFilter *self);
void gst_hyrsm_filter_mqtt_finalize (GstHyrsmFilter *self);
void gst_hyrsm_filter_mqtt_install_properties (GObjectClass *klass,
    guint first);
gboolean gst_hyrsm_filter_mqtt_set_property (GstHyrsmFilter *self, guint id,
    const GValue *value);
gboolean gst_hyrsm_filter_mqtt_get_property (GstHyrsmFilter *self, guint id,
    GValue *value);
gboolean gst_hyrsm_filter_mqtt_start (GstHyrsmFilter *self, const gchar *uri);
void gst_hyrsm_filter_mqtt_stop (GstHyrsmFilter *self);
gboolean gst_hyrsm_filter_mqtt_publish_enrolled (GstHyrsmFilter *self,
    const gchar *label, const float *features);

/* gsthyrsmwindows.c: the streaming thread's side of windows, and the
 * engine callbacks that decide them. */
void gst_hyrsm_windows_start (GstHyrsmFilter *self);
void gst_hyrsm_windows_stop (GstHyrsmFilter *self);
void gst_hyrsm_windows_reset (GstHyrsmFilter *self);
void gst_hyrsm_windows_configure (GstHyrsmFilter *self);
void gst_hyrsm_windows_set_stride (GstHyrsmFilter *self, GstClockTime stride);
void gst_hyrsm_windows_wait (GstHyrsmFilter *self);
void gst_hyrsm_windows_rgb_info (const GstVideoInfo *info, GstVideoInfo *rgb);
void gst_hyrsm_windows_finish_held (GstHyrsmFilter *self);
void gst_hyrsm_windows_check_live (GstHyrsmFilter *self);
void gst_hyrsm_windows_sample (GstHyrsmFilter *self, GstBuffer *buf,
    GPtrArray *out);
void gst_hyrsm_windows_take_async (GstHyrsmFilter *self, GPtrArray *out);
void gst_hyrsm_windows_attach (GstBuffer *buf, const GstStructure *decision);

G_END_DECLS
