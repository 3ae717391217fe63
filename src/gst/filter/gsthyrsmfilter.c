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
 * outgoing buffer as `HyrsmMeta` and, where GStreamer's analytics library
 * is (1.24 and newer), as GstAnalytics results (a `GstAnalyticsClsMtd`, and
 * for a region its `GstAnalyticsODMtd` and track, related to it).
 *
 * ## Example launch line
 * |[
 * gst-launch-1.0 v4l2src ! videoconvert ! hyrsmfilter model=model.safetensors support=actions/ ! fakesink
 * ]|
 */
#include "gsthyrsmfilter-private.h"
#include "gsthyrsmreuse.h"

#include <string.h>

GST_DEBUG_CATEGORY (gst_hyrsm_filter_debug);
#define GST_CAT_DEFAULT gst_hyrsm_filter_debug

#define DEFAULT_DEVICE "auto"
#define DEFAULT_PRECISION "auto"
#define DEFAULT_WINDOW 0
#define DEFAULT_STRIDE (500 * GST_MSECOND)
#define DEFAULT_THRESHOLD 0.0
#define DEFAULT_SYNC GST_HYRSM_SYNC_AUTO
#define DEFAULT_POST_MESSAGES TRUE
#define DEFAULT_META TRUE
#define DEFAULT_ANALYTICS_META TRUE
#define DEFAULT_ROI FALSE
#define DEFAULT_ROI_MARGIN 0.0
#define DEFAULT_ROI_SQUARE FALSE
#define DEFAULT_ROI_TIMEOUT GST_SECOND

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
  PROP_POST_MESSAGES,
  PROP_MESSAGE,                 /* deprecated alias of post-messages */
  PROP_META,
  PROP_ANALYTICS_META,
  PROP_ROI,
  PROP_ROI_TYPE,
  PROP_ROI_MARGIN,
  PROP_ROI_SQUARE,
  PROP_ROI_TIMEOUT,
  PROP_FRAMES,
  PROP_LABELS,
  PROP_STATS,
  PROP_MQTT_FIRST,              /* support-key...: gsthyrsmfiltermqtt.c */
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
    {GST_HYRSM_SYNC_ALWAYS, "Always block until each window is decided",
        "always"},
    {GST_HYRSM_SYNC_NEVER, "Never block; drop whole windows when behind",
        "never"},
    {0, NULL, NULL},
  };
  if (g_once_init_enter (&type))
    g_once_init_leave (&type, g_enum_register_static ("GstHyrsmSync",
            values));
  return type;
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

/* ---- the window pipeline's callbacks ---- */

/* On the engine's thread: a window's decision goes on the bus. */
static void
on_decision (gpointer data, const GstStructure *decision)
{
  GstHyrsmFilter *self = data;
  GST_OBJECT_LOCK (self);
  gboolean post = self->post_messages;
  GST_OBJECT_UNLOCK (self);
  if (post)
    gst_element_post_message (GST_ELEMENT (self),
        gst_message_new_element (GST_OBJECT (self),
            gst_structure_copy (decision)));
}

static void
on_error (gpointer data, const gchar *message, const gchar *debug)
{
  GstHyrsmFilter *self = data;
  GST_ELEMENT_ERROR (self, STREAM, FAILED, ("%s", message), ("%s", debug));
}

/* Sync mode, live: the pipeline asks for the latency again. */
static void
on_latency_changed (gpointer data)
{
  GstHyrsmFilter *self = data;
  gst_element_post_message (GST_ELEMENT (self),
      gst_message_new_latency (GST_OBJECT (self)));
}

static const GstHyrsmWindowsCallbacks window_callbacks = {
  on_decision, on_error, on_latency_changed
};

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
  if (!gst_hyrsm_filter_load_initial_support (self)) {
    g_clear_object (&self->model);
    return FALSE;
  }
  GST_OBJECT_LOCK (self);
  self->roi_mode = self->roi;
  self->frames_in = 0;
  self->windows = gst_hyrsm_windows_new (self->model, self->roi_mode,
      &window_callbacks, self);
  gst_hyrsm_windows_set_support (self->windows, self->support,
      self->support_display, self->support_median);
  GST_OBJECT_UNLOCK (self);
  self->live_checked = FALSE;
  self->warned_no_pts = FALSE;
  /* The grid is configured with the first caps (the frame rate bounds
   * the sampling period). */
  self->configured = FALSE;
  self->decisions = g_ptr_array_new_with_free_func ((GDestroyNotify)
      gst_structure_free);
  return TRUE;
}

static gboolean
gst_hyrsm_filter_stop (GstBaseTransform *trans)
{
  GstHyrsmFilter *self = GST_HYRSM_FILTER (trans);
  /* support=mqtt://: no bundle is installed from here on. */
  gst_hyrsm_filter_mqtt_stop (self);
  /* What is queued is dropped; free() waits for the engine to be done. */
  GST_OBJECT_LOCK (self);
  GstHyrsmWindows *windows = g_steal_pointer (&self->windows);
  GST_OBJECT_UNLOCK (self);
  gst_hyrsm_windows_free (windows);

  /* A background support load finishes on its own; it holds a ref. */
  GST_OBJECT_LOCK (self);
  g_clear_pointer (&self->loader_path, g_free);
  GST_OBJECT_UNLOCK (self);

  g_clear_pointer (&self->decisions, g_ptr_array_unref);
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

/* The grid from `window` and `stride`: a window the support set gives
 * (window=0) follows the frame rate without a word (the user asked for none
 * in particular); one the user set warns when lengthened materially (over
 * 1%), not for a rounding (1.599666 s at 5 fps becoming 1.6 s). */
static void
configure_windows (GstHyrsmFilter *self)
{
  GST_OBJECT_LOCK (self);
  GstClockTime window = self->window;
  GstClockTime stride = self->stride;
  self->window_changed = FALSE;
  GST_OBJECT_UNLOCK (self);
  GstClockTime asked;
  GstClockTime used = gst_hyrsm_windows_configure (self->windows, window,
      stride, &asked);
  self->configured = TRUE;
  if (used == asked)
    return;
  if (window != 0 && used - asked > asked / 100)
    GST_ELEMENT_WARNING (self, LIBRARY, SETTINGS,
        ("Window %" GST_TIME_FORMAT " is shorter than %u frames (one per "
            "sample); using %" GST_TIME_FORMAT ".", GST_TIME_ARGS (asked),
            self->frames, GST_TIME_ARGS (used)), (NULL));
  else
    GST_DEBUG_OBJECT (self, "window %" GST_TIME_FORMAT " is shorter than %u "
        "frames; using %" GST_TIME_FORMAT, GST_TIME_ARGS (asked),
        self->frames, GST_TIME_ARGS (used));
}

/* Whether the streaming thread waits for decisions (sync=auto asks
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
  gboolean blocking = sync == GST_HYRSM_SYNC_ALWAYS
      || (sync == GST_HYRSM_SYNC_AUTO && !live);
  self->live_checked = TRUE;
  GST_INFO_OBJECT (self, "upstream is %s: %s", live ? "live" : "not live",
      blocking ? "every window is processed (the streaming thread waits)" :
      "windows are dropped when inference falls behind");
  gst_hyrsm_windows_set_mode (self->windows, blocking, live);
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
  gboolean rate_changed;
  if (!gst_hyrsm_windows_set_caps (self->windows, &info, &rate_changed)) {
    GST_ELEMENT_ERROR (self, CORE, NEGOTIATION, (NULL),
        ("Cannot convert %" GST_PTR_FORMAT " to RGB", incaps));
    return FALSE;
  }
  GST_DEBUG_OBJECT (self, "caps %" GST_PTR_FORMAT, incaps);
  /* The shortest period allowed depends on the frame rate. */
  if (rate_changed || !self->configured)
    configure_windows (self);
  return TRUE;
}

/* ---- streaming ---- */

static GstFlowReturn
gst_hyrsm_filter_transform_ip (GstBaseTransform *trans, GstBuffer *buf)
{
  GstHyrsmFilter *self = GST_HYRSM_FILTER (trans);
  if (!self->live_checked)
    check_live (self);

  /* `stride` applies from this frame; a new `window` restarts the grid. */
  GST_OBJECT_LOCK (self);
  self->frames_in++;
  GstClockTime stride = self->stride;
  gboolean window_changed = self->window_changed;
  GstHyrsmRegionSettings regions = {
    .type = self->roi_type ? g_quark_from_string (self->roi_type) : 0,
    .margin = self->roi_margin,
    .square = self->roi_square,
    .timeout = self->roi_timeout,
  };
  GST_OBJECT_UNLOCK (self);
  if (window_changed) {
    gst_hyrsm_windows_finish (self->windows);
    configure_windows (self);
  }
  gst_hyrsm_windows_set_stride (self->windows, stride);

  if (!GST_BUFFER_PTS_IS_VALID (buf)) {
    if (!self->warned_no_pts)
      GST_ELEMENT_WARNING (self, STREAM, FORMAT,
          ("Buffers without timestamps cannot be placed in time windows: "
              "they pass but are not recognized."),
          ("buffer %" GST_PTR_FORMAT " has no PTS", buf));
    self->warned_no_pts = TRUE;
    return GST_FLOW_OK;
  }
  GPtrArray *decisions = self->decisions;
  gst_hyrsm_windows_push (self->windows, buf, &trans->segment, &regions,
      decisions);
  GST_OBJECT_LOCK (self);
  gboolean attach = self->attach_meta;
  gboolean analytics = self->attach_analytics;
  GST_OBJECT_UNLOCK (self);
  GQuark roi_type = self->roi_mode ? regions.type : 0;
  for (guint i = 0; i < decisions->len; i++) {
    const GstStructure *decision = g_ptr_array_index (decisions, i);
    if (attach)
      gst_hyrsm_windows_attach (buf, decision);
    if (analytics)
      gst_hyrsm_analytics_attach (buf, decision, roi_type);
  }
  g_ptr_array_set_size (decisions, 0);
  return GST_FLOW_OK;
}

static gboolean
gst_hyrsm_filter_sink_event (GstBaseTransform *trans, GstEvent *event)
{
  GstHyrsmFilter *self = GST_HYRSM_FILTER (trans);
  switch (GST_EVENT_TYPE (event)) {
    case GST_EVENT_FLUSH_START:
      gst_hyrsm_windows_set_flushing (self->windows, TRUE);
      break;
    case GST_EVENT_FLUSH_STOP:
      /* Windows queued before the flush finish as dropped-silently. */
      gst_hyrsm_windows_wait (self->windows);
      gst_hyrsm_windows_reset (self->windows);
      gst_hyrsm_windows_set_flushing (self->windows, FALSE);
      break;
    case GST_EVENT_STREAM_START:{
      /* A new stream: new timeline; finish what the old one queued. */
      const gchar *stream_id = NULL;
      gst_event_parse_stream_start (event, &stream_id);
      gst_hyrsm_windows_finish (self->windows);
      gst_hyrsm_windows_wait (self->windows);
      gst_hyrsm_windows_reset (self->windows);
      gst_hyrsm_windows_set_stream_id (self->windows, stream_id);
      self->live_checked = FALSE;
      break;
    }
    case GST_EVENT_EOS:
      /* A partial window at EOS is not decided; finish the queued ones so
       * their messages precede EOS on the bus. */
      gst_hyrsm_windows_finish (self->windows);
      gst_hyrsm_windows_wait (self->windows);
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
      && GST_QUERY_TYPE (query) == GST_QUERY_LATENCY && self->windows
      && gst_hyrsm_windows_is_blocking (self->windows)) {
    /* In sync mode the buffer completing a window waits for its decision. */
    gboolean live;
    GstClockTime min, max;
    gst_query_parse_latency (query, &live, &min, &max);
    GstClockTime ours = gst_hyrsm_windows_get_latency (self->windows);
    min += ours;
    if (GST_CLOCK_TIME_IS_VALID (max))
      max += ours;
    gst_query_set_latency (query, live, min, max);
  }
  return ret;
}

/* ---- properties ---- */

static GstStructure *
make_stats (GstHyrsmFilter *self)
{
  /* Called with the object lock (property getter). */
  GstHyrsmWindowsStats st = { 0 };
  if (self->windows)
    gst_hyrsm_windows_get_stats (self->windows, &st);
  return gst_structure_new ("hyrsm-stats",
      "frames-in", G_TYPE_UINT64, self->frames_in,
      "frames-sampled", G_TYPE_UINT64, st.frames_sampled,
      "frames-embedded", G_TYPE_UINT64, st.frames_embedded,
      "windows-classified", G_TYPE_UINT64, st.windows_classified,
      "windows-dropped", G_TYPE_UINT64, st.windows_dropped,
      "windows-incomplete", G_TYPE_UINT64, st.windows_incomplete,
      "latency", G_TYPE_UINT64, st.latency, NULL);
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
        gst_hyrsm_filter_request_support_load_locked (self, self->support_path);
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
    case PROP_POST_MESSAGES:
    case PROP_MESSAGE:
      self->post_messages = g_value_get_boolean (value);
      break;
    case PROP_META:
      self->attach_meta = g_value_get_boolean (value);
      break;
    case PROP_ANALYTICS_META:
      self->attach_analytics = g_value_get_boolean (value);
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
      if (prop_id < PROP_MQTT_FIRST || !gst_hyrsm_filter_mqtt_set_property
          (self, prop_id - PROP_MQTT_FIRST, value))
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
    case PROP_POST_MESSAGES:
    case PROP_MESSAGE:
      g_value_set_boolean (value, self->post_messages);
      break;
    case PROP_META:
      g_value_set_boolean (value, self->attach_meta);
      break;
    case PROP_ANALYTICS_META:
      g_value_set_boolean (value, self->attach_analytics);
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
      /* The window pipeline's lock nests inside the object lock. */
      g_value_take_boxed (value, make_stats (self));
      break;
    default:
      if (prop_id < PROP_MQTT_FIRST || !gst_hyrsm_filter_mqtt_get_property
          (self, prop_id - PROP_MQTT_FIRST, value))
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
  g_strfreev (self->labels);
  g_free (self->support_in_use);
  g_free (self->support_display);
  g_free (self->support_signature);
  g_free (self->roi_type);
  g_free (self->model_path);
  g_free (self->support_path);
  g_free (self->device);
  g_free (self->precision);
  gst_hyrsm_filter_mqtt_finalize (self);
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
          "(loaded in the background, swapped in atomically). Or "
          "mqtt://HOST:PORT/TOPIC: the retained support-set bundle there "
          "(gst-hyrsm support publish), each newer one swapped in while "
          "PLAYING, the last one cached for a start while the broker is "
          "away", NULL, rw));
  g_object_class_install_property (gobject_class, PROP_DEVICE,
      g_param_spec_string ("device", "Device",
          "Compute device: auto (CUDA when present, else CPU), cpu, cuda or "
          "cuda:N", DEFAULT_DEVICE, G_PARAM_READWRITE |
          G_PARAM_STATIC_STRINGS | GST_PARAM_MUTABLE_READY));
  g_object_class_install_property (gobject_class, PROP_PRECISION,
      g_param_spec_string ("precision", "Precision",
          "Precision of the backbone and the relation head's weights: auto "
          "(bf16 on CPUs with AVX512-BF16, fp16 on CUDA, else fp32; "
          "HYRSM_PRECISION, when set, says what auto is), fp32, bf16 or "
          "fp16", DEFAULT_PRECISION, G_PARAM_READWRITE |
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
  g_object_class_install_property (gobject_class, PROP_POST_MESSAGES,
      g_param_spec_boolean ("post-messages", "Post messages",
          "Post a \"hyrsm\" element message for each decision",
          DEFAULT_POST_MESSAGES, rw));
  /* The name `level` also kept only for compatibility. */
  g_object_class_install_property (gobject_class, PROP_MESSAGE,
      g_param_spec_boolean ("message", "Message",
          "Deprecated: use post-messages", DEFAULT_POST_MESSAGES,
          rw | G_PARAM_DEPRECATED));
  g_object_class_install_property (gobject_class, PROP_META,
      g_param_spec_boolean ("meta", "Meta",
          "Attach each decision to a buffer as HyrsmMeta", DEFAULT_META, rw));
  g_object_class_install_property (gobject_class, PROP_ANALYTICS_META,
      g_param_spec_boolean ("analytics-meta", "Analytics meta",
          "Also attach each decision as GstAnalytics results: a "
          "GstAnalyticsClsMtd of every class, decided label first, and for "
          "a region its GstAnalyticsODMtd and GstAnalyticsTrackingMtd, "
          "related to it (no effect when built without GStreamer's "
          "analytics library, GStreamer < 1.24)", DEFAULT_ANALYTICS_META,
          rw));
  g_object_class_install_property (gobject_class, PROP_ROI,
      g_param_spec_boolean ("roi", "Per region",
          "Recognize per region of interest (GstVideoRegionOfInterestMeta "
          "from an upstream detector/tracker, else its GstAnalyticsODMtd "
          "detections): one window timeline per ROI id or track id, "
          "decisions carry roi-id and the box and are attached to the "
          "region's meta; FALSE: the whole frame", DEFAULT_ROI,
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
  gst_hyrsm_filter_mqtt_install_properties (gobject_class, PROP_MQTT_FIRST);

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
   * saves it as a `.hyrsm` feature file in `support`/@label/; with
   * `support=mqtt://...`, publishes the set in use plus it as the next
   * version to the topic instead (blocking, at most 5 s).
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
  self->post_messages = DEFAULT_POST_MESSAGES;
  self->attach_meta = DEFAULT_META;
  self->attach_analytics = DEFAULT_ANALYTICS_META;
  self->roi = DEFAULT_ROI;
  self->roi_margin = DEFAULT_ROI_MARGIN;
  self->roi_square = DEFAULT_ROI_SQUARE;
  self->roi_timeout = DEFAULT_ROI_TIMEOUT;
  gst_hyrsm_filter_mqtt_init (self);
  /* In place, not passthrough: a decision is attached to a buffer as meta,
   * which needs a writable buffer (its memory is never copied). */
  gst_base_transform_set_in_place (GST_BASE_TRANSFORM (self), TRUE);
}
