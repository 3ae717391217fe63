/* hyrsm-engine.h: the per-model worker that runs inference off the
 * callers' threads and batches frames from every stream into one backbone
 * call. Private: not installed, not exported from libhyrsm; built into the
 * static libhyrsm-engine.a, which the plugin and the unit tests link
 * (docs/architecture.md, "The engine").
 *
 * One engine exists per HyrsmModel (so per file and device: models are
 * shared, see hyrsm_model_new_shared()). A call or match job runs after
 * every job queued before it; frame jobs from any caller are embedded
 * together, up to a batch, and may run ahead of call and match jobs queued
 * before them; match jobs on one support set that are due together run as
 * one batch of queries.
 * Callbacks run on the engine's thread and must not block on the engine.
 */
#pragma once

#include <gio/gio.h>

#include "hyrsm-model.h"
#include "hyrsm-support-set.h"

G_BEGIN_DECLS

typedef struct _HyrsmEngine HyrsmEngine;

/* The features of one frame queued for embedding: a reference-counted
 * handle that the caller and the match jobs needing the frame hold, so
 * that a match gathers its window's features itself on the engine's
 * thread, however far the caller has moved on. */
typedef struct _HyrsmEmbedding HyrsmEmbedding;

HyrsmEmbedding *hyrsm_embedding_ref (HyrsmEmbedding *embedding);
void hyrsm_embedding_unref (HyrsmEmbedding *embedding);
/* TRUE once its features are written (FALSE while queued, and for good
 * when embedding failed). */
gboolean hyrsm_embedding_is_ready (const HyrsmEmbedding *embedding);
/* Its D features: valid once ready. */
const float *hyrsm_embedding_get_features (const HyrsmEmbedding *embedding);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (HyrsmEmbedding, hyrsm_embedding_unref)

/* Called, on the engine's thread, when a frame's features are written
 * (the embedding is ready), or with @error set when embedding failed. */
typedef void (*HyrsmEngineEmbedDone) (gpointer user_data, const GError *error);
/* A job of the caller's, run in queue order on the engine's thread. */
typedef void (*HyrsmEngineFunc) (gpointer user_data);

/* The engine of @model, created on first use; lives as long as the model. */
HyrsmEngine *hyrsm_engine_get (HyrsmModel *model);

/* Queues one packed RGB8 frame (@rgb is taken and freed by the engine) and
 * returns its embedding (a reference of the caller's), ready before @done
 * (which may be NULL) is called. */
HyrsmEmbedding *hyrsm_engine_queue_embed (HyrsmEngine *engine, guint8 *rgb,
    int width, int height, int stride, HyrsmEngineEmbedDone done,
    gpointer user_data);

/* Queues @func to run after everything queued before it. */
void hyrsm_engine_queue_call (HyrsmEngine *engine, HyrsmEngineFunc func,
    gpointer user_data);

/* A match's outcome, on the engine's thread: @result (transfer none) or
 * @error, or neither when the match was skipped (cancelled, or a point's
 * embedding failed). */
typedef void (*HyrsmEngineMatchDone) (gpointer user_data,
    HyrsmMatchResult *result, const GError *error);

/* Queues a match of one query against @support, run after every job
 * queued before it. The query is @query (T x D floats, copied now) or, when
 * @query is NULL, the features of the T embeddings @points (referenced
 * until the match ran), gathered when the match is about to run: every
 * frame queued before it is embedded by then. A match whose @cancellable
 * (may be NULL) is cancelled by then, or one of whose points failed, is
 * skipped. Matches on the same support set that are due together
 * (consecutive in the queue, other sets' matches between them aside) run
 * as one batch: hyrsm_support_set_match_batch_raw(), the relation weights
 * read once for all of them; each result is that of a single match. The
 * engine holds a reference to @support until just before @done is called;
 * the caller keeps one to the model until then. */
void hyrsm_engine_queue_match (HyrsmEngine *engine, HyrsmSupportSet *support,
    const float *query, HyrsmEmbedding *const *points,
    GCancellable *cancellable, HyrsmEngineMatchDone done, gpointer user_data);

/* Matches run and match batches made so far (for stats and tests). */
void hyrsm_engine_get_match_counts (HyrsmEngine *engine, guint64 *matches,
    guint64 *batches);

/* Jobs queued and not yet finished (for live callers deciding to drop). */
guint hyrsm_engine_get_pending (HyrsmEngine *engine);

/* Frames embedded and backbone calls made so far (for stats and tests). */
void hyrsm_engine_get_counts (HyrsmEngine *engine, guint64 *frames,
    guint64 *batches);

/* Microseconds the worker has spent running jobs so far (embedding,
 * matching, calls): frames embedded per busy second is what the engine
 * can do, however much of the time it waits for work. */
gint64 hyrsm_engine_get_busy_time (HyrsmEngine *engine);

G_END_DECLS
