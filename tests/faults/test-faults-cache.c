/* test-faults-cache.c: the feature cache cannot be written (its folder
 * is a file, no folder at all, a full disk): part of test-faults (see
 * test-faults.c). */
#include "faults-util.h"

#include <errno.h>
#include <glib/gstdio.h>
#include <signal.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- the feature cache ---- */

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

void
faults_add_cache_tests (void)
{
  g_test_add_func ("/faults/cache/local-is-a-file",
      test_cache_local_is_a_file);
  g_test_add_func ("/faults/cache/nowhere-to-write",
      test_cache_nowhere_to_write);
  g_test_add_func ("/faults/cache/full", test_cache_full);
}
