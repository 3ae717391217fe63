/* test-faults-model.c: the model file changes under the elements that
 * use it, after a load and during one: part of test-faults (see
 * test-faults.c). */
#include "faults-util.h"

#include <fcntl.h>
#include <glib/gstdio.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

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

void
faults_add_model_tests (void)
{
  g_test_add_func ("/faults/model/changed-after-load",
      test_model_changed_after_load);
  g_test_add_func ("/faults/model/rewritten-while-loading",
      test_model_rewritten_while_loading);
}
