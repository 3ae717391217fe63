/* gsthyrsmwindows.c: hyrsmfilter's windows: one timeline per track (the
 * whole frame, or each tracked region), frames sampled onto its grid
 * (gsthyrsmgrid.c) and embedded on the engine, windows admitted
 * (gsthyrsmadmission.c), gathered and matched, and their decisions made
 * into messages and HyrsmMeta. The streaming thread calls in through
 * gsthyrsmfilter-private.h; the engine's callbacks run here too. */
#include "gsthyrsmfilter-private.h"
#include "gsthyrsmdecision.h"
#include "gsthyrsmmeta.h"

#include <string.h>

#define GST_CAT_DEFAULT gst_hyrsm_filter_debug

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
void
gst_hyrsm_windows_reset (GstHyrsmFilter *self)
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
void
gst_hyrsm_windows_configure (GstHyrsmFilter *self)
{
  GST_OBJECT_LOCK (self);
  GstClockTime window = self->window;
  gboolean user_window = window != 0;
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
    /* The window the support set gives (window=0) follows the frame rate
     * without a word: the user asked for none in particular. One the user
     * set warns when the change is material (over 1%), not for a rounding
     * (1.599666 s at 5 fps becoming 1.6 s). */
    if (user_window && shortest - window > window / 100)
      GST_ELEMENT_WARNING (self, LIBRARY, SETTINGS,
          ("Window %" GST_TIME_FORMAT " is shorter than %u frames (one per "
              "sample); using %" GST_TIME_FORMAT ".", GST_TIME_ARGS (window),
              self->frames, GST_TIME_ARGS (shortest)), (NULL));
    else
      GST_DEBUG_OBJECT (self, "window %" GST_TIME_FORMAT " is shorter than "
          "%u frames; using %" GST_TIME_FORMAT, GST_TIME_ARGS (window),
          self->frames, GST_TIME_ARGS (shortest));
    window = shortest;
  }
  gst_hyrsm_grid_init (&self->geometry, self->frames, window, stride);
  for_each_track (self, track_reconfigure);
  GST_INFO_OBJECT (self, "window %" GST_TIME_FORMAT " (T=%u, a sample every %"
      GST_TIME_FORMAT "), a decision every %" G_GUINT64_FORMAT " samples",
      GST_TIME_ARGS (window), self->frames,
      GST_TIME_ARGS (self->geometry.period), self->geometry.stride);
}

/* Waits until no job of ours is queued on the engine. */
void
gst_hyrsm_windows_wait (GstHyrsmFilter *self)
{
  g_mutex_lock (&self->state_lock);
  while (self->jobs_in_flight > 0)
    g_cond_wait (&self->state_cond, &self->state_lock);
  g_mutex_unlock (&self->state_lock);
}

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
  gst_hyrsm_windows_rgb_info (&self->info, &rgb);
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
  GQuark roi_type;
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

/* The decision of @job from @res, as the "hyrsm" structure. */
static GstStructure *
make_decision (GstHyrsmFilter *self, WindowJob *job, HyrsmMatchResult *res,
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
    .is_region = job->is_roi,.roi_id = job->roi_id,
    .roi_type = job->roi_type ? g_quark_to_string (job->roi_type) : NULL,
    .roi_x = job->box.x,.roi_y = job->box.y,
    .roi_width = job->box.w,.roi_height = job->box.h,
  };
  gchar *stream_id = gst_pad_get_stream_id (GST_BASE_TRANSFORM_SINK_PAD
      (self));
  d.stream_id = stream_id;
  GST_OBJECT_LOCK (self);
  d.model_fingerprint = hyrsm_model_get_fingerprint (self->model);
  d.support_path = self->support_display;
  GstStructure *s = gst_hyrsm_decision_to_structure (&d);
  GST_OBJECT_UNLOCK (self);
  g_free (stream_id);
  return s;
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
    gst_hyrsm_decisions_keep_latest (self->results_for_meta, decision);
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
void
gst_hyrsm_windows_check_live (GstHyrsmFilter *self)
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
  self->blocking = sync == GST_HYRSM_SYNC_ALWAYS || (sync == GST_HYRSM_SYNC_AUTO
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
static GstStructure *
queue_window (GstHyrsmFilter *self, Track *track, guint64 last)
{
  guint T = self->frames;
  WindowJob *job = g_new0 (WindowJob, 1);
  job->self = self;
  job->is_roi = track->is_roi;
  job->roi_id = track->roi_id;
  job->roi_type = track->roi_type;
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
        " dropped (%s; %u of its %u frames embedded)", last, skipped ?
        "frames skipped" : "too many windows waiting",
        count_embedded (job, T), T);
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
      gst_hyrsm_decisions_keep_latest (out, queue_window (self, track, k));
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

void
gst_hyrsm_windows_finish_held (GstHyrsmFilter *self)
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

  /* ROI metas, else analytics detections (gsthyrsmanalytics.c). */
  g_autoptr (GArray) regions = gst_hyrsm_regions_collect (src->buf, type);
  for (guint i = 0; i < regions->len; i++) {
    const GstHyrsmRegion *roi = &g_array_index (regions, GstHyrsmRegion, i);
    GstVideoRectangle crop;
    if (!gst_hyrsm_region_crop (roi, GST_VIDEO_INFO_WIDTH (&self->info),
            GST_VIDEO_INFO_HEIGHT (&self->info), margin, square, &crop))
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
    track->roi_type = roi->type;
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
void
gst_hyrsm_windows_sample (GstHyrsmFilter *self, GstBuffer *buf, GPtrArray *out)
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
void
gst_hyrsm_windows_attach (GstBuffer *buf, const GstStructure *decision)
{
  gst_buffer_add_hyrsm_meta (buf, decision);
  gint id = gst_hyrsm_decision_region (decision);
  if (id < 0)
    return;
  GstVideoRegionOfInterestMeta *roi =
      gst_buffer_get_video_region_of_interest_meta_id (buf, id);
  if (roi)
    gst_video_region_of_interest_meta_add_param (roi,
        gst_structure_copy (decision));
}

/* Tracks for a new run: the whole frame, or a table of tracked regions. */
void
gst_hyrsm_windows_start (GstHyrsmFilter *self)
{
  if (self->roi_mode)
    self->tracks = g_hash_table_new_full (NULL, NULL, NULL, track_free);
  else
    track_init (self, &self->whole);
  gst_hyrsm_windows_reset (self);
}

void
gst_hyrsm_windows_stop (GstHyrsmFilter *self)
{
  g_clear_pointer (&self->tracks, g_hash_table_unref);
  track_clear (self, &self->whole);
}

/* `stride` applies from the next frame on every track. */
void
gst_hyrsm_windows_set_stride (GstHyrsmFilter *self, GstClockTime stride)
{
  guint64 points = gst_hyrsm_grid_stride_points (self->geometry.period,
      stride);
  /* Every track already has the geometry's stride (tracks take the
   * geometry when made or reconfigured): walk them only on a change, not
   * for every frame. */
  if (points == self->geometry.stride)
    return;
  self->geometry.stride = points;
  for_each_track (self, track_update_stride);
}

/* Async: the latest decisions ride on the next outgoing buffer. */
void
gst_hyrsm_windows_take_async (GstHyrsmFilter *self, GPtrArray *out)
{
  g_mutex_lock (&self->state_lock);
  while (self->results_for_meta->len > 0)
    gst_hyrsm_decisions_keep_latest (out, g_ptr_array_steal_index (self->results_for_meta, 0));
  g_mutex_unlock (&self->state_lock);
}
