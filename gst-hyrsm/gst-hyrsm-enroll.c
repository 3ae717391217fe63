/* gst-hyrsm-enroll.c: `gst-hyrsm enroll`, adding examples to a support-set
 * directory (docs/formats.md "The support-set directory").
 *
 * Clips (video files or folders of frames) are copied, or linked with
 * --link, into DIR/LABEL/, and then the directory is loaded with the same
 * loader hyrsmfilter uses: that decodes the new clips and writes their
 * features to the loader's cache (DIR/.hyrsm-cache/<fingerprint>/...), so
 * the element starts without decoding them again, and it proves that the
 * clips are usable: a clip the loader skips is taken out again and fails
 * the command.
 *
 * A live source (--source 'PIPELINE DESCRIPTION') is recorded for
 * --seconds, T frames are taken at the centres of T equal parts of that
 * window (docs/model.md section 1, by timestamps, as hyrsmfilter samples a
 * window) and embedded, and the features are written as
 * DIR/LABEL/NAME.hyrsm (no video is kept).
 */
#include "gst-hyrsm-common.h"

#include <gsthyrsmdecode.h>
#include <gst/app/gstappsink.h>
#include <glib/gstdio.h>
#include <errno.h>
#include <string.h>
#include <unistd.h>

#define COMMAND "enroll"
/* A source that gives no frame for this long is given up on. */
#define SOURCE_STALL (20 * G_TIME_SPAN_SECOND)

typedef struct
{
  char *model_path, *support, *label, *name, *source, *device, *precision;
  double seconds;
  gboolean link, force, json, quiet;
} EnrollOptions;

/* What happened to one clip. */
typedef struct
{
  char *source;                 /* as given */
  char *dest;                   /* DIR/LABEL/NAME */
  char *entry;                  /* LABEL/NAME, as the loader names it */
  const char *how;              /* "copied", "hard link", ... */
  gboolean created;             /* dest made by this run (undo on failure) */
  char *features;               /* the .hyrsm file the element will read */
} Enrolled;

static void
enrolled_free (gpointer data)
{
  Enrolled *e = data;
  g_free (e->source);
  g_free (e->dest);
  g_free (e->entry);
  g_free (e->features);
  g_free (e);
}

static gboolean
label_is_valid (const char *label)
{
  return label && *label && label[0] != '.' && !strchr (label, '/')
      && g_utf8_validate (label, -1, NULL);
}

/* ---- copying and linking ---- */

static gboolean
remove_path (const char *path)
{
  if (g_file_test (path, G_FILE_TEST_IS_DIR)
      && !g_file_test (path, G_FILE_TEST_IS_SYMLINK)) {
    GDir *d = g_dir_open (path, 0, NULL);
    const char *n;
    while (d && (n = g_dir_read_name (d))) {
      g_autofree char *p = g_build_filename (path, n, NULL);
      remove_path (p);
    }
    if (d)
      g_dir_close (d);
  }
  return g_remove (path) == 0;
}

static gboolean
copy_file (const char *src, const char *dst, GError **error)
{
  g_autoptr (GFile) s = g_file_new_for_path (src);
  g_autoptr (GFile) d = g_file_new_for_path (dst);
  g_autoptr (GError) local = NULL;
  if (g_file_copy (s, d, G_FILE_COPY_NONE, NULL, NULL, NULL, &local))
    return TRUE;
  /* GIO's messages ("Can't copy special file") name neither file. */
  g_set_error (error, local->domain, local->code, "cannot copy %s to %s: %s",
      src, dst, local->message);
  return FALSE;
}

/* A frame folder: its files, one level. */
static gboolean
copy_folder (const char *src, const char *dst, GError **error)
{
  if (g_mkdir (dst, 0755) != 0) {
    int e = errno;
    g_set_error (error, G_IO_ERROR, g_io_error_from_errno (e),
        "cannot create %s: %s", dst, g_strerror (e));
    return FALSE;
  }
  GDir *d = g_dir_open (src, 0, error);
  if (d == NULL)
    return FALSE;
  const char *n;
  gboolean ok = TRUE;
  while (ok && (n = g_dir_read_name (d))) {
    g_autofree char *from = g_build_filename (src, n, NULL);
    g_autofree char *to = g_build_filename (dst, n, NULL);
    if (g_file_test (from, G_FILE_TEST_IS_REGULAR))
      ok = copy_file (from, to, error);
  }
  g_dir_close (d);
  return ok;
}

/* Puts @e->source at @e->dest: a copy, or with --link a hard link (a
 * symbolic link to the absolute path where a hard link cannot be made:
 * another file system, a folder). */
static gboolean
place_clip (Enrolled *e, gboolean link_it, GError **error)
{
  gboolean folder = g_file_test (e->source, G_FILE_TEST_IS_DIR);
  if (link_it) {
    if (!folder && link (e->source, e->dest) == 0) {
      e->how = "hard link";
      return TRUE;
    }
    g_autofree char *abs = g_canonicalize_filename (e->source, NULL);
    if (symlink (abs, e->dest) == 0) {
      e->how = "symbolic link";
      return TRUE;
    }
    int err = errno;
    g_set_error (error, G_IO_ERROR, g_io_error_from_errno (err),
        "cannot link %s to %s: %s", e->dest, abs, g_strerror (err));
    return FALSE;
  }
  e->how = "copied";
  return folder ? copy_folder (e->source, e->dest, error)
      : copy_file (e->source, e->dest, error);
}

static gboolean
same_file (const char *a, const char *b)
{
  GStatBuf sa, sb;
  return g_stat (a, &sa) == 0 && g_stat (b, &sb) == 0
      && sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

/* Checks every clip and works out its destination before anything is
 * written. */
static int
plan_clips (EnrollOptions *o, int n, char **clips, const char *label_dir,
    GPtrArray *out)
{
  if (o->name && n > 1)
    return cli_usage_error (COMMAND, "--name needs a single CLIP (got %d)", n);
  for (int i = 0; i < n; i++) {
    if (!g_file_test (clips[i], G_FILE_TEST_EXISTS)) {
      cli_error ("%s: %s does not exist", COMMAND, clips[i]);
      return CLI_EXIT_FAILED;
    }
    /* A device or a named pipe (also behind a symbolic link) is no clip:
     * copying /dev/zero would never end, reading a FIFO would block. */
    if (!g_file_test (clips[i], G_FILE_TEST_IS_REGULAR)
        && !g_file_test (clips[i], G_FILE_TEST_IS_DIR)) {
      cli_error ("%s: %s is not a regular file or a folder of frames (a "
          "device, a named pipe or a socket)", COMMAND, clips[i]);
      return CLI_EXIT_FAILED;
    }
    g_autofree char *base = g_path_get_basename (clips[i]);
    g_autofree char *name = NULL;
    if (o->name) {
      /* Keep the clip's extension: the loader needs it to tell videos. */
      const char *ext = strrchr (base, '.');
      name = (ext && !strchr (o->name, '.')
          && !g_file_test (clips[i], G_FILE_TEST_IS_DIR))
          ? g_strconcat (o->name, ext, NULL) : g_strdup (o->name);
    } else {
      name = g_strdup (base);
    }
    if (name[0] == '.' || strchr (name, '/'))
      return cli_usage_error (COMMAND, "\"%s\" cannot be a clip name "
          "(hidden files are not loaded)", name);
    Enrolled *e = g_new0 (Enrolled, 1);
    e->source = g_strdup (clips[i]);
    e->dest = g_build_filename (label_dir, name, NULL);
    e->entry = g_build_filename (o->label, name, NULL);
    g_ptr_array_add (out, e);
    for (guint j = 0; j + 1 < out->len; j++)
      if (g_str_equal (((Enrolled *) out->pdata[j])->dest, e->dest)) {
        cli_error ("%s: two clips named %s", COMMAND, name);
        return CLI_EXIT_FAILED;
      }
    if (g_file_test (e->dest, G_FILE_TEST_EXISTS)
        || g_file_test (e->dest, G_FILE_TEST_IS_SYMLINK)) {
      if (same_file (e->source, e->dest)) {
        e->how = "already in the set";
        continue;
      }
      if (!o->force) {
        cli_error ("%s: %s already exists (choose another --name, or "
            "--force to replace it)", COMMAND, e->dest);
        return CLI_EXIT_FAILED;
      }
    }
  }
  return 0;
}

static int
place_clips (EnrollOptions *o, GPtrArray *clips)
{
  for (guint i = 0; i < clips->len; i++) {
    Enrolled *e = clips->pdata[i];
    if (e->how)
      continue;                 /* already in the set */
    if ((g_file_test (e->dest, G_FILE_TEST_EXISTS)
            || g_file_test (e->dest, G_FILE_TEST_IS_SYMLINK))
        && !remove_path (e->dest)) {
      cli_error ("%s: cannot replace %s: %s", COMMAND, e->dest,
          g_strerror (errno));
      return CLI_EXIT_FAILED;
    }
    g_autoptr (GError) error = NULL;
    if (!place_clip (e, o->link, &error)) {
      remove_path (e->dest);
      cli_error ("%s: %s", COMMAND, error->message);
      return CLI_EXIT_FAILED;
    }
    e->created = TRUE;
  }
  return 0;
}

static void
undo_clips (GPtrArray *clips)
{
  for (guint i = 0; i < clips->len; i++) {
    Enrolled *e = clips->pdata[i];
    if (e->created)
      remove_path (e->dest);
  }
}

/* ---- a live source ---- */

/* The recording: T picks, each shared with the frame it came from
 * (frames are owned by `all`; a frame picked twice is stored once). The
 * frames are the library's (gsthyrsmdecode.h): copies, so that the
 * source's buffers go back to it at once. */
typedef struct
{
  guint T;
  GstClockTime window, t0, last_end;
  GPtrArray *all;               /* GstHyrsmFrame*, those picked */
  GstHyrsmFrame **picks;        /* T */
  GstHyrsmFrame *prev;
  gboolean prev_kept;
  guint k;
  guint64 n_frames;
} Recording;

static void
recording_pick (Recording *r, guint k, GstHyrsmFrame *p)
{
  r->picks[k] = p;
  if (p == r->prev && !r->prev_kept) {
    g_ptr_array_add (r->all, p);
    r->prev_kept = TRUE;
  }
}

/* One frame at @pts: the previous frame is the pick of every target time
 * that falls before @pts (its span). Returns FALSE once past the window. */
static gboolean
recording_take (Recording *r, GstHyrsmFrame *p, GstClockTime pts,
    GstClockTime end)
{
  if (r->n_frames++ == 0)
    r->t0 = pts;
  if (pts >= r->t0 + r->window) {
    gst_hyrsm_frame_unref (p);
    return FALSE;
  }
  while (r->k < r->T && r->prev && r->t0 + gst_util_uint64_scale (r->window,
          2 * r->k + 1, 2 * r->T) < pts)
    recording_pick (r, r->k++, r->prev);
  if (r->prev && !r->prev_kept)
    gst_hyrsm_frame_unref (r->prev);
  r->prev = p;
  r->prev_kept = FALSE;
  r->last_end = MAX (end, pts);
  return TRUE;
}

static void
recording_finish (Recording *r)
{
  while (r->k < r->T && r->prev)
    recording_pick (r, r->k++, r->prev);
  if (r->prev && !r->prev_kept)
    gst_hyrsm_frame_unref (r->prev);
  r->prev = NULL;
}

static GstElement *
make_source_pipeline (const char *description, GstAppSink **sink,
    GError **error)
{
  g_autofree char *full = g_strdup_printf ("%s ! videoconvert ! "
      "video/x-raw,format=RGB ! appsink name=gst_hyrsm_enroll_sink "
      "sync=false max-buffers=8 drop=false enable-last-sample=false",
      description);
  GError *local = NULL;
  GstElement *pipeline = gst_parse_launch_full (full, NULL,
      GST_PARSE_FLAG_FATAL_ERRORS, &local);
  if (pipeline == NULL) {
    g_set_error (error, GST_CORE_ERROR, GST_CORE_ERROR_FAILED,
        "cannot build the pipeline \"%s\": %s", description,
        local ? local->message : "unknown error");
    g_clear_error (&local);
    return NULL;
  }
  GstElement *s = gst_bin_get_by_name (GST_BIN (pipeline),
      "gst_hyrsm_enroll_sink");
  *sink = GST_APP_SINK (s);
  gst_object_unref (s);         /* the pipeline holds it */
  return pipeline;
}

static gboolean
pop_bus_error (GstBus *bus, const char *description, GError **error)
{
  GstMessage *msg = gst_bus_pop_filtered (bus, GST_MESSAGE_ERROR);
  if (msg == NULL)
    return FALSE;
  GError *err = NULL;
  gst_message_parse_error (msg, &err, NULL);
  g_set_error (error, GST_CORE_ERROR, GST_CORE_ERROR_FAILED,
      "source \"%s\": %s", description, err->message);
  g_error_free (err);
  gst_message_unref (msg);
  return TRUE;
}

/* Runs the source until the window is full (or it ends). */
static gboolean
record (const char *description, Recording *r, CliProgress *progress,
    GError **error)
{
  GstAppSink *sink = NULL;
  GstElement *pipeline = make_source_pipeline (description, &sink, error);
  if (pipeline == NULL)
    return FALSE;
  GstBus *bus = gst_element_get_bus (pipeline);
  gboolean ok = FALSE;
  if (gst_element_set_state (pipeline, GST_STATE_PLAYING)
      == GST_STATE_CHANGE_FAILURE) {
    if (!pop_bus_error (bus, description, error))
      g_set_error (error, GST_CORE_ERROR, GST_CORE_ERROR_STATE_CHANGE,
          "source \"%s\" cannot start", description);
    goto out;
  }
  gint64 last = g_get_monotonic_time ();
  guint tenths = (guint) (r->window / (GST_SECOND / 10));
  for (;;) {
    GstSample *sample = gst_app_sink_try_pull_sample (sink, 50 * GST_MSECOND);
    if (sample) {
      GstBuffer *buf = gst_sample_get_buffer (sample);
      GstClockTime pts = GST_BUFFER_PTS (buf);
      if (!GST_CLOCK_TIME_IS_VALID (pts))       /* no timestamps: wall clock */
        pts = g_get_monotonic_time () * GST_USECOND;
      GstClockTime end = GST_BUFFER_DURATION_IS_VALID (buf) ?
          pts + GST_BUFFER_DURATION (buf) : pts;
      GstHyrsmFrame *p = gst_hyrsm_frame_new_from_sample (sample, NULL);
      gst_sample_unref (sample);
      if (p == NULL) {
        g_set_error (error, GST_STREAM_ERROR, GST_STREAM_ERROR_FORMAT,
            "source \"%s\": cannot read a frame", description);
        goto out;
      }
      if (!recording_take (r, p, pts, end))
        break;
      cli_progress_update (progress, (guint) ((pts - r->t0) /
              (GST_SECOND / 10)), tenths, NULL);
      last = g_get_monotonic_time ();
      continue;
    }
    if (pop_bus_error (bus, description, error))
      goto out;
    if (gst_app_sink_is_eos (sink))
      break;
    if (g_get_monotonic_time () - last > SOURCE_STALL) {
      g_set_error (error, GST_STREAM_ERROR, GST_STREAM_ERROR_FAILED,
          "source \"%s\" gave no frame for %d s", description,
          (int) (SOURCE_STALL / G_TIME_SPAN_SECOND));
      goto out;
    }
  }
  if (r->n_frames == 0) {
    g_set_error (error, GST_STREAM_ERROR, GST_STREAM_ERROR_FAILED,
        "source \"%s\" ended without a frame", description);
    goto out;
  }
  ok = TRUE;
out:
  gst_element_set_state (pipeline, GST_STATE_NULL);
  gst_object_unref (bus);
  gst_object_unref (pipeline);
  return ok;
}

static int
enroll_source (EnrollOptions *o, HyrsmModel *model, const char *label_dir,
    GPtrArray *done)
{
  if (!hyrsm_model_has_backbone (model)) {
    cli_error ("%s: model %s has no backbone to embed frames with", COMMAND,
        o->model_path);
    return CLI_EXIT_FAILED;
  }
  g_autofree char *name = NULL;
  if (o->name) {
    name = g_str_has_suffix (o->name, HYRSM_FEATURES_EXTENSION) ?
        g_strdup (o->name) : g_strconcat (o->name, HYRSM_FEATURES_EXTENSION,
        NULL);
  } else {
    g_autoptr (GDateTime) now = g_date_time_new_now_local ();
    g_autofree char *stamp = g_date_time_format (now, "live-%Y%m%d-%H%M%S");
    name = g_strconcat (stamp, HYRSM_FEATURES_EXTENSION, NULL);
  }
  if (name[0] == '.' || strchr (name, '/'))
    return cli_usage_error (COMMAND, "\"%s\" cannot be a file name", name);
  Enrolled *e = g_new0 (Enrolled, 1);
  e->source = g_strdup (o->source);
  e->dest = g_build_filename (label_dir, name, NULL);
  e->entry = g_build_filename (o->label, name, NULL);
  g_ptr_array_add (done, e);
  if (g_file_test (e->dest, G_FILE_TEST_EXISTS) && !o->force) {
    cli_error ("%s: %s already exists (choose another --name, or --force "
        "to replace it)", COMMAND, e->dest);
    return CLI_EXIT_FAILED;
  }

  guint T = hyrsm_model_get_frames (model);
  Recording r = {.T = T,.window = (GstClockTime) (o->seconds * GST_SECOND),
    .all = g_ptr_array_new_with_free_func (gst_hyrsm_frame_unref),
    .picks = g_new0 (GstHyrsmFrame *, T)
  };
  CliProgress progress;
  cli_progress_init (&progress, "Recording", o->quiet);
  g_autoptr (GError) error = NULL;
  gboolean ok = record (o->source, &r, &progress, &error);
  cli_progress_end (&progress);
  recording_finish (&r);
  g_autofree float *features = ok ? gst_hyrsm_embed_frames (model, r.picks,
      T, &error) : NULL;
  GstClockTime span = r.last_end > r.t0 ? r.last_end - r.t0 : 0;
  g_ptr_array_unref (r.all);
  g_free (r.picks);
  if (features == NULL) {
    cli_error ("%s: %s", COMMAND, error->message);
    return CLI_EXIT_FAILED;
  }
  if (span < r.window * 9 / 10)
    cli_warning ("%s: source \"%s\" ended after %.2f s of the %.2f s asked "
        "for; its last frame fills the rest of the window", COMMAND,
        o->source, span / 1e9, o->seconds);

  g_autoptr (GHashTable) meta = g_hash_table_new_full (g_str_hash,
      g_str_equal, NULL, g_free);
  g_hash_table_insert (meta, HYRSM_FEATURES_KEY_DURATION,
      g_strdup_printf ("%" G_GUINT64_FORMAT, (guint64) MIN (span, r.window)));
  if (!hyrsm_features_save (e->dest, features, T,
          hyrsm_model_get_feature_dim (model),
          hyrsm_model_get_fingerprint (model), o->source, meta, &error)) {
    cli_error ("%s: %s", COMMAND, error->message);
    return CLI_EXIT_FAILED;
  }
  e->how = "recorded";
  e->created = TRUE;
  e->features = g_strdup (e->dest);
  return 0;
}

/* ---- checking the result and reporting ---- */

/* Every enrolled entry must be in the loaded set; finds its feature file. */
static int
check_enrolled (GstHyrsmSupportDir *dir, GPtrArray *done)
{
  g_auto (GStrv) skipped = gst_hyrsm_support_dir_get_skipped (dir);
  const char *cache = gst_hyrsm_support_dir_get_cache_dir (dir);
  g_autoptr (GHashTable) loaded = g_hash_table_new (g_str_hash, g_str_equal);
  const char *file;
  for (guint i = 0; gst_hyrsm_support_dir_get_example (dir, i, NULL, &file,
          NULL); i++)
    g_hash_table_add (loaded, (gpointer) file);
  int status = 0;
  for (guint i = 0; i < done->len; i++) {
    Enrolled *e = done->pdata[i];
    gboolean reported = FALSE;
    for (int j = 0; skipped[j]; j++) {
      gsize n = strlen (e->entry);
      if (g_str_has_prefix (skipped[j], e->entry)
          && g_str_has_prefix (skipped[j] + n, ": ")) {
        cli_error ("%s: %s cannot be used: %s", COMMAND, e->source,
            skipped[j] + n + 2);
        status = CLI_EXIT_FAILED;
        reported = TRUE;
      }
    }
    if (!reported && !g_hash_table_contains (loaded, e->entry)) {
      /* Ignored without a warning: a text file, a hidden name... */
      cli_error ("%s: %s is not a video clip, a folder of frames or a "
          "feature file", COMMAND, e->source);
      status = CLI_EXIT_FAILED;
    }
    if (e->features == NULL && cache) {
      g_autofree char *file = g_strconcat (e->entry,
          HYRSM_FEATURES_EXTENSION, NULL);
      char *path = g_build_filename (cache, file, NULL);
      if (g_file_test (path, G_FILE_TEST_IS_REGULAR))
        e->features = path;
      else
        g_free (path);
    }
  }
  return status;
}

static void
report_text (EnrollOptions *o, GstHyrsmSupportDir *dir, GPtrArray *done)
{
  for (guint i = 0; i < done->len; i++) {
    Enrolled *e = done->pdata[i];
    printf ("Enrolled %s (%s%s%s)\n", e->dest, e->how,
        g_str_equal (e->how, "recorded") ? " from " : "",
        g_str_equal (e->how, "recorded") ? e->source : "");
    if (e->features && !g_str_equal (e->features, e->dest))
      printf ("  features: %s\n", e->features);
    else if (e->features == NULL)
      cli_warning ("%s: the features of %s could not be cached: hyrsmfilter "
          "will decode it when it starts", COMMAND, e->dest);
  }
  HyrsmSupportSet *set = gst_hyrsm_support_dir_get_support_set (dir);
  g_auto (GStrv) labels = gst_hyrsm_support_dir_get_labels (dir);
  guint n_labels = g_strv_length (labels);
  guint n_examples = hyrsm_support_set_get_n_examples (set);
  printf ("Support set %s: %u %s, %u %s (", o->support, n_labels,
      n_labels == 1 ? "label" : "labels", n_examples,
      n_examples == 1 ? "example" : "examples");
  for (int i = 0; labels[i]; i++)
    printf ("%s%s: %u", i ? ", " : "", labels[i],
        gst_hyrsm_support_dir_get_n_examples (dir, labels[i]));
  printf (")\n");
}

static void
report_json (EnrollOptions *o, HyrsmModel *model, GstHyrsmSupportDir *dir,
    GPtrArray *done)
{
  g_autoptr (JsonBuilder) b = json_builder_new ();
  json_builder_begin_object (b);
  cli_json_string (b, "support", o->support);
  cli_json_string (b, "label", o->label);
  cli_json_string (b, "model", o->model_path);
  cli_json_string (b, "fingerprint", hyrsm_model_get_fingerprint (model));
  json_builder_set_member_name (b, "enrolled");
  json_builder_begin_array (b);
  for (guint i = 0; i < done->len; i++) {
    Enrolled *e = done->pdata[i];
    json_builder_begin_object (b);
    cli_json_string (b, "source", e->source);
    cli_json_string (b, "file", e->dest);
    cli_json_string (b, "how", e->how);
    cli_json_string (b, "features", e->features);
    json_builder_end_object (b);
  }
  json_builder_end_array (b);
  json_builder_set_member_name (b, "examples");
  json_builder_begin_object (b);
  g_auto (GStrv) labels = gst_hyrsm_support_dir_get_labels (dir);
  for (int i = 0; labels[i]; i++)
    cli_json_int (b, labels[i], gst_hyrsm_support_dir_get_n_examples (dir,
            labels[i]));
  json_builder_end_object (b);
  json_builder_end_object (b);
  cli_print_json (b);
}

/* ---- the command ---- */

static int
check_options (EnrollOptions *o, int argc)
{
  if (!o->model_path)
    return cli_usage_error (COMMAND, "--model is required");
  if (!o->support)
    return cli_usage_error (COMMAND, "--support is required");
  if (!o->label)
    return cli_usage_error (COMMAND, "--label is required");
  if (!label_is_valid (o->label))
    return cli_usage_error (COMMAND, "\"%s\" is not a usable label (it "
        "names a folder: no '/', no leading '.')", o->label);
  if (o->source && argc > 1)
    return cli_usage_error (COMMAND, "give either CLIP files or --source, "
        "not both");
  if (!o->source && argc < 2)
    return cli_usage_error (COMMAND, "expected CLIP files or --source");
  if (o->source && !(o->seconds > 0 && o->seconds <= 3600))
    return cli_usage_error (COMMAND, "--seconds must be in (0, 3600]");
  if (o->source && o->link)
    return cli_usage_error (COMMAND, "--link applies to CLIP files only");
  return 0;
}

static int
run_enroll (EnrollOptions *o, int argc, char **argv)
{
  int status = check_options (o, argc);
  if (status)
    return status;
  gst_init (NULL, NULL);
  g_autofree char *label_dir = g_build_filename (o->support, o->label, NULL);
  g_autoptr (GPtrArray) done = g_ptr_array_new_with_free_func (enrolled_free);
  if (!o->source && (status = plan_clips (o, argc - 1, argv + 1, label_dir,
              done)))
    return status;
  g_autoptr (HyrsmModel) model = cli_load_model (COMMAND, o->model_path,
      o->device, o->precision);
  if (model == NULL)
    return CLI_EXIT_FAILED;
  gboolean new_support = !g_file_test (o->support, G_FILE_TEST_IS_DIR);
  gboolean new_label = !g_file_test (label_dir, G_FILE_TEST_IS_DIR);
  if (g_mkdir_with_parents (label_dir, 0755) != 0) {
    cli_error ("%s: cannot create %s: %s", COMMAND, label_dir,
        g_strerror (errno));
    return CLI_EXIT_FAILED;
  }
  status = o->source ? enroll_source (o, model, label_dir, done)
      : place_clips (o, done);
  g_autoptr (GstHyrsmSupportDir) dir = NULL;
  if (status == 0) {
    dir = cli_load_support_dir (COMMAND, model, o->support,
        GST_HYRSM_SUPPORT_DIR_NONE, o->quiet);
    status = dir ? 0 : CLI_EXIT_FAILED;
  }
  if (status) {
    /* Leave the directory as it was: no new file, no empty folder. */
    undo_clips (done);
    if (new_label)
      g_rmdir (label_dir);
    if (new_support)
      g_rmdir (o->support);
    return status;
  }
  /* Our clips' problems are errors below, not warnings. */
  g_autofree char *label_entry = g_strconcat (o->label, G_DIR_SEPARATOR_S,
      NULL);
  g_autoptr (GPtrArray) mine = g_ptr_array_new ();
  for (guint i = 0; i < done->len; i++)
    g_ptr_array_add (mine, ((Enrolled *) done->pdata[i])->entry);
  g_ptr_array_add (mine, label_entry);
  g_ptr_array_add (mine, NULL);
  cli_warn_skipped (COMMAND, dir, (const char *const *) mine->pdata);
  if ((status = check_enrolled (dir, done))) {
    undo_clips (done);
    if (new_label)
      g_rmdir (label_dir);
    return status;
  }
  if (o->json)
    report_json (o, model, dir, done);
  else
    report_text (o, dir, done);
  return 0;
}

int
cli_cmd_enroll (int argc, char **argv)
{
  EnrollOptions o = {.seconds = 3.0 };
  GOptionEntry entries[] = {
    cli_option_model (&o.model_path),
    {"support", 's', 0, G_OPTION_ARG_FILENAME, &o.support,
        "The support-set directory (created when missing; required)", "DIR"},
    {"label", 'l', 0, G_OPTION_ARG_STRING, &o.label,
        "The action the clips show: DIR/LABEL/ (required)", "LABEL"},
    {"link", 0, 0, G_OPTION_ARG_NONE, &o.link,
        "Link the clips instead of copying them (a hard link, else a "
          "symbolic one)", NULL},
    {"name", 'n', 0, G_OPTION_ARG_FILENAME, &o.name,
        "File name in DIR/LABEL/ (one clip; default: the clip's name, or "
          "live-DATE-TIME for --source)", "NAME"},
    {"force", 'f', 0, G_OPTION_ARG_NONE, &o.force,
        "Replace a file of the same name", NULL},
    {"source", 0, 0, G_OPTION_ARG_STRING, &o.source,
        "Record from a live source instead, a gst-launch pipeline "
          "description ending in a video pad (e.g. 'v4l2src')", "PIPELINE"},
    {"seconds", 0, 0, G_OPTION_ARG_DOUBLE, &o.seconds,
        "How long to record from --source (default 3)", "SECONDS"},
    cli_option_device (&o.device),
    cli_option_precision (&o.precision),
    cli_option_json (&o.json),
    cli_option_quiet (&o.quiet),
    {NULL}
  };
  int status = cli_parse_options (COMMAND, "--model MODEL --support DIR "
      "--label LABEL CLIP... | --source PIPELINE",
      "Adds examples of an action to a support-set directory: copies (or "
      "links) each CLIP\n(a video file or a folder of frames) into "
      "DIR/LABEL/ and caches its features\n(DIR/.hyrsm-cache/FINGERPRINT/) "
      "so that hyrsmfilter starts without decoding it.\nWith --source, "
      "records SECONDS of a live source and writes DIR/LABEL/NAME.hyrsm.",
      "Examples:\n"
      "  gst-hyrsm enroll -m model.safetensors -s actions -l wave wave1.mp4\n"
      "  gst-hyrsm enroll -m model.safetensors -s actions -l wave \\\n"
      "      --source 'v4l2src' --seconds 2",
      entries, &argc, &argv);
  if (status == 0)
    status = run_enroll (&o, argc, argv);
  g_free (o.model_path);
  g_free (o.support);
  g_free (o.label);
  g_free (o.name);
  g_free (o.source);
  g_free (o.device);
  g_free (o.precision);
  return status;
}
