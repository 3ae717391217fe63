/* gsthyrsmfilter.c: hyrsmfilter, live few-shot action recognition.
 *
 * An in-place GstBaseTransform: frames leave unchanged and in order; the
 * element samples them into windows, embeds them with the model's backbone
 * and matches each window against the support set (see
 * docs/architecture.md).
 */

/**
 * SECTION:element-hyrsmfilter
 * @title: hyrsmfilter
 *
 * Recognizes actions in a video stream from a few example clips per action
 * (a support set), with the HyRSM++ few-shot model: no training needed.
 * Each decision is posted as a `hyrsm` element message and attached to the
 * outgoing buffer as `HyrsmMeta`.
 *
 * ## Example launch line
 * |[
 * gst-launch-1.0 v4l2src ! videoconvert ! hyrsmfilter model=model.safetensors support=actions/ ! fakesink
 * ]|
 */
#include "gsthyrsmfilter.h"
#include "gsthyrsmadmission.h"
#include "gsthyrsmgrid.h"
#include "gsthyrsmmeta.h"
#include "gsthyrsmreuse.h"
#include "gsthyrsmsupport.h"

#include <gst/video/video.h>
#include <hyrsm.h>
#include <hyrsm-engine.h>
#include <errno.h>
#include <math.h>
#include <string.h>

GST_DEBUG_CATEGORY_STATIC (gst_hyrsm_filter_debug);
#define GST_CAT_DEFAULT gst_hyrsm_filter_debug

#define DEFAULT_DEVICE "auto"
#define DEFAULT_PRECISION "auto"
#define DEFAULT_WINDOW 0
#define DEFAULT_STRIDE (500 * GST_MSECOND)
#define DEFAULT_THRESHOLD 0.0
#define DEFAULT_SYNC GST_HYRSM_SYNC_AUTO
#define DEFAULT_MESSAGE TRUE
#define DEFAULT_META TRUE
#define DEFAULT_ROI FALSE
#define DEFAULT_ROI_MARGIN 0.0
#define DEFAULT_ROI_SQUARE FALSE
#define DEFAULT_ROI_TIMEOUT GST_SECOND
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

enum
{
  SIGNAL_ENROLL,
  SIGNAL_RELOAD,
  N_SIGNALS
};

static guint signals[N_SIGNALS];

enum
{
  PROP_0,
  PROP_MODEL,
  PROP_SUPPORT,
  PROP_DEVICE,
  PROP_PRECISION,
  PROP_WINDOW,
  PROP_STRIDE,
  PROP_THRESHOLD,
  PROP_SYNC,
  PROP_MESSAGE,
  PROP_META,
  PROP_ROI,
  PROP_ROI_TYPE,
  PROP_ROI_MARGIN,
  PROP_ROI_SQUARE,
  PROP_ROI_TIMEOUT,
  PROP_FRAMES,
  PROP_LABELS,
  PROP_STATS,
};

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
 * region, per GstVideoRegionOfInterestMeta id. Belongs to the streaming
 * thread; window jobs copy what they need of it. */
typedef struct
{
  guint frames;                 /* T */
  gboolean is_roi;
  gint roi_id;
  GstVideoRectangle box;        /* the region as its meta gave it */
  GstClockTime last_seen;       /* running time of its last frame */
  GstHyrsmGrid grid;
  HeldFrame held;
  Sample *ring;                 /* its last T points */
  GstHyrsmAdmissionClient *admission;   /* live: its turns on the engine */
  guint64 needed_end;           /* live: points before it serve an admitted
                                 * window */
} Track;

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
  gchar *support_signature;     /* its files when loaded; object lock */
  GstClockTime support_median;  /* object lock */
  guint frames;                 /* T */
  guint dim;                    /* D */
  GThread *loader;              /* background support loads, object lock */
  gchar *loader_path;           /* next path to load, object lock */

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

#define VIDEO_FORMATS "{ RGB, BGR, RGBA, BGRA, RGBx, BGRx, xRGB, xBGR, ARGB, ABGR, I420, YV12, NV12, NV21, Y444, Y42B, GRAY8 }"

static GstStaticPadTemplate sink_template = GST_STATIC_PAD_TEMPLATE ("sink",
    GST_PAD_SINK, GST_PAD_ALWAYS,
    GST_STATIC_CAPS (GST_VIDEO_CAPS_MAKE (VIDEO_FORMATS)));
static GstStaticPadTemplate src_template = GST_STATIC_PAD_TEMPLATE ("src",
    GST_PAD_SRC, GST_PAD_ALWAYS,
    GST_STATIC_CAPS (GST_VIDEO_CAPS_MAKE (VIDEO_FORMATS)));

G_DEFINE_TYPE (GstHyrsmFilter, gst_hyrsm_filter, GST_TYPE_BASE_TRANSFORM);
GST_ELEMENT_REGISTER_DEFINE (hyrsmfilter, "hyrsmfilter", GST_RANK_NONE,
    GST_TYPE_HYRSM_FILTER);

GType
gst_hyrsm_sync_get_type (void)
{
  static gsize type = 0;
  static const GEnumValue values[] = {
    {GST_HYRSM_SYNC_AUTO, "Block for non-live sources only", "auto"},
    {GST_HYRSM_SYNC_TRUE, "Always block until each window is decided",
        "true"},
    {GST_HYRSM_SYNC_FALSE, "Never block; drop whole windows when behind",
        "false"},
    {0, NULL, NULL},
  };
  if (g_once_init_enter (&type))
    g_once_init_leave (&type, g_enum_register_static ("GstHyrsmSync",
            values));
  return type;
}

/* ---- support sets ---- */

/* Loads the support directory @path for @model (@self's). On failure
 * returns FALSE with @error naming the directory. */
static gboolean
load_support (GstHyrsmFilter *self, HyrsmModel *model, const gchar *path,
    HyrsmSupportSet **set, gchar ***labels, GstClockTime *median,
    gchar **signature, GError **error)
{
  /* Taken before loading: a file changed meanwhile makes it stale, so the
   * next start loads again rather than reusing a set older than it. */
  *signature = gst_hyrsm_support_signature (path);
  GstHyrsmSupportDir *dir = gst_hyrsm_support_dir_load (model, path, NULL,
      error);
  if (dir == NULL)
    return FALSE;
  *set = g_object_ref (gst_hyrsm_support_dir_get_support_set (dir));
  *labels = hyrsm_support_set_get_labels (*set);
  *median = gst_hyrsm_support_dir_get_median_duration (dir);
  guint n_skipped = 0;
  gchar **skipped = gst_hyrsm_support_dir_get_skipped (dir);
  for (; skipped && skipped[n_skipped]; n_skipped++)
    GST_WARNING_OBJECT (self, "support set %s: skipped %s", path,
        skipped[n_skipped]);
  if (n_skipped > 0)
    GST_ELEMENT_WARNING (self, RESOURCE, READ,
        ("%u file(s) of support set \"%s\" could not be used; the first: %s",
            n_skipped, path, skipped[0]), (NULL));
  g_strfreev (skipped);
  gchar **odd = gst_hyrsm_support_dir_get_warnings (dir);
  if (odd && odd[0])
    GST_ELEMENT_WARNING (self, RESOURCE, READ,
        ("%u example(s) of support set \"%s\" are shorter than a window; "
            "the first: %s", g_strv_length (odd), path, odd[0]), (NULL));
  g_strfreev (odd);
  g_object_unref (dir);
  return TRUE;
}

/* Swaps @set in, unless the element stopped (or restarted with another
 * model) since @model was taken: then the set is dropped and FALSE
 * returned, as a stopped element must hold no set (nor, through it, the
 * model). Takes @set and @labels either way. */
static gboolean
install_support (GstHyrsmFilter *self, HyrsmModel *model, const gchar *path,
    HyrsmSupportSet *set, gchar **labels, GstClockTime median,
    gchar *signature)
{
  GST_OBJECT_LOCK (self);
  if (self->model != model) {
    GST_OBJECT_UNLOCK (self);
    GST_DEBUG_OBJECT (self, "stopped meanwhile: support set dropped");
    g_object_unref (set);
    g_strfreev (labels);
    g_free (signature);
    return FALSE;
  }
  hyrsm_support_set_set_threshold (set, self->threshold);
  HyrsmSupportSet *old = self->support;
  gchar **old_labels = self->labels;
  self->support = set;
  self->labels = labels;
  self->support_median = median;
  g_free (self->support_in_use);
  self->support_in_use = g_strdup (path);
  g_free (self->support_signature);
  self->support_signature = signature;
  GST_OBJECT_UNLOCK (self);
  g_clear_object (&old);
  g_strfreev (old_labels);
  g_object_notify (G_OBJECT (self), "labels");
  return TRUE;
}

/* The background loader: loads self->loader_path until no newer path was
 * asked for meanwhile, then swaps the set in. */
static gpointer
support_loader_thread (gpointer data)
{
  GstHyrsmFilter *self = data;
  for (;;) {
    GST_OBJECT_LOCK (self);
    gchar *path = self->loader_path;
    self->loader_path = NULL;
    /* The model of this run, held for the load: stop() may drop the
     * element's reference meanwhile. */
    HyrsmModel *model = self->model ? g_object_ref (self->model) : NULL;
    if (path == NULL || model == NULL) {
      g_thread_unref (self->loader);
      self->loader = NULL;
      GST_OBJECT_UNLOCK (self);
      g_free (path);
      g_clear_object (&model);
      break;
    }
    GST_OBJECT_UNLOCK (self);

    HyrsmSupportSet *set = NULL;
    gchar **labels = NULL;
    GstClockTime median = GST_CLOCK_TIME_NONE;
    gchar *signature = NULL;
    GError *error = NULL;
    if (load_support (self, model, path, &set, &labels, &median, &signature,
            &error)) {
      /* @labels belong to the element once installed. */
      guint n_labels = g_strv_length (labels);
      GST_INFO_OBJECT (self, "support set %s loaded: %u labels", path,
          n_labels);
      if (install_support (self, model, path, set, labels, median,
              signature))
        gst_element_post_message (GST_ELEMENT (self),
            gst_message_new_element (GST_OBJECT (self),
                gst_structure_new ("hyrsm-support", "path", G_TYPE_STRING,
                    path, "n-labels", G_TYPE_UINT, n_labels, NULL)));
    } else {
      /* The property goes back to naming the set in use, so that enroll,
       * reload and the next start never act on the path that failed. */
      GST_OBJECT_LOCK (self);
      gboolean revert = self->loader_path == NULL && self->support_in_use
          && g_strcmp0 (self->support_path, path) == 0;
      if (revert) {
        g_free (self->support_path);
        self->support_path = g_strdup (self->support_in_use);
      }
      gchar *in_use = g_strdup (self->support_in_use);
      GST_OBJECT_UNLOCK (self);
      GST_ELEMENT_WARNING (self, RESOURCE, READ,
          ("Could not load support set \"%s\"; keeping \"%s\".", path,
              in_use), ("%s", error->message));
      if (revert)
        g_object_notify (G_OBJECT (self), "support");
      g_free (in_use);
      g_free (signature);
      g_error_free (error);
    }
    g_free (path);
    g_object_unref (model);
  }
  gst_object_unref (self);
  return NULL;
}

/* Queues a background (re)load of @path; called with the object lock. */
static void
request_support_load_locked (GstHyrsmFilter *self, const gchar *path)
{
  g_free (self->loader_path);
  self->loader_path = g_strdup (path);
  if (self->loader == NULL)
    self->loader = g_thread_new ("hyrsm-support", support_loader_thread,
        gst_object_ref (self));
}

/* ---- start / stop ---- */

/* Loads (or shares) the model named by the properties. */
static gboolean
load_model (GstHyrsmFilter *self)
{
  GST_OBJECT_LOCK (self);
  gchar *path = g_strdup (self->model_path);
  gchar *device = g_strdup (self->device);
  gchar *precision = g_strdup (self->precision);
  GST_OBJECT_UNLOCK (self);

  if (path == NULL || *path == '\0') {
    GST_ELEMENT_ERROR (self, RESOURCE, NOT_FOUND,
        ("No model file given: set the \"model\" property."), (NULL));
    g_free (path);
    g_free (device);
    g_free (precision);
    return FALSE;
  }
  GError *error = NULL;
  self->model = hyrsm_model_new_shared_full (path, device, precision, &error);
  if (self->model == NULL) {
    if (g_error_matches (error, HYRSM_ERROR, HYRSM_ERROR_FILE_NOT_FOUND))
      GST_ELEMENT_ERROR (self, RESOURCE, NOT_FOUND,
          ("Could not open model file \"%s\".", path), ("%s",
              error->message));
    else if (g_error_matches (error, HYRSM_ERROR, HYRSM_ERROR_NO_DEVICE))
      GST_ELEMENT_ERROR (self, RESOURCE, SETTINGS,
          ("Device \"%s\" is not available for model \"%s\".", device, path),
          ("%s", error->message));
    else if (g_error_matches (error, HYRSM_ERROR,
            HYRSM_ERROR_INVALID_ARGUMENT))
      GST_ELEMENT_ERROR (self, RESOURCE, SETTINGS,
          ("Cannot load model \"%s\" (device \"%s\", precision \"%s\"): %s",
              path, device, precision, error->message), (NULL));
    else
      GST_ELEMENT_ERROR (self, RESOURCE, READ,
          ("Could not load model file \"%s\".", path), ("%s",
              error->message));
    g_error_free (error);
  } else {
    GST_INFO_OBJECT (self, "model %s: %s backbone, %s head, T=%u, D=%u on %s "
        "(%s)", path, hyrsm_model_get_backbone (self->model),
        hyrsm_model_get_head (self->model),
        hyrsm_model_get_frames (self->model),
        hyrsm_model_get_feature_dim (self->model),
        hyrsm_model_get_device (self->model),
        hyrsm_model_get_precision (self->model));
  }
  g_free (path);
  g_free (device);
  g_free (precision);
  return self->model != NULL;
}

static gboolean
load_initial_support (GstHyrsmFilter *self)
{
  GST_OBJECT_LOCK (self);
  gchar *path = g_strdup (self->support_path);
  GST_OBJECT_UNLOCK (self);
  if (path == NULL || *path == '\0') {
    GST_ELEMENT_ERROR (self, RESOURCE, NOT_FOUND,
        ("No support set given: set the \"support\" property to a directory "
            "with one folder of example clips per action."), (NULL));
    g_free (path);
    return FALSE;
  }
  /* A restart with the same model and an unchanged directory takes back
   * what the last stop kept (gsthyrsmreuse.c). */
  gchar *signature = gst_hyrsm_support_signature (path);
  GstHyrsmLoaded *kept = gst_hyrsm_reuse_take (self->model, path, signature);
  g_free (signature);
  if (kept) {
    GST_INFO_OBJECT (self, "support set %s: reusing the set loaded before",
        path);
    install_support (self, self->model, path, g_steal_pointer (&kept->set),
        g_steal_pointer (&kept->labels), kept->median,
        g_steal_pointer (&kept->signature));
    gst_hyrsm_loaded_free (kept);
    g_free (path);
    return TRUE;
  }

  HyrsmSupportSet *set = NULL;
  gchar **labels = NULL;
  GstClockTime median = GST_CLOCK_TIME_NONE;
  GError *error = NULL;
  gboolean ok = load_support (self, self->model, path, &set, &labels, &median,
      &signature, &error);
  if (ok) {
    install_support (self, self->model, path, set, labels, median,
        signature);
  } else if (g_error_matches (error, HYRSM_ERROR, HYRSM_ERROR_FILE_NOT_FOUND)
      && g_file_test (path, G_FILE_TEST_EXISTS)) {
    GST_ELEMENT_ERROR (self, RESOURCE, NOT_FOUND,
        ("Support set \"%s\" is not a directory of label folders.", path),
        ("%s", error->message));
  } else if (g_error_matches (error, HYRSM_ERROR,
          HYRSM_ERROR_FILE_NOT_FOUND)) {
    GST_ELEMENT_ERROR (self, RESOURCE, NOT_FOUND,
        ("Support set \"%s\" not found.", path), ("%s", error->message));
  } else {
    GST_ELEMENT_ERROR (self, RESOURCE, READ,
        ("Could not load support set \"%s\".", path), ("%s",
            error->message));
  }
  if (!ok)
    g_free (signature);
  g_clear_error (&error);
  g_free (path);
  return ok;
}

static void embedding_unref (Embedding *e);

/* A track's grid, a copy of the geometry continuing the track's point
 * numbers (they only grow: see gsthyrsmgrid.h). */
static void
track_apply_geometry (GstHyrsmFilter *self, Track *track)
{
  guint64 next = track->grid.next;
  track->grid = self->geometry;
  track->grid.origin = GST_CLOCK_TIME_NONE;
  track->grid.base = track->grid.next = next;
}

static void
track_init (GstHyrsmFilter *self, Track *track)
{
  memset (track, 0, sizeof *track);
  track->frames = self->frames;
  track->ring = g_new0 (Sample, self->frames);
  for (guint i = 0; i < self->frames; i++)
    track->ring[i].index = G_MAXUINT64;
  track_apply_geometry (self, track);
}

/* Forgets the track's timeline: its next frame starts a new grid. */
static void
track_reset (GstHyrsmFilter *self, Track *track)
{
  for (guint i = 0; track->ring && i < track->frames; i++) {
    g_clear_pointer (&track->ring[i].embedding, embedding_unref);
    track->ring[i].kind = POINT_GAP;
    track->ring[i].index = G_MAXUINT64;
  }
  gst_clear_buffer (&track->held.buffer);
  gst_hyrsm_grid_reset (&track->grid);
}

static void
track_clear (GstHyrsmFilter *self, Track *track)
{
  track_reset (self, track);
  g_clear_pointer (&track->ring, g_free);
  g_clear_pointer (&track->admission, gst_hyrsm_admission_leave);
}

static void
track_free (gpointer data)
{
  track_clear (NULL, data);
  g_free (data);
}

/* Calls @func on every track. */
static void
for_each_track (GstHyrsmFilter *self, void (*func) (GstHyrsmFilter *,
        Track *))
{
  if (!self->roi_mode) {
    func (self, &self->whole);
    return;
  }
  GHashTableIter iter;
  gpointer track;
  g_hash_table_iter_init (&iter, self->tracks);
  while (g_hash_table_iter_next (&iter, NULL, &track))
    func (self, track);
}

/* Forgets the timeline (start, flush, stream start): the next frame starts
 * a new grid; tracked regions are forgotten. */
static void
reset_windows (GstHyrsmFilter *self)
{
  g_mutex_lock (&self->state_lock);
  g_ptr_array_set_size (self->results_for_meta, 0);
  g_mutex_unlock (&self->state_lock);
  if (self->roi_mode)
    g_hash_table_remove_all (self->tracks);
  else
    track_reset (self, &self->whole);
}

static void
track_reconfigure (GstHyrsmFilter *self, Track *track)
{
  g_clear_pointer (&track->admission, gst_hyrsm_admission_leave);
  track_apply_geometry (self, track);
}

/* Grid geometry from the properties, the support set and the frame rate:
 * the sampling period is window / T, but never shorter than one frame (or
 * MIN_PERIOD when the rate is unknown): a shorter one would sample the
 * same frame several times per point and, at the extreme, spend the
 * streaming thread walking points. Every track restarts on it. */
static void
configure_windows (GstHyrsmFilter *self)
{
  GST_OBJECT_LOCK (self);
  GstClockTime window = self->window;
  if (window == 0)
    window = GST_CLOCK_TIME_IS_VALID (self->support_median) &&
        self->support_median > 0 ? self->support_median : FALLBACK_WINDOW;
  GstClockTime stride = self->stride;
  self->window_changed = FALSE;
  GST_OBJECT_UNLOCK (self);
  self->configured = TRUE;

  GstClockTime min_period = MIN_PERIOD;
  if (GST_VIDEO_INFO_FPS_N (&self->info) > 0)
    min_period = MAX (min_period, gst_util_uint64_scale (GST_SECOND,
            GST_VIDEO_INFO_FPS_D (&self->info),
            GST_VIDEO_INFO_FPS_N (&self->info)));
  if (window / self->frames < min_period) {
    GstClockTime shortest = min_period * self->frames;
    GST_ELEMENT_WARNING (self, LIBRARY, SETTINGS,
        ("Window %" GST_TIME_FORMAT " is shorter than %u frames (one per "
            "sample); using %" GST_TIME_FORMAT ".", GST_TIME_ARGS (window),
            self->frames, GST_TIME_ARGS (shortest)), (NULL));
    window = shortest;
  }
  gst_hyrsm_grid_init (&self->geometry, self->frames, window, stride);
  for_each_track (self, track_reconfigure);
  GST_INFO_OBJECT (self, "window %" GST_TIME_FORMAT " (T=%u, a sample every %"
      GST_TIME_FORMAT "), a decision every %" G_GUINT64_FORMAT " samples",
      GST_TIME_ARGS (window), self->frames,
      GST_TIME_ARGS (self->geometry.period), self->geometry.stride);
}

static gboolean
gst_hyrsm_filter_start (GstBaseTransform *trans)
{
  GstHyrsmFilter *self = GST_HYRSM_FILTER (trans);
  if (!load_model (self))
    return FALSE;
  if (!hyrsm_model_has_backbone (self->model)) {
    GST_ELEMENT_ERROR (self, RESOURCE, SETTINGS,
        ("Model \"%s\" has no backbone: hyrsmfilter needs one to embed "
            "frames.", hyrsm_model_get_path (self->model)), (NULL));
    g_clear_object (&self->model);
    return FALSE;
  }
  self->frames = hyrsm_model_get_frames (self->model);
  self->dim = hyrsm_model_get_feature_dim (self->model);
  if (!load_initial_support (self)) {
    g_clear_object (&self->model);
    return FALSE;
  }
  self->engine = hyrsm_engine_get (self->model);

  self->last_window = g_new0 (float, (gsize) self->frames * self->dim);
  self->have_last_window = FALSE;
  self->frames_in = self->frames_sampled = self->frames_embedded = 0;
  self->windows_classified = self->windows_dropped = 0;
  self->windows_incomplete = 0;
  self->last_latency = self->reported_latency = 0;
  self->pending_embeds = self->pending_windows = 0;
  self->flushing = FALSE;
  self->live_checked = FALSE;
  self->warned_no_pts = FALSE;
  /* The grid is configured with the first caps (the frame rate bounds
   * the sampling period). */
  gst_video_info_init (&self->info);
  self->configured = FALSE;
  gst_hyrsm_grid_init (&self->geometry, self->frames, FALLBACK_WINDOW,
      DEFAULT_STRIDE);
  GST_OBJECT_LOCK (self);
  self->roi_mode = self->roi;
  GST_OBJECT_UNLOCK (self);
  self->results_for_meta = g_ptr_array_new_with_free_func ((GDestroyNotify)
      gst_structure_free);
  self->decisions = g_ptr_array_new_with_free_func ((GDestroyNotify)
      gst_structure_free);
  if (self->roi_mode)
    self->tracks = g_hash_table_new_full (NULL, NULL, NULL, track_free);
  else
    track_init (self, &self->whole);
  reset_windows (self);
  return TRUE;
}

/* Waits until no job of ours is queued on the engine. */
static void
wait_for_jobs (GstHyrsmFilter *self)
{
  g_mutex_lock (&self->state_lock);
  while (self->jobs_in_flight > 0)
    g_cond_wait (&self->state_cond, &self->state_lock);
  g_mutex_unlock (&self->state_lock);
}

static gboolean
gst_hyrsm_filter_stop (GstBaseTransform *trans)
{
  GstHyrsmFilter *self = GST_HYRSM_FILTER (trans);
  g_mutex_lock (&self->state_lock);
  self->flushing = TRUE;
  g_cond_broadcast (&self->state_cond);
  g_mutex_unlock (&self->state_lock);
  wait_for_jobs (self);

  /* A background support load finishes on its own; it holds a ref. */
  GST_OBJECT_LOCK (self);
  g_clear_pointer (&self->loader_path, g_free);
  GST_OBJECT_UNLOCK (self);

  g_clear_pointer (&self->tracks, g_hash_table_unref);
  track_clear (self, &self->whole);
  g_clear_pointer (&self->last_window, g_free);
  g_clear_pointer (&self->results_for_meta, g_ptr_array_unref);
  g_clear_pointer (&self->decisions, g_ptr_array_unref);
  g_clear_pointer (&self->converter, gst_video_converter_free);
  self->engine = NULL;
  /* `labels` keeps naming the last set loaded, for applications that read
   * it after the pipeline stopped. The model and the set are kept a few
   * seconds for a restart (gsthyrsmreuse.c), not by the element. */
  GST_OBJECT_LOCK (self);
  if (self->support && self->model && self->support_signature) {
    GstHyrsmLoaded *loaded = g_new0 (GstHyrsmLoaded, 1);
    loaded->model = g_object_ref (self->model);
    loaded->support_path = g_strdup (self->support_in_use);
    loaded->set = g_object_ref (self->support);
    loaded->labels = g_strdupv (self->labels);
    loaded->median = self->support_median;
    loaded->signature = g_steal_pointer (&self->support_signature);
    gst_hyrsm_reuse_keep (loaded);
  }
  g_clear_pointer (&self->support_signature, g_free);
  g_clear_object (&self->support);
  g_clear_object (&self->model);
  GST_OBJECT_UNLOCK (self);
  return TRUE;
}

/* Packed RGB at the size (and rate) of @info: what frames are copied to. */
static void
rgb_info_for (const GstVideoInfo *info, GstVideoInfo *rgb)
{
  gst_video_info_set_format (rgb, GST_VIDEO_FORMAT_RGB,
      GST_VIDEO_INFO_WIDTH (info), GST_VIDEO_INFO_HEIGHT (info));
  GST_VIDEO_INFO_FPS_N (rgb) = GST_VIDEO_INFO_FPS_N (info);
  GST_VIDEO_INFO_FPS_D (rgb) = GST_VIDEO_INFO_FPS_D (info);
  GST_VIDEO_INFO_PAR_N (rgb) = GST_VIDEO_INFO_PAR_N (info);
  GST_VIDEO_INFO_PAR_D (rgb) = GST_VIDEO_INFO_PAR_D (info);
}

static void finish_held_frame (GstHyrsmFilter *self);

static gboolean
gst_hyrsm_filter_set_caps (GstBaseTransform *trans, GstCaps *incaps,
    GstCaps *outcaps)
{
  GstHyrsmFilter *self = GST_HYRSM_FILTER (trans);
  GstVideoInfo info;
  if (!gst_video_info_from_caps (&info, incaps)) {
    GST_ELEMENT_ERROR (self, CORE, NEGOTIATION, (NULL),
        ("Cannot parse caps %" GST_PTR_FORMAT, incaps));
    return FALSE;
  }
  /* Frames are converted to packed RGB at their own size: pre-processing
   * (resize, crop) is the engine's, exactly as for support clips. */
  GstVideoInfo rgb;
  rgb_info_for (&info, &rgb);
  GstVideoConverter *converter = gst_video_converter_new (&info, &rgb,
      gst_structure_new ("options", GST_VIDEO_CONVERTER_OPT_THREADS,
          G_TYPE_UINT, 1, NULL));
  if (converter == NULL) {
    GST_ELEMENT_ERROR (self, CORE, NEGOTIATION, (NULL),
        ("Cannot convert %" GST_PTR_FORMAT " to RGB", incaps));
    return FALSE;
  }
  /* A held frame is converted with the caps it came with. */
  finish_held_frame (self);
  g_clear_pointer (&self->converter, gst_video_converter_free);
  self->converter = converter;
  GST_DEBUG_OBJECT (self, "caps %" GST_PTR_FORMAT, incaps);
  gboolean rate_changed = GST_VIDEO_INFO_FPS_N (&info) *
      (gint64) GST_VIDEO_INFO_FPS_D (&self->info) !=
      GST_VIDEO_INFO_FPS_N (&self->info) * (gint64) GST_VIDEO_INFO_FPS_D (&info);
  self->info = info;
  /* The shortest period allowed depends on the frame rate. */
  if (rate_changed || !self->configured)
    configure_windows (self);
  return TRUE;
}

/* ---- windows ---- */

static Embedding *
embedding_new (guint dim, gint64 arrival)
{
  Embedding *e = g_new0 (Embedding, 1);
  e->ref = 1;
  e->state = EMBEDDING_PENDING;
  e->arrival = arrival;
  e->features = g_new (float, dim);
  return e;
}

static Embedding *
embedding_ref (Embedding *e)
{
  g_atomic_int_inc (&e->ref);
  return e;
}

static void
embedding_unref (Embedding *e)
{
  if (g_atomic_int_dec_and_test (&e->ref)) {
    g_free (e->features);
    g_free (e);
  }
}

typedef struct
{
  GstHyrsmFilter *self;
  Embedding *embedding;         /* a reference */
} EmbedJob;

static void
job_done (GstHyrsmFilter *self)
{
  self->jobs_in_flight--;
  g_cond_broadcast (&self->state_cond);
}

static void
embed_done (gpointer data, const GError *error)
{
  EmbedJob *job = data;
  GstHyrsmFilter *self = job->self;
  if (error)
    GST_ELEMENT_ERROR (self, STREAM, FAILED,
        ("Inference failed on %s.", hyrsm_model_get_device (self->model)),
        ("%s", error->message));
  g_mutex_lock (&self->state_lock);
  job->embedding->state = error ? EMBEDDING_FAILED : EMBEDDING_READY;
  if (!error)
    self->frames_embedded++;
  self->pending_embeds--;
  job_done (self);
  g_mutex_unlock (&self->state_lock);
  embedding_unref (job->embedding);
  g_free (job);
}

/* Copies @buf out as packed RGB (upstream's buffer is never held). */
static guint8 *
copy_frame_rgb (GstHyrsmFilter *self, GstBuffer *buf, int *stride)
{
  GstVideoFrame in, out;
  GstVideoInfo rgb;
  rgb_info_for (&self->info, &rgb);
  guint8 *pixels = g_malloc (GST_VIDEO_INFO_SIZE (&rgb));
  if (!gst_video_frame_map (&in, &self->info, buf, GST_MAP_READ)) {
    g_free (pixels);
    return NULL;
  }
  GstBuffer *wrapped = gst_buffer_new_wrapped_full (0, pixels,
      GST_VIDEO_INFO_SIZE (&rgb), 0, GST_VIDEO_INFO_SIZE (&rgb), NULL, NULL);
  if (gst_video_frame_map (&out, &rgb, wrapped, GST_MAP_WRITE)) {
    gst_video_converter_frame (self->converter, &in, &out);
    gst_video_frame_unmap (&out);
  }
  gst_buffer_unref (wrapped);
  gst_video_frame_unmap (&in);
  *stride = GST_VIDEO_INFO_PLANE_STRIDE (&rgb, 0);
  return pixels;
}

/* A buffer being sampled, converted to RGB at most once however many
 * regions of it are embedded. */
typedef struct
{
  GstBuffer *buf;
  guint8 *rgb;                  /* packed RGB of the whole frame, or NULL */
  int stride;
  gboolean failed;
} FrameSource;

static void
frame_source_clear (FrameSource *src)
{
  g_clear_pointer (&src->rgb, g_free);
}

/* Packed RGB of @crop of the frame (taken by the caller), or NULL when the
 * frame cannot be mapped. */
static guint8 *
frame_source_rgb (GstHyrsmFilter *self, FrameSource *src,
    const GstVideoRectangle *crop, int *stride)
{
  if (src->rgb == NULL && !src->failed) {
    src->rgb = copy_frame_rgb (self, src->buf, &src->stride);
    src->failed = src->rgb == NULL;
  }
  if (src->rgb == NULL)
    return NULL;
  gboolean whole = crop->x == 0 && crop->y == 0
      && crop->w == GST_VIDEO_INFO_WIDTH (&self->info)
      && crop->h == GST_VIDEO_INFO_HEIGHT (&self->info);
  if (whole) {
    /* The whole frame once: hand the conversion over. */
    *stride = src->stride;
    guint8 *rgb = src->rgb;
    src->rgb = NULL;
    src->failed = TRUE;         /* a second whole frame is not asked for */
    return rgb;
  }
  *stride = crop->w * 3;
  guint8 *out = g_malloc ((gsize) crop->w * crop->h * 3);
  for (int y = 0; y < crop->h; y++)
    memcpy (out + (gsize) y * *stride, src->rgb + (gsize) (crop->y + y) *
        src->stride + (gsize) crop->x * 3, (gsize) crop->w * 3);
  return out;
}

/* Queues the embedding of @crop of @src into a new Embedding (returned, a
 * reference of the caller's). */
static Embedding *
queue_embedding (GstHyrsmFilter *self, FrameSource *src,
    const GstVideoRectangle *crop, gint64 arrival)
{
  Embedding *embedding = embedding_new (self->dim, arrival);
  EmbedJob *job = g_new0 (EmbedJob, 1);
  job->self = self;
  job->embedding = embedding_ref (embedding);
  g_mutex_lock (&self->state_lock);
  self->pending_embeds++;
  self->jobs_in_flight++;
  self->frames_sampled++;
  g_mutex_unlock (&self->state_lock);

  int stride;
  guint8 *rgb = frame_source_rgb (self, src, crop, &stride);
  if (rgb == NULL) {
    GError *error = g_error_new (HYRSM_ERROR, HYRSM_ERROR_INVALID_ARGUMENT,
        "cannot map the video frame");
    embed_done (job, error);
    g_error_free (error);
  } else {
    hyrsm_engine_queue_embed (self->engine, rgb, crop->w, crop->h, stride,
        embedding->features, embed_done, job);
  }
  return embedding;
}

typedef struct
{
  GstHyrsmFilter *self;
  Embedding **points;           /* T references, the window's samples */
  GstClockTime start, end;      /* running time */
  GstClockTime stream_start, stream_end;
  gint64 arrival;               /* monotonic time its last frame arrived */
  gboolean is_roi;              /* a tracked region's window: */
  gint roi_id;
  GstVideoRectangle box;        /* its box when the window ended */
  float *query;                 /* T x D, gathered when the match runs */
  gboolean flushing;            /* seen when gathering */
  gboolean incomplete;          /* a sample's embedding failed */
  gboolean done;
  GstStructure *result;         /* sync: handed back to the streaming thread */
} WindowJob;

static void
window_job_free (WindowJob *job)
{
  for (guint t = 0; t < job->self->frames; t++)
    if (job->points[t])
      embedding_unref (job->points[t]);
  g_free (job->points);
  g_free (job->query);
  g_free (job);
}

static GstStructure *
make_decision (GstHyrsmFilter *self, WindowJob *job, HyrsmMatchResult *res,
    GstClockTime latency)
{
  GValue labels = G_VALUE_INIT, distances = G_VALUE_INIT, v = G_VALUE_INIT;
  guint n = hyrsm_match_result_get_n_classes (res);
  guint n_distances = 0;
  const double *d = hyrsm_match_result_get_distances (res, &n_distances);
  const char *const *names = hyrsm_match_result_get_labels (res);
  gst_value_array_init (&labels, n);
  gst_value_array_init (&distances, n);
  for (guint i = 0; i < n; i++) {
    g_value_init (&v, G_TYPE_STRING);
    g_value_set_string (&v, names[i]);
    gst_value_array_append_and_take_value (&labels, &v);
    g_value_init (&v, G_TYPE_DOUBLE);
    g_value_set_double (&v, d[i]);
    gst_value_array_append_and_take_value (&distances, &v);
  }
  GstStructure *s = gst_structure_new ("hyrsm",
      "label", G_TYPE_STRING, hyrsm_match_result_get_label (res),
      "confidence", G_TYPE_DOUBLE, hyrsm_match_result_get_confidence (res),
      "distance", G_TYPE_DOUBLE, hyrsm_match_result_get_distance (res),
      "window-start", G_TYPE_UINT64, job->stream_start,
      "window-end", G_TYPE_UINT64, job->stream_end,
      "running-time", G_TYPE_UINT64, job->end,
      "latency", G_TYPE_UINT64, latency, NULL);
  gst_structure_take_value (s, "labels", &labels);
  gst_structure_take_value (s, "distances", &distances);
  /* What a consumer needs to file the decision (hyrsmpublish): where it
   * comes from and when, in wall-clock time, its window ended (the arrival
   * of the frame completing it). */
  gchar *stream_id = gst_pad_get_stream_id (GST_BASE_TRANSFORM_SINK_PAD
      (self));
  GST_OBJECT_LOCK (self);
  gst_structure_set (s,
      "unknown", G_TYPE_BOOLEAN, hyrsm_match_result_is_unknown (res),
      "running-time-start", G_TYPE_UINT64, job->start,
      "wallclock-end", G_TYPE_INT64, g_get_real_time () -
      (g_get_monotonic_time () - job->arrival),
      "stream-id", G_TYPE_STRING, stream_id ? stream_id : "",
      "model-fingerprint", G_TYPE_STRING,
      hyrsm_model_get_fingerprint (self->model),
      "support-path", G_TYPE_STRING, self->support_in_use, NULL);
  GST_OBJECT_UNLOCK (self);
  g_free (stream_id);
  if (job->is_roi)
    gst_structure_set (s, "roi-id", G_TYPE_INT, job->roi_id,
        "roi-x", G_TYPE_INT, job->box.x, "roi-y", G_TYPE_INT, job->box.y,
        "roi-width", G_TYPE_INT, job->box.w,
        "roi-height", G_TYPE_INT, job->box.h, NULL);
  return s;
}

/* The ROI id of @decision, or -1 for a whole-frame decision (ids are the
 * metas' own, which are never negative in practice). */
static gint
decision_roi (const GstStructure *decision)
{
  gint id;
  return gst_structure_get_int (decision, "roi-id", &id) ? id : -1;
}

/* Adds @decision to @decisions, replacing an older one of the same
 * timeline (the bus has every decision; a buffer carries the latest). */
static void
keep_latest (GPtrArray *decisions, GstStructure *decision)
{
  if (decision == NULL)
    return;
  gint roi = decision_roi (decision);
  for (guint i = 0; i < decisions->len; i++)
    if (decision_roi (g_ptr_array_index (decisions, i)) == roi) {
      g_ptr_array_remove_index (decisions, i);
      break;
    }
  g_ptr_array_add (decisions, decision);
}

/* Sync mode: a buffer that completes a window waits for its decision, so
 * the pipeline must know; tell it when a decision took longer than said. */
static void
update_reported_latency (GstHyrsmFilter *self, GstClockTime latency)
{
  g_mutex_lock (&self->state_lock);
  gboolean grew = self->blocking && latency > self->reported_latency;
  if (grew)
    self->reported_latency = latency + latency / 4;     /* headroom */
  g_mutex_unlock (&self->state_lock);
  if (grew && self->live)
    gst_element_post_message (GST_ELEMENT (self),
        gst_message_new_latency (GST_OBJECT (self)));
}

/* On the engine thread, when the window's match is about to run (every
 * frame queued before it embedded): gathers its T samples; FALSE skips the
 * match (flushing, or a sample whose embedding failed). */
static gboolean
gather_window (gpointer data, float *query)
{
  WindowJob *job = data;
  GstHyrsmFilter *self = job->self;
  guint T = self->frames;
  gboolean complete = TRUE;

  g_mutex_lock (&self->state_lock);
  for (guint t = 0; t < T && complete; t++) {
    if (job->points[t]->state != EMBEDDING_READY)
      complete = FALSE;
    else
      memcpy (query + (gsize) t * self->dim, job->points[t]->features,
          self->dim * sizeof (float));
  }
  job->flushing = self->flushing;
  job->incomplete = !complete;
  g_mutex_unlock (&self->state_lock);
  if (job->flushing || !complete)
    return FALSE;
  job->query = g_memdup2 (query, (gsize) T * self->dim * sizeof (float));
  return TRUE;
}

/* On the engine thread: the window's match result (NULL when it was
 * skipped or failed) becomes its decision. The engine runs the matches of
 * all windows due together on one support set as one batch. */
static void
decide_window (gpointer data, HyrsmMatchResult *res, const GError *error)
{
  WindowJob *job = data;
  GstHyrsmFilter *self = job->self;
  guint T = self->frames;
  gboolean flushing = job->flushing;

  GST_OBJECT_LOCK (self);
  gboolean post = self->post_messages;
  GST_OBJECT_UNLOCK (self);

  GstStructure *decision = NULL;
  if (error) {
    GST_ELEMENT_ERROR (self, STREAM, FAILED, ("Matching failed."), ("%s",
            error->message));
  } else if (res) {
    GstClockTime latency = (g_get_monotonic_time () - job->arrival) *
        GST_USECOND;
    decision = make_decision (self, job, res, latency);
    GST_DEBUG_OBJECT (self, "decision %" GST_PTR_FORMAT, decision);
    if (post)
      gst_element_post_message (GST_ELEMENT (self),
          gst_message_new_element (GST_OBJECT (self),
              gst_structure_copy (decision)));
    update_reported_latency (self, latency);
  }

  g_mutex_lock (&self->state_lock);
  if (decision) {
    self->windows_classified++;
    gst_structure_get_uint64 (decision, "latency", &self->last_latency);
    memcpy (self->last_window, job->query, (gsize) T * self->dim *
        sizeof (float));
    self->have_last_window = TRUE;
  } else if (!flushing && job->incomplete) {
    self->windows_incomplete++;
  } else if (!flushing) {
    self->windows_dropped++;
  }
  self->pending_windows--;
  if (self->blocking) {
    job->result = decision;
    job->done = TRUE;
  } else {
    keep_latest (self->results_for_meta, decision);
    window_job_free (job);
  }
  job_done (self);
  g_mutex_unlock (&self->state_lock);
}

/* A window due while the element has no support set: no match to run. */
static void
skip_window (gpointer data)
{
  WindowJob *job = data;
  g_mutex_lock (&job->self->state_lock);
  job->flushing = job->self->flushing;
  g_mutex_unlock (&job->self->state_lock);
  decide_window (job, NULL, NULL);
}

/* Queues the window's match on the support set current now. */
static void
queue_decision (GstHyrsmFilter *self, WindowJob *job)
{
  GST_OBJECT_LOCK (self);
  HyrsmSupportSet *support = self->support ? g_object_ref (self->support) :
      NULL;
  GST_OBJECT_UNLOCK (self);
  if (support)
    hyrsm_engine_queue_match (self->engine, support, NULL, gather_window,
        decide_window, job);
  else
    hyrsm_engine_queue_call (self->engine, skip_window, job);
  g_clear_object (&support);
}

/* Sync mode on a live source: the first decisions must not arrive late at
 * the sinks, so the latency is known before them: the time one frame's
 * embedding and one match take on this model, measured here once. */
static void
estimate_latency (GstHyrsmFilter *self)
{
  guint side = hyrsm_model_get_crop (self->model);
  gsize size = (gsize) side * side * 3;
  g_autofree float *features = g_new (float, (gsize) self->frames *
      self->dim);
  gint64 begin = g_get_monotonic_time ();
  g_autoptr (GError) error = NULL;
  g_autoptr (GBytes) black = g_bytes_new_take (g_malloc0 (size), size);
  g_autoptr (GBytes) one = hyrsm_model_embed_frames (self->model, black, 1,
      side, side, &error);
  if (one == NULL) {
    GST_WARNING_OBJECT (self, "latency estimate: %s", error->message);
    return;
  }
  for (guint t = 0; t < self->frames; t++)
    memcpy (features + (gsize) t * self->dim, g_bytes_get_data (one, NULL),
        self->dim * sizeof (float));
  GST_OBJECT_LOCK (self);
  HyrsmSupportSet *support = self->support ? g_object_ref (self->support) :
      NULL;
  GST_OBJECT_UNLOCK (self);
  HyrsmMatchResult *res = support ? hyrsm_support_set_match_raw (support,
      features, NULL) : NULL;
  g_clear_object (&res);
  g_clear_object (&support);
  GstClockTime cost = (g_get_monotonic_time () - begin) * GST_USECOND;
  GST_INFO_OBJECT (self, "one frame and one match take %" GST_TIME_FORMAT,
      GST_TIME_ARGS (cost));
  update_reported_latency (self, cost);
}

/* Streaming thread: decides whether this element blocks (sync=auto asks
 * upstream whether it is live). */
static void
check_live (GstHyrsmFilter *self)
{
  GST_OBJECT_LOCK (self);
  GstHyrsmSync sync = self->sync;
  GST_OBJECT_UNLOCK (self);
  gboolean live = FALSE;
  GstQuery *q = gst_query_new_latency ();
  if (gst_pad_peer_query (GST_BASE_TRANSFORM_SINK_PAD (self), q))
    gst_query_parse_latency (q, &live, NULL, NULL);
  gst_query_unref (q);
  self->live = live;
  self->blocking = sync == GST_HYRSM_SYNC_TRUE || (sync == GST_HYRSM_SYNC_AUTO
      && !live);
  self->live_checked = TRUE;
  GST_INFO_OBJECT (self, "upstream is %s: %s", live ? "live" : "not live",
      self->blocking ? "every window is processed (the streaming thread "
      "waits)" : "windows are dropped when inference falls behind");
  if (self->blocking && live && self->reported_latency == 0)
    estimate_latency (self);
}

static GstClockTime
to_stream_time (GstHyrsmFilter *self, GstClockTime running_time)
{
  GstSegment *seg = &GST_BASE_TRANSFORM (self)->segment;
  guint64 position;
  if (gst_segment_position_from_running_time_full (seg, GST_FORMAT_TIME,
          running_time, &position) != 1)
    return GST_CLOCK_TIME_NONE;
  return gst_segment_to_stream_time (seg, GST_FORMAT_TIME, position);
}

/* Queues the window ending at grid point @last (its T points are the last
 * T of the ring); in sync mode waits for it and returns its decision. */
static GstStructure *
queue_window (GstHyrsmFilter *self, Track *track, guint64 last)
{
  guint T = self->frames;
  WindowJob *job = g_new0 (WindowJob, 1);
  job->self = self;
  job->is_roi = track->is_roi;
  job->roi_id = track->roi_id;
  job->box = track->box;
  job->points = g_new0 (Embedding *, T);
  gboolean gap = FALSE, skipped = FALSE;
  for (guint t = 0; t < T; t++) {
    guint64 k = last + 1 - T + t;
    Sample *s = &track->ring[k % T];
    if (s->index != k || s->kind == POINT_GAP)
      gap = TRUE;
    else if (s->kind == POINT_SKIPPED)
      skipped = TRUE;
    else {
      job->points[t] = embedding_ref (s->embedding);
      job->arrival = MAX (job->arrival, s->embedding->arrival);
    }
  }
  GstClockTime half = track->grid.period / 2;
  job->start = gst_hyrsm_grid_point_time (&track->grid, last + 1 - T) - half;
  job->end = gst_hyrsm_grid_point_time (&track->grid, last) - half +
      track->grid.period;
  job->stream_start = to_stream_time (self, job->start);
  job->stream_end = to_stream_time (self, job->end);

  g_mutex_lock (&self->state_lock);
  if (gap) {
    /* A frame of it is missing (a timestamp gap): not a decision. */
    self->windows_incomplete++;
    g_mutex_unlock (&self->state_lock);
    window_job_free (job);
    return NULL;
  }
  if (skipped || (!self->blocking
          && self->pending_windows >= MAX_PENDING_WINDOWS)) {
    /* Live and behind: drop this whole window, never a frame. */
    self->windows_dropped++;
    g_mutex_unlock (&self->state_lock);
    GST_LOG_OBJECT (self, "inference is behind: window %" G_GUINT64_FORMAT
        " dropped", last);
    window_job_free (job);
    return NULL;
  }
  self->pending_windows++;
  self->jobs_in_flight++;
  g_mutex_unlock (&self->state_lock);
  queue_decision (self, job);
  if (!self->blocking)
    return NULL;

  g_mutex_lock (&self->state_lock);
  while (!job->done)
    g_cond_wait (&self->state_cond, &self->state_lock);
  GstStructure *decision = job->result;
  g_mutex_unlock (&self->state_lock);
  window_job_free (job);
  return decision;
}

/* Live: asks, for each window starting among the points of @step, whether
 * this stream may start it (before any of its frames is embedded), and
 * returns whether the frame of @step serves an admitted window. */
static gboolean
admit_windows (GstHyrsmFilter *self, Track *track,
    const GstHyrsmGridStep *step)
{
  guint T = self->frames;
  if (track->admission == NULL) {
    GstClockTime window = track->grid.period * T;
    track->admission = gst_hyrsm_admission_join (self->engine,
        (gdouble) GST_SECOND / track->grid.period,
        MAX (SLICE_WINDOWS * window, MIN_SLICE));
  }
  for (guint64 k = step->begin; k < step->end; k++) {
    if (k + T - 1 < track->needed_end
        || !gst_hyrsm_grid_window_ends_at (&track->grid, k + T - 1))
      continue;
    gboolean continuing = track->needed_end > 0
        && track->needed_end + track->grid.stride >= k + T;
    if (gst_hyrsm_admission_admit (track->admission, continuing))
      track->needed_end = k + T;
  }
  return step->first_covered < track->needed_end;
}

/* Places @crop of the frame @src covering running times [start, end) on
 * @track's grid: embeds it when it covers a point, and queues the windows
 * its points complete; sync mode adds their decisions to @out. */
static void
sample_frame (GstHyrsmFilter *self, Track *track, FrameSource *src,
    const GstVideoRectangle *crop, GstClockTime start, GstClockTime end,
    gboolean discont, gint64 arrival, GPtrArray *out)
{
  GstHyrsmGridStep step;
  gst_hyrsm_grid_advance (&track->grid, start, end, discont, &step);
  if (step.restarted)
    GST_DEBUG_OBJECT (self, "grid (re)starts at %" GST_TIME_FORMAT,
        GST_TIME_ARGS (start));
  if (step.truncated)
    GST_DEBUG_OBJECT (self, "frame at %" GST_TIME_FORMAT " lasts longer than "
        "%" G_GUINT64_FORMAT " samples: the rest is a gap",
        GST_TIME_ARGS (start), gst_hyrsm_grid_max_points_per_frame
        (&track->grid));

  gboolean needed = TRUE;
  if (!self->blocking)
    needed = admit_windows (self, track, &step);
  Embedding *embedding = NULL;
  gboolean skipped = FALSE;
  if (step.first_covered < step.end) {
    g_mutex_lock (&self->state_lock);
    skipped = !needed || (!self->blocking
        && self->pending_embeds > MAX_PENDING_EMBEDS (self->frames));
    g_mutex_unlock (&self->state_lock);
    if (!skipped)
      embedding = queue_embedding (self, src, crop, arrival);
  }

  for (guint64 k = step.begin; k < step.end; k++) {
    if (g_atomic_int_get (&self->flushing))
      break;
    Sample *s = &track->ring[k % self->frames];
    g_clear_pointer (&s->embedding, embedding_unref);
    s->index = k;
    if (k < step.first_covered)
      s->kind = POINT_GAP;
    else if (skipped)
      s->kind = POINT_SKIPPED;
    else {
      s->kind = POINT_FRAME;
      s->embedding = embedding_ref (embedding);
    }
    if (gst_hyrsm_grid_window_ends_at (&track->grid, k))
      keep_latest (out, queue_window (self, track, k));
  }
  g_clear_pointer (&embedding, embedding_unref);
}

/* Places the track's held frame (of unknown duration) on its grid, as
 * lasting until @end. */
static void
release_held_frame (GstHyrsmFilter *self, Track *track, GstClockTime end,
    GPtrArray *out)
{
  if (track->held.buffer == NULL)
    return;
  FrameSource src = {.buf = track->held.buffer };
  sample_frame (self, track, &src, &track->held.crop, track->held.start,
      MAX (end, track->held.start), track->held.discont, track->held.arrival,
      out);
  frame_source_clear (&src);
  gst_clear_buffer (&track->held.buffer);
}

/* At the end of a stream (EOS, a new stream, new caps) a held frame lasts
 * one sampling period; no buffer is left to carry the decisions (the bus
 * has them). */
static void
finish_track (GstHyrsmFilter *self, Track *track)
{
  if (track->held.buffer == NULL)
    return;
  GPtrArray *out = g_ptr_array_new_with_free_func ((GDestroyNotify)
      gst_structure_free);
  release_held_frame (self, track, track->held.start + track->grid.period,
      out);
  g_ptr_array_unref (out);
}

static void
finish_held_frame (GstHyrsmFilter *self)
{
  for_each_track (self, finish_track);
}

/* Samples @crop of @src on @track: a frame of unknown duration waits for
 * the track's next frame. */
static void
sample_track (GstHyrsmFilter *self, Track *track, FrameSource *src,
    const GstVideoRectangle *crop, GstClockTime start, GstClockTime duration,
    gboolean discont, gint64 arrival, GPtrArray *out)
{
  release_held_frame (self, track, start, out);
  track->last_seen = start;
  if (!GST_CLOCK_TIME_IS_VALID (duration)) {
    /* A shallow copy: the buffer stays writable (for HyrsmMeta) and the
     * pixels are shared, copied only if someone writes to them. */
    track->held.buffer = gst_buffer_copy (src->buf);
    track->held.crop = *crop;
    track->held.start = start;
    track->held.discont = discont;
    track->held.arrival = arrival;
    return;
  }
  GstClockTime end = duration < GST_CLOCK_TIME_NONE - start ?
      start + duration : GST_CLOCK_TIME_NONE - 1;
  sample_frame (self, track, src, crop, start, end, discont, arrival, out);
}

/* The frame's duration: its own, else one frame at the caps' rate, else
 * unknown (GST_CLOCK_TIME_NONE: it lasts until the next frame). */
static GstClockTime
frame_duration (GstHyrsmFilter *self, GstBuffer *buf)
{
  if (GST_BUFFER_DURATION_IS_VALID (buf))
    return GST_BUFFER_DURATION (buf);
  if (GST_VIDEO_INFO_FPS_N (&self->info) > 0)
    return gst_util_uint64_scale (GST_SECOND,
        GST_VIDEO_INFO_FPS_D (&self->info), GST_VIDEO_INFO_FPS_N (&self->info));
  return GST_CLOCK_TIME_NONE;
}

/* The part of @roi to embed: enlarged by `roi-margin` of its size on each
 * side, squared around its centre when `roi-square`, and clipped to the
 * frame. FALSE when less than 2 x 2 pixels of it are left (a zero-size
 * box, or one outside the frame). */
static gboolean
roi_crop (GstHyrsmFilter *self, const GstVideoRegionOfInterestMeta *roi,
    gdouble margin, gboolean square, GstVideoRectangle *crop)
{
  gdouble w = roi->w, h = roi->h;
  gdouble x = roi->x - margin * w, y = roi->y - margin * h;
  w += 2 * margin * w;
  h += 2 * margin * h;
  if (square) {
    gdouble side = MAX (w, h);
    x -= (side - w) / 2;
    y -= (side - h) / 2;
    w = h = side;
  }
  gdouble fw = GST_VIDEO_INFO_WIDTH (&self->info);
  gdouble fh = GST_VIDEO_INFO_HEIGHT (&self->info);
  gdouble x0 = CLAMP (floor (x), 0, fw), y0 = CLAMP (floor (y), 0, fh);
  gdouble x1 = CLAMP (ceil (x + w), 0, fw), y1 = CLAMP (ceil (y + h), 0, fh);
  if (x1 - x0 < 2 || y1 - y0 < 2)
    return FALSE;
  crop->x = x0;
  crop->y = y0;
  crop->w = x1 - x0;
  crop->h = y1 - y0;
  return TRUE;
}

/* Tracked regions at most: a detector gone wild costs memory, not more. */
#define MAX_TRACKS 256

/* ROI mode: each region of interest on @src (of `roi-type`, when set) is
 * sampled on its own track; tracks unseen for `roi-timeout` are
 * forgotten. */
static void
sample_regions (GstHyrsmFilter *self, FrameSource *src, GstClockTime start,
    GstClockTime duration, gboolean discont, gint64 arrival, GPtrArray *out)
{
  GST_OBJECT_LOCK (self);
  GQuark type = self->roi_type ? g_quark_from_string (self->roi_type) : 0;
  gdouble margin = self->roi_margin;
  gboolean square = self->roi_square;
  GstClockTime timeout = self->roi_timeout;
  GST_OBJECT_UNLOCK (self);

  gpointer state = NULL;
  GstMeta *meta;
  while ((meta = gst_buffer_iterate_meta_filtered (src->buf, &state,
              GST_VIDEO_REGION_OF_INTEREST_META_API_TYPE))) {
    GstVideoRegionOfInterestMeta *roi = (GstVideoRegionOfInterestMeta *) meta;
    GstVideoRectangle crop;
    if ((type && roi->roi_type != type)
        || !roi_crop (self, roi, margin, square, &crop))
      continue;
    Track *track = g_hash_table_lookup (self->tracks,
        GINT_TO_POINTER (roi->id));
    if (track == NULL) {
      if (g_hash_table_size (self->tracks) >= MAX_TRACKS) {
        GST_LOG_OBJECT (self, "%d tracks already: region %d ignored",
            MAX_TRACKS, roi->id);
        continue;
      }
      track = g_new0 (Track, 1);
      track_init (self, track);
      track->is_roi = TRUE;
      track->roi_id = roi->id;
      g_hash_table_insert (self->tracks, GINT_TO_POINTER (roi->id), track);
    }
    track->box = (GstVideoRectangle) {
    roi->x, roi->y, roi->w, roi->h};
    sample_track (self, track, src, &crop, start, duration, discont, arrival,
        out);
  }

  GHashTableIter iter;
  Track *track;
  g_hash_table_iter_init (&iter, self->tracks);
  while (g_hash_table_iter_next (&iter, NULL, (gpointer *) & track))
    if (start > track->last_seen && start - track->last_seen > timeout) {
      GST_DEBUG_OBJECT (self, "region %d unseen since %" GST_TIME_FORMAT
          ": forgotten", track->roi_id, GST_TIME_ARGS (track->last_seen));
      finish_track (self, track);
      g_hash_table_iter_remove (&iter);
    }
}

/* Samples @buf; sync mode adds the decisions of windows completed
 * meanwhile to @out. */
static void
sample_buffer (GstHyrsmFilter *self, GstBuffer *buf, GPtrArray *out)
{
  GstSegment *seg = &GST_BASE_TRANSFORM (self)->segment;
  GstClockTime pts = GST_BUFFER_PTS (buf);
  if (!GST_CLOCK_TIME_IS_VALID (pts)) {
    if (!self->warned_no_pts)
      GST_ELEMENT_WARNING (self, STREAM, FORMAT,
          ("Buffers without timestamps cannot be placed in time windows: "
              "they pass but are not recognized."),
          ("buffer %" GST_PTR_FORMAT " has no PTS", buf));
    self->warned_no_pts = TRUE;
    return;
  }
  GstClockTime start = gst_segment_to_running_time (seg, GST_FORMAT_TIME,
      pts);
  if (!GST_CLOCK_TIME_IS_VALID (start))
    return;                     /* outside the segment */
  gint64 arrival = g_get_monotonic_time ();
  gboolean discont = GST_BUFFER_IS_DISCONT (buf);
  GstClockTime duration = frame_duration (self, buf);
  FrameSource src = {.buf = buf };
  if (self->roi_mode) {
    sample_regions (self, &src, start, duration, discont, arrival, out);
  } else {
    GstVideoRectangle whole = { 0, 0, GST_VIDEO_INFO_WIDTH (&self->info),
      GST_VIDEO_INFO_HEIGHT (&self->info)
    };
    sample_track (self, &self->whole, &src, &whole, start, duration, discont,
        arrival, out);
  }
  frame_source_clear (&src);
}

static void
track_update_stride (GstHyrsmFilter *self, Track *track)
{
  track->grid.stride = self->geometry.stride;
}

/* Attaches @decision to @buf: as HyrsmMeta, and for a region's decision
 * also as a parameter of the buffer's region meta of that id (the
 * convention classifiers follow). */
static void
attach_decision (GstBuffer *buf, const GstStructure *decision)
{
  gst_buffer_add_hyrsm_meta (buf, decision);
  gint id = decision_roi (decision);
  if (id < 0)
    return;
  GstVideoRegionOfInterestMeta *roi =
      gst_buffer_get_video_region_of_interest_meta_id (buf, id);
  if (roi)
    gst_video_region_of_interest_meta_add_param (roi,
        gst_structure_copy (decision));
}

static GstFlowReturn
gst_hyrsm_filter_transform_ip (GstBaseTransform *trans, GstBuffer *buf)
{
  GstHyrsmFilter *self = GST_HYRSM_FILTER (trans);
  if (!self->live_checked)
    check_live (self);
  g_mutex_lock (&self->state_lock);
  self->frames_in++;
  g_mutex_unlock (&self->state_lock);

  /* `stride` applies from this frame; a new `window` restarts the grid. */
  GST_OBJECT_LOCK (self);
  GstClockTime stride = self->stride;
  gboolean window_changed = self->window_changed;
  GST_OBJECT_UNLOCK (self);
  if (window_changed) {
    finish_held_frame (self);
    configure_windows (self);
  }
  self->geometry.stride = gst_hyrsm_grid_stride_points (self->geometry.period,
      stride);
  for_each_track (self, track_update_stride);

  GPtrArray *decisions = self->decisions;
  sample_buffer (self, buf, decisions);
  if (!self->blocking) {
    /* Async: the latest decisions ride on the next outgoing buffer. */
    g_mutex_lock (&self->state_lock);
    while (self->results_for_meta->len > 0)
      keep_latest (decisions, g_ptr_array_steal_index (self->results_for_meta,
              0));
    g_mutex_unlock (&self->state_lock);
  }
  GST_OBJECT_LOCK (self);
  gboolean attach = self->attach_meta;
  GST_OBJECT_UNLOCK (self);
  for (guint i = 0; attach && i < decisions->len; i++)
    attach_decision (buf, g_ptr_array_index (decisions, i));
  g_ptr_array_set_size (decisions, 0);
  return GST_FLOW_OK;
}

static gboolean
gst_hyrsm_filter_sink_event (GstBaseTransform *trans, GstEvent *event)
{
  GstHyrsmFilter *self = GST_HYRSM_FILTER (trans);
  switch (GST_EVENT_TYPE (event)) {
    case GST_EVENT_FLUSH_START:
      g_mutex_lock (&self->state_lock);
      self->flushing = TRUE;
      g_cond_broadcast (&self->state_cond);
      g_mutex_unlock (&self->state_lock);
      break;
    case GST_EVENT_FLUSH_STOP:
      /* Windows queued before the flush finish as dropped-silently. */
      wait_for_jobs (self);
      reset_windows (self);
      g_mutex_lock (&self->state_lock);
      self->flushing = FALSE;
      g_mutex_unlock (&self->state_lock);
      break;
    case GST_EVENT_STREAM_START:
      /* A new stream: new timeline; finish what the old one queued. */
      finish_held_frame (self);
      wait_for_jobs (self);
      reset_windows (self);
      self->live_checked = FALSE;
      break;
    case GST_EVENT_EOS:
      /* A partial window at EOS is not decided; finish the queued ones so
       * their messages precede EOS on the bus. */
      finish_held_frame (self);
      wait_for_jobs (self);
      break;
    default:
      break;
  }
  return GST_BASE_TRANSFORM_CLASS (gst_hyrsm_filter_parent_class)->sink_event
      (trans, event);
}

static gboolean
gst_hyrsm_filter_query (GstBaseTransform *trans, GstPadDirection direction,
    GstQuery *query)
{
  GstHyrsmFilter *self = GST_HYRSM_FILTER (trans);
  gboolean ret = GST_BASE_TRANSFORM_CLASS (gst_hyrsm_filter_parent_class)->query
      (trans, direction, query);
  if (ret && direction == GST_PAD_SRC
      && GST_QUERY_TYPE (query) == GST_QUERY_LATENCY && self->blocking) {
    /* In sync mode the buffer completing a window waits for its decision. */
    gboolean live;
    GstClockTime min, max;
    gst_query_parse_latency (query, &live, &min, &max);
    g_mutex_lock (&self->state_lock);
    GstClockTime ours = self->reported_latency;
    g_mutex_unlock (&self->state_lock);
    min += ours;
    if (GST_CLOCK_TIME_IS_VALID (max))
      max += ours;
    gst_query_set_latency (query, live, min, max);
  }
  return ret;
}

/* ---- action signals ---- */

static gboolean
gst_hyrsm_filter_enroll (GstHyrsmFilter *self, const gchar *label)
{
  if (label == NULL || *label == '\0' || strchr (label, '/')
      || label[0] == '.') {
    GST_WARNING_OBJECT (self, "enroll: \"%s\" is not a usable label",
        label ? label : "(null)");
    return FALSE;
  }
  g_mutex_lock (&self->state_lock);
  float *features = self->have_last_window ? g_memdup2 (self->last_window,
      (gsize) self->frames * self->dim * sizeof (float)) : NULL;
  g_mutex_unlock (&self->state_lock);
  if (features == NULL) {
    GST_WARNING_OBJECT (self, "enroll \"%s\": no window decided yet", label);
    return FALSE;
  }
  GST_OBJECT_LOCK (self);
  HyrsmSupportSet *support = self->support ? g_object_ref (self->support) :
      NULL;
  /* Held: stop() in another thread may drop the element's own reference
   * (NULL once stopped: then there is no set either). */
  HyrsmModel *model = self->model ? g_object_ref (self->model) : NULL;
  gchar *dir = g_strdup (self->support_in_use);
  GST_OBJECT_UNLOCK (self);

  GError *error = NULL;
  gboolean ok = support && model && hyrsm_support_set_add_raw (support,
      label, features, &error);
  if (ok && dir) {
    /* Keep it: a .hyrsm file under the set's folder for that label. */
    gchar *folder = g_build_filename (dir, label, NULL);
    g_autoptr (GDateTime) now = g_date_time_new_now_local ();
    gchar *stamp = g_date_time_format (now, "enrolled-%Y%m%d-%H%M%S");
    gchar *name = g_strdup_printf ("%s-%06d.hyrsm", stamp,
        g_date_time_get_microsecond (now));
    gchar *path = g_build_filename (folder, name, NULL);
    if (g_mkdir_with_parents (folder, 0755) != 0
        || !hyrsm_features_save (path, features, self->frames, self->dim,
            hyrsm_model_get_fingerprint (model), "hyrsmfilter enroll",
            NULL, &error)) {
      GST_ELEMENT_WARNING (self, RESOURCE, WRITE,
          ("Enrolled \"%s\" for this run, but could not save it under "
              "\"%s\".", label, folder), ("%s", error ? error->message :
              g_strerror (errno)));
      g_clear_error (&error);
    } else {
      GST_INFO_OBJECT (self, "enrolled \"%s\": %s", label, path);
    }
    g_free (path);
    g_free (name);
    g_free (stamp);
    g_free (folder);
  } else if (!ok) {
    GST_WARNING_OBJECT (self, "enroll \"%s\": %s", label, error ?
        error->message : "no support set");
    g_clear_error (&error);
  }
  if (ok && support) {
    GST_OBJECT_LOCK (self);
    if (self->support == support) {
      g_strfreev (self->labels);
      self->labels = hyrsm_support_set_get_labels (support);
    }
    GST_OBJECT_UNLOCK (self);
    g_object_notify (G_OBJECT (self), "labels");
  }
  g_clear_object (&support);
  g_clear_object (&model);
  g_free (dir);
  g_free (features);
  return ok;
}

static void
gst_hyrsm_filter_reload (GstHyrsmFilter *self)
{
  GST_OBJECT_LOCK (self);
  if (self->model && self->support_in_use)
    request_support_load_locked (self, self->support_in_use);
  GST_OBJECT_UNLOCK (self);
}


/* ---- properties ---- */

static GstStructure *
make_stats (GstHyrsmFilter *self)
{
  g_mutex_lock (&self->state_lock);
  GstStructure *s = gst_structure_new ("hyrsm-stats",
      "frames-in", G_TYPE_UINT64, self->frames_in,
      "frames-sampled", G_TYPE_UINT64, self->frames_sampled,
      "frames-embedded", G_TYPE_UINT64, self->frames_embedded,
      "windows-classified", G_TYPE_UINT64, self->windows_classified,
      "windows-dropped", G_TYPE_UINT64, self->windows_dropped,
      "windows-incomplete", G_TYPE_UINT64, self->windows_incomplete,
      "latency", G_TYPE_UINT64, self->last_latency, NULL);
  g_mutex_unlock (&self->state_lock);
  return s;
}

static void
gst_hyrsm_filter_set_property (GObject *object, guint prop_id,
    const GValue *value, GParamSpec *pspec)
{
  GstHyrsmFilter *self = GST_HYRSM_FILTER (object);
  GST_OBJECT_LOCK (self);
  /* model, device, precision, sync and roi are read at start: refuse
   * (loudly) what would silently not apply. */
  if (self->model && (prop_id == PROP_MODEL || prop_id == PROP_DEVICE
          || prop_id == PROP_SYNC || prop_id == PROP_ROI
          || prop_id == PROP_PRECISION)) {
    GST_OBJECT_UNLOCK (self);
    GST_ELEMENT_WARNING (self, LIBRARY, SETTINGS,
        ("Property \"%s\" cannot change while the element is running (set "
            "it in the NULL or READY state); the change is ignored.",
            g_param_spec_get_name (pspec)), (NULL));
    return;
  }
  switch (prop_id) {
    case PROP_MODEL:
      g_free (self->model_path);
      self->model_path = g_value_dup_string (value);
      break;
    case PROP_SUPPORT:
      g_free (self->support_path);
      self->support_path = g_value_dup_string (value);
      /* While running, the new set loads in the background. */
      if (self->model && self->support_path)
        request_support_load_locked (self, self->support_path);
      break;
    case PROP_DEVICE:
      g_free (self->device);
      self->device = g_value_dup_string (value);
      if (self->device == NULL)
        self->device = g_strdup (DEFAULT_DEVICE);
      break;
    case PROP_PRECISION:
      g_free (self->precision);
      self->precision = g_value_dup_string (value);
      if (self->precision == NULL)
        self->precision = g_strdup (DEFAULT_PRECISION);
      break;
    case PROP_WINDOW:
      self->window = g_value_get_uint64 (value);
      self->window_changed = TRUE;
      break;
    case PROP_STRIDE:
      self->stride = g_value_get_uint64 (value);
      break;
    case PROP_THRESHOLD:
      self->threshold = g_value_get_double (value);
      if (self->support)
        hyrsm_support_set_set_threshold (self->support, self->threshold);
      break;
    case PROP_SYNC:
      self->sync = g_value_get_enum (value);
      break;
    case PROP_MESSAGE:
      self->post_messages = g_value_get_boolean (value);
      break;
    case PROP_META:
      self->attach_meta = g_value_get_boolean (value);
      break;
    case PROP_ROI:
      self->roi = g_value_get_boolean (value);
      break;
    case PROP_ROI_TYPE:
      g_free (self->roi_type);
      self->roi_type = g_value_dup_string (value);
      if (self->roi_type && *self->roi_type == '\0')
        g_clear_pointer (&self->roi_type, g_free);
      break;
    case PROP_ROI_MARGIN:
      self->roi_margin = g_value_get_double (value);
      break;
    case PROP_ROI_SQUARE:
      self->roi_square = g_value_get_boolean (value);
      break;
    case PROP_ROI_TIMEOUT:
      self->roi_timeout = g_value_get_uint64 (value);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
      break;
  }
  GST_OBJECT_UNLOCK (self);
}

static void
gst_hyrsm_filter_get_property (GObject *object, guint prop_id, GValue *value,
    GParamSpec *pspec)
{
  GstHyrsmFilter *self = GST_HYRSM_FILTER (object);
  GST_OBJECT_LOCK (self);
  switch (prop_id) {
    case PROP_MODEL:
      g_value_set_string (value, self->model_path);
      break;
    case PROP_SUPPORT:
      g_value_set_string (value, self->support_path);
      break;
    case PROP_DEVICE:
      g_value_set_string (value, self->device);
      break;
    case PROP_PRECISION:
      g_value_set_string (value, self->precision);
      break;
    case PROP_WINDOW:
      g_value_set_uint64 (value, self->window);
      break;
    case PROP_STRIDE:
      g_value_set_uint64 (value, self->stride);
      break;
    case PROP_THRESHOLD:
      g_value_set_double (value, self->threshold);
      break;
    case PROP_SYNC:
      g_value_set_enum (value, self->sync);
      break;
    case PROP_MESSAGE:
      g_value_set_boolean (value, self->post_messages);
      break;
    case PROP_META:
      g_value_set_boolean (value, self->attach_meta);
      break;
    case PROP_ROI:
      g_value_set_boolean (value, self->roi);
      break;
    case PROP_ROI_TYPE:
      g_value_set_string (value, self->roi_type);
      break;
    case PROP_ROI_MARGIN:
      g_value_set_double (value, self->roi_margin);
      break;
    case PROP_ROI_SQUARE:
      g_value_set_boolean (value, self->roi_square);
      break;
    case PROP_ROI_TIMEOUT:
      g_value_set_uint64 (value, self->roi_timeout);
      break;
    case PROP_FRAMES:
      g_value_set_uint (value, self->model ?
          hyrsm_model_get_frames (self->model) : 0);
      break;
    case PROP_LABELS:
      g_value_set_boxed (value, self->labels);
      break;
    case PROP_STATS:
      /* state_lock nests inside the object lock everywhere. */
      g_value_take_boxed (value, make_stats (self));
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
      break;
  }
  GST_OBJECT_UNLOCK (self);
}

static void
gst_hyrsm_filter_finalize (GObject *object)
{
  GstHyrsmFilter *self = GST_HYRSM_FILTER (object);
  g_clear_object (&self->model);
  g_mutex_clear (&self->state_lock);
  g_cond_clear (&self->state_cond);
  g_strfreev (self->labels);
  g_free (self->support_in_use);
  g_free (self->support_signature);
  g_free (self->roi_type);
  g_free (self->model_path);
  g_free (self->support_path);
  g_free (self->device);
  g_free (self->precision);
  G_OBJECT_CLASS (gst_hyrsm_filter_parent_class)->finalize (object);
}

static void
gst_hyrsm_filter_class_init (GstHyrsmFilterClass *klass)
{
  GObjectClass *gobject_class = G_OBJECT_CLASS (klass);
  GstElementClass *element_class = GST_ELEMENT_CLASS (klass);
  GstBaseTransformClass *trans_class = GST_BASE_TRANSFORM_CLASS (klass);
  GParamFlags rw = G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
      GST_PARAM_MUTABLE_PLAYING;
  GParamFlags ro = G_PARAM_READABLE | G_PARAM_STATIC_STRINGS;

  gobject_class->set_property = gst_hyrsm_filter_set_property;
  gobject_class->get_property = gst_hyrsm_filter_get_property;
  gobject_class->finalize = gst_hyrsm_filter_finalize;

  g_object_class_install_property (gobject_class, PROP_MODEL,
      g_param_spec_string ("model", "Model",
          "HyRSM++ model file (safetensors); loaded when the element starts",
          NULL, G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
          GST_PARAM_MUTABLE_READY));
  g_object_class_install_property (gobject_class, PROP_SUPPORT,
      g_param_spec_string ("support", "Support set",
          "Support set directory: one folder per action label holding clips, "
          "frame folders or .hyrsm feature files; may change while PLAYING "
          "(loaded in the background, swapped in atomically)", NULL, rw));
  g_object_class_install_property (gobject_class, PROP_DEVICE,
      g_param_spec_string ("device", "Device",
          "Compute device: auto (CUDA when present, else CPU), cpu, cuda or "
          "cuda:N", DEFAULT_DEVICE, G_PARAM_READWRITE |
          G_PARAM_STATIC_STRINGS | GST_PARAM_MUTABLE_READY));
  g_object_class_install_property (gobject_class, PROP_PRECISION,
      g_param_spec_string ("precision", "Precision",
          "Backbone precision: auto (bf16 on CPUs with AVX512-BF16, fp16 on "
          "CUDA, else fp32; HYRSM_PRECISION, when set, says what auto is), "
          "fp32, bf16 or fp16", DEFAULT_PRECISION, G_PARAM_READWRITE |
          G_PARAM_STATIC_STRINGS | GST_PARAM_MUTABLE_READY));
  g_object_class_install_property (gobject_class, PROP_WINDOW,
      g_param_spec_uint64 ("window", "Window",
          "Duration of one classified window in nanoseconds (0 = the median "
          "duration of the support clips; at least T frames: shorter is "
          "raised with a warning); a change while playing restarts the "
          "sampling grid", 0, G_MAXUINT64, DEFAULT_WINDOW, rw));
  g_object_class_install_property (gobject_class, PROP_STRIDE,
      g_param_spec_uint64 ("stride", "Stride",
          "Time between two decisions in nanoseconds (rounded to whole "
          "sampling periods, at least one)", 1, G_MAXUINT64,
          DEFAULT_STRIDE, rw));
  g_object_class_install_property (gobject_class, PROP_THRESHOLD,
      g_param_spec_double ("threshold", "Threshold",
          "Distance above which the result is \"unknown\" (<= 0 disables)",
          -G_MAXDOUBLE, G_MAXDOUBLE, DEFAULT_THRESHOLD, rw));
  g_object_class_install_property (gobject_class, PROP_SYNC,
      g_param_spec_enum ("sync", "Sync",
          "Block the streaming thread until each window's result is ready "
          "(auto: for non-live sources only)", GST_TYPE_HYRSM_SYNC,
          DEFAULT_SYNC, G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
          GST_PARAM_MUTABLE_READY));
  g_object_class_install_property (gobject_class, PROP_MESSAGE,
      g_param_spec_boolean ("message", "Message",
          "Post a \"hyrsm\" element message for each decision",
          DEFAULT_MESSAGE, rw));
  g_object_class_install_property (gobject_class, PROP_META,
      g_param_spec_boolean ("meta", "Meta",
          "Attach each decision to a buffer as HyrsmMeta", DEFAULT_META, rw));
  g_object_class_install_property (gobject_class, PROP_ROI,
      g_param_spec_boolean ("roi", "Per region",
          "Recognize per region of interest (GstVideoRegionOfInterestMeta "
          "from an upstream detector/tracker): one window timeline per ROI "
          "id, decisions carry roi-id and the box and are attached to the "
          "ROI meta; FALSE: the whole frame", DEFAULT_ROI,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
          GST_PARAM_MUTABLE_READY));
  g_object_class_install_property (gobject_class, PROP_ROI_TYPE,
      g_param_spec_string ("roi-type", "ROI type",
          "With roi=true, only regions of this type (e.g. \"person\"); "
          "NULL or empty: all", NULL, rw));
  g_object_class_install_property (gobject_class, PROP_ROI_MARGIN,
      g_param_spec_double ("roi-margin", "ROI margin",
          "With roi=true, each region is enlarged by this fraction of its "
          "size on every side before cropping (clipped to the frame)", 0.0,
          10.0, DEFAULT_ROI_MARGIN, rw));
  g_object_class_install_property (gobject_class, PROP_ROI_SQUARE,
      g_param_spec_boolean ("roi-square", "Square ROIs",
          "With roi=true, crop a square around each region (its longer "
          "side) rather than the box itself", DEFAULT_ROI_SQUARE, rw));
  g_object_class_install_property (gobject_class, PROP_ROI_TIMEOUT,
      g_param_spec_uint64 ("roi-timeout", "ROI timeout",
          "With roi=true, a region unseen for this long (ns) is forgotten; "
          "a region seen again later starts a new timeline", 0, G_MAXUINT64,
          DEFAULT_ROI_TIMEOUT, rw));
  g_object_class_install_property (gobject_class, PROP_FRAMES,
      g_param_spec_uint ("frames", "Frames",
          "Frames sampled per window (the model's T; 0 before the model is "
          "loaded)", 0, G_MAXUINT, 0, ro));
  g_object_class_install_property (gobject_class, PROP_LABELS,
      g_param_spec_boxed ("labels", "Labels",
          "Action labels of the loaded support set, in order", G_TYPE_STRV,
          ro));
  g_object_class_install_property (gobject_class, PROP_STATS,
      g_param_spec_boxed ("stats", "Statistics",
          "frames-in, frames-sampled, frames-embedded, windows-classified, "
          "windows-dropped (live and behind), windows-incomplete (a sample "
          "had no frame: timestamp gaps), latency (ns, of the last "
          "decision)", GST_TYPE_STRUCTURE, ro));

  gst_element_class_set_static_metadata (element_class,
      "HyRSM++ few-shot action recognition", "Filter/Analyzer/Video",
      "Recognizes actions shown by a few example clips per action (HyRSM++), "
      "posting a \"hyrsm\" message and HyrsmMeta per decision",
      "gst-hyrsm developers");
  gst_element_class_add_static_pad_template (element_class, &sink_template);
  gst_element_class_add_static_pad_template (element_class, &src_template);

  trans_class->start = GST_DEBUG_FUNCPTR (gst_hyrsm_filter_start);
  trans_class->stop = GST_DEBUG_FUNCPTR (gst_hyrsm_filter_stop);
  trans_class->set_caps = GST_DEBUG_FUNCPTR (gst_hyrsm_filter_set_caps);
  trans_class->transform_ip =
      GST_DEBUG_FUNCPTR (gst_hyrsm_filter_transform_ip);
  trans_class->sink_event = GST_DEBUG_FUNCPTR (gst_hyrsm_filter_sink_event);
  trans_class->query = GST_DEBUG_FUNCPTR (gst_hyrsm_filter_query);
  trans_class->passthrough_on_same_caps = FALSE;

  /**
   * GstHyrsmFilter::enroll:
   * @self: the element
   * @label: the action label
   *
   * Adds the last decided window to the support set under @label, and
   * saves it as a `.hyrsm` feature file in `support`/@label/.
   *
   * Returns: %TRUE when the window was added
   */
  signals[SIGNAL_ENROLL] = g_signal_new_class_handler ("enroll",
      G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST | G_SIGNAL_ACTION,
      G_CALLBACK (gst_hyrsm_filter_enroll), NULL, NULL, NULL,
      G_TYPE_BOOLEAN, 1, G_TYPE_STRING);
  /**
   * GstHyrsmFilter::reload:
   * @self: the element
   *
   * Loads the support directory again in the background (after clips were
   * added or removed) and swaps it in when ready.
   */
  signals[SIGNAL_RELOAD] = g_signal_new_class_handler ("reload",
      G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST | G_SIGNAL_ACTION,
      G_CALLBACK (gst_hyrsm_filter_reload), NULL, NULL, NULL, G_TYPE_NONE, 0);

  gst_type_mark_as_plugin_api (GST_TYPE_HYRSM_SYNC, 0);
  GST_DEBUG_CATEGORY_INIT (gst_hyrsm_filter_debug, "hyrsmfilter", 0,
      "HyRSM++ few-shot action recognition");
}

static void
gst_hyrsm_filter_init (GstHyrsmFilter *self)
{
  self->device = g_strdup (DEFAULT_DEVICE);
  self->precision = g_strdup (DEFAULT_PRECISION);
  self->window = DEFAULT_WINDOW;
  self->stride = DEFAULT_STRIDE;
  self->threshold = DEFAULT_THRESHOLD;
  self->sync = DEFAULT_SYNC;
  self->post_messages = DEFAULT_MESSAGE;
  self->attach_meta = DEFAULT_META;
  self->roi = DEFAULT_ROI;
  self->roi_margin = DEFAULT_ROI_MARGIN;
  self->roi_square = DEFAULT_ROI_SQUARE;
  self->roi_timeout = DEFAULT_ROI_TIMEOUT;
  g_mutex_init (&self->state_lock);
  g_cond_init (&self->state_cond);
  /* In place, not passthrough: a decision is attached to a buffer as meta,
   * which needs a writable buffer (its memory is never copied). */
  gst_base_transform_set_in_place (GST_BASE_TRANSFORM (self), TRUE);
}
