/* test-faults-support.c: the support directory fails under a running
 * element (vanishes, unreadable, replaced by a file, churn): part of
 * test-faults (see test-faults.c). */
#include "faults-util.h"

#include <glib/gstdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

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

void
faults_add_support_tests (void)
{
  g_test_add_func ("/faults/support/vanishes", test_support_vanishes);
  g_test_add_func ("/faults/support/unreadable", test_support_unreadable);
  g_test_add_func ("/faults/support/replaced-by-file",
      test_support_replaced_by_file);
  g_test_add_func ("/faults/support/churn", test_support_churn);
}
