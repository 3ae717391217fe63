/* gsthyrsmwindows.c: hyrsmfilter's window pipeline (gsthyrsmwindows.h),
 * its streaming-thread side: one timeline per track (the whole frame, or
 * each tracked region), frames sampled onto its grid (gsthyrsmgrid.c),
 * windows admitted (gsthyrsmadmission.c) and handed to
 * gsthyrsmwindowjob.c, which embeds, matches and decides them. No element
 * inside: what the element must hear goes through the callbacks. */
#include "gsthyrsmwindows-private.h"
#include "gsthyrsmanalytics.h"
#include "gsthyrsmdecision.h"
#include "gsthyrsmmeta.h"

#include <string.h>

GST_DEBUG_CATEGORY (gst_hyrsm_windows_debug);
#define GST_CAT_DEFAULT gst_hyrsm_windows_debug

/* ---- tracks ---- */

/* A track's grid, a copy of the geometry continuing the track's point
 * numbers (they only grow: see gsthyrsmgrid.h). */
static void
track_apply_geometry (GstHyrsmWindows *w, Track *track)
{
  guint64 next = track->grid.next;
  track->grid = w->geometry;
  track->grid.origin = GST_CLOCK_TIME_NONE;
  track->grid.base = track->grid.next = next;
}

static void
track_init (GstHyrsmWindows *w, Track *track)
{
  memset (track, 0, sizeof *track);
  track->ring = g_new0 (Sample, w->frames);
  for (guint i = 0; i < w->frames; i++)
    track->ring[i].index = G_MAXUINT64;
  track_apply_geometry (w, track);
}

/* Forgets the track's timeline: its next frame starts a new grid. */
static void
track_reset (GstHyrsmWindows *w, Track *track)
{
  for (guint i = 0; track->ring && i < w->frames; i++) {
    g_clear_pointer (&track->ring[i].embedding, hyrsm_embedding_unref);
    track->ring[i].kind = POINT_GAP;
    track->ring[i].index = G_MAXUINT64;
  }
  gst_clear_buffer (&track->held.buffer);
  gst_hyrsm_grid_reset (&track->grid);
}

static void
track_clear (GstHyrsmWindows *w, Track *track)
{
  track_reset (w, track);
  g_clear_pointer (&track->ring, g_free);
  g_clear_pointer (&track->admission, gst_hyrsm_admission_leave);
}

static void
track_reconfigure (GstHyrsmWindows *w, Track *track)
{
  g_clear_pointer (&track->admission, gst_hyrsm_admission_leave);
  track_apply_geometry (w, track);
}

static void
track_update_stride (GstHyrsmWindows *w, Track *track)
{
  track->grid.stride = w->geometry.stride;
}

/* Calls @func on every track. */
static void
for_each_track (GstHyrsmWindows *w, void (*func) (GstHyrsmWindows *,
        Track *))
{
  if (!w->roi) {
    func (w, &w->whole);
    return;
  }
  GHashTableIter iter;
  gpointer track;
  g_hash_table_iter_init (&iter, w->tracks);
  while (g_hash_table_iter_next (&iter, NULL, &track))
    func (w, track);
}

/* ---- the object ---- */

GstHyrsmWindows *
gst_hyrsm_windows_new (HyrsmModel *model, gboolean roi,
    const GstHyrsmWindowsCallbacks *callbacks, gpointer user_data)
{
  GST_DEBUG_CATEGORY_INIT (gst_hyrsm_windows_debug, "hyrsmwindows", 0,
      "hyrsmfilter's window pipeline");
  GstHyrsmWindows *w = g_new0 (GstHyrsmWindows, 1);
  w->callbacks = *callbacks;
  w->user_data = user_data;
  w->model = g_object_ref (model);
  w->engine = hyrsm_engine_get (model);
  w->frames = hyrsm_model_get_frames (model);
  w->dim = hyrsm_model_get_feature_dim (model);
  w->roi = roi;
  gst_video_info_init (&w->info);
  gst_segment_init (&w->segment, GST_FORMAT_TIME);
  /* The grid is configured with the first caps (the frame rate bounds the
   * sampling period). */
  gst_hyrsm_grid_init (&w->geometry, w->frames, FALLBACK_WINDOW,
      DEFAULT_STRIDE);
  if (roi)
    w->tracks = g_hash_table_new_full (NULL, NULL, NULL, g_free);
  else
    track_init (w, &w->whole);
  g_mutex_init (&w->lock);
  g_cond_init (&w->cond);
  w->support_median = GST_CLOCK_TIME_NONE;
  w->cancellable = g_cancellable_new ();
  w->results_for_meta = g_ptr_array_new_with_free_func ((GDestroyNotify)
      gst_structure_free);
  w->last_window = g_new0 (float, (gsize) w->frames * w->dim);
  return w;
}

static void
free_track (GstHyrsmWindows *w, Track *track)
{
  track_clear (w, track);
}

void
gst_hyrsm_windows_free (GstHyrsmWindows *w)
{
  if (w == NULL)
    return;
  gst_hyrsm_windows_set_flushing (w, TRUE);
  gst_hyrsm_windows_wait (w);
  for_each_track (w, free_track);
  g_clear_pointer (&w->tracks, g_hash_table_unref);
  g_clear_pointer (&w->converter, gst_video_converter_free);
  g_clear_object (&w->support);
  g_free (w->support_path);
  g_free (w->stream_id);
  g_clear_object (&w->cancellable);
  g_ptr_array_unref (w->results_for_meta);
  g_free (w->last_window);
  g_mutex_clear (&w->lock);
  g_cond_clear (&w->cond);
  g_object_unref (w->model);
  g_free (w);
}

void
gst_hyrsm_windows_set_support (GstHyrsmWindows *w, HyrsmSupportSet *support,
    const gchar *support_path, GstClockTime median)
{
  g_mutex_lock (&w->lock);
  g_set_object (&w->support, support);
  g_free (w->support_path);
  w->support_path = g_strdup (support_path);
  w->support_median = median;
  g_mutex_unlock (&w->lock);
}

void
gst_hyrsm_windows_set_stream_id (GstHyrsmWindows *w, const gchar *stream_id)
{
  g_mutex_lock (&w->lock);
  g_free (w->stream_id);
  w->stream_id = g_strdup (stream_id);
  g_mutex_unlock (&w->lock);
}

gboolean
gst_hyrsm_windows_set_caps (GstHyrsmWindows *w, const GstVideoInfo *info,
    gboolean *rate_changed)
{
  /* Frames are converted to packed RGB at their own size: pre-processing
   * (resize, crop) is the engine's, exactly as for support clips. */
  GstVideoInfo rgb;
  gst_hyrsm_windows_rgb_info (info, &rgb);
  GstVideoConverter *converter = gst_video_converter_new ((GstVideoInfo *)
      info, &rgb, gst_structure_new ("options",
          GST_VIDEO_CONVERTER_OPT_THREADS, G_TYPE_UINT, 1, NULL));
  if (converter == NULL)
    return FALSE;
  /* A held frame is converted with the caps it came with. */
  gst_hyrsm_windows_finish (w);
  g_clear_pointer (&w->converter, gst_video_converter_free);
  w->converter = converter;
  *rate_changed = GST_VIDEO_INFO_FPS_N (info) *
      (gint64) GST_VIDEO_INFO_FPS_D (&w->info) != GST_VIDEO_INFO_FPS_N
      (&w->info) * (gint64) GST_VIDEO_INFO_FPS_D (info);
  w->info = *info;
  return TRUE;
}

/* Grid geometry from the window, the stride and the frame rate: the
 * sampling period is window / T, but never shorter than one frame (or
 * MIN_PERIOD when the rate is unknown): a shorter one would sample the
 * same frame several times per point and, at the extreme, spend the
 * streaming thread walking points. Every track restarts on it. */
GstClockTime
gst_hyrsm_windows_configure (GstHyrsmWindows *w, GstClockTime window,
    GstClockTime stride, GstClockTime *asked)
{
  if (window == 0) {
    g_mutex_lock (&w->lock);
    GstClockTime median = w->support_median;
    g_mutex_unlock (&w->lock);
    window = GST_CLOCK_TIME_IS_VALID (median) && median > 0 ? median :
        FALLBACK_WINDOW;
  }
  *asked = window;
  GstClockTime min_period = MIN_PERIOD;
  if (GST_VIDEO_INFO_FPS_N (&w->info) > 0)
    min_period = MAX (min_period, gst_util_uint64_scale (GST_SECOND,
            GST_VIDEO_INFO_FPS_D (&w->info), GST_VIDEO_INFO_FPS_N (&w->info)));
  if (window / w->frames < min_period)
    window = min_period * w->frames;
  gst_hyrsm_grid_init (&w->geometry, w->frames, window, stride);
  for_each_track (w, track_reconfigure);
  GST_INFO ("window %" GST_TIME_FORMAT " (T=%u, a sample every %"
      GST_TIME_FORMAT "), a decision every %" G_GUINT64_FORMAT " samples",
      GST_TIME_ARGS (window), w->frames, GST_TIME_ARGS (w->geometry.period),
      w->geometry.stride);
  return window;
}

void
gst_hyrsm_windows_set_stride (GstHyrsmWindows *w, GstClockTime stride)
{
  guint64 points = gst_hyrsm_grid_stride_points (w->geometry.period, stride);
  /* Every track already has the geometry's stride (tracks take the
   * geometry when made or reconfigured): walk them only on a change, not
   * for every frame. */
  if (points == w->geometry.stride)
    return;
  w->geometry.stride = points;
  for_each_track (w, track_update_stride);
}

gboolean
gst_hyrsm_windows_is_blocking (GstHyrsmWindows *w)
{
  g_mutex_lock (&w->lock);
  gboolean blocking = w->blocking;
  g_mutex_unlock (&w->lock);
  return blocking;
}

void
gst_hyrsm_windows_wait (GstHyrsmWindows *w)
{
  g_mutex_lock (&w->lock);
  while (w->jobs_in_flight > 0)
    g_cond_wait (&w->cond, &w->lock);
  g_mutex_unlock (&w->lock);
}

void
gst_hyrsm_windows_set_flushing (GstHyrsmWindows *w, gboolean flushing)
{
  g_mutex_lock (&w->lock);
  if (flushing && !w->flushing)
    g_cancellable_cancel (w->cancellable);
  else if (!flushing && w->flushing) {
    g_object_unref (w->cancellable);
    w->cancellable = g_cancellable_new ();
  }
  g_atomic_int_set (&w->flushing, flushing);
  g_cond_broadcast (&w->cond);
  g_mutex_unlock (&w->lock);
}

void
gst_hyrsm_windows_reset (GstHyrsmWindows *w)
{
  g_mutex_lock (&w->lock);
  g_ptr_array_set_size (w->results_for_meta, 0);
  g_mutex_unlock (&w->lock);
  if (w->roi) {
    for_each_track (w, free_track);
    g_hash_table_remove_all (w->tracks);
  } else {
    track_reset (w, &w->whole);
  }
}

void
gst_hyrsm_windows_get_stats (GstHyrsmWindows *w, GstHyrsmWindowsStats *stats)
{
  g_mutex_lock (&w->lock);
  *stats = w->stats;
  g_mutex_unlock (&w->lock);
}

GstClockTime
gst_hyrsm_windows_get_latency (GstHyrsmWindows *w)
{
  g_mutex_lock (&w->lock);
  GstClockTime latency = w->reported_latency;
  g_mutex_unlock (&w->lock);
  return latency;
}

float *
gst_hyrsm_windows_dup_last_window (GstHyrsmWindows *w)
{
  g_mutex_lock (&w->lock);
  float *features = w->have_last_window ? g_memdup2 (w->last_window,
      (gsize) w->frames * w->dim * sizeof (float)) : NULL;
  g_mutex_unlock (&w->lock);
  return features;
}

void
gst_hyrsm_windows_set_mode (GstHyrsmWindows *w, gboolean blocking,
    gboolean live)
{
  g_mutex_lock (&w->lock);
  w->blocking = blocking;
  gboolean estimate = blocking && live && w->reported_latency == 0;
  g_mutex_unlock (&w->lock);
  w->live = live;
  if (estimate)
    gst_hyrsm_windows_estimate_latency (w);
}

/* Live: asks, for each window starting among the points of @step, whether
 * this stream may start it (before any of its frames is embedded), and
 * returns whether the frame of @step serves an admitted window. */
static gboolean
admit_windows (GstHyrsmWindows *w, Track *track,
    const GstHyrsmGridStep *step)
{
  guint T = w->frames;
  if (track->admission == NULL) {
    GstClockTime window = track->grid.period * T;
    track->admission = gst_hyrsm_admission_join (w->engine,
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
sample_frame (GstHyrsmWindows *w, Track *track, FrameSource *src,
    const GstVideoRectangle *crop, GstClockTime start, GstClockTime end,
    gboolean discont, gint64 arrival, GPtrArray *out)
{
  GstHyrsmGridStep step;
  gst_hyrsm_grid_advance (&track->grid, start, end, discont, &step);
  if (step.restarted)
    GST_DEBUG ("grid (re)starts at %" GST_TIME_FORMAT, GST_TIME_ARGS (start));
  if (step.truncated)
    GST_DEBUG ("frame at %" GST_TIME_FORMAT " lasts longer than %"
        G_GUINT64_FORMAT " samples: the rest is a gap", GST_TIME_ARGS (start),
        gst_hyrsm_grid_max_points_per_frame (&track->grid));

  g_mutex_lock (&w->lock);
  gboolean blocking = w->blocking;
  gboolean behind = !blocking
      && w->pending_embeds > MAX_PENDING_EMBEDS (w->frames);
  g_mutex_unlock (&w->lock);
  gboolean needed = blocking || admit_windows (w, track, &step);
  HyrsmEmbedding *embedding = NULL;
  gboolean skipped = FALSE;
  if (step.first_covered < step.end) {
    skipped = !needed || behind;
    if (!skipped)
      embedding = gst_hyrsm_windows_queue_embedding (w, src, crop);
  }

  for (guint64 k = step.begin; k < step.end; k++) {
    if (g_atomic_int_get (&w->flushing))
      break;
    Sample *s = &track->ring[k % w->frames];
    g_clear_pointer (&s->embedding, hyrsm_embedding_unref);
    s->index = k;
    s->arrival = arrival;
    if (k < step.first_covered)
      s->kind = POINT_GAP;
    else if (skipped)
      s->kind = POINT_SKIPPED;
    else {
      s->kind = POINT_FRAME;
      s->embedding = embedding ? hyrsm_embedding_ref (embedding) : NULL;
    }
    if (gst_hyrsm_grid_window_ends_at (&track->grid, k))
      gst_hyrsm_decisions_keep_latest (out, gst_hyrsm_windows_queue_window (w, track,
              k));
  }
  g_clear_pointer (&embedding, hyrsm_embedding_unref);
}

/* Places the track's held frame (of unknown duration) on its grid, as
 * lasting until @end. */
static void
release_held_frame (GstHyrsmWindows *w, Track *track, GstClockTime end,
    GPtrArray *out)
{
  if (track->held.buffer == NULL)
    return;
  FrameSource src = {.buf = track->held.buffer };
  sample_frame (w, track, &src, &track->held.crop, track->held.start,
      MAX (end, track->held.start), track->held.discont, track->held.arrival,
      out);
  gst_hyrsm_frame_source_clear (&src);
  gst_clear_buffer (&track->held.buffer);
}

/* At the end of a stream a held frame lasts one sampling period; no buffer
 * is left to carry the decisions (the callback has them). */
static void
finish_track (GstHyrsmWindows *w, Track *track)
{
  if (track->held.buffer == NULL)
    return;
  GPtrArray *out = g_ptr_array_new_with_free_func ((GDestroyNotify)
      gst_structure_free);
  release_held_frame (w, track, track->held.start + track->grid.period, out);
  g_ptr_array_unref (out);
}

void
gst_hyrsm_windows_finish (GstHyrsmWindows *w)
{
  for_each_track (w, finish_track);
}

/* Samples @crop of @src on @track: a frame of unknown duration waits for
 * the track's next frame. */
static void
sample_track (GstHyrsmWindows *w, Track *track, FrameSource *src,
    const GstVideoRectangle *crop, GstClockTime start, GstClockTime duration,
    gboolean discont, gint64 arrival, GPtrArray *out)
{
  release_held_frame (w, track, start, out);
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
  sample_frame (w, track, src, crop, start, end, discont, arrival, out);
}

/* The frame's duration: its own, else one frame at the caps' rate, else
 * unknown (GST_CLOCK_TIME_NONE: it lasts until the next frame). */
static GstClockTime
frame_duration (GstHyrsmWindows *w, GstBuffer *buf)
{
  if (GST_BUFFER_DURATION_IS_VALID (buf))
    return GST_BUFFER_DURATION (buf);
  if (GST_VIDEO_INFO_FPS_N (&w->info) > 0)
    return gst_util_uint64_scale (GST_SECOND,
        GST_VIDEO_INFO_FPS_D (&w->info), GST_VIDEO_INFO_FPS_N (&w->info));
  return GST_CLOCK_TIME_NONE;
}

/* ROI mode: each region of interest on @src (of the settings' type, when
 * set) is sampled on its own track; tracks unseen for the timeout are
 * forgotten. */
static void
sample_regions (GstHyrsmWindows *w, FrameSource *src,
    const GstHyrsmRegionSettings *settings, GstClockTime start,
    GstClockTime duration, gboolean discont, gint64 arrival, GPtrArray *out)
{
  /* ROI metas, else analytics detections (gsthyrsmanalytics.c). */
  g_autoptr (GArray) regions = gst_hyrsm_regions_collect (src->buf,
      settings->type);
  for (guint i = 0; i < regions->len; i++) {
    const GstHyrsmRegion *roi = &g_array_index (regions, GstHyrsmRegion, i);
    GstVideoRectangle crop;
    if (!gst_hyrsm_region_crop (roi, GST_VIDEO_INFO_WIDTH (&w->info),
            GST_VIDEO_INFO_HEIGHT (&w->info), settings->margin,
            settings->square, &crop))
      continue;
    Track *track = g_hash_table_lookup (w->tracks, GINT_TO_POINTER (roi->id));
    if (track == NULL) {
      if (g_hash_table_size (w->tracks) >= MAX_TRACKS) {
        GST_LOG ("%d tracks already: region %d ignored", MAX_TRACKS, roi->id);
        continue;
      }
      track = g_new0 (Track, 1);
      track_init (w, track);
      track->is_roi = TRUE;
      track->roi_id = roi->id;
      g_hash_table_insert (w->tracks, GINT_TO_POINTER (roi->id), track);
    }
    track->box = (GstVideoRectangle) {
    roi->x, roi->y, roi->w, roi->h};
    track->roi_type = roi->type;
    sample_track (w, track, src, &crop, start, duration, discont, arrival,
        out);
  }

  GHashTableIter iter;
  Track *track;
  g_hash_table_iter_init (&iter, w->tracks);
  while (g_hash_table_iter_next (&iter, NULL, (gpointer *) & track))
    if (start > track->last_seen && start - track->last_seen >
        settings->timeout) {
      GST_DEBUG ("region %d unseen since %" GST_TIME_FORMAT ": forgotten",
          track->roi_id, GST_TIME_ARGS (track->last_seen));
      finish_track (w, track);
      track_clear (w, track);
      g_hash_table_iter_remove (&iter);
    }
}

void
gst_hyrsm_windows_push (GstHyrsmWindows *w, GstBuffer *frame,
    const GstSegment *segment, const GstHyrsmRegionSettings *regions,
    GPtrArray *out)
{
  g_return_if_fail (GST_BUFFER_PTS_IS_VALID (frame));
  g_return_if_fail (!w->roi || regions != NULL);
  gst_segment_copy_into (segment, &w->segment);
  GstClockTime start = gst_segment_to_running_time (segment, GST_FORMAT_TIME,
      GST_BUFFER_PTS (frame));
  if (GST_CLOCK_TIME_IS_VALID (start)) {        /* else outside the segment */
    gint64 arrival = g_get_monotonic_time ();
    gboolean discont = GST_BUFFER_IS_DISCONT (frame);
    GstClockTime duration = frame_duration (w, frame);
    FrameSource src = {.buf = frame };
    if (w->roi) {
      sample_regions (w, &src, regions, start, duration, discont, arrival,
          out);
    } else {
      GstVideoRectangle whole = { 0, 0, GST_VIDEO_INFO_WIDTH (&w->info),
        GST_VIDEO_INFO_HEIGHT (&w->info)
      };
      sample_track (w, &w->whole, &src, &whole, start, duration, discont,
          arrival, out);
    }
    gst_hyrsm_frame_source_clear (&src);
  }
  /* Async: the latest decisions ride on the next outgoing buffer. */
  g_mutex_lock (&w->lock);
  while (w->results_for_meta->len > 0)
    gst_hyrsm_decisions_keep_latest (out,
        g_ptr_array_steal_index (w->results_for_meta, 0));
  g_mutex_unlock (&w->lock);
}

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
