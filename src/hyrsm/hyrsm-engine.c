/* hyrsm-engine.c: one worker thread per model, batching frames across
 * streams, and the matches due together on one support set (see
 * hyrsm-engine.h). */
#include "hyrsm-engine.h"
#include "hyrsm-backend.h"
#include "hyrsm-error.h"
#include "hyrsm-model-private.h"
#include "hyrsm-preprocess.h"

#include "hyrsm-batch.h"

#include <string.h>

/* Frames embedded per backbone call at most (hyrsm-batch.h). */
#define MAX_BATCH HYRSM_ENGINE_BATCH
/* Queries per match batch at most (hyrsm_support_set_match_batch_raw()
 * groups them further as it needs). */
#define MAX_MATCHES 32

enum
{
  EMBEDDING_PENDING,
  EMBEDDING_READY,
  EMBEDDING_FAILED,
};

struct _HyrsmEmbedding
{
  gint ref;
  gint state;                   /* written on the engine's thread */
  float features[];             /* D */
};

HyrsmEmbedding *
hyrsm_embedding_ref (HyrsmEmbedding *e)
{
  g_atomic_int_inc (&e->ref);
  return e;
}

void
hyrsm_embedding_unref (HyrsmEmbedding *e)
{
  if (e && g_atomic_int_dec_and_test (&e->ref))
    g_free (e);
}

gboolean
hyrsm_embedding_is_ready (const HyrsmEmbedding *e)
{
  return g_atomic_int_get (&e->state) == EMBEDDING_READY;
}

const float *
hyrsm_embedding_get_features (const HyrsmEmbedding *e)
{
  return e->features;
}

/* A frame job (rgb set), a match job (support set) or a call job. */
typedef struct
{
  guint8 *rgb;
  int width, height, stride;
  HyrsmEmbedding *embedding;    /* a frame job's, a reference */
  HyrsmEngineEmbedDone done;
  HyrsmEngineFunc func;
  HyrsmSupportSet *support;     /* a reference */
  float *query;                 /* T x D, or NULL: gathered from points */
  HyrsmEmbedding **points;      /* T references */
  guint n_points;
  GCancellable *cancellable;
  HyrsmEngineMatchDone match_done;
  gpointer user_data;
} Job;

struct _HyrsmEngine
{
  HyrsmModel *model;            /* not a reference: the model owns us */
  GThread *thread;
  GMutex lock;
  GCond cond;
  GQueue jobs;
  guint running;                /* jobs taken off the queue, not finished */
  gboolean quit;
  guint64 frames;
  guint64 batches;
  guint64 matches;
  guint64 match_batches;
  gint64 busy_us;               /* time spent running jobs */
  guint delay_ms;               /* HYRSM_ENGINE_DELAY_MS: test knob */
  float *batch_input;           /* MAX_BATCH x 3 x crop x crop */
  float *batch_output;          /* MAX_BATCH x D */
};

static GQuark engine_quark;

static void
run_embed_batch (HyrsmEngine *self, Job **jobs, guint n)
{
  HyrsmModel *model = self->model;
  guint dim = hyrsm_model_get_feature_dim (model);
  GError *error = NULL;

  if (hyrsm_model_get_backbone_weights (model) == NULL) {
    g_set_error (&error, HYRSM_ERROR, HYRSM_ERROR_INVALID_ARGUMENT,
        "%s: model has no backbone to embed frames with",
        hyrsm_model_get_path (model));
  } else {
    /* Pre-processing on the CPU into batch_input, or on the device of a
     * backend that has it (the raw frames go up once). */
    HyrsmRgbFrame frames[MAX_BATCH];
    for (guint i = 0; i < n; i++)
      frames[i] = (HyrsmRgbFrame) {
      jobs[i]->rgb, jobs[i]->width, jobs[i]->height, jobs[i]->stride};
    if (self->delay_ms)
      g_usleep (self->delay_ms * 1000);
    if (hyrsm_model_embed_rgb_frames (model, frames, n, self->batch_input,
            self->batch_output, &error)) {
      for (guint i = 0; i < n; i++)
        memcpy (jobs[i]->embedding->features, self->batch_output +
            (gsize) i * dim, dim * sizeof (float));
    }
  }
  g_mutex_lock (&self->lock);
  self->frames += n;
  self->batches++;
  g_mutex_unlock (&self->lock);
  for (guint i = 0; i < n; i++) {
    g_atomic_int_set (&jobs[i]->embedding->state, error ? EMBEDDING_FAILED :
        EMBEDDING_READY);
    if (jobs[i]->done)
      jobs[i]->done (jobs[i]->user_data, error);
  }
  g_clear_error (&error);
}

/* Runs @n match jobs on one support set as one batch. */
static void
run_match_batch (HyrsmEngine *self, Job **jobs, guint n)
{
  HyrsmSupportSet *support = g_object_ref (jobs[0]->support);
  HyrsmModel *model = hyrsm_support_set_get_model (support);
  gsize td = (gsize) hyrsm_model_get_frames (model)
      * hyrsm_model_get_feature_dim (model);
  float *queries = g_new (float, n * td);
  Job **run = g_new (Job *, n);
  HyrsmMatchResult **results = g_new0 (HyrsmMatchResult *, n);
  guint n_run = 0;
  GError *error = NULL;

  for (guint i = 0; i < n; i++) {
    if (jobs[i]->cancellable && g_cancellable_is_cancelled
        (jobs[i]->cancellable))
      continue;
    float *q = queries + n_run * td;
    if (jobs[i]->query) {
      memcpy (q, jobs[i]->query, td * sizeof (float));
    } else {
      /* The window's frames: every one queued before this match has been
       * embedded (or has failed) by now. */
      gsize d = td / jobs[i]->n_points;
      gboolean ready = TRUE;
      for (guint t = 0; t < jobs[i]->n_points && ready; t++) {
        ready = hyrsm_embedding_is_ready (jobs[i]->points[t]);
        if (ready)
          memcpy (q + t * d, jobs[i]->points[t]->features, d * sizeof (float));
      }
      if (!ready)
        continue;
    }
    run[n_run++] = jobs[i];
  }
  if (n_run > 0)
    hyrsm_support_set_match_batch_raw (support, queries, n_run, results,
        &error);
  g_object_unref (support);
  /* The jobs' references to the set go before their callbacks: after its
   * callback a caller may drop the model, and the engine's thread must not
   * be the one that finalizes it (that would join the thread itself). */
  for (guint i = 0; i < n; i++)
    g_clear_object (&jobs[i]->support);
  g_mutex_lock (&self->lock);
  self->matches += n_run;
  self->match_batches += n_run > 0;
  g_mutex_unlock (&self->lock);
  /* every job gets its outcome, in queue order; skipped ones neither a
   * result nor an error */
  guint r = 0;
  for (guint i = 0; i < n; i++) {
    if (r < n_run && run[r] == jobs[i]) {
      jobs[i]->match_done (jobs[i]->user_data, results[r], error);
      g_clear_object (&results[r]);
      r++;
    } else {
      jobs[i]->match_done (jobs[i]->user_data, NULL, NULL);
    }
  }
  g_clear_error (&error);
  g_free (queries);
  g_free (run);
  g_free (results);
}

/* Takes the jobs to run next off the queue into @batch (the lock held):
 * a call job at the head runs alone (every job queued before it is done);
 * a match job at the head runs with the matches on the same support set
 * that follow it up to the next frame or call job (the matches of other
 * sets between them are independent and keep their place); otherwise
 * frame jobs from anywhere in the queue, up to a batch: pulling a later
 * frame ahead of a call or match job is harmless (those depend only on
 * the jobs queued before them) and keeps batches full when several
 * streams interleave frames and decisions. */
static guint
take_jobs (HyrsmEngine *self, Job **batch)
{
  guint n = 0;
  Job *head = g_queue_peek_head (&self->jobs);
  if (head->rgb == NULL && head->support == NULL) {
    batch[n++] = g_queue_pop_head (&self->jobs);
  } else if (head->support != NULL) {
    GList *l = self->jobs.head;
    while (l && n < MAX_MATCHES) {
      GList *next = l->next;
      Job *job = l->data;
      if (job->support == NULL)
        break;
      if (job->support == head->support) {
        batch[n++] = job;
        g_queue_delete_link (&self->jobs, l);
      }
      l = next;
    }
  } else {
    GList *l = self->jobs.head;
    while (l && n < MAX_BATCH) {
      GList *next = l->next;
      Job *job = l->data;
      if (job->rgb != NULL) {
        batch[n++] = job;
        g_queue_delete_link (&self->jobs, l);
      }
      l = next;
    }
  }
  return n;
}

static gpointer
engine_thread (gpointer data)
{
  HyrsmEngine *self = data;
  Job *batch[MAX (MAX_BATCH, MAX_MATCHES)];

  g_mutex_lock (&self->lock);
  for (;;) {
    while (g_queue_is_empty (&self->jobs) && !self->quit)
      g_cond_wait (&self->cond, &self->lock);
    if (g_queue_is_empty (&self->jobs) && self->quit)
      break;
    guint n = take_jobs (self, batch);
    self->running = n;
    g_mutex_unlock (&self->lock);
    gint64 began = g_get_monotonic_time ();

    if (batch[0]->support != NULL)
      run_match_batch (self, batch, n);
    else if (batch[0]->rgb == NULL)
      batch[0]->func (batch[0]->user_data);
    else
      run_embed_batch (self, batch, n);
    for (guint i = 0; i < n; i++) {
      g_free (batch[i]->rgb);
      g_free (batch[i]->query);
      hyrsm_embedding_unref (batch[i]->embedding);
      for (guint t = 0; t < batch[i]->n_points; t++)
        hyrsm_embedding_unref (batch[i]->points[t]);
      g_free (batch[i]->points);
      g_clear_object (&batch[i]->cancellable);
      g_clear_object (&batch[i]->support);
      g_free (batch[i]);
    }

    g_mutex_lock (&self->lock);
    self->running = 0;
    self->busy_us += g_get_monotonic_time () - began;
    g_cond_broadcast (&self->cond);
  }
  g_mutex_unlock (&self->lock);
  return NULL;
}

static void
engine_free (gpointer data)
{
  HyrsmEngine *self = data;
  g_mutex_lock (&self->lock);
  self->quit = TRUE;
  g_cond_broadcast (&self->cond);
  g_mutex_unlock (&self->lock);
  g_thread_join (self->thread);
  g_free (self->batch_input);
  g_free (self->batch_output);
  g_mutex_clear (&self->lock);
  g_cond_clear (&self->cond);
  g_free (self);
}

HyrsmEngine *
hyrsm_engine_get (HyrsmModel *model)
{
  static GMutex create_lock;
  g_return_val_if_fail (HYRSM_IS_MODEL (model), NULL);
  g_mutex_lock (&create_lock);
  if (engine_quark == 0)
    engine_quark = g_quark_from_static_string ("hyrsm-engine");
  HyrsmEngine *self = g_object_get_qdata (G_OBJECT (model), engine_quark);
  if (self == NULL) {
    self = g_new0 (HyrsmEngine, 1);
    self->model = model;
    g_mutex_init (&self->lock);
    g_cond_init (&self->cond);
    g_queue_init (&self->jobs);
    guint crop = hyrsm_model_get_crop (model);
    self->batch_input = g_new (float, (gsize) MAX_BATCH * 3 * crop * crop);
    self->batch_output = g_new (float,
        (gsize) MAX_BATCH * MAX (hyrsm_model_get_feature_dim (model), 1));
    const char *delay = g_getenv ("HYRSM_ENGINE_DELAY_MS");
    self->delay_ms = delay ? (guint) g_ascii_strtoull (delay, NULL, 10) : 0;
    self->thread = g_thread_new ("hyrsm-engine", engine_thread, self);
    g_object_set_qdata_full (G_OBJECT (model), engine_quark, self,
        engine_free);
  }
  g_mutex_unlock (&create_lock);
  return self;
}

static void
queue_job (HyrsmEngine *self, Job *job)
{
  g_mutex_lock (&self->lock);
  g_queue_push_tail (&self->jobs, job);
  g_cond_broadcast (&self->cond);
  g_mutex_unlock (&self->lock);
}

HyrsmEmbedding *
hyrsm_engine_queue_embed (HyrsmEngine *self, guint8 *rgb, int width,
    int height, int stride, HyrsmEngineEmbedDone done, gpointer user_data)
{
  g_return_val_if_fail (rgb != NULL, NULL);
  guint dim = hyrsm_model_get_feature_dim (self->model);
  HyrsmEmbedding *embedding = g_malloc0 (sizeof (HyrsmEmbedding) +
      (gsize) MAX (dim, 1) * sizeof (float));
  embedding->ref = 1;
  embedding->state = EMBEDDING_PENDING;
  Job *job = g_new0 (Job, 1);
  job->rgb = rgb;
  job->width = width;
  job->height = height;
  job->stride = stride;
  job->embedding = hyrsm_embedding_ref (embedding);
  job->done = done;
  job->user_data = user_data;
  queue_job (self, job);
  return embedding;
}

void
hyrsm_engine_queue_call (HyrsmEngine *self, HyrsmEngineFunc func,
    gpointer user_data)
{
  g_return_if_fail (func != NULL);
  Job *job = g_new0 (Job, 1);
  job->func = func;
  job->user_data = user_data;
  queue_job (self, job);
}

void
hyrsm_engine_queue_match (HyrsmEngine *self, HyrsmSupportSet *support,
    const float *query, HyrsmEmbedding *const *points,
    GCancellable *cancellable, HyrsmEngineMatchDone done, gpointer user_data)
{
  g_return_if_fail (HYRSM_IS_SUPPORT_SET (support) && done != NULL);
  g_return_if_fail ((query != NULL) != (points != NULL));
  HyrsmModel *model = hyrsm_support_set_get_model (support);
  guint frames = hyrsm_model_get_frames (model);
  Job *job = g_new0 (Job, 1);
  job->support = g_object_ref (support);
  if (query) {
    job->query = g_memdup2 (query, (gsize) frames
        * hyrsm_model_get_feature_dim (model) * sizeof (float));
  } else {
    job->points = g_new (HyrsmEmbedding *, frames);
    job->n_points = frames;
    for (guint t = 0; t < frames; t++)
      job->points[t] = hyrsm_embedding_ref (points[t]);
  }
  job->cancellable = cancellable ? g_object_ref (cancellable) : NULL;
  job->match_done = done;
  job->user_data = user_data;
  queue_job (self, job);
}

void
hyrsm_engine_get_match_counts (HyrsmEngine *self, guint64 *matches,
    guint64 *batches)
{
  g_mutex_lock (&self->lock);
  if (matches)
    *matches = self->matches;
  if (batches)
    *batches = self->match_batches;
  g_mutex_unlock (&self->lock);
}

guint
hyrsm_engine_get_pending (HyrsmEngine *self)
{
  g_mutex_lock (&self->lock);
  guint n = g_queue_get_length (&self->jobs) + self->running;
  g_mutex_unlock (&self->lock);
  return n;
}

void
hyrsm_engine_get_counts (HyrsmEngine *self, guint64 *frames,
    guint64 *batches)
{
  g_mutex_lock (&self->lock);
  if (frames)
    *frames = self->frames;
  if (batches)
    *batches = self->batches;
  g_mutex_unlock (&self->lock);
}

gint64
hyrsm_engine_get_busy_time (HyrsmEngine *self)
{
  g_mutex_lock (&self->lock);
  gint64 busy = self->busy_us;
  g_mutex_unlock (&self->lock);
  return busy;
}
