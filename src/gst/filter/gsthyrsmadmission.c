/* gsthyrsmadmission.c: admission of live streams' windows on a shared
 * engine (see gsthyrsmadmission.h). */
#include "gsthyrsmadmission.h"

GST_DEBUG_CATEGORY_EXTERN (gst_hyrsm_windows_debug);
#define GST_CAT_DEFAULT gst_hyrsm_windows_debug

/* The share of the measured capacity handed out: all of it, as the
 * capacity is per second of the engine's busy time, decisions included;
 * the backlog gate below absorbs the variation of the frames' cost (with
 * 0.9, 10 ResNet-18 streams on 2 cores decided 12-17% fewer windows). */
#define UTILIZATION 1.0
/* How often the capacity is measured, and the least busy time a
 * measurement needs (a few batches). */
#define SAMPLE_US (500 * G_TIME_SPAN_MILLISECOND)
#define MIN_BUSY_US (100 * G_TIME_SPAN_MILLISECOND)
/* No window starts while the engine holds more than this much work (at
 * the measured capacity), whoever's turn it is: a backlog is latency for
 * every stream, and frames queued behind it would serve late decisions. */
#define MAX_BACKLOG_S 0.5
/* The backlog allowed before the capacity is known. */
#define MAX_BACKLOG_UNMEASURED 16

typedef struct
{
  HyrsmEngine *engine;
  GList *clients;               /* GstHyrsmAdmissionClient, in join order */
  gdouble capacity;             /* frames per busy second; 0 = not measured */
  gint64 sampled_at;            /* monotonic µs; 0 = never */
  guint64 sampled_frames;
  gint64 sampled_busy;          /* the engine's busy µs then */
} Admission;

struct _GstHyrsmAdmissionClient
{
  Admission *admission;
  gdouble rate;                 /* frames per second */
  gint64 slice;                 /* µs */
  gboolean on;
  gint64 since;                 /* monotonic µs of the last switch */
};

/* Every engine's admission state, under one lock: admissions are a few per
 * second per stream. */
static GMutex lock;
static GHashTable *admissions;  /* HyrsmEngine* -> Admission* */

GstHyrsmAdmissionClient *
gst_hyrsm_admission_join (HyrsmEngine *engine, gdouble frames_per_second,
    GstClockTime slice)
{
  GstHyrsmAdmissionClient *client = g_new0 (GstHyrsmAdmissionClient, 1);
  client->rate = frames_per_second;
  client->slice = GST_TIME_AS_USECONDS (slice);
  client->on = TRUE;
  client->since = g_get_monotonic_time ();
  g_mutex_lock (&lock);
  if (admissions == NULL)
    admissions = g_hash_table_new (NULL, NULL);
  Admission *a = g_hash_table_lookup (admissions, engine);
  if (a == NULL) {
    a = g_new0 (Admission, 1);
    a->engine = engine;
    g_hash_table_insert (admissions, engine, a);
  }
  client->admission = a;
  a->clients = g_list_append (a->clients, client);
  g_mutex_unlock (&lock);
  return client;
}

void
gst_hyrsm_admission_leave (GstHyrsmAdmissionClient *client)
{
  if (client == NULL)
    return;
  g_mutex_lock (&lock);
  Admission *a = client->admission;
  a->clients = g_list_remove (a->clients, client);
  if (a->clients == NULL) {
    /* The engine may go with its model: forget it. */
    g_hash_table_remove (admissions, a->engine);
    g_free (a);
  }
  g_mutex_unlock (&lock);
  g_free (client);
}

/* Frames the engine embeds per second of its own busy time (running
 * frames, matches and calls), between two samples: what it can do, not
 * what it was asked to, so the measure holds when the engine waits for
 * work part of the time (a rate taken over wall time would then read
 * low, and streams would pause that the engine could serve). */
static void
measure_capacity (Admission *a, gint64 now)
{
  if (a->sampled_at != 0 && now - a->sampled_at < SAMPLE_US)
    return;
  guint64 frames;
  hyrsm_engine_get_counts (a->engine, &frames, NULL);
  gint64 busy = hyrsm_engine_get_busy_time (a->engine);
  if (a->sampled_at != 0) {
    gint64 busy_us = busy - a->sampled_busy;
    if (busy_us < MIN_BUSY_US)
      return;                   /* too little work yet: keep sampling */
    if (frames > a->sampled_frames) {
      gdouble measured = (frames - a->sampled_frames)
          / (busy_us / (gdouble) G_USEC_PER_SEC);
      a->capacity = a->capacity > 0 ? 0.7 * a->capacity + 0.3 * measured :
          measured;
      GST_DEBUG ("engine %p: %.1f frames per busy second (%.0f%% busy), "
          "capacity now %.1f", a->engine, measured,
          100.0 * busy_us / (now - a->sampled_at), a->capacity);
    }
  }
  a->sampled_at = now;
  a->sampled_frames = frames;
  a->sampled_busy = busy;
}

/* The client in the given state that switched longest ago. */
static GstHyrsmAdmissionClient *
oldest (Admission *a, gboolean on)
{
  GstHyrsmAdmissionClient *best = NULL;
  for (GList *l = a->clients; l; l = l->next) {
    GstHyrsmAdmissionClient *c = l->data;
    if (c->on == on && (best == NULL || c->since < best->since))
      best = c;
  }
  return best;
}

static void
set_on (GstHyrsmAdmissionClient *c, gboolean on, gint64 now, gdouble *load)
{
  GST_DEBUG ("engine %p: stream %p %s after %.1f s", c->admission->engine,
      c, on ? "admitted" : "paused", (now - c->since) / 1e6);
  c->on = on;
  c->since = now;
  *load += on ? c->rate : -c->rate;
}

static void
rebalance (Admission *a, gint64 now)
{
  gdouble load = 0;
  guint n_on = 0;
  for (GList *l = a->clients; l; l = l->next) {
    GstHyrsmAdmissionClient *c = l->data;
    if (c->on) {
      load += c->rate;
      n_on++;
    }
  }
  if (a->capacity <= 0) {
    /* Not measured yet (the engine never had a backlog): everyone. */
    GstHyrsmAdmissionClient *c;
    while ((c = oldest (a, FALSE)))
      set_on (c, TRUE, now, &load);
    return;
  }
  gdouble budget = UTILIZATION * a->capacity;
  /* Over budget: the stream that ran longest pauses (one always runs). */
  while (load > budget && n_on > 1) {
    set_on (oldest (a, TRUE), FALSE, now, &load);
    n_on--;
  }
  /* Turns: a stream that waited a slice takes the place of one that ran
   * a slice. */
  GstHyrsmAdmissionClient *waiting, *running;
  while ((waiting = oldest (a, FALSE)) && (running = oldest (a, TRUE))
      && now - waiting->since >= waiting->slice
      && now - running->since >= running->slice) {
    set_on (running, FALSE, now, &load);
    set_on (waiting, TRUE, now, &load);
  }
  /* Room left: the longest waiting stream first. */
  while ((waiting = oldest (a, FALSE))
      && (load + waiting->rate <= budget || n_on == 0)) {
    set_on (waiting, TRUE, now, &load);
    n_on++;
  }
}

gboolean
gst_hyrsm_admission_admit (GstHyrsmAdmissionClient *client,
    gboolean continuing)
{
  gint64 now = g_get_monotonic_time ();
  g_mutex_lock (&lock);
  Admission *a = client->admission;
  measure_capacity (a, now);
  rebalance (a, now);
  guint backlog = hyrsm_engine_get_pending (a->engine);
  gdouble max_backlog = a->capacity > 0 ? MAX (1.0,
      a->capacity * MAX_BACKLOG_S) : MAX_BACKLOG_UNMEASURED;
  /* A window continuing a run costs a stride's worth of frames, a new run
   * T frames: only a backlog twice as long stops a run. */
  gboolean on = client->on && backlog <= (continuing ? 2 : 1) * max_backlog;
  g_mutex_unlock (&lock);
  return on;
}
