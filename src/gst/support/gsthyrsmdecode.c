/* gsthyrsmdecode.c: decoding a video clip or a folder of frames into the T
 * RGB frames the model samples from it, and embedding frames.
 *
 *   a video clip         uridecodebin ! videoconvert ! appsink (RGB)
 *   a folder of frames   each sampled jpg/png decoded on its own
 *
 * Sampling (docs/model.md section 1, gst_hyrsm_sample_index()): of L
 * frames, frame k of T is round((k + 0.5) L / T - 0.5), clamped to
 * [0, L - 1]. A clip is decoded once, keeping every frame while they fit in
 * KEEP_ALL_BUDGET and, when the container tells the frame count in advance
 * (duration x frame rate), the T frames that count predicts. Only a long
 * clip whose count was unknown or wrong is decoded a second time, keeping
 * the T frames of the exact count.
 */
#include "gsthyrsmsupport-private.h"

#include <gst/app/gstappsink.h>
#include <gst/pbutils/pbutils.h>
#include <glib/gstdio.h>
#include <gst/video/video.h>
#include <string.h>

#define GST_CAT_DEFAULT gst_hyrsm_support_debug

/* Decoded frames a single pass may keep beyond the T it needs (bytes of
 * packed RGB): a short clip is decoded only once. */
#define KEEP_ALL_BUDGET (64 * 1024 * 1024)
/* A pipeline that produces nothing for this long is given up on. */
#define STALL_TIMEOUT (30 * G_TIME_SPAN_SECOND)
/* A pipeline that has not even found a video stream after this long never
 * will: decodebin drops a demuxer's error that races with its own state
 * change (a truncated AVI, about one time in two), leaving the pipeline
 * prerolling forever. Demuxing a local file's headers takes milliseconds. */
#define NO_STREAM_TIMEOUT (5 * G_TIME_SPAN_SECOND)
#define PULL_TIMEOUT (10 * GST_MSECOND)

/* The largest frame a support file may have, in pixels (4096 x 4096; 4K
 * video is 3840 x 2160 or 4096 x 2160). A 775 KB PNG can announce 16000 x
 * 16000 pixels, which its decoder would allocate (1 GB, more once
 * converted) before anything downstream could refuse it: so the size is
 * read before a decoder is plugged (from the caps typefinding, a demuxer or
 * a parser announce, else from the image's own header) and a file over the
 * limit is refused naming its size. docs/decisions.md, "Hostile support
 * files", says what this bounds. */
#define MAX_FRAME_PIXELS ((guint64) 4096 * 4096)

/* ---- decoded frames ---- */

static void
frame_clear (GstHyrsmFrame *f)
{
  g_free (f->data);
}

GstHyrsmFrame *
gst_hyrsm_frame_new_from_sample (GstSample *sample, GError **error)
{
  GstCaps *caps = gst_sample_get_caps (sample);
  GstBuffer *buf = gst_sample_get_buffer (sample);
  GstVideoInfo info;
  GstVideoFrame vf;
  if (caps == NULL || buf == NULL || !gst_video_info_from_caps (&info, caps)
      || GST_VIDEO_INFO_FORMAT (&info) != GST_VIDEO_FORMAT_RGB) {
    g_set_error (error, GST_STREAM_ERROR, GST_STREAM_ERROR_FORMAT,
        "decoder gave a frame without RGB video caps");
    return NULL;
  }
  if (!gst_video_frame_map (&vf, &info, buf, GST_MAP_READ)) {
    g_set_error (error, GST_STREAM_ERROR, GST_STREAM_ERROR_DECODE,
        "cannot map a decoded frame");
    return NULL;
  }
  guint w = GST_VIDEO_FRAME_WIDTH (&vf), h = GST_VIDEO_FRAME_HEIGHT (&vf);
  gsize row = (gsize) w * 3;
  GstHyrsmFrame *f = g_atomic_rc_box_new0 (GstHyrsmFrame);
  f->width = w;
  f->height = h;
  f->data = g_try_malloc (row * h);
  if (f->data == NULL) {
    gst_video_frame_unmap (&vf);
    g_atomic_rc_box_release_full (f, (GDestroyNotify) frame_clear);
    g_set_error (error, GST_RESOURCE_ERROR, GST_RESOURCE_ERROR_NO_SPACE_LEFT,
        "out of memory for a %ux%u frame", w, h);
    return NULL;
  }
  const guint8 *src = GST_VIDEO_FRAME_PLANE_DATA (&vf, 0);
  gint stride = GST_VIDEO_FRAME_PLANE_STRIDE (&vf, 0);
  for (guint y = 0; y < h; y++)
    memcpy (f->data + y * row, src + (gsize) y * stride, row);
  gst_video_frame_unmap (&vf);
  return f;
}

GstHyrsmFrame *
gst_hyrsm_frame_ref (GstHyrsmFrame *f)
{
  return g_atomic_rc_box_acquire (f);
}

void
gst_hyrsm_frame_unref (gpointer f)
{
  if (f)
    g_atomic_rc_box_release_full (f, (GDestroyNotify) frame_clear);
}

/* ---- one decoding pass ---- */

typedef struct
{
  /* in */
  guint T;
  gint64 expected;              /* frame count the picks are for; -1: ask */
  gboolean keep_all;
  GCancellable *cancellable;
  /* out */
  guint64 count;                /* frames decoded */
  GPtrArray *all;               /* GstHyrsmFrame*, NULL once over budget */
  gsize all_bytes;
  GstHyrsmFrame **picked;      /* T, for `expected` frames */
  GstClockTime first_pts, end_pts;
  GstClockTime duration;        /* from the duration query */
} Pass;

static void
pass_clear (Pass *p)
{
  g_clear_pointer (&p->all, g_ptr_array_unref);
  if (p->picked)
    for (guint k = 0; k < p->T; k++)
      gst_hyrsm_frame_unref (p->picked[k]);
  g_clear_pointer (&p->picked, g_free);
}

/* uridecodebin exposes one pad per stream: the first video stream goes to
 * videoconvert, anything else to a fakesink so it does not stall the
 * demuxer. */
static void
on_pad_added (GstElement *decodebin, GstPad *pad, gpointer data)
{
  GstElement *convert = data;
  GstCaps *caps = gst_pad_get_current_caps (pad);
  if (caps == NULL)
    caps = gst_pad_query_caps (pad, NULL);
  const char *name = gst_caps_get_size (caps) == 0 ? "" :
      gst_structure_get_name (gst_caps_get_structure (caps, 0));
  GstPad *sinkpad = gst_element_get_static_pad (convert, "sink");
  if (g_str_has_prefix (name, "video/") && !gst_pad_is_linked (sinkpad)
      && GST_PAD_LINK_SUCCESSFUL (gst_pad_link (pad, sinkpad))) {
    GST_DEBUG ("linked %s stream", name);
  } else {
    GstElement *bin = GST_ELEMENT (gst_element_get_parent (decodebin));
    GstElement *sink = gst_element_factory_make ("fakesink", NULL);
    g_object_set (sink, "sync", FALSE, "async", FALSE, NULL);
    gst_bin_add (GST_BIN (bin), sink);
    GstPad *fpad = gst_element_get_static_pad (sink, "sink");
    gst_pad_link (pad, fpad);
    gst_object_unref (fpad);
    gst_element_sync_state_with_parent (sink);
    gst_object_unref (bin);
  }
  gst_object_unref (sinkpad);
  gst_caps_unref (caps);
}

/* A stream no decoder is installed for: remember a video one, so that the
 * error says which decoder is missing rather than "no video stream". */
static void
on_unknown_type (GstElement *decodebin, GstPad *pad, GstCaps *caps,
    gpointer data)
{
  GstElement *convert = data;
  gst_pb_utils_init ();
  const GstStructure *s = gst_caps_get_structure (caps, 0);
  if (s && g_str_has_prefix (gst_structure_get_name (s), "video/")
      && !g_object_get_data (G_OBJECT (convert), "missing-decoder"))
    g_object_set_data_full (G_OBJECT (convert), "missing-decoder",
        gst_pb_utils_get_decoder_description (caps), g_free);
}

/* A file without a video stream would otherwise wait for frames that never
 * come: make it an error. */
static void
on_no_more_pads (GstElement *decodebin, gpointer data)
{
  GstElement *convert = data;
  GstPad *sinkpad = gst_element_get_static_pad (convert, "sink");
  const char *missing = g_object_get_data (G_OBJECT (convert),
      "missing-decoder");
  if (g_object_get_data (G_OBJECT (convert), "too-large")) {
    /* on_autoplug_select() has posted the error */
  } else if (!gst_pad_is_linked (sinkpad) && missing) {
    GError *err = g_error_new (GST_CORE_ERROR,
        GST_CORE_ERROR_MISSING_PLUGIN, "no decoder installed for its video "
        "stream: %s is missing", missing);
    gst_element_post_message (decodebin, gst_message_new_error (GST_OBJECT
            (decodebin), err, NULL));
    g_error_free (err);
  } else if (!gst_pad_is_linked (sinkpad)) {
    GError *err = g_error_new (GST_STREAM_ERROR,
        GST_STREAM_ERROR_WRONG_TYPE, "no video stream");
    gst_element_post_message (decodebin, gst_message_new_error (GST_OBJECT
            (decodebin), err, NULL));
    g_error_free (err);
  }
  gst_object_unref (sinkpad);
}

/* ---- the frame size limit ---- */

/* Sets @error when a @w x @h frame is over MAX_FRAME_PIXELS. */
static gboolean
check_frame_size (guint64 w, guint64 h, GError **error)
{
  if (w * h <= MAX_FRAME_PIXELS)
    return TRUE;
  g_set_error (error, GST_STREAM_ERROR, GST_STREAM_ERROR_FORMAT,
      "a %" G_GUINT64_FORMAT " x %" G_GUINT64_FORMAT " frame, over the "
      "limit of %" G_GUINT64_FORMAT " pixels a frame (4096 x 4096): scale it "
      "down", w, h, MAX_FRAME_PIXELS);
  return FALSE;
}

/* The size an image file's header announces, for the formats whose caps
 * from typefinding do not carry it (JPEG's do). Returns FALSE when @file is
 * none of them or cannot be read. */
static gboolean
image_header_size (const char *file, const char *media, guint64 *w,
    guint64 *h)
{
  guint8 b[26];
  FILE *f = g_fopen (file, "rb");
  if (f == NULL)
    return FALSE;
  size_t n = fread (b, 1, sizeof b, f);
  fclose (f);
  if (g_str_equal (media, "image/png") && n >= 24
      && memcmp (b, "\x89PNG\r\n\x1a\n", 8) == 0
      && memcmp (b + 12, "IHDR", 4) == 0) {
    *w = GST_READ_UINT32_BE (b + 16);
    *h = GST_READ_UINT32_BE (b + 20);
    return TRUE;
  }
  if (g_str_equal (media, "image/gif") && n >= 10
      && memcmp (b, "GIF8", 4) == 0) {
    *w = GST_READ_UINT16_LE (b + 6);
    *h = GST_READ_UINT16_LE (b + 8);
    return TRUE;
  }
  if (g_str_equal (media, "image/bmp") && n >= 26 && memcmp (b, "BM", 2) == 0
      && GST_READ_UINT32_LE (b + 14) >= 40) {
    /* BITMAPINFOHEADER and later; a negative height is a top-down image. */
    *w = ABS ((gint32) GST_READ_UINT32_LE (b + 18));
    *h = ABS ((gint32) GST_READ_UINT32_LE (b + 22));
    return TRUE;
  }
  return FALSE;
}

/* decodebin's "autoplug-select" result: its enum is not in any installed
 * header (gst-plugins-base's gstplay-enum.h), so applications repeat it. */
typedef enum
{
  GST_AUTOPLUG_SELECT_TRY,
  GST_AUTOPLUG_SELECT_EXPOSE,
  GST_AUTOPLUG_SELECT_SKIP
} GstAutoplugSelectResult;

/* Before decodebin plugs a decoder: the frame size its input announces
 * must be within the limit. A stream that announces no size (TIFF, WebP,
 * MJPEG from a multipart stream) is let through and checked on its first
 * decoded frame (run_pass()), which bounds what is kept but not that one
 * frame in its decoder. */
static GstAutoplugSelectResult
on_autoplug_select (GstElement *decodebin, GstPad *pad, GstCaps *caps,
    GstElementFactory *factory, gpointer data)
{
  GstElement *convert = data;
  const char *klass = gst_element_factory_get_metadata (factory,
      GST_ELEMENT_METADATA_KLASS);
  if (klass == NULL || !strstr (klass, "Decoder") || gst_caps_is_empty (caps))
    return GST_AUTOPLUG_SELECT_TRY;
  if (g_object_get_data (G_OBJECT (convert), "too-large"))
    return GST_AUTOPLUG_SELECT_SKIP;    /* already refused */
  const GstStructure *s = gst_caps_get_structure (caps, 0);
  const char *media = gst_structure_get_name (s);
  gint cw, ch;
  guint64 w = 0, h = 0;
  gboolean known = FALSE;
  if (gst_structure_get_int (s, "width", &cw)
      && gst_structure_get_int (s, "height", &ch) && cw > 0 && ch > 0) {
    w = cw;
    h = ch;
    known = TRUE;
  } else if (g_str_has_prefix (media, "image/")) {
    known = image_header_size (g_object_get_data (G_OBJECT (convert),
            "file"), media, &w, &h);
  }
  g_autoptr (GError) err = NULL;
  if (!known || check_frame_size (w, h, &err))
    return GST_AUTOPLUG_SELECT_TRY;
  /* Posted first, so that it is the error run_pass() reports, not the
   * "no decoder" that skipping every decoder leads to. */
  g_object_set_data (G_OBJECT (convert), "too-large", GINT_TO_POINTER (1));
  gst_element_post_message (decodebin, gst_message_new_error (GST_OBJECT
          (decodebin), err, NULL));
  return GST_AUTOPLUG_SELECT_SKIP;
}

static GstElement *
make_pipeline (const char *file, const char *uri, GstAppSink **sink_out,
    GError **error)
{
  GstElement *pipeline = gst_pipeline_new (NULL);
  GstElement *src = gst_element_factory_make ("uridecodebin", NULL);
  GstElement *convert = gst_element_factory_make ("videoconvert", "convert");
  GstElement *sink = gst_element_factory_make ("appsink", NULL);
  if (src == NULL || convert == NULL || sink == NULL) {
    g_set_error (error, GST_CORE_ERROR, GST_CORE_ERROR_MISSING_PLUGIN,
        "GStreamer elements missing: %s%s%s",
        src ? "" : "uridecodebin (gst-plugins-base) ",
        convert ? "" : "videoconvert (gst-plugins-base) ",
        sink ? "" : "appsink (gst-plugins-base)");
    gst_clear_object (&src);
    gst_clear_object (&convert);
    gst_clear_object (&sink);
    gst_object_unref (pipeline);
    return NULL;
  }
  GstCaps *caps = gst_caps_new_simple ("video/x-raw", "format", G_TYPE_STRING,
      "RGB", NULL);
  /* max-buffers bounds what waits in the sink: decoding runs at the pace
   * this thread copies frames out. */
  g_object_set (sink, "caps", caps, "sync", FALSE, "max-buffers", 4,
      "drop", FALSE, "enable-last-sample", FALSE, NULL);
  gst_caps_unref (caps);
  g_object_set (src, "uri", uri, NULL);
  gst_bin_add_many (GST_BIN (pipeline), src, convert, sink, NULL);
  gst_element_link (convert, sink);
  g_signal_connect (src, "pad-added", G_CALLBACK (on_pad_added), convert);
  g_signal_connect (src, "unknown-type", G_CALLBACK (on_unknown_type),
      convert);
  g_signal_connect (src, "no-more-pads", G_CALLBACK (on_no_more_pads),
      convert);
  g_object_set_data_full (G_OBJECT (convert), "file", g_strdup (file),
      g_free);
  g_signal_connect (src, "autoplug-select", G_CALLBACK (on_autoplug_select),
      convert);
  *sink_out = GST_APP_SINK (sink);
  return pipeline;
}

/* The frame count the container announces (duration x frame rate), or -1. */
static gint64
announced_frame_count (GstElement *pipeline, GstSample *sample,
    GstClockTime *duration_out)
{
  gint64 duration = -1;
  if (!gst_element_query_duration (pipeline, GST_FORMAT_TIME, &duration)
      || duration <= 0)
    return -1;
  *duration_out = duration;
  GstVideoInfo info;
  GstCaps *caps = gst_sample_get_caps (sample);
  if (caps == NULL || !gst_video_info_from_caps (&info, caps)
      || info.fps_n <= 0 || info.fps_d <= 0)
    return -1;
  return gst_util_uint64_scale_round (duration, info.fps_n,
      (guint64) info.fps_d * GST_SECOND);
}

static void
pass_take (Pass *p, GstElement *pipeline, GstSample *sample,
    GstHyrsmFrame *f)
{
  guint64 index = p->count++;
  GstBuffer *buf = gst_sample_get_buffer (sample);
  if (GST_BUFFER_PTS_IS_VALID (buf)) {
    GstClockTime pts = GST_BUFFER_PTS (buf);
    GstClockTime end = pts + (GST_BUFFER_DURATION_IS_VALID (buf) ?
        GST_BUFFER_DURATION (buf) : 0);
    if (!GST_CLOCK_TIME_IS_VALID (p->first_pts) || pts < p->first_pts)
      p->first_pts = pts;
    if (!GST_CLOCK_TIME_IS_VALID (p->end_pts) || end > p->end_pts)
      p->end_pts = end;
  }
  if (index == 0 && p->expected < 0)
    p->expected = announced_frame_count (pipeline, sample, &p->duration);
  if (index == 0)
    GST_DEBUG ("expecting %" G_GINT64_FORMAT " frames", p->expected);

  if (p->all) {
    gsize bytes = (gsize) f->width * f->height * 3;
    if (p->all_bytes + bytes <= KEEP_ALL_BUDGET) {
      g_ptr_array_add (p->all, gst_hyrsm_frame_ref (f));
      p->all_bytes += bytes;
    } else {
      GST_DEBUG ("over %d bytes after %" G_GUINT64_FORMAT " frames: keeping "
          "only the predicted samples", KEEP_ALL_BUDGET, index);
      g_clear_pointer (&p->all, g_ptr_array_unref);
    }
  }
  if (p->expected > 0)
    for (guint k = 0; k < p->T; k++)
      if (gst_hyrsm_sample_index (k, p->expected, p->T) == index
          && p->picked[k] == NULL)
        p->picked[k] = gst_hyrsm_frame_ref (f);
}

static gboolean
bus_error (GstBus *bus, GError **error)
{
  GstMessage *msg = gst_bus_pop_filtered (bus, GST_MESSAGE_ERROR);
  if (msg == NULL)
    return FALSE;
  GError *err = NULL;
  gchar *dbg = NULL;
  gst_message_parse_error (msg, &err, &dbg);
  GST_DEBUG ("error from %s: %s (%s)", GST_OBJECT_NAME (msg->src),
      err->message, dbg ? dbg : "");
  g_propagate_error (error, err);
  g_free (dbg);
  gst_message_unref (msg);
  return TRUE;
}

/* Whether the frame in @sample is within MAX_FRAME_PIXELS, checked before
 * it is copied: for video whose size was not announced before decoding. */
static gboolean
check_sample_size (GstSample *sample, GError **error)
{
  GstCaps *caps = gst_sample_get_caps (sample);
  GstVideoInfo info;
  if (caps == NULL || !gst_video_info_from_caps (&info, caps))
    return TRUE;                /* gst_hyrsm_frame_new_from_sample() says */
  return check_frame_size (GST_VIDEO_INFO_WIDTH (&info),
      GST_VIDEO_INFO_HEIGHT (&info), error);
}

/* Decodes @file (@uri) to the end, filling @p. */
static gboolean
run_pass (const char *file, const char *uri, Pass *p, GError **error)
{
  GstAppSink *sink = NULL;
  GstElement *pipeline = make_pipeline (file, uri, &sink, error);
  if (pipeline == NULL)
    return FALSE;
  GstBus *bus = gst_element_get_bus (pipeline);
  gboolean ok = FALSE;

  p->count = 0;
  p->first_pts = p->end_pts = p->duration = GST_CLOCK_TIME_NONE;
  p->all = p->keep_all ?
      g_ptr_array_new_with_free_func (gst_hyrsm_frame_unref) : NULL;
  p->all_bytes = 0;
  p->picked = g_new0 (GstHyrsmFrame *, p->T);
  /* Linked once decodebin exposes a video stream. */
  GstElement *convert = gst_bin_get_by_name (GST_BIN (pipeline), "convert");
  GstPad *convert_sink = gst_element_get_static_pad (convert, "sink");
  gst_object_unref (convert);

  if (gst_element_set_state (pipeline, GST_STATE_PLAYING)
      == GST_STATE_CHANGE_FAILURE) {
    if (!bus_error (bus, error))
      g_set_error (error, GST_CORE_ERROR, GST_CORE_ERROR_STATE_CHANGE,
          "cannot start decoding");
    goto out;
  }
  gint64 last_progress = g_get_monotonic_time ();
  for (;;) {
    if (g_cancellable_set_error_if_cancelled (p->cancellable, error))
      goto out;
    GstSample *sample = gst_app_sink_try_pull_sample (sink, PULL_TIMEOUT);
    if (sample) {
      GstHyrsmFrame *f = check_sample_size (sample, error) ?
          gst_hyrsm_frame_new_from_sample (sample, error) : NULL;
      if (f == NULL) {
        gst_sample_unref (sample);
        goto out;
      }
      pass_take (p, pipeline, sample, f);
      gst_hyrsm_frame_unref (f);
      gst_sample_unref (sample);
      last_progress = g_get_monotonic_time ();
      continue;
    }
    if (bus_error (bus, error))
      goto out;
    if (gst_app_sink_is_eos (sink))
      break;
    if (p->count == 0 && !gst_pad_is_linked (convert_sink)
        && g_get_monotonic_time () - last_progress > NO_STREAM_TIMEOUT) {
      g_set_error (error, GST_STREAM_ERROR, GST_STREAM_ERROR_DEMUX,
          "no video stream found in %d s (a truncated file, or not a "
          "format GStreamer can read)",
          (int) (NO_STREAM_TIMEOUT / G_TIME_SPAN_SECOND));
      goto out;
    }
    if (g_get_monotonic_time () - last_progress > STALL_TIMEOUT) {
      g_set_error (error, GST_STREAM_ERROR, GST_STREAM_ERROR_FAILED,
          "decoding stalled: no frame for %d s",
          (int) (STALL_TIMEOUT / G_TIME_SPAN_SECOND));
      goto out;
    }
  }
  if (p->count == 0) {
    g_set_error (error, GST_STREAM_ERROR, GST_STREAM_ERROR_DECODE,
        "no video frames");
    goto out;
  }
  ok = TRUE;

out:
  gst_element_set_state (pipeline, GST_STATE_NULL);
  gst_object_unref (convert_sink);
  gst_object_unref (bus);
  gst_object_unref (pipeline);
  return ok;
}

/* ---- whole clips ---- */

void
gst_hyrsm_clip_clear (GstHyrsmClip *c)
{
  if (c->frames)
    for (guint k = 0; k < c->T; k++)
      gst_hyrsm_frame_unref (c->frames[k]);
  g_clear_pointer (&c->frames, g_free);
}

gboolean
gst_hyrsm_decode_video (const char *file, guint T, GCancellable *cancellable,
    GstHyrsmClip *clip, GError **error)
{
  g_autofree char *uri = gst_filename_to_uri (file, error);
  if (uri == NULL)
    return FALSE;
  Pass p = {.T = T,.expected = -1,.keep_all = TRUE,.cancellable = cancellable
  };
  if (!run_pass (file, uri, &p, error)) {
    pass_clear (&p);
    return FALSE;
  }
  guint64 L = p.count;
  clip->T = T;
  clip->n_frames = L;
  clip->frames = g_new0 (GstHyrsmFrame *, T);
  if (GST_CLOCK_TIME_IS_VALID (p.first_pts) && p.end_pts > p.first_pts)
    clip->duration = p.end_pts - p.first_pts;
  else
    clip->duration = p.duration;

  if (p.expected != (gint64) L && p.all == NULL) {
    /* A long clip whose frame count was not known in advance: decode it
     * again, keeping the frames the exact count picks. */
    GST_DEBUG ("%s: %" G_GUINT64_FORMAT " frames, %" G_GINT64_FORMAT
        " announced: second pass", file, L, p.expected);
    pass_clear (&p);
    p = (Pass) {.T = T,.expected = L,.keep_all = FALSE,
      .cancellable = cancellable
    };
    if (!run_pass (file, uri, &p, error)) {
      pass_clear (&p);
      return FALSE;
    }
  }
  for (guint k = 0; k < T; k++) {
    if (p.expected == (gint64) L)
      clip->frames[k] = p.picked[k] ? gst_hyrsm_frame_ref (p.picked[k])
          : NULL;
    else if (p.all && p.all->len == L)
      clip->frames[k] = gst_hyrsm_frame_ref (g_ptr_array_index (p.all,
              gst_hyrsm_sample_index (k, L, T)));
    if (clip->frames[k] == NULL) {
      /* Only when two decodes of one file disagree on its length. */
      g_set_error (error, GST_STREAM_ERROR, GST_STREAM_ERROR_DECODE,
          "the frame count changed between two decodes (%" G_GUINT64_FORMAT
          " then %" G_GUINT64_FORMAT ")", L, p.count);
      pass_clear (&p);
      return FALSE;
    }
  }
  pass_clear (&p);
  return TRUE;
}

/* The T sampled images of a frame folder, each decoded on its own. */
gboolean
gst_hyrsm_decode_folder (const char *folder, GPtrArray *images, guint T,
    GCancellable *cancellable, GstHyrsmClip *clip, GError **error)
{
  clip->T = T;
  clip->n_frames = images->len;
  clip->duration = GST_CLOCK_TIME_NONE;
  clip->frames = g_new0 (GstHyrsmFrame *, T);
  for (guint k = 0; k < T; k++) {
    guint index = gst_hyrsm_sample_index (k, images->len, T);
    if (k > 0 && index == gst_hyrsm_sample_index (k - 1, images->len, T)) {
      clip->frames[k] = gst_hyrsm_frame_ref (clip->frames[k - 1]);
      continue;
    }
    const char *image = images->pdata[index];
    g_autofree char *file = g_build_filename (folder, image, NULL);
    if (!g_file_test (file, G_FILE_TEST_IS_REGULAR)) {
      /* Opening a named pipe (or a device) would block or never end. */
      g_autofree char *name = g_filename_display_name (image);
      g_set_error (error, GST_STREAM_ERROR, GST_STREAM_ERROR_DECODE,
          "frame %s: not a regular file", name);
      return FALSE;
    }
    g_autofree char *uri = gst_filename_to_uri (file, error);
    if (uri == NULL)
      return FALSE;
    Pass p = {.T = 1,.expected = -1,.keep_all = TRUE,
      .cancellable = cancellable
    };
    g_autoptr (GError) local = NULL;
    if (!run_pass (file, uri, &p, &local) || p.all == NULL
        || p.all->len == 0) {
      g_autofree char *name = g_filename_display_name (image);
      if (local && g_error_matches (local, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        g_propagate_error (error, g_steal_pointer (&local));
      else
        g_set_error (error, GST_STREAM_ERROR, GST_STREAM_ERROR_DECODE,
            "frame %s: %s", name, local ? local->message : "no image");
      pass_clear (&p);
      return FALSE;
    }
    clip->frames[k] = gst_hyrsm_frame_ref (g_ptr_array_index (p.all, 0));
    pass_clear (&p);
  }
  return TRUE;
}

/* ---- embedding ---- */

float *
gst_hyrsm_embed_frames (HyrsmModel *model, GstHyrsmFrame *const *frames,
    guint n, GError **error)
{
  guint D = hyrsm_model_get_feature_dim (model);
  float *features = g_try_malloc ((gsize) n * D * sizeof (float));
  if (features == NULL) {
    g_set_error (error, HYRSM_ERROR, HYRSM_ERROR_BACKEND,
        "out of memory for %u x %u features", n, D);
    return NULL;
  }
  gboolean same = TRUE;
  for (guint k = 1; k < n; k++)
    same = same && frames[k]->width == frames[0]->width
        && frames[k]->height == frames[0]->height;
  g_autofree const guint8 **data = g_new (const guint8 *, n);
  for (guint k = 0; k < n; k++)
    data[k] = frames[k]->data;
  gboolean ok = TRUE;
  if (same) {
    ok = hyrsm_model_embed_rgb_raw (model, data, NULL, n, frames[0]->width,
        frames[0]->height, features, error);
  } else {
    for (guint k = 0; ok && k < n; k++)
      ok = hyrsm_model_embed_rgb_raw (model, &data[k], NULL, 1,
          frames[k]->width, frames[k]->height, features + (gsize) k * D,
          error);
  }
  if (!ok)
    g_clear_pointer (&features, g_free);
  return features;
}
