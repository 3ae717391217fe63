/* test-support-dir.c: support sets from directories
 * (gst_hyrsm_support_dir_load, gsthyrsmsupport.h) on real clips cut from
 * Debian's videos by tests/fixtures/make_clips.sh, with a small
 * random-weight ResNet-18 (crop 64): labels and examples found, the feature
 * cache written, reused without decoding and invalidated, the user cache
 * dir when the set is read-only, every bad set a user can make, and the
 * same T frames sampled whether a clip comes as a video (decoded once or
 * twice) or as a folder of frames. */
#include <gst/gst.h>
#include <glib/gstdio.h>
#include <gsthyrsm.h>

#include <fcntl.h>
#include <math.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char *tmp_root;
static char *clips;             /* make_clips.sh output */
static HyrsmModel *model;
static const char *fixture_error;

static const char *const scenes[] = { "ball", "box", "megamind",
  "street", "tree", NULL
};

/* ---- files ---- */

static void
rm_rf (const char *path)
{
  if (g_file_test (path, G_FILE_TEST_IS_DIR)
      && !g_file_test (path, G_FILE_TEST_IS_SYMLINK)) {
    g_chmod (path, 0755);
    GDir *d = g_dir_open (path, 0, NULL);
    const char *name;
    while (d && (name = g_dir_read_name (d))) {
      g_autofree char *p = g_build_filename (path, name, NULL);
      rm_rf (p);
    }
    if (d)
      g_dir_close (d);
    g_rmdir (path);
  } else {
    g_unlink (path);
  }
}

static void
copy_file (const char *src, const char *dst)
{
  g_autoptr (GFile) s = g_file_new_for_path (src);
  g_autoptr (GFile) d = g_file_new_for_path (dst);
  g_autoptr (GError) error = NULL;
  g_file_copy (s, d, G_FILE_COPY_OVERWRITE, NULL, NULL, NULL, &error);
  g_assert_no_error (error);
}

static void
copy_tree (const char *src, const char *dst)
{
  if (!g_file_test (src, G_FILE_TEST_IS_DIR)) {
    copy_file (src, dst);
    return;
  }
  g_assert_cmpint (g_mkdir_with_parents (dst, 0755), ==, 0);
  GDir *d = g_dir_open (src, 0, NULL);
  g_assert_nonnull (d);
  const char *name;
  while ((name = g_dir_read_name (d))) {
    g_autofree char *s = g_build_filename (src, name, NULL);
    g_autofree char *t = g_build_filename (dst, name, NULL);
    copy_tree (s, t);
  }
  g_dir_close (d);
}

/* A fresh support set under tmp_root with the given scenes' clips. */
static char *
make_set (const char *name, const char *const *labels)
{
  char *dir = g_build_filename (tmp_root, name, NULL);
  rm_rf (dir);
  g_assert_cmpint (g_mkdir_with_parents (dir, 0755), ==, 0);
  for (guint i = 0; labels && labels[i]; i++) {
    g_autofree char *src = g_build_filename (clips, "support", labels[i],
        NULL);
    g_autofree char *dst = g_build_filename (dir, labels[i], NULL);
    copy_tree (src, dst);
  }
  return dir;
}

static char *
clip_path (const char *dir, const char *label, const char *file)
{
  return g_build_filename (dir, label, file, NULL);
}

static void
shift_mtime (const char *path, long seconds)
{
  struct stat st;
  g_assert_cmpint (stat (path, &st), ==, 0);
  struct timespec times[2] = { st.st_atim, st.st_mtim };
  times[1].tv_sec += seconds;
  g_assert_cmpint (utimensat (AT_FDCWD, path, times, 0), ==, 0);
}

/* Replaces @path's bytes by garbage of the same size, keeping its mtime:
 * the cache still matches, but decoding it would fail. */
static void
spoil_keeping_signature (const char *path)
{
  struct stat st;
  g_assert_cmpint (stat (path, &st), ==, 0);
  char *junk = g_malloc (st.st_size);
  memset (junk, 'x', st.st_size);
  g_assert_true (g_file_set_contents (path, junk, st.st_size, NULL));
  g_free (junk);
  struct timespec times[2] = { st.st_atim, st.st_mtim };
  g_assert_cmpint (utimensat (AT_FDCWD, path, times, 0), ==, 0);
}

static gboolean
strv_has_prefix (char **v, const char *prefix)
{
  for (guint i = 0; v && v[i]; i++)
    if (g_str_has_prefix (v[i], prefix))
      return TRUE;
  return FALSE;
}

static GstHyrsmSupportDir *
load_ok (const char *dir)
{
  g_autoptr (GError) error = NULL;
  GstHyrsmSupportDir *sd = gst_hyrsm_support_dir_load (model, dir, NULL,
      &error);
  g_assert_no_error (error);
  g_assert_nonnull (sd);
  return sd;
}

static void
assert_load_fails (const char *dir, int code)
{
  g_autoptr (GError) error = NULL;
  GstHyrsmSupportDir *sd = gst_hyrsm_support_dir_load (model, dir, NULL,
      &error);
  g_assert_null (sd);
  g_assert_error (error, HYRSM_ERROR, code);
  if (!strstr (error->message, dir))
    g_error ("message \"%s\" does not name %s", error->message, dir);
  g_test_message ("%s", error->message);
}

static float *
cached_features (const char *cache_dir, const char *label, const char *file)
{
  g_autofree char *name = g_strconcat (file, HYRSM_FEATURES_EXTENSION, NULL);
  g_autofree char *path = g_build_filename (cache_dir, label, name, NULL);
  float *f = NULL;
  g_autoptr (GError) error = NULL;
  g_assert_true (hyrsm_features_load (path, model, &f, NULL, &error));
  g_assert_no_error (error);
  return f;
}

static void
assert_features_close (const float *a, const float *b)
{
  guint n = hyrsm_model_get_frames (model)
      * hyrsm_model_get_feature_dim (model);
  double max_diff = 0, max_abs = 0;
  for (guint i = 0; i < n; i++) {
    max_diff = MAX (max_diff, fabs ((double) a[i] - b[i]));
    max_abs = MAX (max_abs, fabs ((double) a[i]));
  }
  g_assert_cmpfloat (max_abs, >, 0);
  g_assert_cmpfloat (max_diff, <=, 1e-4 * max_abs);
}

/* Every fixture comes from packages scripts/install-deps.sh installs, so
 * one that cannot be made fails the test instead of skipping it. */
#define FAIL_IF_NO_FIXTURES() \
  G_STMT_START { \
    if (fixture_error) { \
      g_test_fail_printf ("%s", fixture_error); \
      return; \
    } \
  } G_STMT_END

/* ---- tests ---- */

static void
test_sample_index (void)
{
  static const guint l24[] = { 1, 4, 7, 10, 13, 16, 19, 22 };
  static const guint l3[] = { 0, 0, 0, 1, 1, 2, 2, 2 };
  for (guint k = 0; k < 8; k++) {
    g_assert_cmpuint (gst_hyrsm_sample_index (k, 24, 8), ==, l24[k]);
    g_assert_cmpuint (gst_hyrsm_sample_index (k, 3, 8), ==, l3[k]);
    g_assert_cmpuint (gst_hyrsm_sample_index (k, 8, 8), ==, k);
    g_assert_cmpuint (gst_hyrsm_sample_index (k, 1, 8), ==, 0);
  }
  /* round((k + 0.5) L / T - 0.5), half-way cases up, for many L and T. */
  for (guint T = 1; T <= 16; T++)
    for (guint L = 1; L <= 500; L++)
      for (guint k = 0; k < T; k++) {
        double x = (k + 0.5) * L / T - 0.5;
        double want = CLAMP (floor (x + 0.5 + 1e-9), 0, L - 1);
        g_assert_cmpuint (gst_hyrsm_sample_index (k, L, T), ==, (guint) want);
      }
}

static void
test_load (void)
{
  FAIL_IF_NO_FIXTURES ();
  g_autofree char *dir = make_set ("load", scenes);
  /* Junk a user may leave at the top level or hide. */
  g_autofree char *readme = g_build_filename (dir, "README.md", NULL);
  g_assert_true (g_file_set_contents (readme, "notes", -1, NULL));
  g_autofree char *hidden = g_build_filename (dir, ".hidden", "x", NULL);
  g_mkdir_with_parents (hidden, 0755);

  gint64 start = g_get_monotonic_time ();
  GstHyrsmSupportDir *sd = load_ok (dir);
  double first = (g_get_monotonic_time () - start) / 1e6;
  g_auto (GStrv) labels = gst_hyrsm_support_dir_get_labels (sd);
  g_assert_cmpstrv (labels, scenes);
  for (guint i = 0; scenes[i]; i++)
    g_assert_cmpuint (gst_hyrsm_support_dir_get_n_examples (sd, scenes[i]),
        ==, 3);
  g_assert_cmpuint (gst_hyrsm_support_dir_get_n_examples (sd, "nope"), ==, 0);
  g_auto (GStrv) skipped = gst_hyrsm_support_dir_get_skipped (sd);
  g_assert_cmpuint (g_strv_length (skipped), ==, 0);
  g_assert_cmpuint (gst_hyrsm_support_dir_get_n_decoded (sd), ==, 15);
  g_assert_cmpuint (gst_hyrsm_support_dir_get_n_cached (sd), ==, 0);

  HyrsmSupportSet *set = gst_hyrsm_support_dir_get_support_set (sd);
  g_assert_cmpuint (hyrsm_support_set_get_n_examples (set), ==, 15);
  g_assert_cmpuint (hyrsm_support_set_get_n_classes (set), ==, 5);
  g_auto (GStrv) set_labels = hyrsm_support_set_get_labels (set);
  g_assert_cmpstrv (set_labels, scenes);

  /* The clips are 1.6 s (24 frames at 15 fps). */
  GstClockTime median = gst_hyrsm_support_dir_get_median_duration (sd);
  g_assert_cmpuint (median, >=, 1500 * GST_MSECOND);
  g_assert_cmpuint (median, <=, 1700 * GST_MSECOND);

  /* Cached in the set, one file per clip. */
  g_autofree char *cache = g_build_filename (dir, ".hyrsm-cache",
      hyrsm_model_get_fingerprint (model), NULL);
  g_assert_cmpstr (gst_hyrsm_support_dir_get_cache_dir (sd), ==, cache);
  g_autofree char *one = g_build_filename (cache, "street",
      "clip_2.webm.hyrsm", NULL);
  g_assert_true (g_file_test (one, G_FILE_TEST_IS_REGULAR));

  /* An example's own features match its label (distance ~0). */
  g_autofree float *q = cached_features (cache, "tree", "clip_3.avi");
  g_autoptr (GError) error = NULL;
  HyrsmMatchResult *res = hyrsm_support_set_match_raw (set, q, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (hyrsm_match_result_get_label (res), ==, "tree");
  g_object_unref (res);

  start = g_get_monotonic_time ();
  GstHyrsmSupportDir *again = load_ok (dir);
  double second = (g_get_monotonic_time () - start) / 1e6;
  g_test_message ("5 labels x 3 clips: %.3f s decoding, %.3f s from cache",
      first, second);
  g_assert_cmpuint (gst_hyrsm_support_dir_get_n_decoded (again), ==, 0);
  g_assert_cmpuint (gst_hyrsm_support_dir_get_n_cached (again), ==, 15);
  g_assert_cmpfloat (second, <, first);
  g_object_unref (again);
  g_object_unref (sd);

  HyrsmSupportSet *only = gst_hyrsm_support_set_load_dir (model, dir, NULL,
      &error);
  g_assert_no_error (error);
  g_assert_cmpuint (hyrsm_support_set_get_n_examples (only), ==, 15);
  g_object_unref (only);
  rm_rf (dir);
}

static void
test_cache_reused_without_decoding (void)
{
  FAIL_IF_NO_FIXTURES ();
  const char *labels[] = { "street", "tree", NULL };
  g_autofree char *dir = make_set ("reuse", labels);
  GstHyrsmSupportDir *sd = load_ok (dir);
  g_object_unref (sd);

  /* Garbage with the same size and mtime: only the cache can give it. */
  g_autofree char *clip = clip_path (dir, "street", "clip_1.mkv");
  spoil_keeping_signature (clip);
  sd = load_ok (dir);
  g_auto (GStrv) skipped = gst_hyrsm_support_dir_get_skipped (sd);
  g_assert_cmpuint (g_strv_length (skipped), ==, 0);
  g_assert_cmpuint (gst_hyrsm_support_dir_get_n_decoded (sd), ==, 0);
  g_assert_cmpuint (gst_hyrsm_support_dir_get_n_cached (sd), ==, 6);
  g_assert_cmpuint (gst_hyrsm_support_dir_get_n_examples (sd, "street"), ==,
      3);
  g_object_unref (sd);

  /* Refreshing decodes again: the spoiled clip is now skipped. */
  g_autoptr (GError) error = NULL;
  sd = gst_hyrsm_support_dir_load_full (model, dir,
      GST_HYRSM_SUPPORT_DIR_REFRESH, NULL, NULL, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (gst_hyrsm_support_dir_get_n_decoded (sd), ==, 5);
  g_assert_cmpuint (gst_hyrsm_support_dir_get_n_examples (sd, "street"), ==,
      2);
  g_auto (GStrv) skipped2 = gst_hyrsm_support_dir_get_skipped (sd);
  g_assert_true (strv_has_prefix (skipped2, "street/clip_1.mkv: "));
  g_object_unref (sd);
  rm_rf (dir);
}

static void
test_cache_invalidated_by_mtime (void)
{
  FAIL_IF_NO_FIXTURES ();
  const char *labels[] = { "ball", "box", NULL };
  g_autofree char *dir = make_set ("mtime", labels);
  GstHyrsmSupportDir *sd = load_ok (dir);
  g_autofree char *cache = g_strdup (gst_hyrsm_support_dir_get_cache_dir (sd));
  g_autofree float *before = cached_features (cache, "ball", "clip_3.avi");
  g_object_unref (sd);

  g_autofree char *clip = clip_path (dir, "ball", "clip_3.avi");
  shift_mtime (clip, 10);
  sd = load_ok (dir);
  g_assert_cmpuint (gst_hyrsm_support_dir_get_n_decoded (sd), ==, 1);
  g_assert_cmpuint (gst_hyrsm_support_dir_get_n_cached (sd), ==, 5);
  g_object_unref (sd);
  /* Same content, so the same features; the cache now has the new mtime. */
  g_autofree float *after = cached_features (cache, "ball", "clip_3.avi");
  assert_features_close (before, after);
  sd = load_ok (dir);
  g_assert_cmpuint (gst_hyrsm_support_dir_get_n_decoded (sd), ==, 0);
  g_object_unref (sd);

  /* A different clip under the same name (other size) is decoded again. */
  g_autofree char *other = g_build_filename (clips, "support", "tree",
      "clip_3.avi", NULL);
  copy_file (other, clip);
  sd = load_ok (dir);
  g_assert_cmpuint (gst_hyrsm_support_dir_get_n_decoded (sd), ==, 1);
  g_object_unref (sd);
  rm_rf (dir);
}

/* The set's own cache folder cannot be made: as root (who may write into
 * a mode 0555 folder) a file stands in its way. */
static void
block_local_cache (const char *dir)
{
  if (geteuid () == 0) {
    g_autofree char *f = g_build_filename (dir, ".hyrsm-cache", NULL);
    g_assert_true (g_file_set_contents (f, "not a folder", -1, NULL));
  } else {
    g_assert_cmpint (g_chmod (dir, 0555), ==, 0);
  }
}

static void
test_read_only_uses_user_cache (void)
{
  FAIL_IF_NO_FIXTURES ();
  const char *labels[] = { "megamind", "street", NULL };
  g_autofree char *dir = make_set ("read-only", labels);
  block_local_cache (dir);
  /* G_TEST_OPTION_ISOLATE_DIRS: a private XDG_CACHE_HOME for this test. */
  g_autofree char *user = g_build_filename (g_get_user_cache_dir (),
      "gst-hyrsm", NULL);

  GstHyrsmSupportDir *sd = load_ok (dir);
  g_assert_cmpuint (gst_hyrsm_support_dir_get_n_decoded (sd), ==, 6);
  const char *cache = gst_hyrsm_support_dir_get_cache_dir (sd);
  g_assert_nonnull (cache);
  g_assert_true (g_str_has_prefix (cache, user));
  g_assert_true (g_str_has_suffix (cache, hyrsm_model_get_fingerprint (model)));
  g_object_unref (sd);

  sd = load_ok (dir);
  g_assert_cmpuint (gst_hyrsm_support_dir_get_n_decoded (sd), ==, 0);
  g_assert_cmpuint (gst_hyrsm_support_dir_get_n_cached (sd), ==, 6);
  g_object_unref (sd);

  /* Neither cache can be written: the load still works, uncached. */
  rm_rf (user);
  g_assert_true (g_file_set_contents (user, "not a folder", -1, NULL));
  sd = load_ok (dir);
  g_assert_cmpuint (gst_hyrsm_support_dir_get_n_decoded (sd), ==, 6);
  g_assert_null (gst_hyrsm_support_dir_get_cache_dir (sd));
  g_auto (GStrv) skipped = gst_hyrsm_support_dir_get_skipped (sd);
  g_assert_cmpuint (g_strv_length (skipped), ==, 0);
  g_object_unref (sd);
  g_unlink (user);
  rm_rf (dir);
}

static void
test_missing_dir (void)
{
  FAIL_IF_NO_FIXTURES ();
  g_autofree char *dir = g_build_filename (tmp_root, "does-not-exist", NULL);
  assert_load_fails (dir, HYRSM_ERROR_FILE_NOT_FOUND);
  g_autofree char *file = g_build_filename (tmp_root, "a-file", NULL);
  g_assert_true (g_file_set_contents (file, "x", -1, NULL));
  assert_load_fails (file, HYRSM_ERROR_FILE_NOT_FOUND);
  g_unlink (file);

  g_autoptr (GError) error = NULL;
  g_assert_null (gst_hyrsm_support_set_load_dir (model, dir, NULL, &error));
  g_assert_error (error, HYRSM_ERROR, HYRSM_ERROR_FILE_NOT_FOUND);
}

static void
test_empty_dir (void)
{
  FAIL_IF_NO_FIXTURES ();
  /* Nothing at all; then only files at the top; then empty label folders. */
  g_autofree char *dir = make_set ("empty", NULL);
  assert_load_fails (dir, HYRSM_ERROR_EMPTY_SUPPORT_SET);
  g_autofree char *top = g_build_filename (dir, "clip.mkv", NULL);
  g_autofree char *src = g_build_filename (clips, "support", "tree",
      "clip_1.mkv", NULL);
  copy_file (src, top);
  assert_load_fails (dir, HYRSM_ERROR_EMPTY_SUPPORT_SET);
  g_autofree char *a = g_build_filename (dir, "wave", NULL);
  g_autofree char *b = g_build_filename (dir, "jump", NULL);
  g_mkdir (a, 0755);
  g_mkdir (b, 0755);
  assert_load_fails (dir, HYRSM_ERROR_EMPTY_SUPPORT_SET);
  rm_rf (dir);
}

static void run_pipeline (const char *description);

static void
add_junk (const char *dir, const char *label)
{
  g_autofree char *folder = g_build_filename (dir, label, NULL);
  g_mkdir_with_parents (folder, 0755);
  const char *junk[] = { "not-video.mp4", "empty.mp4", "truncated.mkv",
    "notes.txt", NULL
  };
  for (guint i = 0; junk[i]; i++) {
    g_autofree char *s = g_build_filename (clips, "junk", junk[i], NULL);
    g_autofree char *d = g_build_filename (folder, junk[i], NULL);
    copy_file (s, d);
  }
  g_autofree char *link = g_build_filename (folder, "broken.webm", NULL);
  g_assert_cmpint (symlink ("/nonexistent/clip.webm", link), ==, 0);
  /* Links that resolve, but to a device and to a named pipe: not broken. */
  g_autofree char *zero = g_build_filename (folder, "zero.webm", NULL);
  g_assert_cmpint (symlink ("/dev/zero", zero), ==, 0);
  g_autofree char *fifo = g_build_filename (tmp_root, "junk-fifo", NULL);
  g_unlink (fifo);
  g_assert_cmpint (mkfifo (fifo, 0600), ==, 0);
  g_autofree char *to_fifo = g_build_filename (folder, "fifo.webm", NULL);
  g_assert_cmpint (symlink (fifo, to_fifo), ==, 0);
  g_autofree char *frames = g_build_filename (folder, "no-frames", NULL);
  g_mkdir (frames, 0755);
  g_autofree char *txt = g_build_filename (frames, "a.txt", NULL);
  g_file_set_contents (txt, "x", -1, NULL);
  /* Sound only: must fail at once, not wait for video. */
  g_autofree char *desc = g_strdup_printf ("audiotestsrc num-buffers=10 ! "
      "wavenc ! filesink location=%s/audio-only.mkv", folder);
  run_pipeline (desc);
}

static void
test_undecodable_among_good (void)
{
  FAIL_IF_NO_FIXTURES ();
  const char *labels[] = { "box", "tree", NULL };
  g_autofree char *dir = make_set ("undecodable", labels);
  add_junk (dir, "tree");
  /* A real clip cut in half: decodes partly or not at all, never crashes. */
  g_autofree char *whole = g_build_filename (clips, "stream.mkv", NULL);
  g_autofree char *contents = NULL;
  gsize len;
  g_assert_true (g_file_get_contents (whole, &contents, &len, NULL));
  g_autofree char *half = clip_path (dir, "tree", "half.mkv");
  g_assert_true (g_file_set_contents (half, contents, len / 2, NULL));

  GstHyrsmSupportDir *sd = load_ok (dir);
  g_auto (GStrv) skipped = gst_hyrsm_support_dir_get_skipped (sd);
  for (guint i = 0; skipped[i]; i++)
    g_test_message ("skipped %s", skipped[i]);
  g_assert_true (strv_has_prefix (skipped, "tree/not-video.mp4: "));
  g_assert_true (strv_has_prefix (skipped, "tree/empty.mp4: "));
  g_assert_true (strv_has_prefix (skipped, "tree/truncated.mkv: "));
  g_assert_true (strv_has_prefix (skipped,
          "tree/broken.webm: a broken symbolic link"));
  g_assert_true (strv_has_prefix (skipped, "tree/zero.webm: a symbolic link "
          "to what is not a regular file"));
  g_assert_true (strv_has_prefix (skipped, "tree/fifo.webm: a symbolic link "
          "to what is not a regular file"));
  g_assert_true (strv_has_prefix (skipped, "tree/no-frames: "));
  g_assert_true (strv_has_prefix (skipped, "tree/audio-only.mkv: "));
  g_assert_false (strv_has_prefix (skipped, "tree/notes.txt"));
  g_assert_false (strv_has_prefix (skipped, "box/"));
  guint n_tree = gst_hyrsm_support_dir_get_n_examples (sd, "tree");
  gboolean half_used = !strv_has_prefix (skipped, "tree/half.mkv: ");
  g_assert_cmpuint (n_tree, ==, 3 + (half_used ? 1 : 0));
  g_assert_cmpuint (gst_hyrsm_support_dir_get_n_examples (sd, "box"), ==,
      3);
  g_object_unref (sd);
  rm_rf (dir);
}

static void
test_junk_only_label (void)
{
  FAIL_IF_NO_FIXTURES ();
  const char *labels[] = { "ball", NULL };
  g_autofree char *dir = make_set ("junk-label", labels);
  add_junk (dir, "junk");
  GstHyrsmSupportDir *sd = load_ok (dir);
  g_auto (GStrv) got = gst_hyrsm_support_dir_get_labels (sd);
  g_assert_cmpstrv (got, labels);
  g_auto (GStrv) skipped = gst_hyrsm_support_dir_get_skipped (sd);
  g_assert_true (strv_has_prefix (skipped, "junk/: "));
  g_assert_true (strv_has_prefix (skipped, "junk/empty.mp4: "));
  g_object_unref (sd);

  /* Only junk anywhere: an error naming the set. */
  g_autofree char *ball = g_build_filename (dir, "ball", NULL);
  rm_rf (ball);
  assert_load_fails (dir, HYRSM_ERROR_EMPTY_SUPPORT_SET);
  rm_rf (dir);
}

static void
test_feature_files (void)
{
  FAIL_IF_NO_FIXTURES ();
  const char *labels[] = { "street", NULL };
  g_autofree char *dir = make_set ("features", labels);
  GstHyrsmSupportDir *sd = load_ok (dir);
  g_autofree char *cache = g_strdup (gst_hyrsm_support_dir_get_cache_dir (sd));
  g_object_unref (sd);

  /* A set of .hyrsm files only (e.g. made by enroll), plus one of another
   * model. */
  g_autofree char *feats = make_set ("features-only", NULL);
  g_autofree char *folder = g_build_filename (feats, "walk", NULL);
  g_mkdir (folder, 0755);
  const char *files[] = { "clip_1.mkv", "clip_2.webm", "clip_3.avi", NULL };
  for (guint i = 0; files[i]; i++) {
    g_autofree char *name = g_strconcat (files[i], ".hyrsm", NULL);
    g_autofree char *s = g_build_filename (cache, "street", name, NULL);
    g_autofree char *d = g_build_filename (folder, name, NULL);
    copy_file (s, d);
  }
  g_autofree float *f = cached_features (cache, "street", "clip_1.mkv");
  g_autofree char *alien = g_build_filename (folder, "other-model.hyrsm",
      NULL);
  g_autoptr (GError) error = NULL;
  g_assert_true (hyrsm_features_save (alien, f,
          hyrsm_model_get_frames (model), hyrsm_model_get_feature_dim (model),
          "ffffffffffffffff", "x.mkv", NULL, &error));

  sd = load_ok (feats);
  g_assert_cmpuint (gst_hyrsm_support_dir_get_n_feature_files (sd), ==, 3);
  g_assert_cmpuint (gst_hyrsm_support_dir_get_n_decoded (sd), ==, 0);
  g_assert_cmpuint (gst_hyrsm_support_dir_get_n_examples (sd, "walk"), ==, 3);
  g_auto (GStrv) skipped = gst_hyrsm_support_dir_get_skipped (sd);
  g_assert_cmpuint (g_strv_length (skipped), ==, 1);
  g_assert_true (g_str_has_prefix (skipped[0], "walk/other-model.hyrsm: "));
  g_assert_nonnull (strstr (skipped[0], "ffffffffffffffff"));
  /* The cache files carry the clips' durations. */
  GstClockTime median = gst_hyrsm_support_dir_get_median_duration (sd);
  g_assert_cmpuint (median, >=, 1500 * GST_MSECOND);
  g_assert_cmpuint (median, <=, 1700 * GST_MSECOND);
  g_object_unref (sd);
  rm_rf (dir);
  rm_rf (feats);
}

/* Label folders whose names are not UTF-8 stay distinct classes: bytes
 * that are not UTF-8 are written \\xNN in the label (the fuzz input
 * regressions/support-dir/non-utf8-labels-merge once merged them), and a
 * folder whose label another folder already has is refused, naming both. */
static void
test_non_utf8_labels (void)
{
  FAIL_IF_NO_FIXTURES ();
  const char *labels[] = { "street", NULL };
  g_autofree char *dir = make_set ("utf8-src", labels);
  GstHyrsmSupportDir *sd = load_ok (dir);
  g_autofree char *cache = g_strdup (gst_hyrsm_support_dir_get_cache_dir (sd));
  g_object_unref (sd);

  g_autofree char *set = make_set ("non-utf8", NULL);
  const char *folders[] = { "cam\xff", "cam\xfe", NULL };
  for (guint i = 0; folders[i]; i++) {
    g_autofree char *folder = g_build_filename (set, folders[i], NULL);
    g_assert_cmpint (g_mkdir (folder, 0755), ==, 0);
    g_autofree char *s = g_build_filename (cache, "street",
        "clip_1.mkv.hyrsm", NULL);
    g_autofree char *d = g_build_filename (folder, "a.hyrsm", NULL);
    copy_file (s, d);
  }
  sd = load_ok (set);
  g_auto (GStrv) names = gst_hyrsm_support_dir_get_labels (sd);
  g_assert_cmpuint (g_strv_length (names), ==, 2);
  g_assert_cmpuint (gst_hyrsm_support_dir_get_n_examples (sd, "cam\\xfe"),
      ==, 1);
  g_assert_cmpuint (gst_hyrsm_support_dir_get_n_examples (sd, "cam\\xff"),
      ==, 1);
  g_assert_cmpuint (hyrsm_support_set_get_n_examples
      (gst_hyrsm_support_dir_get_support_set (sd)), ==, 2);
  g_object_unref (sd);

  /* A folder literally named cam\xff has the same label: refused. */
  g_autofree char *literal = g_build_filename (set, "cam\\xff", NULL);
  g_assert_cmpint (g_mkdir (literal, 0755), ==, 0);
  g_autofree char *s = g_build_filename (cache, "street",
      "clip_2.webm.hyrsm", NULL);
  g_autofree char *d = g_build_filename (literal, "b.hyrsm", NULL);
  copy_file (s, d);
  sd = load_ok (set);
  g_auto (GStrv) names2 = gst_hyrsm_support_dir_get_labels (sd);
  g_assert_cmpuint (g_strv_length (names2), ==, 2);
  g_assert_cmpuint (hyrsm_support_set_get_n_examples
      (gst_hyrsm_support_dir_get_support_set (sd)), ==, 2);
  g_auto (GStrv) skipped = gst_hyrsm_support_dir_get_skipped (sd);
  g_assert_cmpuint (g_strv_length (skipped), ==, 1);
  g_assert_true (g_utf8_validate (skipped[0], -1, NULL));
  g_assert_nonnull (strstr (skipped[0], "is already the label of folder"));
  g_object_unref (sd);
  rm_rf (dir);
  rm_rf (set);
}

/* Runs a gst-launch style pipeline to EOS. */
static void
run_pipeline (const char *description)
{
  g_autoptr (GError) error = NULL;
  GstElement *p = gst_parse_launch (description, &error);
  g_assert_no_error (error);
  gst_element_set_state (p, GST_STATE_PLAYING);
  GstBus *bus = gst_element_get_bus (p);
  GstMessage *msg = gst_bus_timed_pop_filtered (bus, 60 * GST_SECOND,
      GST_MESSAGE_EOS | GST_MESSAGE_ERROR);
  g_assert_nonnull (msg);
  g_assert_cmpint (GST_MESSAGE_TYPE (msg), ==, GST_MESSAGE_EOS);
  gst_message_unref (msg);
  gst_object_unref (bus);
  gst_element_set_state (p, GST_STATE_NULL);
  gst_object_unref (p);
}

/* The same JPEG frames as an AVI (frame count announced), a multipart
 * stream (count unknown: decoded twice once over the keep-all budget) and
 * a folder of frames give the same sampled frames, hence the same
 * features; short (24 frames) and long (150 frames of 640x480, 138 MB of
 * RGB) clips. */
static void
test_same_frames_every_way (void)
{
  FAIL_IF_NO_FIXTURES ();
  g_autofree char *dir = make_set ("every-way", NULL);
  const struct
  {
    const char *label;
    int frames, width, height;
  } cases[] = {
    {"short", 24, 160, 120},
    {"long", 150, 640, 480},
  };
  for (guint i = 0; i < G_N_ELEMENTS (cases); i++) {
    g_autofree char *folder = g_build_filename (dir, cases[i].label, NULL);
    g_autofree char *frames = g_build_filename (folder, "frames", NULL);
    g_mkdir_with_parents (frames, 0755);
    g_autofree char *desc = g_strdup_printf ("videotestsrc pattern=ball "
        "num-buffers=%d ! video/x-raw,width=%d,height=%d,framerate=30/1 ! "
        "timeoverlay ! jpegenc ! tee name=t "
        "t. ! queue ! avimux ! filesink location=%s/clip.avi "
        "t. ! queue ! multipartmux ! filesink location=%s/clip.mjpeg "
        "t. ! queue ! multifilesink location=%s/%%05d.jpg",
        cases[i].frames, cases[i].width, cases[i].height, folder, folder,
        frames);
    run_pipeline (desc);
  }
  GstHyrsmSupportDir *sd = load_ok (dir);
  g_auto (GStrv) skipped = gst_hyrsm_support_dir_get_skipped (sd);
  g_assert_cmpuint (g_strv_length (skipped), ==, 0);
  g_assert_cmpuint (gst_hyrsm_support_dir_get_n_decoded (sd), ==, 6);
  const char *cache = gst_hyrsm_support_dir_get_cache_dir (sd);
  for (guint i = 0; i < G_N_ELEMENTS (cases); i++) {
    g_autofree float *avi = cached_features (cache, cases[i].label,
        "clip.avi");
    g_autofree float *mjpeg = cached_features (cache, cases[i].label,
        "clip.mjpeg");
    g_autofree float *folder = cached_features (cache, cases[i].label,
        "frames");
    assert_features_close (avi, mjpeg);
    assert_features_close (avi, folder);
  }
  g_object_unref (sd);
  rm_rf (dir);
}

static void
on_progress (guint done, guint total, const gchar *label, const gchar *file,
    gpointer user_data)
{
  GArray *calls = user_data;
  g_assert_cmpuint (done, ==, calls->len);
  g_assert_cmpuint (done, <=, total);
  g_assert_true ((label == NULL) == (done == total));
  g_array_append_val (calls, total);
}

static void
test_progress_and_cancel (void)
{
  FAIL_IF_NO_FIXTURES ();
  const char *labels[] = { "tree", "street", NULL };
  g_autofree char *dir = make_set ("progress", labels);
  GArray *calls = g_array_new (FALSE, FALSE, sizeof (guint));
  g_autoptr (GError) error = NULL;
  GstHyrsmSupportDir *sd = gst_hyrsm_support_dir_load_full (model, dir,
      GST_HYRSM_SUPPORT_DIR_NO_CACHE, on_progress, calls, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (calls->len, ==, 7);
  g_assert_cmpuint (g_array_index (calls, guint, 0), ==, 6);
  g_assert_null (gst_hyrsm_support_dir_get_cache_dir (sd));
  g_assert_cmpuint (gst_hyrsm_support_dir_get_n_decoded (sd), ==, 6);
  g_object_unref (sd);
  g_array_unref (calls);
  g_autofree char *cache = g_build_filename (dir, ".hyrsm-cache", NULL);
  g_assert_false (g_file_test (cache, G_FILE_TEST_EXISTS));

  GCancellable *cancel = g_cancellable_new ();
  g_cancellable_cancel (cancel);
  g_assert_null (gst_hyrsm_support_dir_load (model, dir, cancel, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  g_object_unref (cancel);
  rm_rf (dir);
}

/* ---- setup ---- */

static gboolean
spawn (const char *const *argv)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *out = NULL, *err = NULL;
  gint status = 0;
  if (!g_spawn_sync (NULL, (char **) argv, NULL, G_SPAWN_SEARCH_PATH, NULL,
          NULL, &out, &err, &status, &error)
      || !g_spawn_check_wait_status (status, &error)) {
    g_printerr ("# %s failed: %s\n%s", argv[0], error->message,
        err ? err : "");
    return FALSE;
  }
  return TRUE;
}

/* A random-weight ResNet-18 with a 64 x 64 crop (fast); the C tool's
 * 224 x 224 one when Python with torch is missing. */
static gboolean
make_model (const char *path)
{
  const char *python = g_getenv ("HYRSM_PYTHON");
  const char *fixtures = g_getenv ("HYRSM_FIXTURES");
  if (python && fixtures) {
    g_autofree char *script = g_build_filename (fixtures, "make_model.py",
        NULL);
    const char *argv[] = { python, script, path, "--backbone", "resnet18",
      "--head", "none", "--meta", "hyrsm.crop=64", "--meta",
      "hyrsm.resize=72", NULL
    };
    if (spawn (argv))
      return TRUE;
  }
  const char *tool = g_getenv ("HYRSM_MAKE_TEST_MODEL");
  const char *argv[] = { tool, "--backbone", "resnet18", path, NULL };
  return tool && spawn (argv);
}

static void
setup (void)
{
  const char *fixtures = g_getenv ("HYRSM_FIXTURES");
  if (fixtures == NULL) {
    fixture_error = "HYRSM_FIXTURES is not set (run through meson test)";
    return;
  }
  const char *env_clips = g_getenv ("HYRSM_CLIPS_DIR");
  clips = env_clips ? g_strdup (env_clips) : g_build_filename (tmp_root,
      "clips", NULL);
  g_autofree char *script = g_build_filename (fixtures, "make_clips.sh", NULL);
  const char *argv[] = { "sh", script, clips, NULL };
  if (!spawn (argv)) {
    fixture_error = "make_clips.sh could not make the clips (its source "
        "videos come from scripts/install-deps.sh; see its output above)";
    return;
  }
  g_autofree char *path = g_build_filename (tmp_root, "r18.safetensors",
      NULL);
  g_autoptr (GError) error = NULL;
  if (!make_model (path)
      || !(model = hyrsm_model_new_from_file (path, &error))) {
    fixture_error = "no test model could be made";
    return;
  }
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, G_TEST_OPTION_ISOLATE_DIRS, NULL);
  gst_init (&argc, &argv);
  tmp_root = g_dir_make_tmp ("hyrsm-support-XXXXXX", NULL);
  g_assert_nonnull (tmp_root);
  setup ();

  g_test_add_func ("/support-dir/sample-index", test_sample_index);
  g_test_add_func ("/support-dir/load", test_load);
  g_test_add_func ("/support-dir/cache/reused-without-decoding",
      test_cache_reused_without_decoding);
  g_test_add_func ("/support-dir/cache/invalidated-by-mtime",
      test_cache_invalidated_by_mtime);
  g_test_add_func ("/support-dir/cache/read-only-set",
      test_read_only_uses_user_cache);
  g_test_add_func ("/support-dir/errors/missing", test_missing_dir);
  g_test_add_func ("/support-dir/errors/empty", test_empty_dir);
  g_test_add_func ("/support-dir/skip/undecodable-among-good",
      test_undecodable_among_good);
  g_test_add_func ("/support-dir/skip/junk-only-label", test_junk_only_label);
  g_test_add_func ("/support-dir/feature-files", test_feature_files);
  g_test_add_func ("/support-dir/labels/non-utf8-stay-distinct",
      test_non_utf8_labels);
  g_test_add_func ("/support-dir/sampling/same-frames-every-way",
      test_same_frames_every_way);
  g_test_add_func ("/support-dir/progress-and-cancel",
      test_progress_and_cancel);

  int ret = g_test_run ();
  g_clear_object (&model);
  rm_rf (tmp_root);
  g_free (tmp_root);
  g_free (clips);
  return ret;
}
