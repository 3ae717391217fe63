/* test-soak.c: a long live run of hyrsmfilter (docs/architecture.md):
 * HYRSM_SOAK_FRAMES frames (default 100,000) of 64x48 RGB at 30 fps pushed
 * through a live element at HYRSM_SOAK_FPS (default 1500: 50 times real
 * time, more than the engine keeps up with on 2 cores, so that windows are
 * both classified and dropped), with the ResNet-18 (crop 32) model, while
 * the support set is reloaded every 5,000 frames
 * (every fourth time by switching `support` to another directory, every
 * other time after deleting the feature cache so that its clip is decoded
 * again) and `enroll` is called every 5,000 frames in between.
 *
 * Checked:
 *   - no frame lost or reordered: every frame pushed comes out, with the
 *     PTS it went in with, in order;
 *   - stats add up: frames-in == frames pushed, and after EOS
 *     windows-classified + windows-dropped == the windows due on the
 *     sampling grid (rel_windows_due), with some classified;
 *   - memory stays flat: VmRSS after warm-up (frame 20,000, or a fifth of
 *     the run) and at the end differ by less than HYRSM_SOAK_RSS_KIB
 *     (default 5 MiB = 5120 KiB; not checked under AddressSanitizer).
 * The numbers (RSS every 10% of the run, rates, time) are printed. */
#include "reliability-util.h"

#include <glib/gstdio.h>
#include <hyrsm.h>
#include <gsthyrsm.h>

#define WINDOW (800 * GST_MSECOND)
#define STRIDE (200 * GST_MSECOND)
#define RELOAD_EVERY 5000

static guint64
env_u64 (const char *name, guint64 fallback)
{
  const char *v = g_getenv (name);
  return v && *v ? g_ascii_strtoull (v, NULL, 10) : fallback;
}

static void
remove_enrolled (const char *dir)
{
  rel_sh ("rm -rf '%s/enrolled'", dir);
}

static void
test_soak_live (void)
{
  const guint64 n_frames = env_u64 ("HYRSM_SOAK_FRAMES", 100000);
  const guint64 rss_bound = env_u64 ("HYRSM_SOAK_RSS_KIB", 5120);
  const guint64 warm = MIN (20000, n_frames / 5);
  /* A live source, only faster than real time: as fast as the pushes go,
   * the engine never catches up and every window is dropped. */
  const guint64 fps = env_u64 ("HYRSM_SOAK_FPS", 1500);

  static const char *const lr[] = { "left", "right", NULL };
  static const char *const uds[] = { "up", "down", "still", NULL };
  g_autofree char *set_a = rel_make_feature_set ("set-a", lr, 2, 1);
  g_autofree char *set_b = rel_make_feature_set ("set-b", uds, 2, 2);
  /* A real clip in each set, so that reloads decode (or hit the cache). */
  g_autofree char *clip_a = g_build_filename (set_a, "left", "clip.avi", NULL);
  g_autofree char *clip_b = g_build_filename (set_b, "up", "clip.avi", NULL);
  rel_make_clip (clip_a, 12, 64, 48);
  rel_make_clip (clip_b, 12, 64, 48);

  GstBus *bus;
  g_autofree char *props = g_strdup_printf ("window %" G_GUINT64_FORMAT
      " stride %" G_GUINT64_FORMAT " message false", WINDOW, STRIDE);
  GstHarness *h = rel_harness_new (rel_model_path (), set_a, props, TRUE,
      &bus);
  GstElement *e = h->element;
  const char *current = set_a;

  guint64 rss_warm = 0, rss_peak = 0, enrolled = 0, reloads = 0;
  guint64 enroll_tries = 0, metas = 0;
  gint64 t0 = g_get_monotonic_time ();
  for (guint64 i = 0; i < n_frames; i++) {
    GstBuffer *out = gst_harness_push_and_pull (h, rel_make_frame (h, i));
    g_assert_nonnull (out);
    /* In order and none lost: frame i comes out as frame i. */
    g_assert_cmpuint (GST_BUFFER_PTS (out), ==,
        gst_util_uint64_scale (i, GST_SECOND, 30));
    if (gst_buffer_get_hyrsm_meta (out))
      metas++;
    gst_buffer_unref (out);

    guint64 n = i + 1;
    gint64 due_at = t0 + (gint64) (n * G_USEC_PER_SEC / MAX (fps, 1));
    gint64 now = g_get_monotonic_time ();
    if (due_at > now)
      g_usleep (due_at - now);
    if (n % RELOAD_EVERY == RELOAD_EVERY / 2) {
      gboolean ok = FALSE;
      enroll_tries++;
      g_signal_emit_by_name (e, "enroll", "enrolled", &ok);
      enrolled += ok;
    } else if (n % RELOAD_EVERY == 0 && n < n_frames) {
      /* Enrolled files go (the set stays the same size), the cache goes
       * every other time (its clip is decoded again). */
      remove_enrolled (current);
      if ((n / RELOAD_EVERY) % 2 == 0)
        rel_sh ("rm -rf '%s/.hyrsm-cache'", current);
      if ((n / RELOAD_EVERY) % 4 == 0) {
        current = current == set_a ? set_b : set_a;
        g_object_set (e, "support", current, NULL);
      } else {
        g_signal_emit_by_name (e, "reload");
      }
      reloads++;
    }
    /* Bus messages would pile up: warnings and loads are drained. */
    if (n % 1000 == 0)
      gst_bus_set_flushing (bus, TRUE), gst_bus_set_flushing (bus, FALSE);
    if (n == warm)
      rss_warm = rel_rss_kib ();
    if (n % MAX (n_frames / 10, 1) == 0) {
      guint64 rss = rel_rss_kib ();
      rss_peak = MAX (rss_peak, rss);
      g_print ("# frame %" G_GUINT64_FORMAT ": VmRSS %" G_GUINT64_FORMAT
          " KiB, classified %" G_GUINT64_FORMAT ", dropped %" G_GUINT64_FORMAT
          ", %.0f frames/s\n", n, rss, rel_stat (e, "windows-classified"),
          rel_stat (e, "windows-dropped"),
          n / ((g_get_monotonic_time () - t0) / 1e6));
    }
  }
  guint64 rss_end = rel_rss_kib ();
  double seconds = (g_get_monotonic_time () - t0) / 1e6;

  /* EOS waits for the queued windows: then every window due is counted. */
  g_assert_true (gst_harness_push_event (h, gst_event_new_eos ()));
  guint64 frames_in = rel_stat (e, "frames-in");
  guint64 classified = rel_stat (e, "windows-classified");
  guint64 dropped = rel_stat (e, "windows-dropped");
  guint64 due = rel_windows_due (n_frames, WINDOW, STRIDE);
  g_print ("# %" G_GUINT64_FORMAT " frames in %.1f s (%.0f frames/s); "
      "windows due %" G_GUINT64_FORMAT ": classified %" G_GUINT64_FORMAT
      ", dropped %" G_GUINT64_FORMAT "; frames embedded %" G_GUINT64_FORMAT
      "; %" G_GUINT64_FORMAT " reloads, %" G_GUINT64_FORMAT "/%"
      G_GUINT64_FORMAT " enrolls; %" G_GUINT64_FORMAT " buffers with meta\n",
      n_frames, seconds, n_frames / seconds, due, classified, dropped,
      rel_stat (e, "frames-embedded"), reloads, enrolled, enroll_tries,
      metas);
  g_print ("# VmRSS at frame %" G_GUINT64_FORMAT ": %" G_GUINT64_FORMAT
      " KiB, at the end: %" G_GUINT64_FORMAT " KiB (growth %"
      G_GINT64_FORMAT " KiB, bound %" G_GUINT64_FORMAT " KiB), peak %"
      G_GUINT64_FORMAT " KiB\n", warm, rss_warm, rss_end,
      (gint64) rss_end - (gint64) rss_warm, rss_bound, rss_peak);

  g_assert_cmpuint (frames_in, ==, n_frames);
  g_assert_cmpuint (classified + dropped, ==, due);
  g_assert_cmpuint (classified, >, 0);
  g_assert_cmpuint (enrolled, >, 0);
#if defined(__SANITIZE_ADDRESS__)
  /* AddressSanitizer keeps freed memory in quarantine (256 MiB): RSS says
   * nothing here, LeakSanitizer checks the leaks at exit instead. */
  g_test_message ("AddressSanitizer build: memory bound not checked");
#else
  g_assert_cmpint ((gint64) rss_end - (gint64) rss_warm, <, (gint64)
      rss_bound);
#endif
  rel_harness_free (h, bus);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  rel_init (&argc, &argv);
  g_test_add_func ("/soak/live", test_soak_live);
  int ret = g_test_run ();
  rel_cleanup ();
  return ret;
}
