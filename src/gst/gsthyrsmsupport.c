/* gsthyrsmsupport.c: loading a support set from a directory
 * (docs/formats.md "The support-set directory").
 *
 *   DIR/<label>/<clip>.<ext>   a video: decoded with uridecodebin !
 *                              videoconvert ! appsink, T frames sampled
 *   DIR/<label>/<clip>/        a folder of jpg/png frames, sorted by name
 *   DIR/<label>/<clip>.hyrsm   precomputed features (hyrsm-features.h)
 *
 * Sampling (docs/model.md section 1): of L frames, frame k of T is
 * round((k + 0.5) L / T - 0.5), clamped to [0, L - 1]. A clip is decoded
 * once, keeping every frame while they fit in KEEP_ALL_BUDGET and, when the
 * container tells the frame count in advance (duration x frame rate), the T
 * frames that count predicts. Only a long clip whose count was unknown or
 * wrong is decoded a second time, keeping the T frames of the exact count.
 *
 * Cache: the features of a decoded clip or frame folder are written to
 * DIR/.hyrsm-cache/<fingerprint>/<label>/<name>.hyrsm (<fingerprint>-bf16
 * or -fp16 for a model in that precision), with the source's
 * size and mtime, and reused while both match. When that folder cannot be
 * written, the user cache dir is used instead
 * ($XDG_CACHE_HOME/gst-hyrsm/<hash of DIR>/<fingerprint>/...); when neither
 * works, the load goes on without a cache. A cache problem never fails a
 * load.
 *
 * Nothing that a user may put in the directory crashes or fails the load:
 * an unusable file is skipped, logged with GST_WARNING and listed in
 * gst_hyrsm_support_dir_get_skipped(). Only a missing or empty directory,
 * or one without a single usable example, is an error.
 */
#include "gsthyrsmsupport.h"

#include <gst/app/gstappsink.h>
#include <gst/pbutils/pbutils.h>
#include <gst/video/video.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

GST_DEBUG_CATEGORY_STATIC (gst_hyrsm_support_debug);
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
/* Bumped when what is cached for a clip changes (sampling, pre-decoding),
 * so that older cache files are recomputed. */
#define CACHE_VERSION "1"
#define KEY_CACHE_VERSION "hyrsm.cache-version"
#define KEY_SOURCE_FRAMES "hyrsm.source-frames"

struct _GstHyrsmSupportDir
{
  GObject parent;

  char *path;
  HyrsmSupportSet *set;
  char **labels;                /* in set order */
  GHashTable *n_examples;       /* label -> GUINT_TO_POINTER (count) */
  GstClockTime median_duration;
  GPtrArray *skipped;           /* "file: reason" */
  GPtrArray *warnings;          /* "file: what is odd about it" */
  char *cache_dir;              /* where features were cached, or NULL */
  guint n_decoded, n_cached, n_feature_files;
  GPtrArray *examples;          /* Example*, in the set's insertion order */
};

/* One loaded example, for gst_hyrsm_support_dir_get_example(). */
typedef struct
{
  char *label;
  char *file;                   /* "label_dir/name", for display */
  GBytes *features;             /* T x D; only with KEEP_FEATURES */
} Example;

static void
example_free (gpointer data)
{
  Example *e = data;
  g_free (e->label);
  g_free (e->file);
  g_clear_pointer (&e->features, g_bytes_unref);
  g_free (e);
}

G_DEFINE_FINAL_TYPE (GstHyrsmSupportDir, gst_hyrsm_support_dir,
    G_TYPE_OBJECT);

enum
{
  PROP_0,
  PROP_PATH,
  PROP_SUPPORT_SET,
  PROP_MEDIAN_DURATION,
  N_PROPS
};
static GParamSpec *properties[N_PROPS];

/* ---- sampling ---- */

/**
 * gst_hyrsm_sample_index:
 * @k: the sample, 0 <= @k < @n_samples
 * @n_frames: L, the number of frames of the clip (at least 1)
 * @n_samples: T, the number of frames sampled
 *
 * The frame that sample @k of @n_samples is taken from in a clip of
 * @n_frames frames: the centre of segment @k when the clip is cut into
 * @n_samples equal segments, round((k + 0.5) L / T - 0.5) clamped to
 * [0, L - 1] (docs/model.md section 1); a half-way case rounds up, to the
 * frame whose span holds the segment's centre. Clips shorter than T frames
 * repeat frames.
 *
 * Returns: the frame index
 */
guint
gst_hyrsm_sample_index (guint k, guint n_frames, guint n_samples)
{
  g_return_val_if_fail (n_frames > 0 && n_samples > 0, 0);
  /* Exact in integers: round(x) = floor(x + 0.5) with
   * x = ((2k + 1) L - T) / (2T), so floor(((2k + 1) L) / (2T)) for
   * round-half-up. */
  guint64 num = (2 * (guint64) k + 1) * n_frames;
  guint64 i = num / (2 * (guint64) n_samples);
  return (guint) MIN (i, (guint64) n_frames - 1);
}

/* ---- decoded frames ---- */

/* One decoded frame, packed RGB8 (rows of exactly width * 3 bytes),
 * shared between the "all frames" list and the picked samples. */
typedef struct
{
  guint width, height;
  guint8 *data;
} Frame;

static void
frame_clear (Frame *f)
{
  g_free (f->data);
}

static Frame *
frame_new_from_sample (GstSample *sample, GError **error)
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
  Frame *f = g_atomic_rc_box_new0 (Frame);
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

static Frame *
frame_ref (Frame *f)
{
  return g_atomic_rc_box_acquire (f);
}

static void
frame_unref (gpointer f)
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
  GPtrArray *all;               /* Frame*, or NULL once over budget */
  gsize all_bytes;
  Frame **picked;               /* T, for `expected` frames */
  GstClockTime first_pts, end_pts;
  GstClockTime duration;        /* from the duration query */
} Pass;

static void
pass_clear (Pass *p)
{
  g_clear_pointer (&p->all, g_ptr_array_unref);
  if (p->picked)
    for (guint k = 0; k < p->T; k++)
      frame_unref (p->picked[k]);
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
  if (!gst_pad_is_linked (sinkpad) && missing) {
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

static GstElement *
make_pipeline (const char *uri, GstAppSink **sink_out, GError **error)
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
pass_take (Pass *p, GstElement *pipeline, GstSample *sample, Frame *f)
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
      g_ptr_array_add (p->all, frame_ref (f));
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
        p->picked[k] = frame_ref (f);
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

/* Decodes @uri to the end, filling @p. */
static gboolean
run_pass (const char *uri, Pass *p, GError **error)
{
  GstAppSink *sink = NULL;
  GstElement *pipeline = make_pipeline (uri, &sink, error);
  if (pipeline == NULL)
    return FALSE;
  GstBus *bus = gst_element_get_bus (pipeline);
  gboolean ok = FALSE;

  p->count = 0;
  p->first_pts = p->end_pts = p->duration = GST_CLOCK_TIME_NONE;
  p->all = p->keep_all ? g_ptr_array_new_with_free_func (frame_unref) : NULL;
  p->all_bytes = 0;
  p->picked = g_new0 (Frame *, p->T);
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
      Frame *f = frame_new_from_sample (sample, error);
      if (f == NULL) {
        gst_sample_unref (sample);
        goto out;
      }
      pass_take (p, pipeline, sample, f);
      frame_unref (f);
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

/* A decoded clip: T frames and the clip's duration. */
typedef struct
{
  Frame **frames;               /* T */
  guint T;
  guint64 n_frames;             /* L */
  GstClockTime duration;
} Clip;

static void
clip_clear (Clip *c)
{
  if (c->frames)
    for (guint k = 0; k < c->T; k++)
      frame_unref (c->frames[k]);
  g_clear_pointer (&c->frames, g_free);
}

static gboolean
decode_video (const char *file, guint T, GCancellable *cancellable,
    Clip *clip, GError **error)
{
  g_autofree char *uri = gst_filename_to_uri (file, error);
  if (uri == NULL)
    return FALSE;
  Pass p = {.T = T,.expected = -1,.keep_all = TRUE,.cancellable = cancellable
  };
  if (!run_pass (uri, &p, error)) {
    pass_clear (&p);
    return FALSE;
  }
  guint64 L = p.count;
  clip->T = T;
  clip->n_frames = L;
  clip->frames = g_new0 (Frame *, T);
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
    if (!run_pass (uri, &p, error)) {
      pass_clear (&p);
      return FALSE;
    }
  }
  for (guint k = 0; k < T; k++) {
    if (p.expected == (gint64) L)
      clip->frames[k] = p.picked[k] ? frame_ref (p.picked[k]) : NULL;
    else if (p.all && p.all->len == L)
      clip->frames[k] = frame_ref (g_ptr_array_index (p.all,
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

/* ---- file names ---- */

/* Natural order: runs of digits compare by value (frame_2 < frame_10), the
 * rest byte by byte. Deterministic, whatever the locale. */
static int
natural_compare (const char *a, const char *b)
{
  while (*a && *b) {
    if (g_ascii_isdigit (*a) && g_ascii_isdigit (*b)) {
      const char *za = a, *zb = b;
      while (*za == '0')
        za++;
      while (*zb == '0')
        zb++;
      const char *ea = za, *eb = zb;
      while (g_ascii_isdigit (*ea))
        ea++;
      while (g_ascii_isdigit (*eb))
        eb++;
      if (ea - za != eb - zb)
        return (ea - za) < (eb - zb) ? -1 : 1;
      int c = strncmp (za, zb, ea - za);
      if (c)
        return c;
      /* Equal values: fewer leading zeros first, then go on. */
      if (za - a != zb - b)
        return (za - a) < (zb - b) ? -1 : 1;
      a = ea;
      b = eb;
    } else {
      if (*a != *b)
        return (guchar) * a < (guchar) * b ? -1 : 1;
      a++;
      b++;
    }
  }
  return *a ? 1 : *b ? -1 : 0;
}

static gint
natural_compare_ptr (gconstpointer a, gconstpointer b)
{
  return natural_compare (*(const char *const *) a, *(const char *const *) b);
}

/* The entries of @dir (no hidden ones), sorted; NULL with @error set when
 * the folder cannot be read. */
static GPtrArray *
list_dir (const char *dir, GError **error)
{
  GDir *d = g_dir_open (dir, 0, error);
  if (d == NULL)
    return NULL;
  GPtrArray *names = g_ptr_array_new_with_free_func (g_free);
  const char *name;
  while ((name = g_dir_read_name (d)))
    if (name[0] != '.')
      g_ptr_array_add (names, g_strdup (name));
  g_dir_close (d);
  g_ptr_array_sort (names, natural_compare_ptr);
  return names;
}

static gboolean
is_image_name (const char *name)
{
  static const char *const exts[] = { ".jpg", ".jpeg", ".png", NULL };
  g_autofree char *lower = g_ascii_strdown (name, -1);
  for (guint i = 0; exts[i]; i++)
    if (g_str_has_suffix (lower, exts[i]))
      return TRUE;
  return FALSE;
}

/* Files that are obviously not media (notes, lists next to the clips):
 * ignored without a warning. */
static gboolean
is_document_name (const char *name)
{
  static const char *const exts[] = { ".txt", ".md", ".json", ".csv",
    ".yaml", ".yml", ".ini", ".log", NULL
  };
  g_autofree char *lower = g_ascii_strdown (name, -1);
  for (guint i = 0; exts[i]; i++)
    if (g_str_has_suffix (lower, exts[i]))
      return TRUE;
  return FALSE;
}

/* ---- source signatures (what the cache is checked against) ---- */

typedef struct
{
  guint64 size;
  gint64 mtime;                 /* microseconds since 1970 */
} Signature;

static gboolean
file_signature (const char *path, Signature *sig, GError **error)
{
  g_autoptr (GFile) file = g_file_new_for_path (path);
  g_autoptr (GFileInfo) info = g_file_query_info (file,
      G_FILE_ATTRIBUTE_STANDARD_SIZE "," G_FILE_ATTRIBUTE_TIME_MODIFIED ","
      G_FILE_ATTRIBUTE_TIME_MODIFIED_USEC, G_FILE_QUERY_INFO_NONE, NULL,
      error);
  if (info == NULL)
    return FALSE;
  sig->size = g_file_info_get_size (info);
  sig->mtime = (gint64) g_file_info_get_attribute_uint64 (info,
      G_FILE_ATTRIBUTE_TIME_MODIFIED) * G_USEC_PER_SEC
      + g_file_info_get_attribute_uint32 (info,
      G_FILE_ATTRIBUTE_TIME_MODIFIED_USEC);
  return TRUE;
}

/* A frame folder: total size of its images, latest mtime of the folder and
 * its images (adding, removing or editing a frame changes one of them). */
static gboolean
folder_signature (const char *dir, GPtrArray *images, Signature *sig,
    GError **error)
{
  if (!file_signature (dir, sig, error))
    return FALSE;
  sig->size = 0;
  for (guint i = 0; i < images->len; i++) {
    Signature s;
    g_autofree char *p = g_build_filename (dir, images->pdata[i], NULL);
    if (!file_signature (p, &s, error))
      return FALSE;
    sig->size += s.size;
    sig->mtime = MAX (sig->mtime, s.mtime);
  }
  return TRUE;
}

/* ---- the loader ---- */

typedef struct
{
  HyrsmModel *model;
  const char *dir;
  char *display_dir;
  GstHyrsmSupportDirFlags flags;
  GCancellable *cancellable;
  guint T, D;
  gboolean can_embed;
  /* Cache roots (…/<fingerprint>): the one in DIR, the user's; which one
   * writes go to (NULL: none works). */
  char *cache_local, *cache_user;
  char *cache_write;
  gboolean cache_write_tried, cache_warned;
  GArray *durations;            /* GstClockTime of each example that has one */
  guint n_file_skips;           /* skipped files (not labels) */
  const char *first_file_skip;  /* in result->skipped */
  GstHyrsmSupportDir *result;
} Loader;

static void
skip (Loader *l, const char *file, const char *fmt, ...) G_GNUC_PRINTF (3, 4);

static void
skip (Loader *l, const char *file, const char *fmt, ...)
{
  va_list args;
  va_start (args, fmt);
  g_autofree char *raw = g_strdup_vprintf (fmt, args);
  va_end (args);
  /* Reasons quote file names, which need not be UTF-8; what is listed
   * (and ends up in GError messages and element warnings) must be. */
  g_autofree char *reason = g_utf8_make_valid (raw, -1);
  g_autofree char *name = g_filename_display_name (file);
  GST_WARNING ("support set %s: skipping %s: %s", l->display_dir, name,
      reason);
  char *entry = g_strdup_printf ("%s: %s", name, reason);
  g_ptr_array_add (l->result->skipped, entry);
  if (!g_str_has_suffix (file, G_DIR_SEPARATOR_S) && l->n_file_skips++ == 0)
    l->first_file_skip = entry;
}

static char *
user_cache_root (const char *dir, const char *fingerprint)
{
  char *real = realpath (dir, NULL);
  char *abs = real ? g_strdup (real) : g_canonicalize_filename (dir, NULL);
  free (real);
  g_autofree char *hash = g_compute_checksum_for_string (G_CHECKSUM_SHA256,
      abs, -1);
  g_free (abs);
  hash[16] = '\0';
  return g_build_filename (g_get_user_cache_dir (), "gst-hyrsm", hash,
      fingerprint, NULL);
}

static char *
cache_file (const char *root, const char *label_dir, const char *name)
{
  g_autofree char *file = g_strconcat (name, HYRSM_FEATURES_EXTENSION, NULL);
  return g_build_filename (root, label_dir, file, NULL);
}

/* Features cached under @root for @name, if they match @sig. */
static float *
cache_lookup (Loader *l, const char *root, const char *label_dir,
    const char *name, const Signature *sig, GstClockTime *duration,
    guint64 *n_frames)
{
  g_autofree char *path = cache_file (root, label_dir, name);
  if (!g_file_test (path, G_FILE_TEST_EXISTS))
    return NULL;
  float *features = NULL;
  g_autoptr (GHashTable) meta = NULL;
  g_autoptr (GError) error = NULL;
  if (!hyrsm_features_load_full (path, l->model, &features, &meta, &error)) {
    GST_INFO ("cache %s unusable: %s", path, error->message);
    return NULL;
  }
  const char *size = g_hash_table_lookup (meta, HYRSM_FEATURES_KEY_SOURCE_SIZE);
  const char *mtime = g_hash_table_lookup (meta,
      HYRSM_FEATURES_KEY_SOURCE_MTIME);
  const char *version = g_hash_table_lookup (meta, KEY_CACHE_VERSION);
  g_autofree char *want_size = g_strdup_printf ("%" G_GUINT64_FORMAT,
      sig->size);
  g_autofree char *want_mtime = g_strdup_printf ("%" G_GINT64_FORMAT,
      sig->mtime);
  if (g_strcmp0 (size, want_size) || g_strcmp0 (mtime, want_mtime)
      || g_strcmp0 (version, CACHE_VERSION)) {
    GST_DEBUG ("cache %s is stale (size %s / %s, mtime %s / %s)", path, size,
        want_size, mtime, want_mtime);
    g_free (features);
    return NULL;
  }
  const char *d = g_hash_table_lookup (meta, HYRSM_FEATURES_KEY_DURATION);
  guint64 v;
  if (d && g_ascii_string_to_unsigned (d, 10, 1, G_MAXUINT64, &v, NULL))
    *duration = v;
  const char *frames = g_hash_table_lookup (meta, KEY_SOURCE_FRAMES);
  if (frames && g_ascii_string_to_unsigned (frames, 10, 1, G_MAXUINT64, &v,
          NULL))
    *n_frames = v;
  GST_DEBUG ("cache hit: %s", path);
  g_free (l->result->cache_dir);
  l->result->cache_dir = g_strdup (root);
  return features;
}

static gboolean
cache_try_write (const char *root, const char *label_dir, const char *name,
    const float *features, Loader *l, GHashTable *meta, const char *source,
    GError **error)
{
  g_autofree char *folder = g_build_filename (root, label_dir, NULL);
  if (g_mkdir_with_parents (folder, 0755) != 0) {
    int e = errno;
    g_set_error (error, G_IO_ERROR, g_io_error_from_errno (e),
        "cannot create %s: %s", folder, g_strerror (e));
    return FALSE;
  }
  g_autofree char *path = cache_file (root, label_dir, name);
  return hyrsm_features_save (path, features, l->T, l->D,
      hyrsm_model_get_fingerprint (l->model), source, meta, error);
}

/* Writes the features of a decoded example to the first cache root that
 * works, remembering it for the next ones. */
static void
cache_store (Loader *l, const char *label_dir, const char *name,
    const float *features, const Signature *sig, const Clip *clip)
{
  if (l->flags & GST_HYRSM_SUPPORT_DIR_NO_CACHE)
    return;
  g_autoptr (GHashTable) meta = g_hash_table_new_full (g_str_hash,
      g_str_equal, NULL, g_free);
  g_hash_table_insert (meta, HYRSM_FEATURES_KEY_SOURCE_SIZE,
      g_strdup_printf ("%" G_GUINT64_FORMAT, sig->size));
  g_hash_table_insert (meta, HYRSM_FEATURES_KEY_SOURCE_MTIME,
      g_strdup_printf ("%" G_GINT64_FORMAT, sig->mtime));
  g_hash_table_insert (meta, KEY_CACHE_VERSION, g_strdup (CACHE_VERSION));
  g_hash_table_insert (meta, KEY_SOURCE_FRAMES,
      g_strdup_printf ("%" G_GUINT64_FORMAT, clip->n_frames));
  if (GST_CLOCK_TIME_IS_VALID (clip->duration))
    g_hash_table_insert (meta, HYRSM_FEATURES_KEY_DURATION,
        g_strdup_printf ("%" G_GUINT64_FORMAT, (guint64) clip->duration));
  g_autofree char *source = g_build_filename (label_dir, name, NULL);

  const char *roots[] = { l->cache_local, l->cache_user };
  g_autoptr (GError) first_error = NULL;
  if (l->cache_write_tried && l->cache_write == NULL)
    return;
  for (guint i = 0; i < G_N_ELEMENTS (roots); i++) {
    if (l->cache_write && !g_str_equal (l->cache_write, roots[i]))
      continue;
    g_autoptr (GError) error = NULL;
    if (cache_try_write (roots[i], label_dir, name, features, l, meta,
            source, &error)) {
      if (l->cache_write == NULL)
        GST_INFO ("support set %s: caching features in %s", l->display_dir,
            roots[i]);
      g_free (l->cache_write);
      l->cache_write = g_strdup (roots[i]);
      l->cache_write_tried = TRUE;
      g_free (l->result->cache_dir);
      l->result->cache_dir = g_strdup (roots[i]);
      return;
    }
    GST_INFO ("cannot cache in %s: %s", roots[i], error->message);
    if (first_error == NULL)
      first_error = g_steal_pointer (&error);
    if (l->cache_write) {
      /* The root that worked before failed now (disk full?): try the
       * others from the start. */
      g_clear_pointer (&l->cache_write, g_free);
      i = (guint) - 1;
    }
  }
  l->cache_write_tried = TRUE;
  if (!l->cache_warned) {
    GST_WARNING ("support set %s: features cannot be cached (%s); going on "
        "without a cache", l->display_dir, first_error->message);
    l->cache_warned = TRUE;
  }
}

/* Embeds the T frames of @clip: one backbone call when they share a size. */
static float *
embed_clip (Loader *l, const Clip *clip, GError **error)
{
  float *features = g_try_malloc ((gsize) l->T * l->D * sizeof (float));
  if (features == NULL) {
    g_set_error (error, HYRSM_ERROR, HYRSM_ERROR_BACKEND,
        "out of memory for %u x %u features", l->T, l->D);
    return NULL;
  }
  gboolean same = TRUE;
  for (guint k = 1; k < l->T; k++)
    same = same && clip->frames[k]->width == clip->frames[0]->width
        && clip->frames[k]->height == clip->frames[0]->height;
  g_autofree const guint8 **data = g_new (const guint8 *, l->T);
  for (guint k = 0; k < l->T; k++)
    data[k] = clip->frames[k]->data;
  gboolean ok = TRUE;
  if (same) {
    ok = hyrsm_model_embed_rgb_raw (l->model, data, NULL, l->T,
        clip->frames[0]->width, clip->frames[0]->height, features, error);
  } else {
    for (guint k = 0; ok && k < l->T; k++)
      ok = hyrsm_model_embed_rgb_raw (l->model, &data[k], NULL, 1,
          clip->frames[k]->width, clip->frames[k]->height,
          features + (gsize) k * l->D, error);
  }
  if (!ok)
    g_clear_pointer (&features, g_free);
  return features;
}

/* The T sampled images of a frame folder, each decoded on its own. */
static gboolean
decode_folder (Loader *l, const char *folder, GPtrArray *images, Clip *clip,
    GError **error)
{
  clip->T = l->T;
  clip->n_frames = images->len;
  clip->duration = GST_CLOCK_TIME_NONE;
  clip->frames = g_new0 (Frame *, l->T);
  for (guint k = 0; k < l->T; k++) {
    guint index = gst_hyrsm_sample_index (k, images->len, l->T);
    if (k > 0 && index == gst_hyrsm_sample_index (k - 1, images->len, l->T)) {
      clip->frames[k] = frame_ref (clip->frames[k - 1]);
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
      .cancellable = l->cancellable
    };
    g_autoptr (GError) local = NULL;
    if (!run_pass (uri, &p, &local) || p.all == NULL || p.all->len == 0) {
      g_autofree char *name = g_filename_display_name (image);
      if (local && g_error_matches (local, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        g_propagate_error (error, g_steal_pointer (&local));
      else
        g_set_error (error, GST_STREAM_ERROR, GST_STREAM_ERROR_DECODE,
            "frame %s: %s", name, local ? local->message : "no image");
      pass_clear (&p);
      return FALSE;
    }
    clip->frames[k] = frame_ref (g_ptr_array_index (p.all, 0));
    pass_clear (&p);
  }
  return TRUE;
}

/* @n_frames: the frames the example was sampled from (0: unknown, as for
 * feature files). An example of fewer than T frames (a still image, a
 * two-frame clip) is used, its frames repeated, with a warning; its
 * duration does not count toward the median window, which it would pull
 * below what an action takes. */
static void
add_example (Loader *l, const char *label, const char *file,
    const float *features, GstClockTime duration, guint64 n_frames,
    guint *n_added)
{
  g_autoptr (GError) error = NULL;
  if (!hyrsm_support_set_add_raw (l->result->set, label, features, &error)) {
    skip (l, file, "%s", error->message);
    return;
  }
  (*n_added)++;
  gboolean short_example = n_frames > 0 && n_frames < l->T;
  if (short_example) {
    g_autofree char *name = g_filename_display_name (file);
    char *entry = g_strdup_printf ("%s: only %" G_GUINT64_FORMAT " frame(s), "
        "fewer than the model's %u: used with repeated frames, and left out "
        "of the median window", name, n_frames, l->T);
    GST_WARNING ("support set %s: %s", l->display_dir, entry);
    g_ptr_array_add (l->result->warnings, entry);
  }
  if (GST_CLOCK_TIME_IS_VALID (duration) && duration > 0 && !short_example)
    g_array_append_val (l->durations, duration);
  Example *e = g_new0 (Example, 1);
  e->label = g_strdup (label);
  e->file = g_strdup (file);
  if (l->flags & GST_HYRSM_SUPPORT_DIR_KEEP_FEATURES)
    e->features = g_bytes_new (features,
        (gsize) l->T * l->D * sizeof (float));
  g_ptr_array_add (l->result->examples, e);
}

/* A video clip or a frame folder: from the cache, else decoded, embedded
 * and cached. Returns FALSE only when cancelled. */
static gboolean
load_media (Loader *l, const char *label, const char *label_dir,
    const char *name, const char *path, GPtrArray *images, guint *n_added,
    GError **error)
{
  g_autofree char *display = g_build_filename (label_dir, name, NULL);
  if (!l->can_embed) {
    skip (l, display, "model %s has no backbone to embed frames with "
        "(only .hyrsm feature files can be used)",
        hyrsm_model_get_path (l->model));
    return TRUE;
  }
  Signature sig;
  g_autoptr (GError) local = NULL;
  if (!(images ? folder_signature (path, images, &sig, &local)
          : file_signature (path, &sig, &local))) {
    skip (l, display, "%s", local->message);
    return TRUE;
  }

  GstHyrsmSupportDirFlags f = l->flags;
  if (!(f & (GST_HYRSM_SUPPORT_DIR_NO_CACHE | GST_HYRSM_SUPPORT_DIR_REFRESH))) {
    const char *roots[] = { l->cache_local, l->cache_user };
    for (guint i = 0; i < G_N_ELEMENTS (roots); i++) {
      GstClockTime duration = GST_CLOCK_TIME_NONE;
      guint64 n_frames = 0;
      float *cached = cache_lookup (l, roots[i], label_dir, name, &sig,
          &duration, &n_frames);
      if (cached) {
        l->result->n_cached++;
        add_example (l, label, display, cached, duration, n_frames, n_added);
        g_free (cached);
        return TRUE;
      }
    }
  }

  Clip clip = { 0 };
  gint64 t0 = g_get_monotonic_time ();
  gboolean ok = images ? decode_folder (l, path, images, &clip, &local)
      : decode_video (path, l->T, l->cancellable, &clip, &local);
  gint64 t1 = g_get_monotonic_time ();
  if (!ok) {
    clip_clear (&clip);
    if (g_error_matches (local, G_IO_ERROR, G_IO_ERROR_CANCELLED)) {
      g_propagate_error (error, g_steal_pointer (&local));
      return FALSE;
    }
    skip (l, display, "cannot decode: %s", local->message);
    return TRUE;
  }
  l->result->n_decoded++;
  float *features = embed_clip (l, &clip, &local);
  GST_DEBUG ("%s: %" G_GUINT64_FORMAT " frames decoded in %.1f ms, %u "
      "embedded in %.1f ms", display, clip.n_frames, (t1 - t0) / 1e3, l->T,
      (g_get_monotonic_time () - t1) / 1e3);
  if (features == NULL) {
    skip (l, display, "cannot embed: %s", local->message);
  } else {
    add_example (l, label, display, features, clip.duration, clip.n_frames,
        n_added);
    cache_store (l, label_dir, name, features, &sig, &clip);
    g_free (features);
  }
  clip_clear (&clip);
  return TRUE;
}

static void
load_feature_file (Loader *l, const char *label, const char *label_dir,
    const char *name, const char *path, guint *n_added)
{
  g_autofree char *display = g_build_filename (label_dir, name, NULL);
  float *features = NULL;
  g_autoptr (GHashTable) meta = NULL;
  g_autoptr (GError) error = NULL;
  if (!hyrsm_features_load_full (path, l->model, &features, &meta, &error)) {
    skip (l, display, "%s", error->message);
    return;
  }
  GstClockTime duration = GST_CLOCK_TIME_NONE;
  const char *d = g_hash_table_lookup (meta, HYRSM_FEATURES_KEY_DURATION);
  guint64 v;
  if (d && g_ascii_string_to_unsigned (d, 10, 1, G_MAXUINT64, &v, NULL))
    duration = v;
  l->result->n_feature_files++;
  add_example (l, label, display, features, duration, 0, n_added);
  g_free (features);
}

/* One entry of a label folder. Returns FALSE only when cancelled. */
static gboolean
load_entry (Loader *l, const char *label, const char *label_dir,
    const char *name, guint *n_added, GError **error)
{
  g_autofree char *path = g_build_filename (l->dir, label_dir, name, NULL);
  g_autofree char *display = g_build_filename (label_dir, name, NULL);
  /* Follows symbolic links: a broken one fails here. */
  if (g_file_test (path, G_FILE_TEST_IS_DIR)) {
    g_autoptr (GError) local = NULL;
    g_autoptr (GPtrArray) entries = list_dir (path, &local);
    if (entries == NULL) {
      skip (l, display, "%s", local->message);
      return TRUE;
    }
    g_autoptr (GPtrArray) images = g_ptr_array_new_with_free_func (g_free);
    for (guint i = 0; i < entries->len; i++)
      if (is_image_name (entries->pdata[i]))
        g_ptr_array_add (images, g_strdup (entries->pdata[i]));
    if (images->len == 0) {
      skip (l, display, "a folder without .jpg or .png frames");
      return TRUE;
    }
    return load_media (l, label, label_dir, name, path, images, n_added,
        error);
  }
  if (!g_file_test (path, G_FILE_TEST_IS_REGULAR)) {
    skip (l, display, g_file_test (path, G_FILE_TEST_IS_SYMLINK) ?
        "a broken symbolic link" : "not a regular file");
    return TRUE;
  }
  if (g_str_has_suffix (name, HYRSM_FEATURES_EXTENSION)) {
    load_feature_file (l, label, label_dir, name, path, n_added);
    return TRUE;
  }
  if (is_document_name (name)) {
    GST_INFO ("support set %s: ignoring %s", l->display_dir, display);
    return TRUE;
  }
  return load_media (l, label, label_dir, name, path, NULL, n_added, error);
}

static GstClockTime
median (GArray *values)
{
  if (values->len == 0)
    return GST_CLOCK_TIME_NONE;
  GstClockTime *v = (GstClockTime *) values->data;
  for (guint i = 1; i < values->len; i++)       /* insertion sort: tiny */
    for (guint j = i; j > 0 && v[j - 1] > v[j]; j--) {
      GstClockTime t = v[j];
      v[j] = v[j - 1];
      v[j - 1] = t;
    }
  guint n = values->len;
  return n % 2 ? v[n / 2] : v[n / 2 - 1] / 2 + v[n / 2] / 2;
}

static gboolean
check_dir (const char *dir, const char *display, GError **error)
{
  if (!g_file_test (dir, G_FILE_TEST_EXISTS)) {
    g_set_error (error, HYRSM_ERROR, HYRSM_ERROR_FILE_NOT_FOUND,
        "support set %s does not exist", display);
    return FALSE;
  }
  if (!g_file_test (dir, G_FILE_TEST_IS_DIR)) {
    g_set_error (error, HYRSM_ERROR, HYRSM_ERROR_FILE_NOT_FOUND,
        "support set %s is not a directory (expected one folder per label "
        "holding its example clips)", display);
    return FALSE;
  }
  return TRUE;
}

/* The label folders of the directory, sorted. */
static GPtrArray *
list_labels (Loader *l, GError **error)
{
  g_autoptr (GError) local = NULL;
  GPtrArray *entries = list_dir (l->dir, &local);
  if (entries == NULL) {
    g_set_error (error, HYRSM_ERROR, HYRSM_ERROR_FILE_NOT_FOUND,
        "support set %s cannot be read: %s", l->display_dir, local->message);
    return NULL;
  }
  GPtrArray *labels = g_ptr_array_new_with_free_func (g_free);
  for (guint i = 0; i < entries->len; i++) {
    const char *name = entries->pdata[i];
    g_autofree char *p = g_build_filename (l->dir, name, NULL);
    if (g_file_test (p, G_FILE_TEST_IS_DIR))
      g_ptr_array_add (labels, g_strdup (name));
    else
      GST_INFO ("support set %s: ignoring %s (not a label folder)",
          l->display_dir, name);
  }
  g_ptr_array_unref (entries);
  if (labels->len == 0) {
    g_set_error (error, HYRSM_ERROR, HYRSM_ERROR_EMPTY_SUPPORT_SET,
        "support set %s has no label folders (expected %s/<label>/<clip>)",
        l->display_dir, l->display_dir);
    g_ptr_array_unref (labels);
    return NULL;
  }
  return labels;
}

typedef struct
{
  char *label_dir;              /* file name of the label folder */
  char *label;                  /* UTF-8 */
  GPtrArray *entries;           /* file names */
} LabelFolder;

static void
label_folder_free (gpointer data)
{
  LabelFolder *f = data;
  g_free (f->label_dir);
  g_free (f->label);
  g_clear_pointer (&f->entries, g_ptr_array_unref);
  g_free (f);
}

/* Lists every label folder's entries first, so that progress has a total. */
static GPtrArray *
scan (Loader *l, GPtrArray *labels, guint *total)
{
  GPtrArray *folders = g_ptr_array_new_with_free_func (label_folder_free);
  *total = 0;
  for (guint i = 0; i < labels->len; i++) {
    LabelFolder *f = g_new0 (LabelFolder, 1);
    f->label_dir = g_strdup (labels->pdata[i]);
    f->label = g_filename_display_name (f->label_dir);
    g_autofree char *p = g_build_filename (l->dir, f->label_dir, NULL);
    g_autoptr (GError) error = NULL;
    f->entries = list_dir (p, &error);
    if (f->entries == NULL) {
      skip (l, f->label_dir, "%s", error->message);
      f->entries = g_ptr_array_new_with_free_func (g_free);
    }
    *total += f->entries->len;
    g_ptr_array_add (folders, f);
  }
  return folders;
}

static gboolean
load_all (Loader *l, GstHyrsmProgressFunc func, gpointer user_data,
    GError **error)
{
  g_autoptr (GPtrArray) labels = list_labels (l, error);
  if (labels == NULL)
    return FALSE;
  guint total, done = 0;
  g_autoptr (GPtrArray) folders = scan (l, labels, &total);
  for (guint i = 0; i < folders->len; i++) {
    LabelFolder *f = folders->pdata[i];
    guint n_added = 0;
    for (guint j = 0; j < f->entries->len; j++) {
      const char *name = f->entries->pdata[j];
      if (func) {
        g_autofree char *display = g_filename_display_name (name);
        func (done, total, f->label, display, user_data);
      }
      if (!load_entry (l, f->label, f->label_dir, name, &n_added, error))
        return FALSE;
      done++;
    }
    if (n_added == 0) {
      g_autofree char *what = g_strconcat (f->label_dir, G_DIR_SEPARATOR_S,
          NULL);
      skip (l, what, "label \"%s\" left out: no usable example", f->label);
    } else {
      g_hash_table_insert (l->result->n_examples, g_strdup (f->label),
          GUINT_TO_POINTER (n_added));
    }
  }
  if (func)
    func (total, total, NULL, NULL, user_data);

  if (hyrsm_support_set_get_n_examples (l->result->set) == 0) {
    /* Name the first file that failed: the likeliest fix. */
    if (l->n_file_skips > 0)
      g_set_error (error, HYRSM_ERROR, HYRSM_ERROR_EMPTY_SUPPORT_SET,
          "support set %s has no usable example (%u files skipped; first: "
          "%s)", l->display_dir, l->n_file_skips, l->first_file_skip);
    else
      g_set_error (error, HYRSM_ERROR, HYRSM_ERROR_EMPTY_SUPPORT_SET,
          "support set %s has no examples: its %u label folders are empty",
          l->display_dir, folders->len);
    return FALSE;
  }
  return TRUE;
}

static void
ensure_init (void)
{
  static gsize once = 0;
  if (g_once_init_enter (&once)) {
    if (!gst_is_initialized ())
      gst_init (NULL, NULL);
    GST_DEBUG_CATEGORY_INIT (gst_hyrsm_support_debug, "hyrsmsupport", 0,
        "hyrsm support-set directories");
    g_once_init_leave (&once, 1);
  }
}

/**
 * gst_hyrsm_support_dir_load_full:
 * @model: the model to embed the clips with
 * @path: (type filename): the support-set directory
 * @flags: cache options
 * @func: (scope call) (closure user_data) (nullable): called before each
 *   example, for progress reports
 * @user_data: data for @func
 * @cancellable: (nullable): cancels the load (between and during decodes)
 * @error: return location for a #GError
 *
 * Loads the support set in @path (docs/formats.md "The support-set directory"): each
 * folder of @path (hidden ones and `.hyrsm-cache` aside) is a label, in
 * sorted order; each of its entries, in sorted order, is a video clip
 * (anything GStreamer decodes), a folder of jpg/png frames or a `.hyrsm`
 * feature file. Clips and frame folders are decoded in this thread, T
 * frames are sampled (docs/model.md section 1, see gst_hyrsm_sample_index()),
 * embedded with @model and cached (see the top of gsthyrsmsupport.c).
 *
 * Entries that cannot be used (undecodable or truncated files, feature
 * files of another model, broken links) are skipped with a warning and
 * listed by gst_hyrsm_support_dir_get_skipped(); a label with no usable
 * entry is left out. Text files (.txt, .md, .json, ...) are ignored.
 *
 * Returns: (transfer full): the loaded directory, or %NULL with @error set
 *   naming @path: %HYRSM_ERROR_FILE_NOT_FOUND when it does not exist or is
 *   not a readable directory, %HYRSM_ERROR_EMPTY_SUPPORT_SET when it holds
 *   no label folder or no usable example at all, %G_IO_ERROR_CANCELLED
 */
GstHyrsmSupportDir *
gst_hyrsm_support_dir_load_full (HyrsmModel *model, const gchar *path,
    GstHyrsmSupportDirFlags flags, GstHyrsmProgressFunc func,
    gpointer user_data, GCancellable *cancellable, GError **error)
{
  g_return_val_if_fail (HYRSM_IS_MODEL (model), NULL);
  g_return_val_if_fail (path != NULL, NULL);
  g_return_val_if_fail (cancellable == NULL || G_IS_CANCELLABLE (cancellable),
      NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);
  ensure_init ();

  g_autofree char *display = g_filename_display_name (path);
  if (!check_dir (path, display, error))
    return NULL;
  /* bf16 or fp16 features are not the fp32 ones: each precision has its
   * own cache folder, fp32's being the bare fingerprint. */
  const char *precision = hyrsm_model_get_precision (model);
  g_autofree char *fp = g_str_equal (precision, "fp32") ?
      g_strdup (hyrsm_model_get_fingerprint (model)) :
      g_strdup_printf ("%s-%s", hyrsm_model_get_fingerprint (model),
      precision);
  Loader l = {
    .model = model,
    .dir = path,
    .display_dir = display,
    .flags = flags,
    .cancellable = cancellable,
    .T = hyrsm_model_get_frames (model),
    .D = hyrsm_model_get_feature_dim (model),
    .can_embed = hyrsm_model_has_backbone (model),
    .cache_local = g_build_filename (path, GST_HYRSM_SUPPORT_CACHE_DIR, fp,
        NULL),
    .cache_user = user_cache_root (path, fp),
    .durations = g_array_new (FALSE, FALSE, sizeof (GstClockTime)),
  };
  GstHyrsmSupportDir *self = g_object_new (GST_HYRSM_TYPE_SUPPORT_DIR, NULL);
  self->path = g_strdup (path);
  self->set = hyrsm_support_set_new (model);
  l.result = self;

  gint64 start = g_get_monotonic_time ();
  gboolean ok = load_all (&l, func, user_data, error);
  if (ok) {
    self->labels = hyrsm_support_set_get_labels (self->set);
    self->median_duration = median (l.durations);
    GST_INFO ("support set %s: %u labels, %u examples (%u decoded, %u from "
        "cache, %u feature files, %u skipped) in %.3f s; median duration %"
        GST_TIME_FORMAT, display, g_strv_length (self->labels),
        hyrsm_support_set_get_n_examples (self->set), self->n_decoded,
        self->n_cached, self->n_feature_files, self->skipped->len,
        (g_get_monotonic_time () - start) / 1e6,
        GST_TIME_ARGS (self->median_duration));
  }
  g_free (l.cache_local);
  g_free (l.cache_user);
  g_free (l.cache_write);
  g_array_unref (l.durations);
  if (!ok)
    g_clear_object (&self);
  return self;
}

/**
 * gst_hyrsm_support_dir_load:
 * @model: the model to embed the clips with
 * @path: (type filename): the support-set directory
 * @cancellable: (nullable): cancels the load
 * @error: return location for a #GError
 *
 * gst_hyrsm_support_dir_load_full() with the cache on and no progress
 * reports.
 *
 * Returns: (transfer full): the loaded directory, or %NULL with @error set
 */
GstHyrsmSupportDir *
gst_hyrsm_support_dir_load (HyrsmModel *model, const gchar *path,
    GCancellable *cancellable, GError **error)
{
  return gst_hyrsm_support_dir_load_full (model, path,
      GST_HYRSM_SUPPORT_DIR_NONE, NULL, NULL, cancellable, error);
}

/**
 * gst_hyrsm_support_set_load_dir:
 * @model: the model to embed the clips with
 * @path: (type filename): the support-set directory
 * @cancellable: (nullable): cancels the load
 * @error: return location for a #GError
 *
 * Loads a support-set directory (see gst_hyrsm_support_dir_load_full())
 * and returns only the support set. Skipped files are logged (debug
 * category `hyrsmsupport`).
 *
 * Returns: (transfer full): the support set, or %NULL with @error set
 */
HyrsmSupportSet *
gst_hyrsm_support_set_load_dir (HyrsmModel *model, const gchar *path,
    GCancellable *cancellable, GError **error)
{
  GstHyrsmSupportDir *dir = gst_hyrsm_support_dir_load (model, path,
      cancellable, error);
  if (dir == NULL)
    return NULL;
  HyrsmSupportSet *set = g_object_ref (dir->set);
  g_object_unref (dir);
  return set;
}

/* ---- one clip on its own ---- */

/**
 * gst_hyrsm_embed_clip:
 * @model: the model to embed with (it needs a backbone)
 * @path: (type filename): a video clip GStreamer can decode, or a folder
 *   of jpg/png frames
 * @cancellable: (nullable): cancels the decode
 * @duration: (out) (optional): the clip's duration in nanoseconds, or
 *   %GST_CLOCK_TIME_NONE when unknown (always for frame folders)
 * @error: return location for a #GError
 *
 * Decodes a whole clip the way support-set directories are decoded, samples
 * T frames over it (docs/model.md section 1, see gst_hyrsm_sample_index()) and
 * embeds them: the query of one decision per clip. Nothing is cached.
 *
 * Returns: (transfer full): T x D float32 backbone features, or %NULL with
 *   @error set naming @path
 */
GBytes *
gst_hyrsm_embed_clip (HyrsmModel *model, const gchar *path,
    GCancellable *cancellable, GstClockTime *duration, GError **error)
{
  g_return_val_if_fail (HYRSM_IS_MODEL (model), NULL);
  g_return_val_if_fail (path != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);
  ensure_init ();
  g_autofree char *display = g_filename_display_name (path);
  if (duration)
    *duration = GST_CLOCK_TIME_NONE;
  if (!hyrsm_model_has_backbone (model)) {
    g_set_error (error, HYRSM_ERROR, HYRSM_ERROR_NO_BACKBONE,
        "cannot embed %s: model %s has no backbone", display,
        hyrsm_model_get_path (model));
    return NULL;
  }
  if (!g_file_test (path, G_FILE_TEST_EXISTS)) {
    g_set_error (error, HYRSM_ERROR, HYRSM_ERROR_FILE_NOT_FOUND,
        "%s does not exist", display);
    return NULL;
  }
  if (!g_file_test (path, G_FILE_TEST_IS_DIR)
      && !g_file_test (path, G_FILE_TEST_IS_REGULAR)) {
    /* A named pipe or a device would block or never end. */
    g_set_error (error, HYRSM_ERROR, HYRSM_ERROR_FILE_NOT_FOUND,
        "%s is not a regular file or a folder of frames", display);
    return NULL;
  }
  Loader l = {
    .model = model,
    .dir = path,
    .display_dir = display,
    .cancellable = cancellable,
    .T = hyrsm_model_get_frames (model),
    .D = hyrsm_model_get_feature_dim (model),
  };
  Clip clip = { 0 };
  g_autoptr (GError) local = NULL;
  gboolean ok;
  if (g_file_test (path, G_FILE_TEST_IS_DIR)) {
    g_autoptr (GPtrArray) entries = list_dir (path, &local);
    g_autoptr (GPtrArray) images = g_ptr_array_new_with_free_func (g_free);
    for (guint i = 0; entries && i < entries->len; i++)
      if (is_image_name (entries->pdata[i]))
        g_ptr_array_add (images, g_strdup (entries->pdata[i]));
    if (entries && images->len == 0)
      g_set_error (&local, GST_STREAM_ERROR, GST_STREAM_ERROR_WRONG_TYPE,
          "a folder without .jpg or .png frames");
    ok = entries && images->len > 0
        && decode_folder (&l, path, images, &clip, &local);
  } else {
    ok = decode_video (path, l.T, cancellable, &clip, &local);
  }
  float *features = ok ? embed_clip (&l, &clip, &local) : NULL;
  if (features == NULL) {
    clip_clear (&clip);
    if (g_error_matches (local, G_IO_ERROR, G_IO_ERROR_CANCELLED))
      g_propagate_error (error, g_steal_pointer (&local));
    else
      g_set_error (error, HYRSM_ERROR, HYRSM_ERROR_BAD_FORMAT,
          "cannot %s %s: %s", ok ? "embed" : "decode", display,
          local->message);
    return NULL;
  }
  if (duration)
    *duration = clip.duration;
  clip_clear (&clip);
  return g_bytes_new_take (features, (gsize) l.T * l.D * sizeof (float));
}

/* ---- the result object ---- */

/**
 * gst_hyrsm_support_dir_get_support_set:
 * @self: a #GstHyrsmSupportDir
 *
 * Returns: (transfer none): the support set
 */
HyrsmSupportSet *
gst_hyrsm_support_dir_get_support_set (GstHyrsmSupportDir *self)
{
  g_return_val_if_fail (GST_HYRSM_IS_SUPPORT_DIR (self), NULL);
  return self->set;
}

/**
 * gst_hyrsm_support_dir_get_path:
 * @self: a #GstHyrsmSupportDir
 *
 * Returns: (type filename): the directory it was loaded from
 */
const gchar *
gst_hyrsm_support_dir_get_path (GstHyrsmSupportDir *self)
{
  g_return_val_if_fail (GST_HYRSM_IS_SUPPORT_DIR (self), NULL);
  return self->path;
}

/**
 * gst_hyrsm_support_dir_get_labels:
 * @self: a #GstHyrsmSupportDir
 *
 * Returns: (transfer full) (array zero-terminated=1): the labels that have
 *   at least one example, in the sorted order of their folders
 */
gchar **
gst_hyrsm_support_dir_get_labels (GstHyrsmSupportDir *self)
{
  g_return_val_if_fail (GST_HYRSM_IS_SUPPORT_DIR (self), NULL);
  return g_strdupv (self->labels);
}

/**
 * gst_hyrsm_support_dir_get_n_examples:
 * @self: a #GstHyrsmSupportDir
 * @label: a label
 *
 * Returns: the number of examples loaded for @label (0 when absent)
 */
guint
gst_hyrsm_support_dir_get_n_examples (GstHyrsmSupportDir *self,
    const gchar *label)
{
  g_return_val_if_fail (GST_HYRSM_IS_SUPPORT_DIR (self), 0);
  g_return_val_if_fail (label != NULL, 0);
  return GPOINTER_TO_UINT (g_hash_table_lookup (self->n_examples, label));
}

/**
 * gst_hyrsm_support_dir_get_median_duration:
 * @self: a #GstHyrsmSupportDir
 *
 * The median duration of the example clips whose duration is known (video
 * clips, and feature files that record it; not frame folders): what
 * hyrsmfilter uses as its window when `window` is 0.
 *
 * Returns: the median duration in nanoseconds, or %GST_CLOCK_TIME_NONE
 *   when no example has a known duration
 */
GstClockTime
gst_hyrsm_support_dir_get_median_duration (GstHyrsmSupportDir *self)
{
  g_return_val_if_fail (GST_HYRSM_IS_SUPPORT_DIR (self), GST_CLOCK_TIME_NONE);
  return self->median_duration;
}

/* A NULL-terminated copy of @strings (gchar*). */
static gchar **
strv_copy (GPtrArray *strings)
{
  gchar **v = g_new0 (gchar *, strings->len + 1);
  for (guint i = 0; i < strings->len; i++)
    v[i] = g_strdup (strings->pdata[i]);
  return v;
}

/**
 * gst_hyrsm_support_dir_get_skipped:
 * @self: a #GstHyrsmSupportDir
 *
 * The entries that could not be used, each as "label/file: reason" (a
 * label left out for lack of examples as "label/: reason"), in the order
 * they were met.
 *
 * Returns: (transfer full) (array zero-terminated=1): the skipped entries
 *   (an empty array when none)
 */
gchar **
gst_hyrsm_support_dir_get_skipped (GstHyrsmSupportDir *self)
{
  g_return_val_if_fail (GST_HYRSM_IS_SUPPORT_DIR (self), NULL);
  return strv_copy (self->skipped);
}

/**
 * gst_hyrsm_support_dir_get_warnings:
 * @self: a #GstHyrsmSupportDir
 *
 * The entries used despite something odd, each as "label/file: what":
 * examples of fewer frames than the model samples (a still image, a
 * two-frame clip), whose frames were repeated and whose duration does not
 * count toward the median window.
 *
 * Returns: (transfer full) (array zero-terminated=1): the warnings (an
 *   empty array when none)
 */
gchar **
gst_hyrsm_support_dir_get_warnings (GstHyrsmSupportDir *self)
{
  g_return_val_if_fail (GST_HYRSM_IS_SUPPORT_DIR (self), NULL);
  return strv_copy (self->warnings);
}

/**
 * gst_hyrsm_support_dir_get_cache_dir:
 * @self: a #GstHyrsmSupportDir
 *
 * Returns: (type filename) (nullable): the feature cache folder (for this
 *   model) that was last read or written: `DIR/.hyrsm-cache/<fingerprint>`
 *   (`<fingerprint>-bf16` or `-fp16` in those precisions) or one in the
 *   user cache dir; %NULL when no cache was used
 */
const gchar *
gst_hyrsm_support_dir_get_cache_dir (GstHyrsmSupportDir *self)
{
  g_return_val_if_fail (GST_HYRSM_IS_SUPPORT_DIR (self), NULL);
  return self->cache_dir;
}

/**
 * gst_hyrsm_support_dir_get_n_decoded:
 * @self: a #GstHyrsmSupportDir
 *
 * Returns: how many clips and frame folders were decoded and embedded
 */
guint
gst_hyrsm_support_dir_get_n_decoded (GstHyrsmSupportDir *self)
{
  g_return_val_if_fail (GST_HYRSM_IS_SUPPORT_DIR (self), 0);
  return self->n_decoded;
}

/**
 * gst_hyrsm_support_dir_get_n_cached:
 * @self: a #GstHyrsmSupportDir
 *
 * Returns: how many clips and frame folders were taken from the cache
 */
guint
gst_hyrsm_support_dir_get_n_cached (GstHyrsmSupportDir *self)
{
  g_return_val_if_fail (GST_HYRSM_IS_SUPPORT_DIR (self), 0);
  return self->n_cached;
}

/**
 * gst_hyrsm_support_dir_get_n_feature_files:
 * @self: a #GstHyrsmSupportDir
 *
 * Returns: how many `.hyrsm` feature files of the directory were loaded
 */
guint
gst_hyrsm_support_dir_get_n_feature_files (GstHyrsmSupportDir *self)
{
  g_return_val_if_fail (GST_HYRSM_IS_SUPPORT_DIR (self), 0);
  return self->n_feature_files;
}

/**
 * gst_hyrsm_support_dir_get_example:
 * @self: a #GstHyrsmSupportDir
 * @index: the example, in the order they were added to the support set
 *   (0 .. hyrsm_support_set_get_n_examples() - 1)
 * @label: (out) (optional) (transfer none): its label
 * @file: (out) (optional) (transfer none): where it came from, as
 *   "label-folder/name" relative to the directory
 * @features: (out) (optional) (nullable) (transfer none): its T x D float32
 *   backbone features when the directory was loaded with
 *   %GST_HYRSM_SUPPORT_DIR_KEEP_FEATURES, else %NULL
 *
 * One example of the loaded set.
 *
 * Returns: %FALSE when @index is out of range
 */
gboolean
gst_hyrsm_support_dir_get_example (GstHyrsmSupportDir *self, guint index,
    const gchar **label, const gchar **file, GBytes **features)
{
  g_return_val_if_fail (GST_HYRSM_IS_SUPPORT_DIR (self), FALSE);
  if (index >= self->examples->len)
    return FALSE;
  Example *e = self->examples->pdata[index];
  if (label)
    *label = e->label;
  if (file)
    *file = e->file;
  if (features)
    *features = e->features;
  return TRUE;
}

static void
gst_hyrsm_support_dir_finalize (GObject *object)
{
  GstHyrsmSupportDir *self = GST_HYRSM_SUPPORT_DIR (object);
  g_free (self->path);
  g_clear_object (&self->set);
  g_strfreev (self->labels);
  g_hash_table_unref (self->n_examples);
  g_ptr_array_unref (self->skipped);
  g_ptr_array_unref (self->warnings);
  g_ptr_array_unref (self->examples);
  g_free (self->cache_dir);
  G_OBJECT_CLASS (gst_hyrsm_support_dir_parent_class)->finalize (object);
}

static void
gst_hyrsm_support_dir_get_property (GObject *object, guint prop_id,
    GValue *value, GParamSpec *pspec)
{
  GstHyrsmSupportDir *self = GST_HYRSM_SUPPORT_DIR (object);
  switch (prop_id) {
    case PROP_PATH:
      g_value_set_string (value, self->path);
      break;
    case PROP_SUPPORT_SET:
      g_value_set_object (value, self->set);
      break;
    case PROP_MEDIAN_DURATION:
      g_value_set_uint64 (value, self->median_duration);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
  }
}

static void
gst_hyrsm_support_dir_class_init (GstHyrsmSupportDirClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  object_class->finalize = gst_hyrsm_support_dir_finalize;
  object_class->get_property = gst_hyrsm_support_dir_get_property;

  /**
   * GstHyrsmSupportDir:path:
   *
   * The directory the set was loaded from.
   */
  properties[PROP_PATH] = g_param_spec_string ("path", NULL, NULL, NULL,
      G_PARAM_READABLE | G_PARAM_STATIC_STRINGS);
  /**
   * GstHyrsmSupportDir:support-set:
   *
   * The loaded support set.
   */
  properties[PROP_SUPPORT_SET] = g_param_spec_object ("support-set", NULL,
      NULL, HYRSM_TYPE_SUPPORT_SET, G_PARAM_READABLE | G_PARAM_STATIC_STRINGS);
  /**
   * GstHyrsmSupportDir:median-duration:
   *
   * The median duration of the example clips in nanoseconds
   * (%GST_CLOCK_TIME_NONE when unknown).
   */
  properties[PROP_MEDIAN_DURATION] = g_param_spec_uint64 ("median-duration",
      NULL, NULL, 0, G_MAXUINT64, GST_CLOCK_TIME_NONE,
      G_PARAM_READABLE | G_PARAM_STATIC_STRINGS);
  g_object_class_install_properties (object_class, N_PROPS, properties);
}

static void
gst_hyrsm_support_dir_init (GstHyrsmSupportDir *self)
{
  self->n_examples = g_hash_table_new_full (g_str_hash, g_str_equal, g_free,
      NULL);
  self->skipped = g_ptr_array_new_with_free_func (g_free);
  self->warnings = g_ptr_array_new_with_free_func (g_free);
  self->examples = g_ptr_array_new_with_free_func (example_free);
  self->median_duration = GST_CLOCK_TIME_NONE;
}
