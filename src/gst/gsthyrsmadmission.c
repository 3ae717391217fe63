/* gsthyrsmadmission.c: admission of live streams' windows on a shared
 * engine (see gsthyrsmadmission.h). */
#include "gsthyrsmadmission.h"

/* The share of the measured capacity handed out: the rest absorbs the
 * variation of the frames' cost and the decisions' own work. */
#define UTILIZATION 0.9
/* How often the capacity is measured, and how much it grows when the
 * engine ran idle while streams waited (it may have become faster). */
#define SAMPLE_US (500 * G_TIME_SPAN_MILLISECOND)
#define PROBE_GROWTH 1.1
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
  gdouble capacity;             /* frames/s while busy; 0 = not measured */
  gint64 sampled_at;            /* monotonic µs; 0 = never */
  guint64 sampled_frames;
  guint sampled_pending;
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

static gboolean
anyone_waiting (Admission *a)
{
  for (GList *l = a->clients; l; l = l->next)
    if (!((GstHyrsmAdmissionClient *) l->data)->on)
      return TRUE;
  return FALSE;
}

/* Frames per second the engine embeds while it has work queued: from its
 * counters, between two samples with work queued at both. */
static void
measure_capacity (Admission *a, gint64 now)
{
  guint64 frames;
  hyrsm_engine_get_counts (a->engine, &frames, NULL);
  guint pending = hyrsm_engine_get_pending (a->engine);
  if (a->sampled_at != 0 && now - a->sampled_at < SAMPLE_US)
    return;
  if (a->sampled_at != 0) {
    gdouble seconds = (now - a->sampled_at) / (gdouble) G_USEC_PER_SEC;
    if (pending > 0 && a->sampled_pending > 0 && frames > a->sampled_frames) {
      gdouble measured = (frames - a->sampled_frames) / seconds;
      a->capacity = a->capacity > 0 ? 0.7 * a->capacity + 0.3 * measured :
          measured;
    } else if (pending == 0 && a->capacity > 0 && anyone_waiting (a)) {
      a->capacity *= PROBE_GROWTH;
    }
  }
  a->sampled_at = now;
  a->sampled_frames = frames;
  a->sampled_pending = pending;
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
