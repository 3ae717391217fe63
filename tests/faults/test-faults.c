/* test-faults.c: faults injected while hyrsmfilter and the support-set
 * loader work (docs/reliability.md lists them all). Each must end in a
 * correct result or a clear error: never a crash, a hang or a lost frame.
 *
 *   /faults/support/vanishes            DIR removed while PLAYING, reload
 *   /faults/support/unreadable          DIR (or one file in it) unreadable
 *   /faults/support/replaced-by-file    DIR becomes a plain file
 *   /faults/support/churn               files come and go during loads
 *   /faults/clip/truncated-while-decoding
 *   /faults/clip/truncated-header       decodebin's lost error (no stall)
 *   /faults/cache/local-is-a-file       DIR/.hyrsm-cache is a file
 *   /faults/cache/nowhere-to-write      ... and the user cache dir too
 *   /faults/cache/full                  a full disk (tiny tmpfs, or a file
 *                                       size limit where mount is denied)
 *   /faults/model/changed-after-load    garbage, then another model
 *   /faults/model/rewritten-while-loading
 *   /faults/shared-model/teardown-mid-window
 *   /faults/element/teardown-during-reload
 *   /faults/element/signals-during-stop
 *   /faults/element/properties-from-threads
 */
#include "reliability-util.h"

#include <errno.h>
#include <fcntl.h>
#include <glib/gstdio.h>
#include <gsthyrsm.h>
#include <hyrsm.h>
#include <signal.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#define WINDOW_PROPS "window 800000000 stride 200000000"

static char *base_set;          /* labels left, right: 2 .hyrsm each */
static char *other_set;         /* labels up, down, still */
static char *clip_path;         /* 12 frames 64x48 MJPEG/AVI */

/* ---- helpers ---- */

static char *
copy_set (const char *src, const char *name)
{
  char *dst = g_build_filename (rel_tmpdir (), name, NULL);
  rel_sh ("rm -rf '%s' && cp -r '%s' '%s'", dst, src, dst);
  return dst;
}

/* Pushes frames [@from, @to) and checks each comes out, in order. */
static void
push_range (GstHarness *h, guint64 from, guint64 to)
{
  for (guint64 i = from; i < to; i++) {
    GstBuffer *out = gst_harness_push_and_pull (h, rel_make_frame (h, i));
    g_assert_nonnull (out);
    g_assert_cmpuint (GST_BUFFER_PTS (out), ==,
        gst_util_uint64_scale (i, GST_SECOND, 30));
    gst_buffer_unref (out);
  }
}

/* The first message of @type (and, for element messages, named @name) on
 * @bus within @timeout_s; NULL if none. */
static GstMessage *
wait_message (GstBus *bus, GstMessageType type, const char *name,
    int timeout_s)
{
  gint64 end = g_get_monotonic_time () + timeout_s * G_TIME_SPAN_SECOND;
  while (g_get_monotonic_time () < end) {
    GstMessage *msg = gst_bus_timed_pop_filtered (bus, 50 * GST_MSECOND,
        type);
    if (msg == NULL)
      continue;
    if (name == NULL || (gst_message_get_structure (msg)
            && gst_structure_has_name (gst_message_get_structure (msg),
                name)))
      return msg;
    gst_message_unref (msg);
  }
  return NULL;
}

/* Decisions posted since the last call; the labels of the last one. */
static guint
drain_decisions (GstBus *bus, guint *n_labels)
{
  guint n = 0;
  GstMessage *msg;
  while ((msg = gst_bus_pop_filtered (bus, GST_MESSAGE_ELEMENT))) {
    const GstStructure *s = gst_message_get_structure (msg);
    if (gst_structure_has_name (s, "hyrsm")) {
      n++;
      if (n_labels)
        *n_labels = gst_value_array_get_size (gst_structure_get_value (s,
                "labels"));
    }
    gst_message_unref (msg);
  }
  return n;
}

static guint
n_labels_of (GstElement *e)
{
  gchar **labels = NULL;
  g_object_get (e, "labels", &labels, NULL);
  guint n = labels ? g_strv_length (labels) : 0;
  g_strfreev (labels);
  return n;
}

/* A warning about @path, within 30 s. */
static void
expect_warning (GstBus *bus, const char *path)
{
  GstMessage *msg = wait_message (bus, GST_MESSAGE_WARNING, NULL, 30);
  g_assert_nonnull (msg);
  GError *error = NULL;
  char *debug = NULL;
  gst_message_parse_warning (msg, &error, &debug);
  g_test_message ("warning: %s (%s)", error->message, debug);
  g_assert_true (strstr (error->message, path) != NULL);
  g_error_free (error);
  g_free (debug);
  gst_message_unref (msg);
}

/* ---- the support directory ---- */

/* Sync mode (not live): every window is decided, so decisions can be
 * counted exactly. */
static void
test_support_vanishes (void)
{
  g_autofree char *dir = copy_set (base_set, "vanishing");
  GstBus *bus;
  GstHarness *h = rel_harness_new (rel_model_path (), dir,
      WINDOW_PROPS " sync always", FALSE, &bus);
  push_range (h, 0, 30);
  guint labels = 0;
  g_assert_cmpuint (drain_decisions (bus, &labels), >, 0);
  g_assert_cmpuint (labels, ==, 2);

  rel_sh ("rm -rf '%s'", dir);
  g_signal_emit_by_name (h->element, "reload");
  expect_warning (bus, dir);
  /* The previous set goes on serving. */
  push_range (h, 30, 60);
  g_assert_cmpuint (drain_decisions (bus, &labels), >, 0);
  g_assert_cmpuint (labels, ==, 2);
  g_assert_cmpuint (n_labels_of (h->element), ==, 2);

  /* It comes back, with a third label: a reload picks it up. */
  g_free (copy_set (other_set, "vanishing"));
  g_signal_emit_by_name (h->element, "reload");
  /* Generous: a load still decoding (slow under ASan on a loaded
   * machine) finishes before the newest path is loaded. */
  GstMessage *msg = wait_message (bus, GST_MESSAGE_ELEMENT, "hyrsm-support",
      120);
  g_assert_nonnull (msg);
  gst_message_unref (msg);
  push_range (h, 60, 90);
  g_assert_cmpuint (drain_decisions (bus, &labels), >, 0);
  g_assert_cmpuint (labels, ==, 3);
  g_assert_cmpuint (rel_stat (h->element, "frames-in"), ==, 90);
  rel_harness_free (h, bus);
}

static void
test_support_unreadable (void)
{
  g_autofree char *dir = copy_set (base_set, "unreadable");
  GstBus *bus;
  GstHarness *h = rel_harness_new (rel_model_path (), dir,
      WINDOW_PROPS " sync always", FALSE, &bus);
  push_range (h, 0, 30);
  drain_decisions (bus, NULL);

  /* Root reads anything: drop to nobody (every thread, as glibc's
   * seteuid does) while the background load runs. */
  gboolean as_nobody = geteuid () == 0;
  if (as_nobody)
    rel_sh ("chmod 755 '%s'", rel_tmpdir ());
  g_assert_cmpint (g_chmod (dir, 0), ==, 0);
  if (as_nobody && seteuid (65534) != 0) {
    g_chmod (dir, 0755);
    rel_harness_free (h, bus);
    g_test_skip ("cannot drop root privileges to make a folder unreadable");
    return;
  }
  g_signal_emit_by_name (h->element, "reload");
  expect_warning (bus, dir);
  if (as_nobody)
    g_assert_cmpint (seteuid (0), ==, 0);
  push_range (h, 30, 60);
  guint labels = 0;
  g_assert_cmpuint (drain_decisions (bus, &labels), >, 0);
  g_assert_cmpuint (labels, ==, 2);

  /* Readable again, but one example file is not: the rest loads. */
  g_assert_cmpint (g_chmod (dir, 0755), ==, 0);
  g_autofree char *one = g_build_filename (dir, "left", "ex0.hyrsm", NULL);
  g_assert_cmpint (g_chmod (one, 0), ==, 0);
  if (as_nobody)
    g_assert_cmpint (seteuid (65534), ==, 0);
  g_signal_emit_by_name (h->element, "reload");
  GstMessage *msg = wait_message (bus, GST_MESSAGE_ELEMENT, "hyrsm-support",
      30);
  if (as_nobody)
    g_assert_cmpint (seteuid (0), ==, 0);
  g_assert_nonnull (msg);
  gst_message_unref (msg);
  push_range (h, 60, 90);
  g_assert_cmpuint (drain_decisions (bus, &labels), >, 0);
  g_assert_cmpuint (labels, ==, 2);
  g_assert_cmpuint (rel_stat (h->element, "frames-in"), ==, 90);
  rel_harness_free (h, bus);
}

static void
test_support_replaced_by_file (void)
{
  g_autofree char *dir = copy_set (base_set, "replaced");
  GstBus *bus;
  GstHarness *h = rel_harness_new (rel_model_path (), dir,
      WINDOW_PROPS " sync always", FALSE, &bus);
  push_range (h, 0, 30);
  rel_sh ("rm -rf '%s' && echo 'not a folder' > '%s'", dir, dir);
  g_signal_emit_by_name (h->element, "reload");
  expect_warning (bus, dir);
  drain_decisions (bus, NULL);
  push_range (h, 30, 60);
  guint labels = 0;
  g_assert_cmpuint (drain_decisions (bus, &labels), >, 0);
  g_assert_cmpuint (labels, ==, 2);
  rel_harness_free (h, bus);
}

typedef struct
{
  const char *dir;
  volatile gint stop;
  guint rounds;
} Churn;

static gpointer
churn_thread (gpointer data)
{
  Churn *c = data;
  while (!g_atomic_int_get (&c->stop)) {
    rel_sh ("rm -rf '%s/left' '%s/.hyrsm-cache'; cp -r '%s/left' '%s/'; "
        "cp '%s' '%s/right/clip.avi'; rm -f '%s/right/clip.avi'", c->dir,
        c->dir, base_set, c->dir, clip_path, c->dir, c->dir);
    c->rounds++;
  }
  return NULL;
}

/* Files appear and vanish while loads run: each load ends in a set or a
 * warning, and frames never wait (live). */
static void
test_support_churn (void)
{
  g_autofree char *dir = copy_set (base_set, "churn");
  GstBus *bus;
  GstHarness *h = rel_harness_new (rel_model_path (), dir, WINDOW_PROPS,
      TRUE, &bus);
  Churn c = {.dir = dir };
  GThread *t = g_thread_new ("churn", churn_thread, &c);
  for (guint i = 0; i < 40; i++) {
    push_range (h, i * 15, (i + 1) * 15);
    g_signal_emit_by_name (h->element, "reload");
    g_usleep (20000);
  }
  g_atomic_int_set (&c.stop, 1);
  g_thread_join (t);
  g_test_message ("%u churn rounds", c.rounds);
  g_free (copy_set (base_set, "churn"));
  gst_bus_set_flushing (bus, TRUE);
  gst_bus_set_flushing (bus, FALSE);
  g_signal_emit_by_name (h->element, "reload");
  GstMessage *msg = wait_message (bus, GST_MESSAGE_ELEMENT, "hyrsm-support",
      30);
  g_assert_nonnull (msg);
  gst_message_unref (msg);
  g_assert_cmpuint (n_labels_of (h->element), ==, 2);
  g_assert_cmpuint (rel_stat (h->element, "frames-in"), ==, 600);
  rel_harness_free (h, bus);
}

/* ---- clips ---- */

typedef struct
{
  HyrsmModel *model;
  const char *dir;
  GstHyrsmSupportDirFlags flags;
  GstHyrsmSupportDir *result;
  GError *error;
} Load;

static gpointer
load_thread (gpointer data)
{
  Load *l = data;
  l->result = gst_hyrsm_support_dir_load_full (l->model, l->dir, l->flags,
      NULL, NULL, NULL, &l->error);
  return NULL;
}

static HyrsmModel *
shared_model (void)
{
  GError *error = NULL;
  HyrsmModel *model = hyrsm_model_new_shared (rel_model_path (), "cpu",
      &error);
  g_assert_no_error (error);
  return model;
}

static guint64
file_size (const char *path)
{
  GStatBuf st;
  g_assert_cmpint (g_stat (path, &st), ==, 0);
  return st.st_size;
}

/* A long clip is cut to a third of its size at various moments of its
 * decoding: the load ends with the clip either used (the frames decoded
 * before the cut) or skipped with a reason, never hangs; and a cached
 * result is only ever reused for the file it was computed from. */
static void
test_clip_truncated_while_decoding (void)
{
  HyrsmModel *model = shared_model ();
  g_autofree char *dir = copy_set (base_set, "truncating");
  g_autofree char *big = g_build_filename (rel_tmpdir (), "big.avi", NULL);
  rel_make_clip (big, 450, 320, 240);
  g_autofree char *clip = g_build_filename (dir, "left", "long.avi", NULL);
  g_autofree char *cache_file = g_build_filename (dir, ".hyrsm-cache",
      rel_model_fingerprint (), "left", "long.avi.hyrsm", NULL);
  const int delays_ms[] = { 0, 30, 80, 150, 300, 600 };
  for (guint i = 0; i < G_N_ELEMENTS (delays_ms); i++) {
    rel_sh ("cp '%s' '%s'", big, clip);
    Load l = {.model = model,.dir = dir };
    gint64 t0 = g_get_monotonic_time ();
    GThread *t = g_thread_new ("load", load_thread, &l);
    g_usleep (delays_ms[i] * 1000);
    g_assert_cmpint (truncate (clip, file_size (big) / 3), ==, 0);
    g_thread_join (t);
    double s = (g_get_monotonic_time () - t0) / 1e6;
    g_assert_no_error (l.error);
    g_assert_nonnull (l.result);
    g_auto (GStrv) skipped = gst_hyrsm_support_dir_get_skipped (l.result);
    guint n_left = gst_hyrsm_support_dir_get_n_examples (l.result, "left");
    g_test_message ("cut after %d ms: load took %.2f s, left has %u "
        "examples, %u skipped%s%s", delays_ms[i], s, n_left,
        g_strv_length (skipped), skipped[0] ? ": " : "",
        skipped[0] ? skipped[0] : "");
    g_assert_cmpfloat (s, <, 40);
    g_assert_true (n_left == 3 || (n_left == 2 && skipped[0]
            && strstr (skipped[0], "long.avi")));
    g_object_unref (l.result);

    /* Whatever was cached must name the file as it is now to be used. */
    Load again = {.model = model,.dir = dir };
    load_thread (&again);
    g_assert_no_error (again.error);
    if (gst_hyrsm_support_dir_get_n_cached (again.result) > 0) {
      g_autoptr (GHashTable) meta = NULL;
      g_autofree float *f = NULL;
      g_assert_true (hyrsm_features_load_full (cache_file, model, &f, &meta,
              NULL));
      g_autofree char *size = g_strdup_printf ("%" G_GUINT64_FORMAT,
          file_size (clip));
      g_assert_cmpstr (g_hash_table_lookup (meta,
              HYRSM_FEATURES_KEY_SOURCE_SIZE), ==, size);
    }
    g_object_unref (again.result);
    rel_sh ("rm -rf '%s/.hyrsm-cache'", dir);
  }
  g_object_unref (model);
}

/* An AVI cut inside its headers: decodebin can drop avidemux's error
 * (a race in its state change), which left the decode waiting 30 s; it
 * must now be skipped within seconds, every time. */
static void
test_clip_truncated_header (void)
{
  HyrsmModel *model = shared_model ();
  g_autofree char *dir = copy_set (base_set, "truncated-header");
  rel_sh ("head -c 512 '%s' > '%s/left/cut.avi'", clip_path, dir);
  for (guint i = 0; i < 6; i++) {
    Load l = {.model = model,.dir = dir,.flags =
          GST_HYRSM_SUPPORT_DIR_NO_CACHE
    };
    gint64 t0 = g_get_monotonic_time ();
    load_thread (&l);
    double s = (g_get_monotonic_time () - t0) / 1e6;
    g_assert_no_error (l.error);
    g_auto (GStrv) skipped = gst_hyrsm_support_dir_get_skipped (l.result);
    g_test_message ("load %u: %.2f s, skipped %s", i, s, skipped[0]);
    g_assert_nonnull (skipped[0]);
    g_assert_nonnull (strstr (skipped[0], "cut.avi"));
    g_assert_cmpfloat (s, <, 10);
    g_object_unref (l.result);
  }
  g_object_unref (model);
}

/* ---- the feature cache ---- */

static char *
clip_set (const char *name)
{
  char *dir = copy_set (base_set, name);
  rel_sh ("cp '%s' '%s/left/clip.avi'", clip_path, dir);
  return dir;
}

static GstHyrsmSupportDir *
load_dir (HyrsmModel *model, const char *dir)
{
  GError *error = NULL;
  GstHyrsmSupportDir *sd = gst_hyrsm_support_dir_load (model, dir, NULL,
      &error);
  g_assert_no_error (error);
  g_assert_cmpuint (gst_hyrsm_support_dir_get_n_examples (sd, "left"), ==,
      3);
  return sd;
}

static void
test_cache_local_is_a_file (void)
{
  HyrsmModel *model = shared_model ();
  g_autofree char *dir = clip_set ("cache-file");
  rel_sh ("echo 'not a folder' > '%s/.hyrsm-cache'", dir);
  GstHyrsmSupportDir *sd = load_dir (model, dir);
  g_assert_cmpuint (gst_hyrsm_support_dir_get_n_decoded (sd), ==, 1);
  const char *cache = gst_hyrsm_support_dir_get_cache_dir (sd);
  g_assert_nonnull (cache);
  g_assert_true (g_str_has_prefix (cache, g_get_user_cache_dir ()));
  g_object_unref (sd);
  /* The user cache dir serves the next load. */
  sd = load_dir (model, dir);
  g_assert_cmpuint (gst_hyrsm_support_dir_get_n_cached (sd), ==, 1);
  g_assert_cmpuint (gst_hyrsm_support_dir_get_n_decoded (sd), ==, 0);
  g_object_unref (sd);
  g_object_unref (model);
}

static void
test_cache_nowhere_to_write (void)
{
  HyrsmModel *model = shared_model ();
  g_autofree char *dir = clip_set ("cache-nowhere");
  g_autofree char *user = g_build_filename (g_get_user_cache_dir (),
      "gst-hyrsm", NULL);
  rel_sh ("echo 'not a folder' > '%s/.hyrsm-cache' && rm -rf '%s' && "
      "mkdir -p '%s' && echo x > '%s/gst-hyrsm'", dir, user,
      g_get_user_cache_dir (), g_get_user_cache_dir ());
  for (int i = 0; i < 2; i++) {
    GstHyrsmSupportDir *sd = load_dir (model, dir);
    g_assert_cmpuint (gst_hyrsm_support_dir_get_n_decoded (sd), ==, 1);
    g_assert_null (gst_hyrsm_support_dir_get_cache_dir (sd));
    g_object_unref (sd);
  }
  rel_sh ("rm -f '%s'", user);
  g_object_unref (model);
}

/* Features of @sd's "left" clip as a match against a one-example set,
 * through its support set: the distance to itself, to compare loads. */
static double
self_distance (GstHyrsmSupportDir *sd, const float *query)
{
  HyrsmSupportSet *set = gst_hyrsm_support_dir_get_support_set (sd);
  GError *error = NULL;
  HyrsmMatchResult *res = hyrsm_support_set_match_raw (set, query, &error);
  g_assert_no_error (error);
  double d = hyrsm_match_result_get_distance (res);
  g_object_unref (res);
  return d;
}

/* A full disk, two ways: a 4 KiB tmpfs mounted on DIR/.hyrsm-cache (where
 * mount is allowed: the user cache dir then takes the features), and a
 * 4 KiB file size limit for the whole process (writes fail with EFBIG,
 * SIGXFSZ ignored: no cache can be written at all). The load must give the
 * same set as a load without cache, leave no partial cache file where a
 * load would read it, and cache normally once there is room. */
static void
cache_full_case (HyrsmModel *model, gboolean use_mount)
{
  g_autofree char *dir = clip_set (use_mount ? "cache-full-tmpfs" :
      "cache-full-limit");
  g_autofree char *cache = g_build_filename (dir, ".hyrsm-cache", NULL);
  rel_sh ("rm -rf '%s/gst-hyrsm'", g_get_user_cache_dir ());
  g_mkdir_with_parents (cache, 0755);
  struct rlimit old_limit;
  void (*old_handler) (int) = SIG_DFL;
  if (use_mount) {
    g_assert_cmpint (mount ("tmpfs", cache, "tmpfs", 0, "size=4k"), ==, 0);
  } else {
    getrlimit (RLIMIT_FSIZE, &old_limit);
    struct rlimit small = { 4096, old_limit.rlim_max };
    old_handler = signal (SIGXFSZ, SIG_IGN);
    g_assert_cmpint (setrlimit (RLIMIT_FSIZE, &small), ==, 0);
  }
  GError *error = NULL;
  GstHyrsmSupportDir *sd = gst_hyrsm_support_dir_load (model, dir, NULL,
      &error);
  /* Nothing half-written was left where the next load would look. */
  g_autofree char *cached = g_build_filename (cache, rel_model_fingerprint (),
      "left", "clip.avi.hyrsm", NULL);
  if (g_file_test (cached, G_FILE_TEST_EXISTS))
    g_assert_true (hyrsm_features_load_full (cached, model, NULL, NULL,
            NULL));
  if (use_mount) {
    g_assert_cmpint (umount (cache), ==, 0);
  } else {
    setrlimit (RLIMIT_FSIZE, &old_limit);
    signal (SIGXFSZ, old_handler);
  }
  g_assert_no_error (error);
  g_assert_cmpuint (gst_hyrsm_support_dir_get_n_examples (sd, "left"), ==,
      3);
  g_assert_cmpuint (gst_hyrsm_support_dir_get_n_decoded (sd), ==, 1);
  const char *used = gst_hyrsm_support_dir_get_cache_dir (sd);
  g_test_message ("%s: features cached in %s", use_mount ? "tmpfs" :
      "file size limit", used ? used : "(nowhere)");
  if (use_mount)
    g_assert_true (used && g_str_has_prefix (used, g_get_user_cache_dir ()));
  else
    g_assert_null (used);

  /* The same set as without any cache. */
  GstHyrsmSupportDir *plain = gst_hyrsm_support_dir_load_full (model, dir,
      GST_HYRSM_SUPPORT_DIR_NO_CACHE, NULL, NULL, NULL, &error);
  g_assert_no_error (error);
  float *query = g_new0 (float, REL_T * REL_D);
  for (int i = 0; i < REL_T * REL_D; i++)
    query[i] = (float) (i % 13) / 13.0f;
  g_assert_cmpfloat_with_epsilon (self_distance (sd, query),
      self_distance (plain, query), 1e-5);
  g_object_unref (plain);
  g_object_unref (sd);
  g_free (query);

  /* With room again, the cache is written and then used. */
  rel_sh ("rm -rf '%s' '%s/gst-hyrsm'", cache, g_get_user_cache_dir ());
  sd = load_dir (model, dir);
  g_assert_cmpuint (gst_hyrsm_support_dir_get_n_decoded (sd), ==, 1);
  g_object_unref (sd);
  sd = load_dir (model, dir);
  g_assert_cmpuint (gst_hyrsm_support_dir_get_n_cached (sd), ==, 1);
  g_object_unref (sd);
}

static void
test_cache_full (void)
{
  HyrsmModel *model = shared_model ();
  /* Whether this process may mount (root with CAP_SYS_ADMIN, not in every
   * container): try on a scratch folder. */
  g_autofree char *probe = g_build_filename (rel_tmpdir (), "mount-probe",
      NULL);
  g_mkdir_with_parents (probe, 0755);
  if (mount ("tmpfs", probe, "tmpfs", 0, "size=4k") == 0) {
    umount (probe);
    cache_full_case (model, TRUE);
  } else {
    g_test_message ("mount: %s: only the file size limit is tried",
        g_strerror (errno));
  }
  cache_full_case (model, FALSE);
  g_object_unref (model);
}

/* ---- the model file ---- */

static void
write_in_place (const char *path, const void *data, gsize size)
{
  /* Not g_file_set_contents: an editor or `cp` rewrites the same inode. */
  FILE *f = fopen (path, "r+b");
  if (f == NULL)
    f = fopen (path, "wb");
  g_assert_nonnull (f);
  g_assert_cmpint (ftruncate (fileno (f), 0), ==, 0);
  g_assert_cmpuint (fwrite (data, 1, size, f), ==, size);
  fclose (f);
}

static GError *
start_error (const char *model, const char *support)
{
  GstElement *e = gst_element_factory_make ("hyrsmfilter", NULL);
  g_object_set (e, "model", model, "support", support, NULL);
  GstBus *bus = gst_bus_new ();
  gst_element_set_bus (e, bus);
  GError *error = NULL;
  if (gst_element_set_state (e, GST_STATE_PAUSED) == GST_STATE_CHANGE_FAILURE) {
    GstMessage *msg = gst_bus_pop_filtered (bus, GST_MESSAGE_ERROR);
    g_assert_nonnull (msg);
    gst_message_parse_error (msg, &error, NULL);
    gst_message_unref (msg);
  }
  gst_element_set_state (e, GST_STATE_NULL);
  gst_element_set_bus (e, NULL);
  gst_object_unref (bus);
  gst_object_unref (e);
  return error;
}

/* The model file is overwritten in place while an element uses it: the
 * element goes on unaffected (the weights were copied at load); a new
 * element fails clearly on garbage, and loads the new model when the file
 * is another valid model, embedding the clips anew (its fingerprint
 * differs: the old cache and the old .hyrsm files are not used). */
static void
test_model_changed_after_load (void)
{
  g_autofree char *model = g_build_filename (rel_tmpdir (), "changing.st",
      NULL);
  rel_sh ("cp '%s' '%s'", rel_model_path (), model);
  g_autofree char *dir = clip_set ("changing-model");
  GstBus *bus;
  GstHarness *h = rel_harness_new (model, dir, WINDOW_PROPS " sync always",
      FALSE, &bus);
  push_range (h, 0, 30);
  g_assert_cmpuint (drain_decisions (bus, NULL), >, 0);

  write_in_place (model, "garbage", 7);
  push_range (h, 30, 60);
  g_assert_cmpuint (drain_decisions (bus, NULL), >, 0);
  GError *error = start_error (model, dir);
  g_assert_nonnull (error);
  g_assert_true (g_error_matches (error, GST_RESOURCE_ERROR,
          GST_RESOURCE_ERROR_READ));
  g_assert_nonnull (strstr (error->message, model));
  g_clear_error (&error);

  /* Another valid model (other weights) of the same architecture. */
  g_autofree char *other = g_build_filename (rel_tmpdir (), "other.st", NULL);
  rel_sh ("cp '%s' '%s'", rel_model_path (), other);
  gchar *bytes;
  gsize len;
  g_assert_true (g_file_get_contents (other, &bytes, &len, NULL));
  bytes[len - 1] ^= 0x40;       /* one weight differs */
  write_in_place (model, bytes, len);
  g_free (bytes);
  GstBus *bus2;
  GstHarness *h2 = rel_harness_new (model, dir, WINDOW_PROPS " sync always",
      FALSE, &bus2);
  push_range (h2, 0, 30);
  guint labels = 0;
  g_assert_cmpuint (drain_decisions (bus2, &labels), >, 0);
  /* Only the clip could be used: the .hyrsm files are the old model's. */
  g_assert_cmpuint (labels, ==, 1);
  rel_harness_free (h2, bus2);

  push_range (h, 60, 90);
  g_assert_cmpuint (drain_decisions (bus, &labels), >, 0);
  g_assert_cmpuint (labels, ==, 2);
  g_assert_cmpuint (rel_stat (h->element, "frames-in"), ==, 90);
  rel_harness_free (h, bus);
}

typedef struct
{
  const char *path;
  GBytes *contents;
  volatile gint stop;
  volatile gint loads;          /* loads finished by the main thread */
  guint rewrites;
} Rewriter;

static gpointer
rewrite_thread (gpointer data)
{
  Rewriter *r = data;
  gsize size;
  const guint8 *bytes = g_bytes_get_data (r->contents, &size);
  while (!g_atomic_int_get (&r->stop)) {
    int fd = open (r->path, O_WRONLY);
    g_assert_cmpint (fd, >=, 0);
    g_assert_cmpint (ftruncate (fd, 0), ==, 0);
    /* Written back in pieces, so readers see it short for a while. */
    for (gsize off = 0; off < size; off += 1 << 20) {
      gsize n = MIN ((gsize) 1 << 20, size - off);
      g_assert_cmpint (write (fd, bytes + off, n), ==, (gssize) n);
      g_usleep (200);
    }
    close (fd);
    r->rewrites++;
    /* Whole until two loads finished: one of them saw it complete. */
    gint target = g_atomic_int_get (&r->loads) + 2;
    while (g_atomic_int_get (&r->loads) < target
        && !g_atomic_int_get (&r->stop))
      g_usleep (1000);
  }
  return NULL;
}

/* The model file is truncated and rewritten over and over while models
 * are loaded from it: each load gives the model or a clear error (a
 * mapped file that shrinks under its reader is SIGBUS). */
static void
test_model_rewritten_while_loading (void)
{
  g_autofree char *model = g_build_filename (rel_tmpdir (), "rewritten.st",
      NULL);
  rel_sh ("cp '%s' '%s'", rel_model_path (), model);
  gchar *data;
  gsize len;
  g_assert_true (g_file_get_contents (model, &data, &len, NULL));
  Rewriter r = {.path = model,.contents = g_bytes_new_take (data, len) };
  GThread *t = g_thread_new ("rewrite", rewrite_thread, &r);
  guint ok = 0, failed = 0;
  gint64 end = g_get_monotonic_time () + 5 * G_TIME_SPAN_SECOND;
  while (g_get_monotonic_time () < end) {
    GError *error = NULL;
    HyrsmModel *m = hyrsm_model_new_from_file_full (model, "cpu", &error);
    if (m) {
      ok++;
      g_object_unref (m);
    } else {
      failed++;
      g_assert_true (error->domain == HYRSM_ERROR);
      g_assert_nonnull (strstr (error->message, model));
      g_error_free (error);
    }
    g_atomic_int_inc (&r.loads);
  }
  g_atomic_int_set (&r.stop, 1);
  g_thread_join (t);
  g_test_message ("%u loads, %u failures, %u rewrites", ok, failed,
      r.rewrites);
  g_assert_cmpuint (ok, >, 0);
  g_bytes_unref (r.contents);
}

/* ---- elements ---- */

/* Two live elements share one model (and engine, slowed down so jobs are
 * queued); one is torn down in the middle of a window, five times over,
 * while the other keeps streaming: it loses no frame and its windows all
 * end classified or dropped. */
static void
test_shared_model_teardown (void)
{
  /* A model file of its own: the engine (and its delay) is this test's. */
  g_autofree char *model = g_build_filename (rel_tmpdir (), "shared.st",
      NULL);
  rel_sh ("cp '%s' '%s'", rel_model_path (), model);
  g_setenv ("HYRSM_ENGINE_DELAY_MS", "20", TRUE);
  GstBus *bus_b;
  GstHarness *b = rel_harness_new (model, base_set, "window 800000000 "
      "stride 100000000", TRUE, &bus_b);
  guint64 next_b = 0;
  for (guint round = 0; round < 5; round++) {
    GstBus *bus_a;
    GstHarness *a = rel_harness_new (model, base_set, "window 800000000 "
        "stride 100000000", TRUE, &bus_a);
    /* 40 frames: 1.33 s, the middle of A's second window. */
    for (guint64 i = 0; i < 40; i++) {
      push_range (a, i, i + 1);
      push_range (b, next_b, next_b + 1);
      next_b++;
    }
    rel_harness_free (a, bus_a);
    push_range (b, next_b, next_b + 20);
    next_b += 20;
  }
  g_unsetenv ("HYRSM_ENGINE_DELAY_MS");
  g_assert_true (gst_harness_push_event (b, gst_event_new_eos ()));
  GstElement *e = b->element;
  g_assert_cmpuint (rel_stat (e, "frames-in"), ==, next_b);
  g_assert_cmpuint (rel_stat (e, "windows-classified") + rel_stat (e,
          "windows-dropped"), ==, rel_windows_due (next_b, 800 * GST_MSECOND,
          100 * GST_MSECOND));
  g_assert_cmpuint (rel_stat (e, "windows-classified"), >, 0);
  rel_harness_free (b, bus_b);
}

/* `support` changes (a background load starts) and the element stops at
 * once, or a reload is asked for right before the stop: the load must not
 * outlive the element's model, nor install its set into the stopped
 * element (which would then hold the set and the model, and its engine
 * thread, until freed): once stopped, `labels` names the set of the run
 * and never changes. On a fast machine the load may finish before the
 * stop (the new set, 3 labels, is then the set of the run); what must
 * never happen is a change after the stop. */
static void
test_teardown_during_reload (void)
{
  g_autofree char *dir = copy_set (other_set, "teardown-reload");
  g_autofree char *clip = g_build_filename (dir, "up", "long.avi", NULL);
  rel_make_clip (clip, 150, 320, 240);
  for (guint i = 0; i < 8; i++) {
    /* No cache: the load decodes, which takes a while. */
    rel_sh ("rm -rf '%s/.hyrsm-cache' '%s/gst-hyrsm'", dir,
        g_get_user_cache_dir ());
    GstBus *bus;
    GstHarness *h = rel_harness_new (rel_model_path (), base_set,
        WINDOW_PROPS, TRUE, &bus);
    GstElement *e = gst_object_ref (h->element);
    push_range (h, 0, 10);
    if (i % 2)
      g_object_set (e, "support", dir, NULL);
    else
      g_signal_emit_by_name (e, "reload");
    g_usleep (i * 10000);
    rel_harness_free (h, bus);
    guint at_stop = n_labels_of (e);
    g_assert_true (at_stop == 2 || at_stop == 3);
    /* Whatever the load was doing has finished by now. */
    g_usleep (G_USEC_PER_SEC);
    g_assert_cmpuint (n_labels_of (e), ==, at_stop);
    gst_object_unref (e);
  }
}

typedef struct
{
  GstElement *e;
  volatile gint stop;
  guint n;
} Signaller;

static gpointer
signal_thread (gpointer data)
{
  Signaller *s = data;
  while (!g_atomic_int_get (&s->stop)) {
    gboolean ok;
    GstStructure *stats = NULL;
    g_signal_emit_by_name (s->e, "enroll", "late", &ok);
    g_signal_emit_by_name (s->e, "reload");
    g_object_get (s->e, "stats", &stats, NULL);
    gst_structure_free (stats);
    s->n++;
    g_usleep (500);
  }
  return NULL;
}

/* `enroll`, `reload` and `stats` from another thread while the element
 * stops (and after): each either works or does nothing, with no critical
 * (fatal in this test program) and no crash. */
static void
test_signals_during_stop (void)
{
  g_autofree char *dir = copy_set (base_set, "signals-stop");
  for (guint i = 0; i < 4; i++) {
    GstBus *bus;
    GstHarness *h = rel_harness_new (rel_model_path (), dir,
        WINDOW_PROPS " sync always", FALSE, &bus);
    GstElement *e = gst_object_ref (h->element);
    push_range (h, 0, 30);      /* a decided window, for enroll */
    Signaller s = {.e = e };
    GThread *t = g_thread_new ("signals", signal_thread, &s);
    g_usleep (i * 5000);
    rel_harness_free (h, bus);
    g_usleep (50000);
    g_atomic_int_set (&s.stop, 1);
    g_thread_join (t);
    g_test_message ("round %u: %u rounds of signals", i, s.n);
    gst_object_unref (e);
    g_usleep (200000);          /* a last background load ends */
  }
}

typedef struct
{
  GstElement *e;
  const char *dirs[2];
  guint n;
} Toggler;

static void
toggle_support (gpointer thread, gpointer data)
{
  Toggler *s = data;
  g_object_set (s->e, "support", s->dirs[s->n++ % 2], NULL);
}

static void
poke_element (gpointer thread, gpointer data)
{
  Toggler *s = data;
  GstStructure *stats = NULL;
  gchar **labels = NULL;
  gboolean ok;
  g_object_get (s->e, "stats", &stats, "labels", &labels, NULL);
  gst_structure_free (stats);
  g_strfreev (labels);
  if (s->n++ % 2)
    g_signal_emit_by_name (s->e, "reload");
  else
    g_signal_emit_by_name (s->e, "enroll", "poked", &ok);
}

static void
init_nothing (gpointer thread, gpointer data)
{
}

/* Every writable property set from other threads while a live stream
 * runs, with `support` flipping between two sets, stats and labels read,
 * reload and enroll emitted. */
static void
test_properties_from_threads (void)
{
  g_autofree char *dir_a = copy_set (base_set, "props-a");
  g_autofree char *dir_b = copy_set (other_set, "props-b");
  GstBus *bus;
  GstHarness *h = rel_harness_new (rel_model_path (), dir_a, WINDOW_PROPS,
      TRUE, &bus);
  struct
  {
    const char *name;
    GType type;
    const char *value;
  } props[] = {
    {"threshold", G_TYPE_DOUBLE, "0.5"},
    {"window", G_TYPE_UINT64, "600000000"},
    {"stride", G_TYPE_UINT64, "300000000"},
    {"post-messages", G_TYPE_BOOLEAN, "false"},
    {"meta", G_TYPE_BOOLEAN, "false"},
    {"sync", G_TYPE_NONE, "never"},   /* the element's enum type */
    {"device", G_TYPE_STRING, "cpu"},
    {"model", G_TYPE_STRING, "/nonexistent.safetensors"},
  };
  GstHarnessThread *threads[G_N_ELEMENTS (props) + 2];
  GValue values[G_N_ELEMENTS (props)];
  memset (values, 0, sizeof values);
  for (guint i = 0; i < G_N_ELEMENTS (props); i++) {
    GType type = props[i].type != G_TYPE_NONE ? props[i].type :
        G_PARAM_SPEC_VALUE_TYPE (g_object_class_find_property
        (G_OBJECT_GET_CLASS (h->element), props[i].name));
    g_value_init (&values[i], type);
    g_assert_true (gst_value_deserialize (&values[i], props[i].value));
    threads[i] = gst_harness_stress_property_start_full (h, props[i].name,
        &values[i], 1000);
  }
  Toggler toggler = { h->element, {dir_a, dir_b}, 0 };
  Toggler poker = { h->element, {NULL, NULL}, 0 };
  threads[G_N_ELEMENTS (props)] = gst_harness_stress_custom_start (h,
      init_nothing, toggle_support, &toggler, 30000);
  threads[G_N_ELEMENTS (props) + 1] = gst_harness_stress_custom_start (h,
      init_nothing, poke_element, &poker, 20000);
  /* About 3 s of stream (300 fps), so that the threads get going. */
  for (guint64 i = 0; i < 900; i++) {
    push_range (h, i, i + 1);
    g_usleep (3333);
  }
  for (guint i = 0; i < G_N_ELEMENTS (threads); i++)
    gst_harness_stress_thread_stop (threads[i]);
  g_test_message ("%u support changes, %u reloads/enrolls", toggler.n,
      poker.n);
  g_assert_cmpuint (toggler.n, >, 10);
  g_assert_cmpuint (poker.n, >, 10);
  g_assert_cmpuint (rel_stat (h->element, "frames-in"), ==, 900);
  for (guint i = 0; i < G_N_ELEMENTS (props); i++)
    g_value_unset (&values[i]);
  rel_harness_free (h, bus);
  g_usleep (G_USEC_PER_SEC / 2);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  rel_init (&argc, &argv);
  static const char *const lr[] = { "left", "right", NULL };
  static const char *const uds[] = { "up", "down", "still", NULL };
  base_set = rel_make_feature_set ("base", lr, 2, 1);
  other_set = rel_make_feature_set ("other", uds, 2, 2);
  clip_path = g_build_filename (rel_tmpdir (), "clip.avi", NULL);
  rel_make_clip (clip_path, 12, 64, 48);

  g_test_add_func ("/faults/support/vanishes", test_support_vanishes);
  g_test_add_func ("/faults/support/unreadable", test_support_unreadable);
  g_test_add_func ("/faults/support/replaced-by-file",
      test_support_replaced_by_file);
  g_test_add_func ("/faults/support/churn", test_support_churn);
  g_test_add_func ("/faults/clip/truncated-while-decoding",
      test_clip_truncated_while_decoding);
  g_test_add_func ("/faults/clip/truncated-header",
      test_clip_truncated_header);
  g_test_add_func ("/faults/cache/local-is-a-file",
      test_cache_local_is_a_file);
  g_test_add_func ("/faults/cache/nowhere-to-write",
      test_cache_nowhere_to_write);
  g_test_add_func ("/faults/cache/full", test_cache_full);
  g_test_add_func ("/faults/model/changed-after-load",
      test_model_changed_after_load);
  g_test_add_func ("/faults/model/rewritten-while-loading",
      test_model_rewritten_while_loading);
  g_test_add_func ("/faults/shared-model/teardown-mid-window",
      test_shared_model_teardown);
  g_test_add_func ("/faults/element/teardown-during-reload",
      test_teardown_during_reload);
  g_test_add_func ("/faults/element/signals-during-stop",
      test_signals_during_stop);
  g_test_add_func ("/faults/element/properties-from-threads",
      test_properties_from_threads);
  int ret = g_test_run ();
  rel_cleanup ();
  return ret;
}
