/* test-match-batch.c: batched matching and the cached support terms.
 *
 * - hyrsm_support_set_match_batch() gives each query the distances of a
 *   single match, for every head rule, and rejects bad batches clearly.
 * - The cached inter-relation (support terms made once per snapshot, the
 *   query's column added per query) equals the uncached one,
 *   hyrsm_relation_inter() over all M + 1 tokens, for several M.
 * - The engine runs matches queued together on one support set as one
 *   batch, with the results of single matches.
 *
 * Agreement with the float64 PyTorch reference for both heads and several
 * way/shot counts is test-relation.c's fixture cases (they run the same
 * cached path).
 */
#include "hyrsm.h"
#include "hyrsm-engine.h"
#include "hyrsm-gemm-thin.h"
#include "hyrsm-model-private.h"
#include "hyrsm-relation.h"
#include "hyrsm-support-set-private.h"
#include "test-model-writer.h"

#include <glib/gstdio.h>
#include <math.h>
#include <string.h>

#define T 8
#define D 32

static char *tmpdir;

static HyrsmModel *
small_model (const char *head)
{
  g_autofree char *name = g_strdup_printf ("small-%s.safetensors", head);
  g_autofree char *path = g_build_filename (tmpdir, name, NULL);
  TestModelSpec spec = {.head = head,.head_dim = D,.seed = 11 };
  g_autoptr (GError) error = NULL;
  if (!g_file_test (path, G_FILE_TEST_EXISTS)) {
    test_model_write (path, &spec, &error);
    g_assert_no_error (error);
  }
  HyrsmModel *model = hyrsm_model_new_from_file (path, &error);
  g_assert_no_error (error);
  return model;
}

/* A video of class @cls (a fixed pattern) with noise from @seed, into @x. */
static void
video (int cls, guint32 seed, float *x)
{
  GRand *rand = g_rand_new_with_seed (seed);
  for (int i = 0; i < T * D; i++) {
    double pattern = sin (0.37 * (cls + 1) * (i + 3) + cls);
    x[i] = (float) MAX (0.0, pattern + 0.5 * g_rand_double_range (rand, -1,
            1));
  }
  g_rand_free (rand);
}

/* A set of @n_classes classes with @shots examples each. */
static HyrsmSupportSet *
make_set (HyrsmModel *model, int n_classes, int shots)
{
  HyrsmSupportSet *set = hyrsm_support_set_new (model);
  float x[T * D];
  for (int s = 0; s < shots; s++)
    for (int c = 0; c < n_classes; c++) {
      g_autoptr (GError) error = NULL;
      g_autofree char *label = g_strdup_printf ("class%d", c);
      video (c, 100 * c + s, x);
      hyrsm_support_set_add_raw (set, label, x, &error);
      g_assert_no_error (error);
    }
  return set;
}

static void
assert_same_result (HyrsmMatchResult *a, HyrsmMatchResult *b)
{
  guint n = 0, nb = 0;
  const double *da = hyrsm_match_result_get_distances (a, &n);
  const double *db = hyrsm_match_result_get_distances (b, &nb);
  g_assert_cmpuint (n, ==, nb);
  g_assert_cmpstrv (hyrsm_match_result_get_labels (a),
      hyrsm_match_result_get_labels (b));
  for (guint c = 0; c < n; c++)
    g_assert_cmpfloat_with_epsilon (da[c], db[c], 1e-6 * MAX (1, fabs
            (db[c])));
  /* With the packed GEMM (CPUs with AVX2 and FMA) each row of a product is
   * summed the same way whatever the number of rows: a window in a batch
   * gets the very distances it gets alone. */
  if (hyrsm_gemm_packed_supported ())
    g_assert_cmpmem (da, n * sizeof (double), db, nb * sizeof (double));
  g_assert_cmpstr (hyrsm_match_result_get_label (a), ==,
      hyrsm_match_result_get_label (b));
}

/* ---- batch = single ---- */

typedef struct
{
  const char *head;
  int n_classes, shots, n_queries;
} BatchCase;

static void
test_batch_equals_single (gconstpointer data)
{
  const BatchCase *bc = data;
  g_autoptr (HyrsmModel) model = small_model (bc->head);
  g_autoptr (HyrsmSupportSet) set = make_set (model, bc->n_classes,
      bc->shots);
  g_autoptr (GError) error = NULL;
  gsize td = T * D;
  g_autofree float *queries = g_new (float, bc->n_queries * td);
  for (int b = 0; b < bc->n_queries; b++)
    video (b % bc->n_classes, 9000 + b, queries + b * td);

  /* through GBytes (the introspected entry) */
  g_autoptr (GBytes) bytes = g_bytes_new (queries, bc->n_queries * td *
      sizeof (float));
  g_autoptr (GPtrArray) batch = hyrsm_support_set_match_batch (set, bytes,
      &error);
  g_assert_no_error (error);
  g_assert_cmpuint (batch->len, ==, bc->n_queries);
  guint correct = 0;
  for (int b = 0; b < bc->n_queries; b++) {
    g_autoptr (HyrsmMatchResult) single = hyrsm_support_set_match_raw (set,
        queries + b * td, &error);
    g_assert_no_error (error);
    assert_same_result (g_ptr_array_index (batch, b), single);
    g_autofree char *want = g_strdup_printf ("class%d", b % bc->n_classes);
    correct += g_strcmp0 (hyrsm_match_result_get_label (single), want) == 0;
  }
  /* the queries are noisy copies of their class: the match must mostly
   * find it (a broken head would not) */
  g_assert_cmpuint (correct, >=, (guint) (bc->n_queries * 3 / 4));
}

static void
test_batch_errors (void)
{
  g_autoptr (HyrsmModel) model = small_model ("1shot");
  g_autoptr (HyrsmSupportSet) empty = hyrsm_support_set_new (model);
  g_autoptr (HyrsmSupportSet) set = make_set (model, 3, 1);
  g_autoptr (GError) error = NULL;
  gsize td = T * D;
  g_autofree float *queries = g_new (float, 3 * td);
  for (int b = 0; b < 3; b++)
    video (b, 500 + b, queries + b * td);

  /* not a whole number of T x D videos */
  g_autoptr (GBytes) odd = g_bytes_new (queries, 2 * td * sizeof (float) - 4);
  g_assert_null (hyrsm_support_set_match_batch (set, odd, &error));
  g_assert_error (error, HYRSM_ERROR, HYRSM_ERROR_SHAPE_MISMATCH);
  g_assert_nonnull (strstr (error->message, "T x D = 8 x 32"));
  g_assert_nonnull (strstr (error->message, "got 2044 bytes"));
  g_clear_error (&error);

  /* a non-finite value names the query */
  queries[2 * td + 5 * D + 7] = INFINITY;
  g_autoptr (GBytes) bad = g_bytes_new (queries, 3 * td * sizeof (float));
  g_assert_null (hyrsm_support_set_match_batch (set, bad, &error));
  g_assert_error (error, HYRSM_ERROR, HYRSM_ERROR_INVALID_ARGUMENT);
  g_assert_nonnull (strstr (error->message, "query 2: value at frame 5, "
          "channel 7 is not finite"));
  g_clear_error (&error);
  queries[2 * td + 5 * D + 7] = 0;

  /* an empty set */
  g_autoptr (GBytes) good = g_bytes_new (queries, 3 * td * sizeof (float));
  g_assert_null (hyrsm_support_set_match_batch (empty, good, &error));
  g_assert_error (error, HYRSM_ERROR, HYRSM_ERROR_EMPTY_SUPPORT_SET);
  g_clear_error (&error);

  /* no queries: no results */
  g_autoptr (GBytes) none = g_bytes_new (NULL, 0);
  g_autoptr (GPtrArray) results = hyrsm_support_set_match_batch (set, none,
      &error);
  g_assert_no_error (error);
  g_assert_cmpuint (results->len, ==, 0);
}

/* ---- cached inter-relation = uncached ---- */

static void
test_cached_equals_uncached (gconstpointer data)
{
  const char *head = data;
  g_autoptr (HyrsmModel) model = small_model (head);
  const HyrsmRelation *rel = hyrsm_relation_get (model);
  g_assert_nonnull (rel);
  const int sizes[] = { 1, 2, 5, 12 };
  for (guint s = 0; s < G_N_ELEMENTS (sizes); s++) {
    int M = sizes[s];
    /* 1-shot rule: M classes, one example each; the prototype rule: M
     * classes of two examples */
    g_autoptr (HyrsmSupportSet) set = make_set (model, M,
        g_strcmp0 (head, "1shot") == 0 ? 1 : 2);
    float query[T * D];
    video (M / 2, 4242 + M, query);
    g_autoptr (GError) error = NULL;
    HyrsmMatchTrace *trace = NULL;
    g_autoptr (HyrsmMatchResult) res = hyrsm_support_set_match_traced (set,
        query, &trace, &error);
    g_assert_no_error (error);
    g_assert_cmpint (trace->n_tokens, ==, M);

    /* the token means the trace's tokens were made of: u of each token's
     * E rows is not kept, so rebuild U from the support's intra outputs */
    g_autofree float *U = g_new (float, (gsize) (M + 1) * D);
    g_autofree float *s_q = g_new (float, T * D);
    hyrsm_relation_intra (rel, query, s_q, &error);
    g_assert_no_error (error);
    hyrsm_relation_token_mean (rel, s_q, U + (gsize) M * D);
    for (int m = 0; m < M; m++) {
      /* class m's token: its example (1-shot) or the mean of its two
       * examples' S (the prototype), examples added shot-major */
      int shots = trace->prototypes ? 2 : 1;
      g_autofree float *proto = g_new0 (float, T * D);
      for (int k = 0; k < shots; k++) {
        const float *s_k = hyrsm_support_set_peek_intra (set, k * M + m);
        for (int i = 0; i < T * D; i++)
          proto[i] += s_k[i] / shots;
      }
      hyrsm_relation_token_mean (rel, proto, U + (gsize) m * D);
    }
    g_autofree float *g = g_new (float, (gsize) (M + 1) * D);
    hyrsm_relation_inter (rel, U, M + 1, g, &error);
    g_assert_no_error (error);
    double worst = 0, scale = 1e-6;
    for (gsize i = 0; i < (gsize) (M + 1) * D; i++) {
      worst = MAX (worst, fabs ((double) trace->g[i] - g[i]));
      scale = MAX (scale, fabs ((double) g[i]));
    }
    g_test_message ("%s, M = %d: cached g vs uncached: %.2e", head, M,
        worst / scale);
    g_assert_cmpfloat (worst / scale, <, 1e-5);
    hyrsm_match_trace_free (trace);
  }
}

/* ---- the engine batches matches ---- */

typedef struct
{
  GMutex lock;
  GCond cond;
  gboolean go;
  int done;
  HyrsmMatchResult *results[6];
  int skipped;
} EngineCase;

typedef struct
{
  EngineCase *ec;
  int index;
} EngineJob;

static void
hold_engine (gpointer data)
{
  EngineCase *ec = data;
  g_mutex_lock (&ec->lock);
  while (!ec->go)
    g_cond_wait (&ec->cond, &ec->lock);
  g_mutex_unlock (&ec->lock);
}

static void
embed_failed (gpointer data, const GError *error)
{
  int *failed = data;
  g_assert_nonnull (error);     /* the model has no backbone */
  (*failed)++;
}

static void
match_done (gpointer data, HyrsmMatchResult *result, const GError *error)
{
  EngineJob *job = data;
  g_assert_no_error ((GError *) error);
  g_mutex_lock (&job->ec->lock);
  if (result)
    job->ec->results[job->index] = g_object_ref (result);
  else
    job->ec->skipped++;
  job->ec->done++;
  g_cond_broadcast (&job->ec->cond);
  g_mutex_unlock (&job->ec->lock);
}

static void
test_engine_batches (void)
{
  g_autoptr (HyrsmModel) model = small_model ("1shot");
  g_autoptr (HyrsmSupportSet) set = make_set (model, 4, 1);
  g_autoptr (HyrsmSupportSet) other = make_set (model, 2, 1);
  HyrsmEngine *engine = hyrsm_engine_get (model);
  EngineCase ec = { 0 };
  g_mutex_init (&ec.lock);
  g_cond_init (&ec.cond);
  float queries[6][T * D];
  EngineJob jobs[6];

  guint64 matches0, batches0;
  hyrsm_engine_get_match_counts (engine, &matches0, &batches0);
  /* The engine is held by a call job while the six matches queue up: five
   * on @set, one on @other in between, which keeps its place and runs on
   * its own. Two are skipped (neither result nor error): job 1's window
   * is T frames whose embedding fails (this model has no backbone), job
   * 3's cancellable is cancelled before the engine reaches it. */
  hyrsm_engine_queue_call (engine, hold_engine, &ec);
  g_autoptr (GCancellable) cancelled = g_cancellable_new ();
  HyrsmEmbedding *points[T];
  int failed = 0;
  for (int t = 0; t < T; t++)
    points[t] = hyrsm_engine_queue_embed (engine, g_malloc0 (4 * 4 * 3), 4, 4,
        12, embed_failed, &failed);
  for (int i = 0; i < 6; i++) {
    video (i % 4, 700 + i, queries[i]);
    jobs[i] = (EngineJob) {
    &ec, i};
    hyrsm_engine_queue_match (engine, i == 2 ? other : set,
        i == 1 ? NULL : queries[i], i == 1 ? points : NULL,
        i == 3 ? cancelled : NULL, match_done, &jobs[i]);
  }
  g_cancellable_cancel (cancelled);
  g_mutex_lock (&ec.lock);
  ec.go = TRUE;
  g_cond_broadcast (&ec.cond);
  while (ec.done < 6)
    g_cond_wait (&ec.cond, &ec.lock);
  g_mutex_unlock (&ec.lock);

  guint64 matches, batches;
  hyrsm_engine_get_match_counts (engine, &matches, &batches);
  g_assert_cmpuint (matches - matches0, ==, 4);
  g_assert_cmpuint (batches - batches0, ==, 2);
  g_assert_cmpint (ec.skipped, ==, 2);
  g_assert_cmpint (failed, ==, T);
  for (int t = 0; t < T; t++) {
    g_assert_false (hyrsm_embedding_is_ready (points[t]));
    hyrsm_embedding_unref (points[t]);
  }
  for (int i = 0; i < 6; i++) {
    if (i == 1 || i == 3) {
      g_assert_null (ec.results[i]);
      continue;
    }
    g_autoptr (GError) error = NULL;
    g_autoptr (HyrsmMatchResult) single = hyrsm_support_set_match_raw (i ==
        2 ? other : set, queries[i], &error);
    g_assert_no_error (error);
    assert_same_result (ec.results[i], single);
    g_object_unref (ec.results[i]);
  }
  g_mutex_clear (&ec.lock);
  g_cond_clear (&ec.cond);
}

static const BatchCase batch_cases[] = {
  {"1shot", 5, 1, 9},
  {"1shot", 3, 3, 7},
  {"5shot", 5, 5, 8},
  {"5shot", 4, 2, 3},
  {"unnamed", 3, 1, 4},
  {"unnamed", 3, 2, 5},
  {"1shot", 20, 1, 40},         /* more queries than one group */
};

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  tmpdir = g_dir_make_tmp ("hyrsm-test-match-batch-XXXXXX", NULL);
  g_assert_nonnull (tmpdir);

  for (guint i = 0; i < G_N_ELEMENTS (batch_cases); i++) {
    const BatchCase *bc = &batch_cases[i];
    g_autofree char *path = g_strdup_printf ("/match-batch/equals-single/"
        "%s-%dway%dshot-%dqueries", bc->head, bc->n_classes, bc->shots,
        bc->n_queries);
    g_test_add_data_func (path, bc, test_batch_equals_single);
  }
  g_test_add_func ("/match-batch/errors", test_batch_errors);
  g_test_add_data_func ("/match-batch/cached-inter/1shot", "1shot",
      test_cached_equals_uncached);
  g_test_add_data_func ("/match-batch/cached-inter/5shot", "5shot",
      test_cached_equals_uncached);
  g_test_add_func ("/match-batch/engine", test_engine_batches);

  int ret = g_test_run ();
  GDir *dir = g_dir_open (tmpdir, 0, NULL);
  const char *name;
  while (dir && (name = g_dir_read_name (dir))) {
    g_autofree char *path = g_build_filename (tmpdir, name, NULL);
    g_unlink (path);
  }
  if (dir)
    g_dir_close (dir);
  g_rmdir (tmpdir);
  g_free (tmpdir);
  return ret;
}
