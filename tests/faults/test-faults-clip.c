/* test-faults-clip.c: a support clip cut short while it is decoded, or
 * before (its header): part of test-faults (see test-faults.c). */
#include "faults-util.h"

#include <glib/gstdio.h>
#include <string.h>
#include <unistd.h>

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

void
faults_add_clip_tests (void)
{
  g_test_add_func ("/faults/clip/truncated-while-decoding",
      test_clip_truncated_while_decoding);
  g_test_add_func ("/faults/clip/truncated-header",
      test_clip_truncated_header);
}
