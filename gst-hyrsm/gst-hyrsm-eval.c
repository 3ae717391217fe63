/* gst-hyrsm-eval.c: `gst-hyrsm eval`, the authors' few-shot test protocol
 * over a folder-per-class dataset.
 *
 * The features of every clip are computed once, through the support-set
 * loader and its cache (DIR/.hyrsm-cache/<fingerprint>/), so a second run
 * decodes nothing. Then each episode samples N classes, and in each class
 * K support and Q query clips without overlap; the K x N supports make a
 * HyrsmSupportSet and the N x Q queries are matched against it as one
 * batch (hyrsm_support_set_match_batch_raw(): the relation weights read
 * once for all of them).
 * Reported: the mean of the per-episode accuracies with a 95% confidence
 * interval of 1.96 std / sqrt(episodes) (as the authors report it), the
 * speed, and which classes are confused with which.
 *
 * Determinism: every episode is drawn up front from one GRand seeded with
 * --seed, then the episodes run on --threads workers, each result stored
 * by episode index, so the numbers depend on the seed only.
 */
#include "gst-hyrsm-common.h"

#include <math.h>
#include <string.h>

#define COMMAND "eval"
#define N_CONFUSED 5

typedef struct
{
  char *model_path, *dataset, *device, *precision;
  int way, shot, query, episodes, threads;
  gint64 seed;
  gboolean json, quiet, no_cache;
} EvalOptions;

typedef struct
{
  char *label;
  GArray *clips;                /* guint: example indices */
} EvalClass;

typedef struct
{
  EvalOptions *o;
  HyrsmModel *model;
  GstHyrsmSupportDir *dir;
  GPtrArray *classes;           /* EvalClass* with enough clips */
  GHashTable *class_index;      /* label -> GUINT_TO_POINTER (index + 1) */
  const float **features;       /* per example */
  /* the drawn episodes */
  guint *episode_classes;       /* episodes x way */
  guint *episode_clips;         /* episodes x way x (shot + query) */
  /* results */
  double *accuracy;             /* per episode */
  guint64 *confusion;           /* n_classes x n_classes: [true][predicted] */
  GMutex lock;
  gint next;                    /* next episode to run (atomic) */
  gint finished;                /* episodes done (atomic) */
  char *error;                  /* first failure */
} Eval;

static void
eval_class_free (gpointer data)
{
  EvalClass *c = data;
  g_free (c->label);
  g_array_unref (c->clips);
  g_free (c);
}

/* ---- the dataset ---- */

/* Groups the loaded examples by class and checks there are enough. */
static int
collect_classes (Eval *ev)
{
  EvalOptions *o = ev->o;
  HyrsmSupportSet *set = gst_hyrsm_support_dir_get_support_set (ev->dir);
  guint n = hyrsm_support_set_get_n_examples (set);
  ev->features = g_new0 (const float *, n);
  g_autoptr (GHashTable) by_label = g_hash_table_new (g_str_hash,
      g_str_equal);
  g_autoptr (GPtrArray) all = g_ptr_array_new_with_free_func
      (eval_class_free);
  for (guint i = 0; i < n; i++) {
    const char *label;
    GBytes *f;
    gst_hyrsm_support_dir_get_example (ev->dir, i, &label, NULL, &f);
    ev->features[i] = g_bytes_get_data (f, NULL);
    EvalClass *c = g_hash_table_lookup (by_label, label);
    if (c == NULL) {
      c = g_new0 (EvalClass, 1);
      c->label = g_strdup (label);
      c->clips = g_array_new (FALSE, FALSE, sizeof (guint));
      g_hash_table_insert (by_label, c->label, c);
      g_ptr_array_add (all, c);
    }
    g_array_append_val (c->clips, i);
  }
  guint need = o->shot + o->query;
  g_autoptr (GString) few = g_string_new (NULL);
  for (guint i = 0; i < all->len; i++) {
    EvalClass *c = all->pdata[i];
    if (c->clips->len < need)
      g_string_append_printf (few, "%s\"%s\" (%u)", few->len ? ", " : "",
          c->label, c->clips->len);
  }
  if (all->len < (guint) o->way) {
    cli_error ("%s: dataset %s has %u usable classes, fewer than --way %d",
        COMMAND, o->dataset, all->len, o->way);
    return CLI_EXIT_FAILED;
  }
  if (few->len) {
    cli_error ("%s: dataset %s: classes with fewer usable clips than --shot "
        "%d + --query %d = %u: %s", COMMAND, o->dataset, o->shot, o->query,
        need, few->str);
    return CLI_EXIT_FAILED;
  }
  ev->classes = g_steal_pointer (&all);
  ev->class_index = g_hash_table_new (g_str_hash, g_str_equal);
  for (guint i = 0; i < ev->classes->len; i++) {
    EvalClass *c = ev->classes->pdata[i];
    g_hash_table_insert (ev->class_index, c->label, GUINT_TO_POINTER (i + 1));
  }
  return 0;
}

/* ---- drawing the episodes ---- */

/* Moves @k random entries of @v (of @n) to its front: a partial
 * Fisher-Yates shuffle. */
static void
draw (GRand *rand, guint *v, guint n, guint k)
{
  for (guint i = 0; i < k; i++) {
    guint j = (guint) g_rand_int_range (rand, (gint32) i, (gint32) n);
    guint t = v[i];
    v[i] = v[j];
    v[j] = t;
  }
}

static void
draw_episodes (Eval *ev)
{
  EvalOptions *o = ev->o;
  guint n_classes = ev->classes->len, per = o->shot + o->query;
  g_autoptr (GRand) rand = g_rand_new_with_seed ((guint32) o->seed);
  g_autofree guint *order = g_new (guint, n_classes);
  for (guint i = 0; i < n_classes; i++)
    order[i] = i;
  ev->episode_classes = g_new (guint, (gsize) o->episodes * o->way);
  ev->episode_clips = g_new (guint, (gsize) o->episodes * o->way * per);
  for (int e = 0; e < o->episodes; e++) {
    draw (rand, order, n_classes, o->way);
    for (int c = 0; c < o->way; c++) {
      EvalClass *cls = ev->classes->pdata[order[c]];
      guint *clips = (guint *) cls->clips->data;
      draw (rand, clips, cls->clips->len, per);
      ev->episode_classes[(gsize) e * o->way + c] = order[c];
      memcpy (&ev->episode_clips[((gsize) e * o->way + c) * per], clips,
          per * sizeof (guint));
    }
  }
}

/* ---- running them ---- */

static gboolean
run_episode (Eval *ev, int e, guint64 *confusion, GError **error)
{
  EvalOptions *o = ev->o;
  guint per = o->shot + o->query, n_classes = ev->classes->len;
  const guint *classes = &ev->episode_classes[(gsize) e * o->way];
  const guint *clips = &ev->episode_clips[(gsize) e * o->way * per];
  g_autoptr (HyrsmSupportSet) set = hyrsm_support_set_new (ev->model);
  for (int c = 0; c < o->way; c++) {
    EvalClass *cls = ev->classes->pdata[classes[c]];
    for (int s = 0; s < o->shot; s++)
      if (!hyrsm_support_set_add_raw (set, cls->label,
              ev->features[clips[c * per + s]], error))
        return FALSE;
  }
  /* the episode's queries, class by class, as one batch */
  HyrsmModel *model = hyrsm_support_set_get_model (set);
  gsize td = (gsize) hyrsm_model_get_frames (model)
      * hyrsm_model_get_feature_dim (model);
  guint n_queries = o->way * o->query;
  g_autofree float *queries = g_new (float, n_queries * td);
  g_autofree HyrsmMatchResult **results = g_new0 (HyrsmMatchResult *,
      n_queries);
  for (int c = 0; c < o->way; c++)
    for (int q = 0; q < o->query; q++)
      memcpy (queries + (c * o->query + q) * td,
          ev->features[clips[c * per + o->shot + q]], td * sizeof (float));
  if (!hyrsm_support_set_match_batch_raw (set, queries, n_queries, results,
          error))
    return FALSE;
  guint correct = 0;
  for (int c = 0; c < o->way; c++) {
    for (int q = 0; q < o->query; q++) {
      g_autoptr (HyrsmMatchResult) r = results[c * o->query + q];
      const char *best = hyrsm_match_result_get_labels (r)
          [hyrsm_match_result_get_best_index (r)];
      guint predicted = GPOINTER_TO_UINT (g_hash_table_lookup
          (ev->class_index, best)) - 1;
      correct += predicted == classes[c];
      confusion[(gsize) classes[c] * n_classes + predicted]++;
    }
  }
  ev->accuracy[e] = (double) correct / (o->way * o->query);
  return TRUE;
}

static gpointer
worker (gpointer data)
{
  Eval *ev = data;
  guint n = ev->classes->len;
  g_autofree guint64 *confusion = g_new0 (guint64, (gsize) n * n);
  for (;;) {
    int e = g_atomic_int_add (&ev->next, 1);
    if (e >= ev->o->episodes)
      break;
    g_autoptr (GError) error = NULL;
    if (!run_episode (ev, e, confusion, &error)) {
      g_mutex_lock (&ev->lock);
      if (ev->error == NULL)
        ev->error = g_strdup (error->message);
      g_mutex_unlock (&ev->lock);
      g_atomic_int_set (&ev->next, ev->o->episodes);
      break;
    }
    g_atomic_int_inc (&ev->finished);
  }
  g_mutex_lock (&ev->lock);
  for (gsize i = 0; i < (gsize) n * n; i++)
    ev->confusion[i] += confusion[i];
  g_mutex_unlock (&ev->lock);
  return NULL;
}

/* Runs every episode; returns the seconds it took, or < 0 on failure. */
static double
run_episodes (Eval *ev)
{
  EvalOptions *o = ev->o;
  guint n = ev->classes->len;
  ev->accuracy = g_new0 (double, o->episodes);
  ev->confusion = g_new0 (guint64, (gsize) n * n);
  g_mutex_init (&ev->lock);
  int n_threads = MIN (o->threads, o->episodes);
  g_autofree GThread **threads = g_new0 (GThread *, n_threads);
  CliProgress progress;
  cli_progress_init (&progress, "Episodes", o->quiet);
  gint64 t0 = g_get_monotonic_time ();
  for (int i = 0; i < n_threads; i++)
    threads[i] = g_thread_new ("eval", worker, ev);
  while (g_atomic_int_get (&ev->finished) < o->episodes
      && g_atomic_int_get (&ev->next) < o->episodes + n_threads) {
    cli_progress_update (&progress, g_atomic_int_get (&ev->finished),
        o->episodes, NULL);
    if (ev->error)
      break;
    g_usleep (20000);
  }
  for (int i = 0; i < n_threads; i++)
    g_thread_join (threads[i]);
  double seconds = (g_get_monotonic_time () - t0) / 1e6;
  cli_progress_end (&progress);
  g_mutex_clear (&ev->lock);
  if (ev->error) {
    cli_error ("%s: %s", COMMAND, ev->error);
    return -1;
  }
  return seconds;
}

/* ---- the report ---- */

typedef struct
{
  double mean, ci95;
  double seconds, load_seconds;
  guint n_examples;
} Summary;

typedef struct
{
  guint truth, predicted;
  guint64 count;
} Pair;

static gint
pair_compare (gconstpointer a, gconstpointer b)
{
  const Pair *x = a, *y = b;
  if (x->count != y->count)
    return x->count > y->count ? -1 : 1;
  return x->truth != y->truth ? (x->truth < y->truth ? -1 : 1)
      : (x->predicted < y->predicted ? -1 : x->predicted > y->predicted);
}

/* Off-diagonal cells of the confusion matrix, most frequent first. */
static GArray *
confused_pairs (Eval *ev)
{
  guint n = ev->classes->len;
  GArray *pairs = g_array_new (FALSE, FALSE, sizeof (Pair));
  for (guint t = 0; t < n; t++)
    for (guint p = 0; p < n; p++)
      if (t != p && ev->confusion[(gsize) t * n + p]) {
        Pair x = { t, p, ev->confusion[(gsize) t * n + p] };
        g_array_append_val (pairs, x);
      }
  g_array_sort (pairs, pair_compare);
  return pairs;
}

static guint64
class_total (Eval *ev, guint t)
{
  guint n = ev->classes->len;
  guint64 total = 0;
  for (guint p = 0; p < n; p++)
    total += ev->confusion[(gsize) t * n + p];
  return total;
}

static const char *
class_label (Eval *ev, guint i)
{
  return ((EvalClass *) ev->classes->pdata[i])->label;
}

static void
report_text (Eval *ev, Summary *s)
{
  EvalOptions *o = ev->o;
  guint n = ev->classes->len;
  guint queries = (guint) o->episodes * o->way * o->query;
  printf ("Dataset:    %s (%u classes, %u clips; %u decoded, %u from the "
      "cache, in %.1f s)\n", o->dataset, n, s->n_examples,
      gst_hyrsm_support_dir_get_n_decoded (ev->dir),
      gst_hyrsm_support_dir_get_n_cached (ev->dir), s->load_seconds);
  printf ("Model:      %s (%s, head %s, T %u, device %s, %s)\n",
      o->model_path, hyrsm_model_get_backbone (ev->model),
      hyrsm_model_get_head (ev->model), hyrsm_model_get_frames (ev->model),
      hyrsm_model_get_device (ev->model),
      hyrsm_model_get_precision (ev->model));
  printf ("Protocol:   %d-way %d-shot, %d %s per class, %d episodes, seed %"
      G_GINT64_FORMAT "\n", o->way, o->shot, o->query,
      o->query == 1 ? "query" : "queries", o->episodes, o->seed);
  printf ("Accuracy:   %.2f%% +- %.2f%% (95%% confidence interval)\n",
      100 * s->mean, 100 * s->ci95);
  printf ("Speed:      %.1f episodes/s, %.1f queries/s (%.2f s, %d %s)\n",
      o->episodes / s->seconds, queries / s->seconds, s->seconds,
      MIN (o->threads, o->episodes), o->threads == 1 ? "thread" : "threads");
  g_autoptr (GArray) pairs = confused_pairs (ev);
  if (pairs->len == 0) {
    printf ("Confusions: none\n");
  } else {
    printf ("Most confused (true -> predicted: share of the true class's "
        "queries):\n");
    for (guint i = 0; i < MIN (pairs->len, N_CONFUSED); i++) {
      Pair *p = &g_array_index (pairs, Pair, i);
      printf ("  %s -> %s: %.2f%% (%" G_GUINT64_FORMAT ")\n",
          class_label (ev, p->truth), class_label (ev, p->predicted),
          100.0 * p->count / class_total (ev, p->truth), p->count);
    }
  }
  printf ("Per class:  ");
  for (guint t = 0; t < n; t++) {
    guint64 total = class_total (ev, t);
    printf ("%s%s %.1f%%", t ? ", " : "", class_label (ev, t), total ?
        100.0 * ev->confusion[(gsize) t * n + t] / total : 0.0);
  }
  printf ("\n");
}

static void
report_json (Eval *ev, Summary *s)
{
  EvalOptions *o = ev->o;
  guint n = ev->classes->len;
  g_autoptr (JsonBuilder) b = json_builder_new ();
  json_builder_begin_object (b);
  cli_json_string (b, "model", o->model_path);
  cli_json_string (b, "dataset", o->dataset);
  cli_json_string (b, "device", hyrsm_model_get_device (ev->model));
  cli_json_string (b, "precision", hyrsm_model_get_precision (ev->model));
  cli_json_int (b, "way", o->way);
  cli_json_int (b, "shot", o->shot);
  cli_json_int (b, "query", o->query);
  cli_json_int (b, "episodes", o->episodes);
  cli_json_int (b, "seed", o->seed);
  cli_json_double (b, "accuracy", s->mean);
  cli_json_double (b, "ci95", s->ci95);
  cli_json_double (b, "seconds", s->seconds);
  cli_json_double (b, "episodes_per_second", o->episodes / s->seconds);
  cli_json_int (b, "clips", s->n_examples);
  cli_json_int (b, "decoded", gst_hyrsm_support_dir_get_n_decoded (ev->dir));
  cli_json_int (b, "cached", gst_hyrsm_support_dir_get_n_cached (ev->dir));
  json_builder_set_member_name (b, "classes");
  json_builder_begin_array (b);
  for (guint t = 0; t < n; t++)
    json_builder_add_string_value (b, class_label (ev, t));
  json_builder_end_array (b);
  json_builder_set_member_name (b, "confusion");
  json_builder_begin_array (b);
  for (guint t = 0; t < n; t++) {
    json_builder_begin_array (b);
    for (guint p = 0; p < n; p++)
      json_builder_add_int_value (b, ev->confusion[(gsize) t * n + p]);
    json_builder_end_array (b);
  }
  json_builder_end_array (b);
  json_builder_set_member_name (b, "most_confused");
  json_builder_begin_array (b);
  g_autoptr (GArray) pairs = confused_pairs (ev);
  for (guint i = 0; i < MIN (pairs->len, N_CONFUSED); i++) {
    Pair *p = &g_array_index (pairs, Pair, i);
    json_builder_begin_object (b);
    cli_json_string (b, "true", class_label (ev, p->truth));
    cli_json_string (b, "predicted", class_label (ev, p->predicted));
    cli_json_int (b, "count", p->count);
    cli_json_double (b, "share", (double) p->count /
        class_total (ev, p->truth));
    json_builder_end_object (b);
  }
  json_builder_end_array (b);
  json_builder_set_member_name (b, "skipped");
  json_builder_begin_array (b);
  g_auto (GStrv) skipped = gst_hyrsm_support_dir_get_skipped (ev->dir);
  for (int i = 0; skipped[i]; i++)
    json_builder_add_string_value (b, skipped[i]);
  json_builder_end_array (b);
  json_builder_end_object (b);
  cli_print_json (b);
}

static void
summarize (Eval *ev, Summary *s)
{
  int n = ev->o->episodes;
  double sum = 0, sq = 0;
  for (int e = 0; e < n; e++)
    sum += ev->accuracy[e];
  s->mean = sum / n;
  for (int e = 0; e < n; e++)
    sq += (ev->accuracy[e] - s->mean) * (ev->accuracy[e] - s->mean);
  /* The population std, as numpy's np.std in the authors' code. */
  s->ci95 = 1.96 * sqrt (sq / n) / sqrt (n);
}

/* ---- the command ---- */

static int
check_options (EvalOptions *o, int argc, char **argv)
{
  if (!o->model_path)
    return cli_usage_error (COMMAND, "--model is required");
  if (!o->dataset)
    return cli_usage_error (COMMAND, "--dataset is required");
  if (argc > 1)
    return cli_usage_error (COMMAND, "unexpected argument \"%s\"", argv[1]);
  if (o->way < 2)
    return cli_usage_error (COMMAND, "--way must be at least 2 (got %d)",
        o->way);
  if (o->shot < 1 || o->query < 1)
    return cli_usage_error (COMMAND, "--shot and --query must be at least 1");
  if (o->episodes < 1)
    return cli_usage_error (COMMAND, "--episodes must be at least 1");
  if (o->threads < 1 || o->threads > 256)
    return cli_usage_error (COMMAND, "--threads must be from 1 to 256");
  if (o->seed < 0 || o->seed > G_MAXUINT32)
    return cli_usage_error (COMMAND, "--seed must be from 0 to %u",
        G_MAXUINT32);
  return 0;
}

static int
run_eval (EvalOptions *o)
{
  gst_init (NULL, NULL);
  Eval ev = {.o = o };
  int status = CLI_EXIT_FAILED;
  Summary s = { 0 };
  ev.model = cli_load_model (COMMAND, o->model_path, o->device,
      o->precision);
  if (ev.model == NULL)
    goto out;
  if (!g_file_test (o->dataset, G_FILE_TEST_IS_DIR)) {
    cli_error ("%s: dataset %s %s", COMMAND, o->dataset,
        g_file_test (o->dataset, G_FILE_TEST_EXISTS) ? "is not a directory "
        "(expected one folder per class holding its clips)" :
        "does not exist");
    goto out;
  }
  gint64 t0 = g_get_monotonic_time ();
  GstHyrsmSupportDirFlags flags = GST_HYRSM_SUPPORT_DIR_KEEP_FEATURES
      | (o->no_cache ? GST_HYRSM_SUPPORT_DIR_NO_CACHE : 0);
  ev.dir = cli_load_support_dir (COMMAND, ev.model, o->dataset, flags,
      o->quiet);
  if (ev.dir == NULL)
    goto out;
  s.load_seconds = (g_get_monotonic_time () - t0) / 1e6;
  s.n_examples = hyrsm_support_set_get_n_examples
      (gst_hyrsm_support_dir_get_support_set (ev.dir));
  cli_warn_skipped (COMMAND, ev.dir, NULL);
  if ((status = collect_classes (&ev)))
    goto out;
  draw_episodes (&ev);
  s.seconds = run_episodes (&ev);
  if (s.seconds < 0) {
    status = CLI_EXIT_FAILED;
    goto out;
  }
  summarize (&ev, &s);
  if (o->json)
    report_json (&ev, &s);
  else
    report_text (&ev, &s);
  status = 0;
out:
  g_clear_pointer (&ev.classes, g_ptr_array_unref);
  g_clear_pointer (&ev.class_index, g_hash_table_unref);
  g_free (ev.features);
  g_free (ev.episode_classes);
  g_free (ev.episode_clips);
  g_free (ev.accuracy);
  g_free (ev.confusion);
  g_free (ev.error);
  g_clear_object (&ev.dir);
  g_clear_object (&ev.model);
  return status;
}

int
cli_cmd_eval (int argc, char **argv)
{
  EvalOptions o = {.way = 5,.shot = 1,.query = 1,.episodes = 10000,
    .threads = MIN (g_get_num_processors (), 8),.seed = 0
  };
  GOptionEntry entries[] = {
    cli_option_model (&o.model_path),
    {"dataset", 'd', 0, G_OPTION_ARG_FILENAME, &o.dataset,
        "The dataset: one folder per class, clips inside (required)", "DIR"},
    {"way", 'w', 0, G_OPTION_ARG_INT, &o.way,
        "Classes per episode, N (default 5)", "N"},
    {"shot", 'k', 0, G_OPTION_ARG_INT, &o.shot,
        "Support clips per class, K (default 1)", "K"},
    {"query", 'Q', 0, G_OPTION_ARG_INT, &o.query,
        "Query clips per class, Q (default 1)", "Q"},
    {"episodes", 'e', 0, G_OPTION_ARG_INT, &o.episodes,
        "Episodes (default 10000)", "E"},
    {"seed", 0, 0, G_OPTION_ARG_INT64, &o.seed,
        "Seed of the episode draw (default 0): same seed, same numbers",
        "S"},
    {"threads", 'j', 0, G_OPTION_ARG_INT, &o.threads,
        "Episodes run on this many threads (default: the CPUs, at most 8; "
          "the result does not depend on it)", "N"},
    cli_option_device (&o.device),
    cli_option_precision (&o.precision),
    {"no-cache", 0, 0, G_OPTION_ARG_NONE, &o.no_cache,
        "Decode every clip instead of using (or writing) the feature cache",
        NULL},
    cli_option_json (&o.json),
    cli_option_quiet (&o.quiet),
    {NULL}
  };
  int status = cli_parse_options (COMMAND, "--model MODEL --dataset DIR",
      "Measures accuracy with the authors' few-shot protocol: the features "
      "of every clip\nof DIR (DIR/CLASS/CLIP) are computed once and cached; "
      "then each episode draws\nN classes and, per class, K support and Q "
      "query clips (no overlap), and\nclassifies the queries against the "
      "supports. Prints the mean accuracy with a\n95% confidence interval "
      "(1.96 std / sqrt(episodes)), the speed, and the most\nconfused "
      "classes.",
      "Example:\n"
      "  gst-hyrsm eval -m model.safetensors -d ucf101-test --way 5 --shot 1 "
      "\\\n      --episodes 10000 --seed 1",
      entries, &argc, &argv);
  if (status == 0)
    status = check_options (&o, argc, argv);
  if (status == 0)
    status = run_eval (&o);
  g_free (o.model_path);
  g_free (o.dataset);
  g_free (o.device);
  g_free (o.precision);
  return status;
}
