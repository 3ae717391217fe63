/* gsthyrsmwindowjob.c: what a window costs the engine, on the engine's
 * thread: its frames copied out as RGB and queued for embedding (each an
 * HyrsmEmbedding the window jobs hold), the window's match queued on the
 * support set of the moment (the engine gathers the features itself), and
 * the decision made of the result (gsthyrsmdecision.h), handed to the
 * element through the callbacks. */
#include "gsthyrsmwindows-private.h"
#include "gsthyrsmdecision.h"

#include <string.h>

#define GST_CAT_DEFAULT gst_hyrsm_windows_debug

/* Packed RGB at the size (and rate) of @info: what frames are copied to. */
void
gst_hyrsm_windows_rgb_info (const GstVideoInfo *info, GstVideoInfo *rgb)
{
  gst_video_info_set_format (rgb, GST_VIDEO_FORMAT_RGB,
      GST_VIDEO_INFO_WIDTH (info), GST_VIDEO_INFO_HEIGHT (info));
  GST_VIDEO_INFO_FPS_N (rgb) = GST_VIDEO_INFO_FPS_N (info);
  GST_VIDEO_INFO_FPS_D (rgb) = GST_VIDEO_INFO_FPS_D (info);
  GST_VIDEO_INFO_PAR_N (rgb) = GST_VIDEO_INFO_PAR_N (info);
  GST_VIDEO_INFO_PAR_D (rgb) = GST_VIDEO_INFO_PAR_D (info);
}

static void
job_done_locked (GstHyrsmWindows *w)
{
  w->jobs_in_flight--;
  g_cond_broadcast (&w->cond);
}

static void
report_error (GstHyrsmWindows *w, const gchar *message, const gchar *debug)
{
  if (w->callbacks.error)
    w->callbacks.error (w->user_data, message, debug);
}

/* On the engine's thread: one frame's features are in (or failed). */
static void
embed_done (gpointer data, const GError *error)
{
  GstHyrsmWindows *w = data;
  if (error) {
    g_autofree gchar *message = g_strdup_printf ("Inference failed on %s.",
        hyrsm_model_get_device (w->model));
    report_error (w, message, error->message);
  }
  g_mutex_lock (&w->lock);
  if (!error)
    w->stats.frames_embedded++;
  w->pending_embeds--;
  job_done_locked (w);
  g_mutex_unlock (&w->lock);
}

/* Copies @buf out as packed RGB (upstream's buffer is never held). */
static guint8 *
copy_frame_rgb (GstHyrsmWindows *w, GstBuffer *buf, int *stride)
{
  GstVideoFrame in, out;
  GstVideoInfo rgb;
  gst_hyrsm_windows_rgb_info (&w->info, &rgb);
  guint8 *pixels = g_malloc (GST_VIDEO_INFO_SIZE (&rgb));
  if (!gst_video_frame_map (&in, &w->info, buf, GST_MAP_READ)) {
    g_free (pixels);
    return NULL;
  }
  GstBuffer *wrapped = gst_buffer_new_wrapped_full (0, pixels,
      GST_VIDEO_INFO_SIZE (&rgb), 0, GST_VIDEO_INFO_SIZE (&rgb), NULL, NULL);
  if (gst_video_frame_map (&out, &rgb, wrapped, GST_MAP_WRITE)) {
    gst_video_converter_frame (w->converter, &in, &out);
    gst_video_frame_unmap (&out);
  }
  gst_buffer_unref (wrapped);
  gst_video_frame_unmap (&in);
  *stride = GST_VIDEO_INFO_PLANE_STRIDE (&rgb, 0);
  return pixels;
}

void
gst_hyrsm_frame_source_clear (FrameSource *src)
{
  g_clear_pointer (&src->rgb, g_free);
}

/* Packed RGB of @crop of the frame (taken by the caller), or NULL when the
 * frame cannot be mapped. */
static guint8 *
frame_source_rgb (GstHyrsmWindows *w, FrameSource *src,
    const GstVideoRectangle *crop, int *stride)
{
  if (src->rgb == NULL && !src->failed) {
    src->rgb = copy_frame_rgb (w, src->buf, &src->stride);
    src->failed = src->rgb == NULL;
  }
  if (src->rgb == NULL)
    return NULL;
  gboolean whole = crop->x == 0 && crop->y == 0
      && crop->w == GST_VIDEO_INFO_WIDTH (&w->info)
      && crop->h == GST_VIDEO_INFO_HEIGHT (&w->info);
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

/* Queues the embedding of @crop of @src; its handle (the caller's), or
 * NULL when the frame could not be read (reported; its points make their
 * windows incomplete). */
HyrsmEmbedding *
gst_hyrsm_windows_queue_embedding (GstHyrsmWindows *w, FrameSource *src,
    const GstVideoRectangle *crop)
{
  int stride;
  guint8 *rgb = frame_source_rgb (w, src, crop, &stride);
  g_mutex_lock (&w->lock);
  w->stats.frames_sampled++;
  if (rgb) {
    w->pending_embeds++;
    w->jobs_in_flight++;
  }
  g_mutex_unlock (&w->lock);
  if (rgb == NULL) {
    g_autofree gchar *message = g_strdup_printf ("Inference failed on %s.",
        hyrsm_model_get_device (w->model));
    report_error (w, message, "cannot map the video frame");
    return NULL;
  }
  return hyrsm_engine_queue_embed (w->engine, rgb, crop->w, crop->h, stride,
      embed_done, w);
}

/* ---- windows and their decisions ---- */

typedef struct
{
  GstHyrsmWindows *w;
  HyrsmEmbedding **points;      /* T references, the window's samples */
  GstClockTime start, end;      /* running time */
  GstClockTime stream_start, stream_end;
  gint64 arrival;               /* monotonic time its last frame arrived */
  gboolean is_roi;              /* a tracked region's window: */
  gint roi_id;
  GQuark roi_type;
  GstVideoRectangle box;        /* its box when the window ended */
  GCancellable *cancellable;    /* the flush it belongs before */
  gboolean matched;             /* queued as a match (there was a set) */
  gboolean blocking;            /* the streaming thread waits for it */
  gboolean done;
  GstStructure *result;         /* sync: handed back to the streaming thread */
} WindowJob;

static void
window_job_free (WindowJob *job)
{
  for (guint t = 0; t < job->w->frames; t++)
    hyrsm_embedding_unref (job->points[t]);
  g_free (job->points);
  g_clear_object (&job->cancellable);
  g_free (job);
}

/* The decision of @job from @res, as the "hyrsm" structure. */
static GstStructure *
make_decision (GstHyrsmWindows *w, WindowJob *job, HyrsmMatchResult *res,
    GstClockTime latency)
{
  guint n_distances = 0;
  GstHyrsmDecision d = {
    .label = hyrsm_match_result_get_label (res),
    .unknown = hyrsm_match_result_is_unknown (res),
    .confidence = hyrsm_match_result_get_confidence (res),
    .distance = hyrsm_match_result_get_distance (res),
    .labels = hyrsm_match_result_get_labels (res),
    .distances = hyrsm_match_result_get_distances (res, &n_distances),
    .n_classes = hyrsm_match_result_get_n_classes (res),
    .window_start = job->stream_start,.window_end = job->stream_end,
    .running_time_start = job->start,.running_time = job->end,
    /* The arrival of the frame completing the window, in wall-clock time. */
    .wallclock_end = g_get_real_time () - (g_get_monotonic_time () -
        job->arrival),
    .latency = latency,
    .model_fingerprint = hyrsm_model_get_fingerprint (w->model),
    .is_region = job->is_roi,.roi_id = job->roi_id,
    .roi_type = job->roi_type ? g_quark_to_string (job->roi_type) : NULL,
    .roi_x = job->box.x,.roi_y = job->box.y,
    .roi_width = job->box.w,.roi_height = job->box.h,
  };
  g_mutex_lock (&w->lock);
  d.stream_id = w->stream_id;
  d.support_path = w->support_path ? w->support_path : "";
  GstStructure *s = gst_hyrsm_decision_to_structure (&d);
  g_mutex_unlock (&w->lock);
  return s;
}

/* Sync mode: a buffer that completes a window waits for its decision, so
 * the pipeline must know; tell it when a decision took longer than said. */
static void
update_reported_latency (GstHyrsmWindows *w, GstClockTime latency)
{
  g_mutex_lock (&w->lock);
  gboolean grew = w->blocking && latency > w->reported_latency;
  if (grew)
    w->reported_latency = latency + latency / 4;        /* headroom */
  g_mutex_unlock (&w->lock);
  if (grew && w->live && w->callbacks.latency_changed)
    w->callbacks.latency_changed (w->user_data);
}

/* On the engine's thread: the window's match result (NULL when it was
 * skipped or failed) becomes its decision. The engine runs the matches of
 * all windows due together on one support set as one batch. */
static void
decide_window (gpointer data, HyrsmMatchResult *res, const GError *error)
{
  WindowJob *job = data;
  GstHyrsmWindows *w = job->w;
  gboolean flushing = g_cancellable_is_cancelled (job->cancellable);

  GstStructure *decision = NULL;
  if (error) {
    report_error (w, "Matching failed.", error->message);
  } else if (res) {
    GstClockTime latency = (g_get_monotonic_time () - job->arrival) *
        GST_USECOND;
    decision = make_decision (w, job, res, latency);
    GST_DEBUG ("decision %" GST_PTR_FORMAT, decision);
    if (w->callbacks.decision)
      w->callbacks.decision (w->user_data, decision);
    update_reported_latency (w, latency);
  }

  /* A match skipped though not flushing: a point's embedding failed. */
  gboolean incomplete = !flushing && job->matched && res == NULL
      && error == NULL;
  g_mutex_lock (&w->lock);
  if (decision) {
    w->stats.windows_classified++;
    gst_structure_get_uint64 (decision, "latency", &w->stats.latency);
    for (guint t = 0; t < w->frames; t++)
      memcpy (w->last_window + (gsize) t * w->dim,
          hyrsm_embedding_get_features (job->points[t]),
          w->dim * sizeof (float));
    w->have_last_window = TRUE;
  } else if (incomplete) {
    w->stats.windows_incomplete++;
  } else if (!flushing) {
    w->stats.windows_dropped++;
  }
  w->pending_windows--;
  if (job->blocking) {
    job->result = decision;
    job->done = TRUE;
  } else {
    gst_hyrsm_decisions_keep_latest (w->results_for_meta, decision);
    window_job_free (job);
  }
  job_done_locked (w);
  g_mutex_unlock (&w->lock);
}

/* A window due while there is no support set: no match to run. */
static void
skip_window (gpointer data)
{
  decide_window (data, NULL, NULL);
}

/* Queues the window's match on the support set current now. */
static void
queue_match (GstHyrsmWindows *w, WindowJob *job)
{
  g_mutex_lock (&w->lock);
  HyrsmSupportSet *support = w->support ? g_object_ref (w->support) : NULL;
  g_mutex_unlock (&w->lock);
  job->matched = support != NULL;
  if (support)
    hyrsm_engine_queue_match (w->engine, support, NULL, job->points,
        job->cancellable, decide_window, job);
  else
    hyrsm_engine_queue_call (w->engine, skip_window, job);
  g_clear_object (&support);
}

/* Sync mode on a live source: the first decisions must not arrive late at
 * the sinks, so the latency is known before them: the time one frame's
 * embedding and one match take on this model, measured here once. */
void
gst_hyrsm_windows_estimate_latency (GstHyrsmWindows *w)
{
  guint side = hyrsm_model_get_crop (w->model);
  gsize size = (gsize) side * side * 3;
  g_autofree float *features = g_new (float, (gsize) w->frames * w->dim);
  gint64 begin = g_get_monotonic_time ();
  g_autoptr (GError) error = NULL;
  g_autoptr (GBytes) black = g_bytes_new_take (g_malloc0 (size), size);
  g_autoptr (GBytes) one = hyrsm_model_embed_frames (w->model, black, 1,
      side, side, &error);
  if (one == NULL) {
    GST_WARNING ("latency estimate: %s", error->message);
    return;
  }
  for (guint t = 0; t < w->frames; t++)
    memcpy (features + (gsize) t * w->dim, g_bytes_get_data (one, NULL),
        w->dim * sizeof (float));
  g_mutex_lock (&w->lock);
  HyrsmSupportSet *support = w->support ? g_object_ref (w->support) : NULL;
  g_mutex_unlock (&w->lock);
  HyrsmMatchResult *res = support ? hyrsm_support_set_match_raw (support,
      features, NULL) : NULL;
  g_clear_object (&res);
  g_clear_object (&support);
  GstClockTime cost = (g_get_monotonic_time () - begin) * GST_USECOND;
  GST_INFO ("one frame and one match take %" GST_TIME_FORMAT,
      GST_TIME_ARGS (cost));
  update_reported_latency (w, cost);
}

static GstClockTime
to_stream_time (GstHyrsmWindows *w, GstClockTime running_time)
{
  guint64 position;
  if (gst_segment_position_from_running_time_full (&w->segment,
          GST_FORMAT_TIME, running_time, &position) != 1)
    return GST_CLOCK_TIME_NONE;
  return gst_segment_to_stream_time (&w->segment, GST_FORMAT_TIME, position);
}

/* How many of a window's points have their frame embedded (for the log:
 * only evaluated when it is on). */
static guint
count_embedded (const WindowJob *job, guint T)
{
  guint n = 0;
  for (guint t = 0; t < T; t++)
    n += job->points[t] != NULL;
  return n;
}

/* Queues the window ending at grid point @last (its T points are the last
 * T of the ring); in sync mode waits for it and returns its decision. */
GstStructure *
gst_hyrsm_windows_queue_window (GstHyrsmWindows *w, Track *track, guint64 last)
{
  guint T = w->frames;
  WindowJob *job = g_new0 (WindowJob, 1);
  job->w = w;
  job->is_roi = track->is_roi;
  job->roi_id = track->roi_id;
  job->roi_type = track->roi_type;
  job->box = track->box;
  job->points = g_new0 (HyrsmEmbedding *, T);
  gboolean gap = FALSE, skipped = FALSE;
  for (guint t = 0; t < T; t++) {
    guint64 k = last + 1 - T + t;
    Sample *s = &track->ring[k % T];
    if (s->index != k || s->kind == POINT_GAP
        || (s->kind == POINT_FRAME && s->embedding == NULL))
      gap = TRUE;
    else if (s->kind == POINT_SKIPPED)
      skipped = TRUE;
    else {
      job->points[t] = hyrsm_embedding_ref (s->embedding);
      job->arrival = MAX (job->arrival, s->arrival);
    }
  }
  GstClockTime half = track->grid.period / 2;
  job->start = gst_hyrsm_grid_point_time (&track->grid, last + 1 - T) - half;
  job->end = gst_hyrsm_grid_point_time (&track->grid, last) - half +
      track->grid.period;
  job->stream_start = to_stream_time (w, job->start);
  job->stream_end = to_stream_time (w, job->end);

  g_mutex_lock (&w->lock);
  gboolean blocking = w->blocking;
  if (gap) {
    /* A frame of it is missing (a timestamp gap, or unreadable): not a
     * decision. */
    w->stats.windows_incomplete++;
    g_mutex_unlock (&w->lock);
    window_job_free (job);
    return NULL;
  }
  if (skipped || (!blocking && w->pending_windows >= MAX_PENDING_WINDOWS)) {
    /* Live and behind: drop this whole window, never a frame. */
    w->stats.windows_dropped++;
    g_mutex_unlock (&w->lock);
    GST_LOG ("inference is behind: window %" G_GUINT64_FORMAT " dropped (%s; "
        "%u of its %u frames embedded)", last, skipped ? "frames skipped" :
        "too many windows waiting", count_embedded (job, T), T);
    window_job_free (job);
    return NULL;
  }
  w->pending_windows++;
  w->jobs_in_flight++;
  job->blocking = blocking;
  job->cancellable = g_object_ref (w->cancellable);
  g_mutex_unlock (&w->lock);
  queue_match (w, job);
  if (!blocking)
    return NULL;

  g_mutex_lock (&w->lock);
  while (!job->done)
    g_cond_wait (&w->cond, &w->lock);
  GstStructure *decision = job->result;
  g_mutex_unlock (&w->lock);
  window_job_free (job);
  return decision;
}

