/* test-faults-element.c: elements torn down, stopped or poked from other
 * threads while they work (a shared model, a reload, signals,
 * properties): part of test-faults (see test-faults.c). */
#include "faults-util.h"

#include <string.h>

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

void
faults_add_element_tests (void)
{
  g_test_add_func ("/faults/shared-model/teardown-mid-window",
      test_shared_model_teardown);
  g_test_add_func ("/faults/element/teardown-during-reload",
      test_teardown_during_reload);
  g_test_add_func ("/faults/element/signals-during-stop",
      test_signals_during_stop);
  g_test_add_func ("/faults/element/properties-from-threads",
      test_properties_from_threads);
}
