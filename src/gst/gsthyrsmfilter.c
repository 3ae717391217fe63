/* gsthyrsmfilter.c: hyrsmfilter, live few-shot action recognition.
 *
 * A passthrough GstBaseTransform: frames leave unchanged and in order; the
 * element samples them into windows, embeds them with the model's backbone
 * and matches each window against the support set (see docs/design.md,
 * "The element").
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
#include "gsthyrsmmeta.h"
#include "gsthyrsmsupport.h"

#include <gst/video/video.h>
#include <hyrsm.h>
#include <hyrsm-engine.h>
#include <errno.h>
#include <string.h>

GST_DEBUG_CATEGORY_STATIC (gst_hyrsm_filter_debug);
#define GST_CAT_DEFAULT gst_hyrsm_filter_debug

#define DEFAULT_DEVICE "auto"
#define DEFAULT_WINDOW 0
#define DEFAULT_STRIDE (500 * GST_MSECOND)
#define DEFAULT_THRESHOLD 0.0
#define DEFAULT_SYNC GST_HYRSM_SYNC_AUTO
#define DEFAULT_MESSAGE TRUE
#define DEFAULT_META TRUE
/* Used when window=0 and the support set knows no clip durations. */
#define FALLBACK_WINDOW (2 * GST_SECOND)

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
  PROP_WINDOW,
  PROP_STRIDE,
  PROP_THRESHOLD,
  PROP_SYNC,
  PROP_MESSAGE,
  PROP_META,
  PROP_FRAMES,
  PROP_LABELS,
  PROP_STATS,
};

typedef enum
{
  SAMPLE_EMPTY,
  SAMPLE_PENDING,               /* queued on the engine */
  SAMPLE_READY,                 /* features written */
  SAMPLE_MISSING,               /* no frame, or embedding was skipped/failed */
} SampleState;

/* One point of the sampling grid (window / T apart); a ring of them. */
typedef struct
{
  guint64 index;
  SampleState state;
  float *features;              /* D floats */
  GstClockTime running_time;    /* of the grid point */
} Sample;

struct _GstHyrsmFilter
{
  GstBaseTransform parent;

  /* Properties, under the object lock. */
  gchar *model_path;
  gchar *support_path;
  gchar *device;
  GstClockTime window;
  GstClockTime stride;
  gdouble threshold;
  GstHyrsmSync sync;
  gboolean post_messages;
  gboolean attach_meta;

  /* Between start() and stop(). The support set and its labels are
   * swapped under the object lock; the rest belongs to the streaming
   * thread unless noted. */
  HyrsmModel *model;
  HyrsmEngine *engine;
  HyrsmSupportSet *support;     /* object lock */
  gchar **labels;               /* object lock */
  GstClockTime support_median;  /* object lock */
  guint frames;                 /* T */
  guint dim;                    /* D */
  GThread *loader;              /* background support loads, object lock */
  gchar *loader_path;           /* next path to load, object lock */

  GstVideoInfo info;
  GstVideoConverter *converter; /* to packed RGB, same size */
  gboolean live_checked;
  gboolean blocking;            /* sync mode in effect */
  GstClockTime period;          /* window / T */
  guint stride_samples;
  GstClockTime origin;          /* running time of grid point 0's interval */
  guint64 next_sample;

  /* Shared with the engine thread, under state_lock. */
  GMutex state_lock;
  GCond state_cond;
  Sample *ring;
  guint ring_size;
  guint pending_embeds;
  guint pending_windows;
  guint jobs_in_flight;
  gboolean flushing;
  guint64 decided_window;       /* last window index whose result is in */
  GstStructure *result_for_meta;        /* async: for the next buffer */
  float *last_window;           /* T x D of the last decided window */
  gboolean have_last_window;
  guint64 frames_in;
  guint64 frames_sampled;
  guint64 frames_embedded;
  guint64 windows_classified;
  guint64 windows_dropped;
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
    GError **error)
{
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
  g_object_unref (dir);
  return TRUE;
}

/* Swaps @set in, unless the element stopped (or restarted with another
 * model) since @model was taken: then the set is dropped and FALSE
 * returned, as a stopped element must hold no set (nor, through it, the
 * model). Takes @set and @labels either way. */
static gboolean
install_support (GstHyrsmFilter *self, HyrsmModel *model,
    HyrsmSupportSet *set, gchar **labels, GstClockTime median)
{
  GST_OBJECT_LOCK (self);
  if (self->model != model) {
    GST_OBJECT_UNLOCK (self);
    GST_DEBUG_OBJECT (self, "stopped meanwhile: support set dropped");
    g_object_unref (set);
    g_strfreev (labels);
    return FALSE;
  }
  hyrsm_support_set_set_threshold (set, self->threshold);
  HyrsmSupportSet *old = self->support;
  gchar **old_labels = self->labels;
  self->support = set;
  self->labels = labels;
  self->support_median = median;
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
    GError *error = NULL;
    if (load_support (self, model, path, &set, &labels, &median, &error)) {
      /* @labels belong to the element once installed. */
      guint n_labels = g_strv_length (labels);
      GST_INFO_OBJECT (self, "support set %s loaded: %u labels", path,
          n_labels);
      if (install_support (self, model, set, labels, median))
        gst_element_post_message (GST_ELEMENT (self),
            gst_message_new_element (GST_OBJECT (self),
                gst_structure_new ("hyrsm-support", "path", G_TYPE_STRING,
                    path, "n-labels", G_TYPE_UINT, n_labels, NULL)));
    } else {
      GST_ELEMENT_WARNING (self, RESOURCE, READ,
          ("Could not load support set \"%s\"; keeping the previous one.",
              path), ("%s", error->message));
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
  GST_OBJECT_UNLOCK (self);

  if (path == NULL || *path == '\0') {
    GST_ELEMENT_ERROR (self, RESOURCE, NOT_FOUND,
        ("No model file given: set the \"model\" property."), (NULL));
    g_free (path);
    g_free (device);
    return FALSE;
  }
  GError *error = NULL;
  self->model = hyrsm_model_new_shared (path, device, &error);
  if (self->model == NULL) {
    if (g_error_matches (error, HYRSM_ERROR, HYRSM_ERROR_FILE_NOT_FOUND))
      GST_ELEMENT_ERROR (self, RESOURCE, NOT_FOUND,
          ("Could not open model file \"%s\".", path), ("%s",
              error->message));
    else if (g_error_matches (error, HYRSM_ERROR, HYRSM_ERROR_NO_DEVICE))
      GST_ELEMENT_ERROR (self, RESOURCE, SETTINGS,
          ("Device \"%s\" is not available for model \"%s\".", device, path),
          ("%s", error->message));
    else
      GST_ELEMENT_ERROR (self, RESOURCE, READ,
          ("Could not load model file \"%s\".", path), ("%s",
              error->message));
    g_error_free (error);
  } else {
    GST_INFO_OBJECT (self, "model %s: %s backbone, %s head, T=%u, D=%u on %s",
        path, hyrsm_model_get_backbone (self->model),
        hyrsm_model_get_head (self->model),
        hyrsm_model_get_frames (self->model),
        hyrsm_model_get_feature_dim (self->model),
        hyrsm_model_get_device (self->model));
  }
  g_free (path);
  g_free (device);
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
  HyrsmSupportSet *set = NULL;
  gchar **labels = NULL;
  GstClockTime median = GST_CLOCK_TIME_NONE;
  GError *error = NULL;
  gboolean ok = load_support (self, self->model, path, &set, &labels, &median,
      &error);
  if (ok)
    install_support (self, self->model, set, labels, median);
  else if (g_error_matches (error, HYRSM_ERROR, HYRSM_ERROR_FILE_NOT_FOUND))
    GST_ELEMENT_ERROR (self, RESOURCE, NOT_FOUND,
        ("Support set \"%s\" not found.", path), ("%s", error->message));
  else
    GST_ELEMENT_ERROR (self, RESOURCE, READ,
        ("Could not load support set \"%s\".", path), ("%s",
            error->message));
  g_clear_error (&error);
  g_free (path);
  return ok;
}

static void
reset_windows (GstHyrsmFilter *self)
{
  g_mutex_lock (&self->state_lock);
  for (guint i = 0; i < self->ring_size; i++) {
    self->ring[i].state = SAMPLE_EMPTY;
    self->ring[i].index = G_MAXUINT64;
  }
  gst_clear_structure (&self->result_for_meta);
  g_mutex_unlock (&self->state_lock);
  self->origin = GST_CLOCK_TIME_NONE;
  self->next_sample = 0;
}

/* Window geometry from the properties and the support set. */
static void
configure_windows (GstHyrsmFilter *self)
{
  GST_OBJECT_LOCK (self);
  GstClockTime window = self->window;
  if (window == 0)
    window = GST_CLOCK_TIME_IS_VALID (self->support_median) &&
        self->support_median > 0 ? self->support_median : FALLBACK_WINDOW;
  GstClockTime stride = self->stride;
  GST_OBJECT_UNLOCK (self);
  self->period = MAX (window / self->frames, 1);
  self->stride_samples = MAX (1, (stride + self->period / 2) / self->period);
  GST_INFO_OBJECT (self, "window %" GST_TIME_FORMAT " (T=%u, a sample every %"
      GST_TIME_FORMAT "), a decision every %u samples",
      GST_TIME_ARGS (window), self->frames, GST_TIME_ARGS (self->period),
      self->stride_samples);
}

static gboolean
gst_hyrsm_filter_start (GstBaseTransform *trans)
{
  GstHyrsmFilter *self = GST_HYRSM_FILTER (trans);
  if (!load_model (self))
    return FALSE;
  if (g_str_equal (hyrsm_model_get_backbone (self->model), "none")) {
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

  /* Queued windows may still read their samples while new ones arrive; the
   * live mode bounds that backlog well within four windows. */
  self->ring_size = 4 * self->frames;
  self->ring = g_new0 (Sample, self->ring_size);
  for (guint i = 0; i < self->ring_size; i++)
    self->ring[i].features = g_new0 (float, self->dim);
  self->last_window = g_new0 (float, (gsize) self->frames * self->dim);
  self->have_last_window = FALSE;
  self->frames_in = self->frames_sampled = self->frames_embedded = 0;
  self->windows_classified = self->windows_dropped = 0;
  self->last_latency = 0;
  self->pending_embeds = self->pending_windows = 0;
  self->flushing = FALSE;
  self->live_checked = FALSE;
  reset_windows (self);
  configure_windows (self);
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

  for (guint i = 0; self->ring && i < self->ring_size; i++)
    g_free (self->ring[i].features);
  g_clear_pointer (&self->ring, g_free);
  self->ring_size = 0;
  g_clear_pointer (&self->last_window, g_free);
  gst_clear_structure (&self->result_for_meta);
  g_clear_pointer (&self->converter, gst_video_converter_free);
  self->engine = NULL;
  /* `labels` keeps naming the last set loaded, for applications that read
   * it after the pipeline stopped. */
  GST_OBJECT_LOCK (self);
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
  g_clear_pointer (&self->converter, gst_video_converter_free);
  self->converter = converter;
  GST_DEBUG_OBJECT (self, "caps %" GST_PTR_FORMAT, incaps);
  self->info = info;
  return TRUE;
}

/* ---- windows ---- */

typedef struct
{
  GstHyrsmFilter *self;
  guint64 first, last;          /* the grid points this frame fills */
  float *features;
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
  for (guint64 k = job->first; k <= job->last; k++) {
    Sample *s = &self->ring[k % self->ring_size];
    if (s->index != k)
      continue;                 /* overwritten meanwhile: a flush */
    if (error) {
      s->state = SAMPLE_MISSING;
    } else {
      memcpy (s->features, job->features, self->dim * sizeof (float));
      s->state = SAMPLE_READY;
    }
  }
  if (!error)
    self->frames_embedded++;
  self->pending_embeds--;
  job_done (self);
  g_mutex_unlock (&self->state_lock);
  g_free (job->features);
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

typedef struct
{
  GstHyrsmFilter *self;
  guint64 last;                 /* the window's last grid point */
  GstClockTime start, end;      /* running time */
  GstClockTime stream_start, stream_end;
  gint64 arrival;               /* monotonic time its last frame arrived */
  float *query;                 /* T x D, gathered when the match runs */
  gboolean flushing;            /* seen when gathering */
  gboolean done;
  GstStructure *result;         /* sync: handed back to the streaming thread */
} WindowJob;

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
  return s;
}

/* On the engine thread, when the window's match is about to run (every
 * frame queued before it embedded): gathers its T samples; FALSE skips the
 * match (flushing, or a sample missing). */
static gboolean
gather_window (gpointer data, float *query)
{
  WindowJob *job = data;
  GstHyrsmFilter *self = job->self;
  guint T = self->frames;
  gboolean complete = TRUE;

  g_mutex_lock (&self->state_lock);
  for (guint t = 0; t < T && !self->flushing; t++) {
    guint64 k = job->last + 1 - T + t;
    Sample *s = &self->ring[k % self->ring_size];
    if (s->index != k || s->state != SAMPLE_READY) {
      complete = FALSE;
      break;
    }
    memcpy (query + (gsize) t * self->dim, s->features,
        self->dim * sizeof (float));
  }
  job->flushing = self->flushing;
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
  }

  g_mutex_lock (&self->state_lock);
  if (decision) {
    self->windows_classified++;
    gst_structure_get_uint64 (decision, "latency", &self->last_latency);
    memcpy (self->last_window, job->query, (gsize) T * self->dim *
        sizeof (float));
    self->have_last_window = TRUE;
  } else if (!flushing) {
    self->windows_dropped++;
  }
  self->pending_windows--;
  g_clear_pointer (&job->query, g_free);
  if (self->blocking) {
    job->result = decision;
    job->done = TRUE;
  } else {
    if (decision) {
      gst_clear_structure (&self->result_for_meta);
      self->result_for_meta = decision;
    }
    g_free (job);
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

/* Streaming thread: decides whether this element blocks (sync=auto asks
 * upstream whether it is live). */
static void
check_live (GstHyrsmFilter *self)
{
  GST_OBJECT_LOCK (self);
  GstHyrsmSync sync = self->sync;
  GST_OBJECT_UNLOCK (self);
  gboolean live = FALSE;
  if (sync == GST_HYRSM_SYNC_AUTO) {
    GstQuery *q = gst_query_new_latency ();
    if (gst_pad_peer_query (GST_BASE_TRANSFORM_SINK_PAD (self), q))
      gst_query_parse_latency (q, &live, NULL, NULL);
    gst_query_unref (q);
  }
  self->blocking = sync == GST_HYRSM_SYNC_TRUE || (sync == GST_HYRSM_SYNC_AUTO
      && !live);
  self->live_checked = TRUE;
  GST_INFO_OBJECT (self, "upstream is %s: %s", live ? "live" : "not live",
      self->blocking ? "every window is processed (the streaming thread "
      "waits)" : "windows are dropped when inference falls behind");
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

/* Queues the window ending at grid point @last; in sync mode waits for it
 * and returns its decision. */
static GstStructure *
queue_window (GstHyrsmFilter *self, guint64 last)
{
  guint T = self->frames;
  WindowJob *job = g_new0 (WindowJob, 1);
  job->self = self;
  job->last = last;
  job->start = self->origin + (last + 1 - T) * self->period;
  job->end = self->origin + (last + 1) * self->period;
  job->stream_start = to_stream_time (self, job->start);
  job->stream_end = to_stream_time (self, job->end);
  job->arrival = g_get_monotonic_time ();

  g_mutex_lock (&self->state_lock);
  if (!self->blocking && (self->pending_windows > 0
          || self->pending_embeds > 2 * T)) {
    /* Live and behind: drop this whole window, never a frame. */
    self->windows_dropped++;
    g_mutex_unlock (&self->state_lock);
    GST_LOG_OBJECT (self, "inference is behind: window %" G_GUINT64_FORMAT
        " dropped", last);
    g_free (job);
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
  g_free (job);
  return decision;
}

/* Assigns @buf to the grid points its interval covers, queues their
 * embedding, and queues the windows they complete. Returns the decision of
 * a window completed by this buffer in sync mode. */
static GstStructure *
sample_buffer (GstHyrsmFilter *self, GstBuffer *buf)
{
  GstSegment *seg = &GST_BASE_TRANSFORM (self)->segment;
  GstClockTime pts = GST_BUFFER_PTS (buf);
  if (!GST_CLOCK_TIME_IS_VALID (pts))
    return NULL;
  GstClockTime rt = gst_segment_to_running_time (seg, GST_FORMAT_TIME, pts);
  if (!GST_CLOCK_TIME_IS_VALID (rt))
    return NULL;                /* outside the segment */
  GstClockTime duration = GST_BUFFER_DURATION (buf);
  if (!GST_CLOCK_TIME_IS_VALID (duration))
    duration = GST_VIDEO_INFO_FPS_N (&self->info) > 0 ?
        gst_util_uint64_scale (GST_SECOND, GST_VIDEO_INFO_FPS_D (&self->info),
        GST_VIDEO_INFO_FPS_N (&self->info)) : self->period;
  if (!GST_CLOCK_TIME_IS_VALID (self->origin))
    self->origin = rt;

  /* Grid point k sits at origin + (k + 1/2) period. Points before this
   * frame's interval that no frame covered (a gap) are missing. */
  guint64 entry = self->next_sample, first = entry, last = entry;
  gboolean covered = FALSE;
  guint T = self->frames;
  g_mutex_lock (&self->state_lock);
  while (self->origin + self->next_sample * self->period + self->period / 2
      < rt + duration) {
    guint64 k = self->next_sample++;
    GstClockTime at = self->origin + k * self->period + self->period / 2;
    Sample *s = &self->ring[k % self->ring_size];
    s->index = k;
    s->running_time = at;
    if (at + duration < rt) {
      s->state = SAMPLE_MISSING;
      first = k + 1;
    } else {
      s->state = SAMPLE_PENDING;
      last = k;
      covered = TRUE;
    }
  }
  gboolean behind = !self->blocking && self->pending_embeds > 2 * T;
  if (covered && behind) {
    for (guint64 k = first; k <= last; k++)
      self->ring[k % self->ring_size].state = SAMPLE_MISSING;
  } else if (covered) {
    self->pending_embeds++;
    self->jobs_in_flight++;
    self->frames_sampled++;
  }
  guint64 end = self->next_sample;
  g_mutex_unlock (&self->state_lock);

  if (covered && !behind) {
    int stride;
    guint8 *rgb = copy_frame_rgb (self, buf, &stride);
    EmbedJob *job = g_new0 (EmbedJob, 1);
    job->self = self;
    job->first = first;
    job->last = last;
    job->features = g_new (float, self->dim);
    if (rgb == NULL) {
      GError *error = g_error_new (HYRSM_ERROR, HYRSM_ERROR_INVALID_ARGUMENT,
          "cannot map the video frame");
      embed_done (job, error);
      g_error_free (error);
    } else {
      hyrsm_engine_queue_embed (self->engine, rgb,
          GST_VIDEO_INFO_WIDTH (&self->info),
          GST_VIDEO_INFO_HEIGHT (&self->info), stride, job->features,
          embed_done, job);
    }
  }

  /* Windows completed by the grid points just passed. */
  GstStructure *decision = NULL;
  for (guint64 k = entry; k < end; k++) {
    if (k + 1 < T || (k + 1 - T) % self->stride_samples != 0)
      continue;
    GstStructure *d = queue_window (self, k);
    if (d) {
      gst_clear_structure (&decision);
      decision = d;
    }
  }
  return decision;
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

  /* `stride` may change while playing; `window` only at the next start. */
  GST_OBJECT_LOCK (self);
  self->stride_samples = MAX (1, (self->stride + self->period / 2) /
      self->period);
  GST_OBJECT_UNLOCK (self);

  GstStructure *decision = sample_buffer (self, buf);
  if (decision == NULL && !self->blocking) {
    /* Async: the latest decision rides on the next outgoing buffer. */
    g_mutex_lock (&self->state_lock);
    decision = self->result_for_meta;
    self->result_for_meta = NULL;
    g_mutex_unlock (&self->state_lock);
  }
  if (decision) {
    GST_OBJECT_LOCK (self);
    gboolean attach = self->attach_meta;
    GST_OBJECT_UNLOCK (self);
    if (attach)
      gst_buffer_add_hyrsm_meta (buf, decision);
    gst_structure_free (decision);
  }
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
      wait_for_jobs (self);
      reset_windows (self);
      self->live_checked = FALSE;
      break;
    case GST_EVENT_EOS:
      /* A partial window at EOS is not decided; finish the queued ones so
       * their messages precede EOS on the bus. */
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
    GstClockTime ours = self->last_latency;
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
  gchar *dir = g_strdup (self->support_path);
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
  if (self->model && self->support_path)
    request_support_load_locked (self, self->support_path);
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
    case PROP_WINDOW:
      self->window = g_value_get_uint64 (value);
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
  g_free (self->model_path);
  g_free (self->support_path);
  g_free (self->device);
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
  g_object_class_install_property (gobject_class, PROP_WINDOW,
      g_param_spec_uint64 ("window", "Window",
          "Duration of one classified window in nanoseconds (0 = the median "
          "duration of the support clips)", 0, G_MAXUINT64, DEFAULT_WINDOW,
          rw));
  g_object_class_install_property (gobject_class, PROP_STRIDE,
      g_param_spec_uint64 ("stride", "Stride",
          "Time between two decisions in nanoseconds", 1, G_MAXUINT64,
          DEFAULT_STRIDE, rw));
  g_object_class_install_property (gobject_class, PROP_THRESHOLD,
      g_param_spec_double ("threshold", "Threshold",
          "Distance above which the result is \"unknown\" (<= 0 disables)",
          -G_MAXDOUBLE, G_MAXDOUBLE, DEFAULT_THRESHOLD, rw));
  g_object_class_install_property (gobject_class, PROP_SYNC,
      g_param_spec_enum ("sync", "Sync",
          "Block the streaming thread until each window's result is ready "
          "(auto: for non-live sources only)", GST_TYPE_HYRSM_SYNC,
          DEFAULT_SYNC, rw));
  g_object_class_install_property (gobject_class, PROP_MESSAGE,
      g_param_spec_boolean ("message", "Message",
          "Post a \"hyrsm\" element message for each decision",
          DEFAULT_MESSAGE, rw));
  g_object_class_install_property (gobject_class, PROP_META,
      g_param_spec_boolean ("meta", "Meta",
          "Attach each decision to a buffer as HyrsmMeta", DEFAULT_META, rw));
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
          "frames-in, frames-embedded, windows-classified, windows-dropped, "
          "latency (ns)", GST_TYPE_STRUCTURE, ro));

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
  self->window = DEFAULT_WINDOW;
  self->stride = DEFAULT_STRIDE;
  self->threshold = DEFAULT_THRESHOLD;
  self->sync = DEFAULT_SYNC;
  self->post_messages = DEFAULT_MESSAGE;
  self->attach_meta = DEFAULT_META;
  g_mutex_init (&self->state_lock);
  g_cond_init (&self->state_cond);
  self->origin = GST_CLOCK_TIME_NONE;
  /* In place, not passthrough: a decision is attached to a buffer as meta,
   * which needs a writable buffer (its memory is never copied). */
  gst_base_transform_set_in_place (GST_BASE_TRANSFORM (self), TRUE);
}
