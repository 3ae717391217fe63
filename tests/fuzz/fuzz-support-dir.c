/* fuzz-support-dir.c: the support-set directory loader
 * (gst_hyrsm_support_dir_load_full) on directory trees built from the
 * input, with the fuzzers' ResNet-18 (crop 32) model.
 *
 * The input is a little program that builds DIR (fresh for every input):
 *
 *   byte 0        load options: bits 0-1 flags (0 and 3: none, 1: NO_CACHE,
 *                 2: REFRESH); bit 2: cancel once (byte 0 >> 3) examples
 *                 were handled
 *   then, up to MAX_OPS times: an opcode byte (mod N_OPS) and its operands
 *
 *   LABEL name          mkdir DIR/name; later files go there (before the
 *                       first LABEL they go to DIR itself: not a label)
 *   RAW name ext blob   a file of up to 255 bytes of the input
 *   CLIP name ext       a copy of a valid 6-frame MJPEG/AVI clip
 *   TRUNC name ext u16  that clip cut at an offset
 *   CORRUPT name ext k (u16 byte)*k   that clip with k bytes replaced
 *   FEATURES name k (u16 byte)*k      a valid .hyrsm for the model, patched
 *   FRAMES name n (kind name)*n       a folder of n frames: png, jpg,
 *                       truncated png, empty, raw bytes, or a FIFO
 *   LINK name kind      a symbolic link: dangling, to itself, to DIR, to the
 *                       clip, to /dev/zero
 *   EMPTY name ext      an empty file
 *   POISON kind         the cache file of the last clip or frame folder
 *                       (DIR/.hyrsm-cache/<fingerprint>/<label>/<name>.hyrsm):
 *                       raw bytes, a patched valid file, or a folder
 *   CACHE_FILE          DIR/.hyrsm-cache is a plain file
 *   FIFO name ext       a named pipe where a clip would be
 *   NESTED name         a folder in a label folder holding a label-like tree
 *
 * Names are 1-12 input bytes ('/' and NUL replaced, "." and ".." avoided).
 * Every clip is tiny, so an input costs a few decodes at most.
 *
 * Checked besides "no crash, no hang, no leak": the load returns a set or
 * an error, never both or neither; an error is HYRSM_ERROR (or
 * G_IO_ERROR_CANCELLED when cancelled); a set has labels, each with as many
 * examples as reported, and every skipped entry has a reason. */
#include "fuzz-common.h"
#include "gsthyrsmsupport.h"

#include <errno.h>
#include <gst/gst.h>
#include <glib/gstdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_OPS 24
#define MAX_BLOB 255

enum
{
  OP_LABEL, OP_RAW, OP_CLIP, OP_TRUNC, OP_CORRUPT, OP_FEATURES, OP_FRAMES,
  OP_LINK, OP_EMPTY, OP_POISON, OP_CACHE_FILE, OP_FIFO, OP_NESTED, N_OPS
};

static const char *const extensions[] = {
  ".avi", ".mp4", ".mkv", ".hyrsm", ".txt", ".png", ".jpg", "", ".AVI",
  ".webm",
};

typedef struct
{
  GBytes *clip;                 /* 6 frames 24x16 MJPEG in AVI */
  GBytes *png, *jpg;            /* one 8x8 frame */
  GBytes *features;             /* a valid .hyrsm for the model */
  char *clip_path;              /* the clip, for links */
  char *cache_home;             /* XDG_CACHE_HOME */
} Assets;

static Assets assets;

/* ---- reading the input ---- */

typedef struct
{
  const guint8 *p, *end;
} Reader;

static guint
take_byte (Reader *r)
{
  return r->p < r->end ? *r->p++ : 0;
}

static guint
take_u16 (Reader *r)
{
  guint lo = take_byte (r);
  return lo | (take_byte (r) << 8);
}

static char *
take_name (Reader *r)
{
  guint len = 1 + take_byte (r) % 12;
  char *name = g_malloc (len + 1);
  for (guint i = 0; i < len; i++) {
    guint8 c = take_byte (r);
    name[i] = (c == '/' || c == '\0') ? '_' : (char) c;
  }
  name[len] = '\0';
  if (g_str_equal (name, ".") || g_str_equal (name, ".."))
    name[0] = 'd';
  return name;
}

static char *
take_file_name (Reader *r)
{
  g_autofree char *base = take_name (r);
  return g_strconcat (base, extensions[take_byte (r) %
          G_N_ELEMENTS (extensions)], NULL);
}

/* ---- making the tree ---- */

static void
write_bytes (const char *path, const void *data, gsize size)
{
  /* Names may clash with what exists: then nothing is written. */
  if (g_file_test (path, G_FILE_TEST_EXISTS)
      || g_file_test (path, G_FILE_TEST_IS_SYMLINK))
    return;
  FILE *f = fopen (path, "wb");
  if (f == NULL)
    return;
  if (size)
    fwrite (data, 1, size, f);
  fclose (f);
}

static void
write_gbytes (const char *path, GBytes *bytes, gsize limit)
{
  gsize size;
  const guint8 *data = g_bytes_get_data (bytes, &size);
  write_bytes (path, data, MIN (size, limit));
}

static void
write_patched (const char *path, GBytes *bytes, Reader *r)
{
  gsize size;
  const guint8 *data = g_bytes_get_data (bytes, &size);
  guint8 *copy = g_memdup2 (data, size);
  guint k = take_byte (r) % 9;
  for (guint i = 0; i < k; i++) {
    guint at = take_u16 (r) % size;
    copy[at] = take_byte (r);
  }
  write_bytes (path, copy, size);
  g_free (copy);
}

static void
write_blob (const char *path, Reader *r)
{
  guint len = take_byte (r) % (MAX_BLOB + 1);
  len = MIN (len, (guint) (r->end - r->p));
  write_bytes (path, r->p, len);
  r->p += len;
}

static void
make_frames (const char *folder, Reader *r)
{
  if (g_mkdir (folder, 0755) != 0)
    return;
  guint n = take_byte (r) % 5;
  for (guint i = 0; i < n; i++) {
    guint kind = take_byte (r) % 6;
    g_autofree char *base = take_name (r);
    g_autofree char *name = g_strconcat (base, kind == 1 ? ".jpg" : ".png",
        NULL);
    g_autofree char *path = g_build_filename (folder, name, NULL);
    switch (kind) {
      case 0:
        write_gbytes (path, assets.png, G_MAXSIZE);
        break;
      case 1:
        write_gbytes (path, assets.jpg, G_MAXSIZE);
        break;
      case 2:
        write_gbytes (path, assets.png, take_byte (r) % 64);
        break;
      case 3:
        write_bytes (path, "", 0);
        break;
      case 4:
        write_blob (path, r);
        break;
      default:
        mkfifo (path, 0644);
        break;
    }
  }
}

static void
make_link (const char *path, const char *dir, guint kind)
{
  g_autofree char *missing = g_build_filename (dir, "no-such-file", NULL);
  const char *targets[] = { missing, path, dir, assets.clip_path,
    "/dev/zero"
  };
  if (symlink (targets[kind % G_N_ELEMENTS (targets)], path) != 0)
    GST_LOG ("symlink %s: %s", path, g_strerror (errno));
}

static void
make_poison (const char *dir, const char *label, const char *last_media,
    Reader *r)
{
  guint kind = take_byte (r) % 3;
  if (label == NULL || last_media == NULL)
    return;
  const char *fp = hyrsm_model_get_fingerprint (fuzz_backbone_model ());
  g_autofree char *folder = g_build_filename (dir,
      GST_HYRSM_SUPPORT_CACHE_DIR, fp, label, NULL);
  if (g_mkdir_with_parents (folder, 0755) != 0)
    return;
  g_autofree char *name = g_strconcat (last_media, HYRSM_FEATURES_EXTENSION,
      NULL);
  g_autofree char *path = g_build_filename (folder, name, NULL);
  if (kind == 0)
    write_blob (path, r);
  else if (kind == 1)
    write_patched (path, assets.features, r);
  else
    g_mkdir (path, 0755);
}

/* Builds DIR from the program in @r. */
static void
build_tree (const char *dir, Reader *r)
{
  g_autofree char *current = g_strdup (dir);
  g_autofree char *label = NULL;        /* file name of the current label */
  g_autofree char *last_media = NULL;
  for (guint op = 0; op < MAX_OPS && r->p < r->end; op++) {
    guint code = take_byte (r) % N_OPS;
    if (code == OP_CACHE_FILE) {
      g_autofree char *cache = g_build_filename (dir,
          GST_HYRSM_SUPPORT_CACHE_DIR, NULL);
      write_bytes (cache, "not a folder", 12);
      continue;
    }
    if (code == OP_POISON) {
      make_poison (dir, label, last_media, r);
      continue;
    }
    g_autofree char *name = code == OP_LABEL || code == OP_NESTED
        || code == OP_FEATURES || code == OP_FRAMES || code == OP_LINK ?
        take_name (r) : take_file_name (r);
    if (code == OP_FEATURES) {
      char *with_ext = g_strconcat (name, HYRSM_FEATURES_EXTENSION, NULL);
      g_free (name);
      name = with_ext;
    }
    g_autofree char *path = g_build_filename (current, name, NULL);
    switch (code) {
      case OP_LABEL:
        path = (g_free (path), g_build_filename (dir, name, NULL));
        if (g_mkdir (path, 0755) == 0 || g_file_test (path,
                G_FILE_TEST_IS_DIR)) {
          g_free (current);
          current = g_strdup (path);
          g_free (label);
          label = g_strdup (name);
        }
        break;
      case OP_RAW:
        write_blob (path, r);
        break;
      case OP_CLIP:
        write_gbytes (path, assets.clip, G_MAXSIZE);
        g_free (last_media);
        last_media = g_strdup (name);
        break;
      case OP_TRUNC:
        write_gbytes (path, assets.clip, take_u16 (r) %
            g_bytes_get_size (assets.clip));
        g_free (last_media);
        last_media = g_strdup (name);
        break;
      case OP_CORRUPT:
        write_patched (path, assets.clip, r);
        g_free (last_media);
        last_media = g_strdup (name);
        break;
      case OP_FEATURES:
        write_patched (path, assets.features, r);
        break;
      case OP_FRAMES:
        make_frames (path, r);
        g_free (last_media);
        last_media = g_strdup (name);
        break;
      case OP_LINK:
        make_link (path, dir, take_byte (r));
        break;
      case OP_EMPTY:
        write_bytes (path, "", 0);
        break;
      case OP_FIFO:
        mkfifo (path, 0644);
        break;
      case OP_NESTED:
        if (g_mkdir (path, 0755) == 0) {
          g_autofree char *inner = g_build_filename (path, "inner", NULL);
          g_mkdir (inner, 0755);
          g_autofree char *clip = g_build_filename (inner, "clip.avi", NULL);
          write_gbytes (clip, assets.clip, G_MAXSIZE);
        }
        break;
    }
  }
}

/* ---- assets ---- */

static GBytes *
render (const char *pipeline_tail, const char *name)
{
  g_autofree char *path = g_build_filename (fuzz_tmpdir (), name, NULL);
  g_autofree char *desc = g_strdup_printf ("videotestsrc pattern=ball %s ! "
      "filesink location=\"%s\"", pipeline_tail, path);
  GError *error = NULL;
  GstElement *pipeline = gst_parse_launch (desc, &error);
  if (pipeline == NULL)
    g_error ("%s: %s", desc, error->message);
  gst_element_set_state (pipeline, GST_STATE_PLAYING);
  GstBus *bus = gst_element_get_bus (pipeline);
  GstMessage *msg = gst_bus_timed_pop_filtered (bus, 30 * GST_SECOND,
      GST_MESSAGE_EOS | GST_MESSAGE_ERROR);
  if (msg == NULL || GST_MESSAGE_TYPE (msg) != GST_MESSAGE_EOS)
    g_error ("could not make %s with \"%s\"", name, desc);
  gst_message_unref (msg);
  gst_object_unref (bus);
  gst_element_set_state (pipeline, GST_STATE_NULL);
  gst_object_unref (pipeline);
  gchar *data;
  gsize size;
  if (!g_file_get_contents (path, &data, &size, &error))
    g_error ("%s", error->message);
  return g_bytes_new_take (data, size);
}

static void
setup (void)
{
  /* The user cache dir is read once by GLib: point it into our folder
   * before anything asks. Plugins load in this process (the scanner
   * helper is not instrumented) and only the ones a support set needs. */
  assets.cache_home = g_build_filename (fuzz_tmpdir (), "xdg-cache", NULL);
  g_setenv ("XDG_CACHE_HOME", assets.cache_home, TRUE);
  g_setenv ("GST_REGISTRY_FORK", "no", FALSE);
  g_setenv ("GST_PLUGIN_LOADING_WHITELIST",
      "gstreamer:gst-plugins-base:gst-plugins-good", FALSE);
  if (!g_getenv ("GST_REGISTRY_1_0")) {
    g_autofree char *reg = g_build_filename (fuzz_tmpdir (), "registry.bin",
        NULL);
    g_setenv ("GST_REGISTRY_1_0", reg, TRUE);
  }
  gst_init (NULL, NULL);
  HyrsmModel *model = fuzz_backbone_model ();

  assets.clip = render ("num-buffers=6 ! video/x-raw,width=24,height=16,"
      "framerate=10/1 ! jpegenc ! avimux", "clip.avi");
  assets.clip_path = g_build_filename (fuzz_tmpdir (), "clip.avi", NULL);
  assets.png = render ("num-buffers=1 ! video/x-raw,width=8,height=8 ! "
      "pngenc", "frame.png");
  assets.jpg = render ("num-buffers=1 ! video/x-raw,width=8,height=8 ! "
      "jpegenc", "frame.jpg");

  guint T = hyrsm_model_get_frames (model), D =
      hyrsm_model_get_feature_dim (model);
  float *f = g_new (float, (gsize) T * D);
  for (gsize i = 0; i < (gsize) T * D; i++)
    f[i] = (float) (i % 17) / 17.0f;
  g_autofree char *fpath = g_build_filename (fuzz_tmpdir (), "valid.hyrsm",
      NULL);
  GError *error = NULL;
  g_autoptr (GHashTable) extra = g_hash_table_new (g_str_hash, g_str_equal);
  g_hash_table_insert (extra, HYRSM_FEATURES_KEY_DURATION, "600000000");
  if (!hyrsm_features_save (fpath, f, T, D,
          hyrsm_model_get_fingerprint (model), "valid.avi", extra, &error))
    g_error ("%s", error->message);
  g_free (f);
  gchar *data;
  gsize size;
  if (!g_file_get_contents (fpath, &data, &size, &error))
    g_error ("%s", error->message);
  assets.features = g_bytes_new_take (data, size);
}

/* ---- the target ---- */

typedef struct
{
  GCancellable *cancellable;
  guint cancel_at;              /* 0: never */
} Progress;

static void
on_progress (guint done, guint total, const gchar *label, const gchar *file,
    gpointer user_data)
{
  Progress *p = user_data;
  FUZZ_CHECK (done <= total);
  FUZZ_CHECK ((label == NULL) == (done == total));
  if (p->cancel_at && done + 1 >= p->cancel_at)
    g_cancellable_cancel (p->cancellable);
}

static void
check_result (GstHyrsmSupportDir *sd, GError *error, gboolean cancelled)
{
  FUZZ_CHECK ((sd == NULL) != (error == NULL));
  if (sd == NULL) {
    fuzz_check_error (error);
    FUZZ_CHECK (error->domain == HYRSM_ERROR || (cancelled
            && g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED)));
    return;
  }
  HyrsmSupportSet *set = gst_hyrsm_support_dir_get_support_set (sd);
  char **labels = gst_hyrsm_support_dir_get_labels (sd);
  FUZZ_CHECK (labels != NULL && labels[0] != NULL);
  guint total = 0;
  for (guint i = 0; labels[i]; i++) {
    guint n = gst_hyrsm_support_dir_get_n_examples (sd, labels[i]);
    FUZZ_CHECK (n > 0);
    total += n;
  }
  FUZZ_CHECK (total == hyrsm_support_set_get_n_examples (set));
  /* Decoded or read examples that the set then refused are skipped. */
  FUZZ_CHECK (total <= gst_hyrsm_support_dir_get_n_decoded (sd)
      + gst_hyrsm_support_dir_get_n_cached (sd)
      + gst_hyrsm_support_dir_get_n_feature_files (sd));
  char **skipped = gst_hyrsm_support_dir_get_skipped (sd);
  for (guint i = 0; skipped[i]; i++) {
    FUZZ_CHECK (strstr (skipped[i], ": ") != NULL);
    FUZZ_CHECK (g_utf8_validate (skipped[i], -1, NULL));
  }
  g_strfreev (skipped);
  g_strfreev (labels);
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  if (assets.clip == NULL)
    setup ();
  Reader r = { data, data + size };
  guint options = take_byte (&r);
  GstHyrsmSupportDirFlags flags = (options & 3) == 1 ?
      GST_HYRSM_SUPPORT_DIR_NO_CACHE : (options & 3) == 2 ?
      GST_HYRSM_SUPPORT_DIR_REFRESH : GST_HYRSM_SUPPORT_DIR_NONE;
  Progress progress = { NULL, 0 };
  if (options & 4) {
    progress.cancellable = g_cancellable_new ();
    progress.cancel_at = 1 + (options >> 3);
  }

  g_autofree char *dir = g_build_filename (fuzz_tmpdir (), "set", NULL);
  fuzz_rm_rf (dir);
  fuzz_rm_rf (assets.cache_home);
  g_mkdir (dir, 0755);
  build_tree (dir, &r);

  GError *error = NULL;
  GstHyrsmSupportDir *sd = gst_hyrsm_support_dir_load_full
      (fuzz_backbone_model (), dir, flags, on_progress, &progress,
      progress.cancellable, &error);
  check_result (sd, error, progress.cancellable != NULL);
  g_clear_object (&sd);
  g_clear_error (&error);
  g_clear_object (&progress.cancellable);
  fuzz_rm_rf (dir);
  return 0;
}
