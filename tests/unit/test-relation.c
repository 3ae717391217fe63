/* test-relation.c: the relation head, support sets and matching, against
 * the float64 PyTorch reference (tests/reference/hyrsm_ref.py, through the
 * cases of tests/fixtures/make_engine_fixtures.py), and the errors and
 * bookkeeping of HyrsmSupportSet / HyrsmMatchResult.
 *
 * The fixtures are generated at start-up into a temporary folder (or read
 * from $HYRSM_FIXTURE_DIR); without torch the fixture tests are skipped.
 */
#include "hyrsm.h"
#include "hyrsm-model-private.h"
#include "hyrsm-gemm-thin.h"
#include "hyrsm-relation.h"
#include "hyrsm-safetensors.h"
#include "hyrsm-support-set-private.h"
#include "test-model-writer.h"

#include <glib/gstdio.h>
#include <json-glib/json-glib.h>
#include <float.h>
#include <math.h>
#include <string.h>

/* Relative error bound of every stage against the float64 reference. */
#define TOLERANCE 1e-4

static char *tmpdir;            /* ours: removed at exit */
static char *fixture_dir;       /* cases; NULL when not available */
static char *fixture_error;     /* why generating the fixtures failed */

/* ---- helpers ---- */

static void
remove_tree (const char *path)
{
  if (g_file_test (path, G_FILE_TEST_IS_DIR)
      && !g_file_test (path, G_FILE_TEST_IS_SYMLINK)) {
    GDir *dir = g_dir_open (path, 0, NULL);
    const char *name;
    while (dir && (name = g_dir_read_name (dir))) {
      g_autofree char *child = g_build_filename (path, name, NULL);
      remove_tree (child);
    }
    if (dir)
      g_dir_close (dir);
    g_rmdir (path);
  } else {
    g_unlink (path);
  }
}

/* max |a - b| / max (max |b|, 1e-6) */
static double
rel_err_f (const float *a, const float *b, gsize n)
{
  double diff = 0, scale = 1e-6;
  for (gsize i = 0; i < n; i++) {
    diff = MAX (diff, fabs ((double) a[i] - b[i]));
    scale = MAX (scale, fabs ((double) b[i]));
  }
  return diff / scale;
}

/* Element-wise |a - b| / max (|b|, 1e-3): the distances one by one. */
static double
rel_err_elementwise (const double *a, const float *b, gsize n)
{
  double worst = 0;
  for (gsize i = 0; i < n; i++)
    worst = MAX (worst, fabs (a[i] - b[i]) / MAX (fabs ((double) b[i]),
            1e-3));
  return worst;
}

static float *
tensor_floats (const HyrsmSafetensors *st, const char *name, gsize expect)
{
  const HyrsmTensorInfo *t = hyrsm_safetensors_lookup (st, name);
  if (t == NULL)
    return NULL;
  g_assert_cmpint (t->dtype, ==, HYRSM_DTYPE_F32);
  if (expect)
    g_assert_cmpint (t->n_elements, ==, (gint64) expect);
  float *out = g_new (float, t->n_elements);
  hyrsm_tensor_copy_f32 (t, out);
  return out;
}

static char **
json_strings (const char *json)
{
  g_autoptr (JsonParser) parser = json_parser_new ();
  g_autoptr (GError) error = NULL;
  json_parser_load_from_data (parser, json, -1, &error);
  g_assert_no_error (error);
  JsonArray *array = json_node_get_array (json_parser_get_root (parser));
  guint n = json_array_get_length (array);
  char **out = g_new0 (char *, n + 1);
  for (guint i = 0; i < n; i++)
    out[i] = g_strdup (json_array_get_string_element (array, i));
  return out;
}

/* ---- fixture cases ---- */

typedef struct
{
  const char *name;
  double err;                   /* < 0: not checked */
} Stage;

enum
{ SUPPORT_INTRA, QUERY_INTRA, INTER, FUSED, TOKEN_DISTANCES, DISTANCES,
  N_STAGES
};

static void
test_fixture_case (gconstpointer data)
{
  const char *dir = data;
  g_autofree char *model_path = g_build_filename (dir, "model.safetensors",
      NULL);
  g_autofree char *case_path = g_build_filename (dir, "case.safetensors",
      NULL);
  g_autoptr (GError) error = NULL;

  g_autoptr (HyrsmModel) model = hyrsm_model_new_from_file (model_path,
      &error);
  g_assert_no_error (error);
  HyrsmSafetensors *st = hyrsm_safetensors_open (case_path, &error);
  g_assert_no_error (error);

  const HyrsmTensorInfo *sf = hyrsm_safetensors_lookup (st,
      "support_features");
  g_assert_nonnull (sf);
  g_assert_cmpint (sf->rank, ==, 3);
  int n = sf->shape[0], T = sf->shape[1], D = sf->shape[2];
  gsize td = (gsize) T * D;
  g_assert_cmpuint (hyrsm_model_get_frames (model), ==, T);
  g_assert_cmpuint (hyrsm_model_get_feature_dim (model), ==, D);

  g_auto (GStrv) labels = json_strings (hyrsm_safetensors_get_metadata (st,
          "labels"));
  g_auto (GStrv) class_order = json_strings (hyrsm_safetensors_get_metadata
      (st, "class_order"));
  const char *predicted = hyrsm_safetensors_get_metadata (st, "predicted");
  const char *rule = hyrsm_safetensors_get_metadata (st, "head_rule");
  g_assert_cmpuint (g_strv_length (labels), ==, n);
  guint n_classes = g_strv_length (class_order);

  g_autofree float *support = tensor_floats (st, "support_features", 0);
  g_autofree float *query = tensor_floats (st, "query_features", td);
  g_autofree float *exp_support_intra = tensor_floats (st,
      "expected_support_intra", n * td);
  g_autofree float *exp_query_intra = tensor_floats (st,
      "expected_query_intra", td);
  g_autofree float *exp_inter = tensor_floats (st, "expected_inter", 0);
  g_autofree float *exp_fused = tensor_floats (st, "expected_fused", 0);
  g_autofree float *exp_token_dist = tensor_floats (st,
      "expected_token_distances", 0);
  g_autofree float *exp_dist = tensor_floats (st, "expected_distances",
      n_classes);
  g_assert_nonnull (exp_dist);

  g_autoptr (HyrsmSupportSet) sset = hyrsm_support_set_new (model);
  for (int i = 0; i < n; i++) {
    hyrsm_support_set_add_raw (sset, labels[i], support + i * td, &error);
    g_assert_no_error (error);
  }
  g_assert_cmpuint (hyrsm_support_set_get_n_examples (sset), ==, n);

  Stage stages[N_STAGES] = {
    {"support intra S", -1}, {"query intra S", -1}, {"inter g", -1},
    {"fused E", -1}, {"token distances", -1}, {"class distances", -1},
  };

  if (exp_support_intra) {
    double worst = 0;
    for (int i = 0; i < n; i++) {
      const float *s = hyrsm_support_set_peek_intra (sset, i);
      g_assert_nonnull (s);
      worst = MAX (worst, rel_err_f (s, exp_support_intra + i * td, td));
    }
    stages[SUPPORT_INTRA].err = worst;
  }
  if (exp_query_intra) {
    const HyrsmRelation *rel = hyrsm_relation_get (model);
    g_assert_nonnull (rel);
    g_autofree float *s = g_new (float, td);
    hyrsm_relation_intra (rel, query, s, &error);
    g_assert_no_error (error);
    stages[QUERY_INTRA].err = rel_err_f (s, exp_query_intra, td);
  }

  HyrsmMatchTrace *trace = NULL;
  g_autoptr (HyrsmMatchResult) result = hyrsm_support_set_match_traced (sset,
      query, &trace, &error);
  g_assert_no_error (error);
  g_assert_nonnull (trace);
  int M = trace->n_tokens;
  g_assert_cmpint (trace->prototypes, ==, g_strcmp0 (rule, "5shot") == 0);
  if (exp_inter) {
    g_assert_nonnull (trace->g);
    stages[INTER].err = rel_err_f (trace->g, exp_inter, (M + 1) * (gsize) D);
  }
  if (exp_fused)
    stages[FUSED].err = rel_err_f (trace->e, exp_fused, (M + 1) * td);
  if (exp_token_dist)
    stages[TOKEN_DISTANCES].err = rel_err_elementwise (trace->token_distances,
        exp_token_dist, M);

  guint n_dist = 0;
  const double *dist = hyrsm_match_result_get_distances (result, &n_dist);
  g_assert_cmpuint (n_dist, ==, n_classes);
  g_assert_cmpstrv (hyrsm_match_result_get_labels (result),
      (const char *const *) class_order);
  stages[DISTANCES].err = rel_err_elementwise (dist, exp_dist, n_classes);

  GString *summary = g_string_new (NULL);
  const Stage *first_bad = NULL;
  for (int s = 0; s < N_STAGES; s++) {
    if (stages[s].err < 0)
      continue;
    g_string_append_printf (summary, "%s%s %.2e", summary->len ? ", " : "",
        stages[s].name, stages[s].err);
    if (first_bad == NULL && !(stages[s].err < TOLERANCE))
      first_bad = &stages[s];
  }
  g_test_message ("%s (rule %s, %d tokens): %s", dir, rule, M, summary->str);
  if (first_bad)
    g_test_fail_printf ("%s: stage \"%s\" diverged first (relative error "
        "%.3e > %.0e); all stages: %s", dir, first_bad->name, first_bad->err,
        TOLERANCE, summary->str);
  else if (g_strcmp0 (hyrsm_match_result_get_label (result), predicted) != 0)
    g_test_fail_printf ("%s: predicted \"%s\", the reference \"%s\" (stages "
        "agree: %s)", dir, hyrsm_match_result_get_label (result), predicted,
        summary->str);
  g_string_free (summary, TRUE);
  hyrsm_match_trace_free (trace);
  hyrsm_safetensors_free (st);
}

static void
test_fixtures_unavailable (void)
{
  g_test_fail_printf ("%s", fixture_error);
}

/* Runs make_engine_fixtures.py into a temporary folder, unless
 * $HYRSM_FIXTURE_DIR names one already made. */
static void
prepare_fixtures (void)
{
  const char *given = g_getenv ("HYRSM_FIXTURE_DIR");
  if (given && *given) {
    fixture_dir = g_strdup (given);
    return;
  }
  const char *python = g_getenv ("HYRSM_PYTHON");
  const char *fixtures = g_getenv ("HYRSM_FIXTURES");
  if (fixtures == NULL) {
    fixture_error = g_strdup ("HYRSM_FIXTURES is not set (run with meson "
        "test, or set HYRSM_FIXTURE_DIR)");
    return;
  }
  g_autofree char *script = g_build_filename (fixtures,
      "make_engine_fixtures.py", NULL);
  if (!g_file_test (script, G_FILE_TEST_EXISTS)) {
    fixture_error = g_strdup_printf ("%s not found", script);
    return;
  }
  g_autofree char *out = g_build_filename (tmpdir, "fixtures", NULL);
  const char *argv[] = { python ? python : "python3", script, out, "--quick",
    "--only", "rel_", "--only", "bbonly_", NULL
  };
  g_autofree char *out_text = NULL, *err_text = NULL;
  g_autoptr (GError) error = NULL;
  int status = 0;
  if (!g_spawn_sync (NULL, (char **) argv, NULL, G_SPAWN_SEARCH_PATH, NULL,
          NULL, &out_text, &err_text, &status, &error)) {
    fixture_error = g_strdup_printf ("cannot run %s: %s", argv[0],
        error->message);
    return;
  }
  if (!g_spawn_check_wait_status (status, NULL)) {
    /* Its Python modules (torch, numpy) come from
     * scripts/install-deps.sh: a failure here is never a skip. */
    fixture_error = g_strdup_printf ("%s failed:\n%s%s", script,
          out_text ? out_text : "", err_text ? err_text : "");
    return;
  }
  fixture_dir = g_steal_pointer (&out);
}

static gint
compare_names (gconstpointer a, gconstpointer b)
{
  return g_strcmp0 (*(char *const *) a, *(char *const *) b);
}

static void
add_fixture_tests (void)
{
  prepare_fixtures ();
  GDir *dir = fixture_dir ? g_dir_open (fixture_dir, 0, NULL) : NULL;
  GPtrArray *names = g_ptr_array_new_with_free_func (g_free);
  const char *name;
  while (dir && (name = g_dir_read_name (dir)))
    g_ptr_array_add (names, g_strdup (name));
  if (dir)
    g_dir_close (dir);
  g_ptr_array_sort (names, compare_names);

  guint added = 0;
  for (guint i = 0; i < names->len; i++) {
    const char *case_name = g_ptr_array_index (names, i);
    char *case_dir = g_build_filename (fixture_dir, case_name, NULL);
    g_autofree char *case_path = g_build_filename (case_dir,
        "case.safetensors", NULL);
    HyrsmSafetensors *st = hyrsm_safetensors_open (case_path, NULL);
    gboolean relevant = st && hyrsm_safetensors_lookup (st,
        "support_features");
    hyrsm_safetensors_free (st);
    if (!relevant) {
      g_free (case_dir);
      continue;
    }
    g_autofree char *path = g_strdup_printf ("/relation/fixture/%s",
        case_name);
    g_test_add_data_func_full (path, case_dir, test_fixture_case, g_free);
    added++;
  }
  g_ptr_array_unref (names);
  if (added == 0) {
    if (fixture_dir && !fixture_error)
      fixture_error = g_strdup_printf ("%s holds no case with "
          "support_features", fixture_dir);
    g_test_add_func ("/relation/fixture", test_fixtures_unavailable);
  }
}

/* ---- synthetic model for the API tests (no Python needed) ---- */

#define SMALL_T 8
#define SMALL_D 32

static HyrsmModel *
small_model (const char *head)
{
  g_autofree char *name = g_strdup_printf ("small-%s.safetensors", head);
  g_autofree char *path = g_build_filename (tmpdir, name, NULL);
  TestModelSpec spec = {.head = head,.head_dim = SMALL_D,.seed = 7 };
  g_autoptr (GError) error = NULL;
  if (!g_file_test (path, G_FILE_TEST_EXISTS)) {
    test_model_write (path, &spec, &error);
    g_assert_no_error (error);
  }
  HyrsmModel *model = hyrsm_model_new_from_file (path, &error);
  g_assert_no_error (error);
  return model;
}

/* A video of class @cls (a fixed pattern) with noise from @seed. */
static float *
video (int cls, guint32 seed)
{
  float *x = g_new (float, SMALL_T * SMALL_D);
  GRand *rand = g_rand_new_with_seed (seed);
  for (int i = 0; i < SMALL_T * SMALL_D; i++) {
    double pattern = sin (0.37 * (cls + 1) * (i + 3) + cls);
    x[i] = (float) MAX (0.0, pattern + 0.3 * g_rand_double_range (rand, -1,
            1));
  }
  g_rand_free (rand);
  return x;
}

static GBytes *
video_bytes (int cls, guint32 seed)
{
  return g_bytes_new_take (video (cls, seed), SMALL_T * SMALL_D * 4);
}

static void
add_video (HyrsmSupportSet *sset, const char *label, int cls, guint32 seed)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GBytes) bytes = video_bytes (cls, seed);
  hyrsm_support_set_add (sset, label, bytes, &error);
  g_assert_no_error (error);
}

static void
test_wrong_size (void)
{
  g_autoptr (HyrsmModel) model = small_model ("1shot");
  g_autoptr (HyrsmSupportSet) sset = hyrsm_support_set_new (model);
  g_autoptr (GError) error = NULL;
  g_autoptr (GBytes) short_bytes = g_bytes_new_take (g_malloc0 (1020), 1020);

  g_assert_false (hyrsm_support_set_add (sset, "wave", short_bytes, &error));
  g_assert_error (error, HYRSM_ERROR, HYRSM_ERROR_SHAPE_MISMATCH);
  g_assert_nonnull (strstr (error->message, "expected T x D = 8 x 32 "
          "float32 (1024 bytes), got 1020 bytes"));
  g_assert_nonnull (strstr (error->message, "wave"));
  g_clear_error (&error);
  g_assert_cmpuint (hyrsm_support_set_get_n_examples (sset), ==, 0);

  add_video (sset, "wave", 0, 1);
  g_assert_null (hyrsm_support_set_match (sset, short_bytes, &error));
  g_assert_error (error, HYRSM_ERROR, HYRSM_ERROR_SHAPE_MISMATCH);
  g_assert_nonnull (strstr (error->message, "query"));
  g_assert_nonnull (strstr (error->message, "got 1020 bytes"));
}

static void
test_bad_values (void)
{
  g_autoptr (HyrsmModel) model = small_model ("1shot");
  g_autoptr (HyrsmSupportSet) sset = hyrsm_support_set_new (model);
  g_autoptr (GError) error = NULL;
  g_autofree float *x = video (0, 1);

  g_assert_false (hyrsm_support_set_add_raw (sset, "", x, &error));
  g_assert_error (error, HYRSM_ERROR, HYRSM_ERROR_INVALID_ARGUMENT);
  g_assert_nonnull (strstr (error->message, "label"));
  g_clear_error (&error);

  x[3 * SMALL_D + 5] = NAN;
  g_assert_false (hyrsm_support_set_add_raw (sset, "wave", x, &error));
  g_assert_error (error, HYRSM_ERROR, HYRSM_ERROR_INVALID_ARGUMENT);
  g_assert_nonnull (strstr (error->message, "frame 3, channel 5"));
  g_clear_error (&error);
  g_assert_cmpuint (hyrsm_support_set_get_n_examples (sset), ==, 0);
}

static void
test_empty_set (void)
{
  g_autoptr (HyrsmModel) model = small_model ("1shot");
  g_autoptr (HyrsmSupportSet) sset = hyrsm_support_set_new (model);
  g_autoptr (GError) error = NULL;
  g_autoptr (GBytes) query = video_bytes (0, 9);

  g_assert_null (hyrsm_support_set_match (sset, query, &error));
  g_assert_error (error, HYRSM_ERROR, HYRSM_ERROR_EMPTY_SUPPORT_SET);
  g_clear_error (&error);

  add_video (sset, "wave", 0, 1);
  hyrsm_support_set_remove_label (sset, "wave", &error);
  g_assert_no_error (error);
  g_assert_cmpuint (hyrsm_support_set_get_n_examples (sset), ==, 0);
  g_assert_null (hyrsm_support_set_match (sset, query, &error));
  g_assert_error (error, HYRSM_ERROR, HYRSM_ERROR_EMPTY_SUPPORT_SET);
}

static void
test_unknown_label (void)
{
  g_autoptr (HyrsmModel) model = small_model ("1shot");
  g_autoptr (HyrsmSupportSet) sset = hyrsm_support_set_new (model);
  g_autoptr (GError) error = NULL;

  add_video (sset, "wave", 0, 1);
  g_assert_false (hyrsm_support_set_remove_label (sset, "clap", &error));
  g_assert_error (error, HYRSM_ERROR, HYRSM_ERROR_UNKNOWN_LABEL);
  g_assert_nonnull (strstr (error->message, "\"clap\""));
  g_assert_cmpuint (hyrsm_support_set_get_n_examples (sset), ==, 1);
}

static void
test_labels_order (void)
{
  g_autoptr (HyrsmModel) model = small_model ("unnamed");
  g_autoptr (HyrsmSupportSet) sset = hyrsm_support_set_new (model);
  g_autoptr (GError) error = NULL;
  const char *want1[] = { "wave", "clap", "jump", NULL };
  const char *want2[] = { "wave", "jump", "clap", NULL };

  add_video (sset, "wave", 0, 1);
  add_video (sset, "clap", 1, 2);
  add_video (sset, "wave", 0, 3);
  add_video (sset, "jump", 2, 4);
  g_assert_cmpuint (hyrsm_support_set_get_n_examples (sset), ==, 4);
  g_assert_cmpuint (hyrsm_support_set_get_n_classes (sset), ==, 3);
  g_auto (GStrv) labels = hyrsm_support_set_get_labels (sset);
  g_assert_cmpstrv (labels, want1);

  hyrsm_support_set_remove_label (sset, "clap", &error);
  g_assert_no_error (error);
  add_video (sset, "clap", 1, 5);
  g_auto (GStrv) labels2 = hyrsm_support_set_get_labels (sset);
  g_assert_cmpstrv (labels2, want2);
  g_assert_cmpuint (hyrsm_support_set_get_n_examples (sset), ==, 4);

  g_autoptr (GBytes) query = video_bytes (1, 99);
  g_autoptr (HyrsmMatchResult) res = hyrsm_support_set_match (sset, query,
      &error);
  g_assert_no_error (error);
  g_assert_cmpstrv (hyrsm_match_result_get_labels (res), want2);
  g_assert_cmpuint (hyrsm_match_result_get_n_classes (res), ==, 3);
}

static void
test_threshold (void)
{
  g_autoptr (HyrsmModel) model = small_model ("1shot");
  g_autoptr (HyrsmSupportSet) sset = hyrsm_support_set_new (model);
  g_autoptr (GError) error = NULL;
  g_autoptr (GBytes) query = video_bytes (1, 42);

  add_video (sset, "wave", 0, 1);
  add_video (sset, "clap", 1, 2);
  add_video (sset, "jump", 2, 3);
  g_autoptr (HyrsmMatchResult) plain = hyrsm_support_set_match (sset, query,
      &error);
  g_assert_no_error (error);
  guint best = hyrsm_match_result_get_best_index (plain);
  const double *d = hyrsm_match_result_get_distances (plain, NULL);
  g_assert_cmpstr (hyrsm_match_result_get_label (plain), ==,
      hyrsm_match_result_get_labels (plain)[best]);
  g_assert_false (hyrsm_match_result_is_unknown (plain));
  for (guint c = 0; c < 3; c++)
    g_assert_cmpfloat (d[best], <=, d[c]);
  g_assert_cmpfloat (hyrsm_match_result_get_distance (plain), ==, d[best]);
  /* confidence: softmax of -distance at the best class */
  double sum = 0;
  for (guint c = 0; c < 3; c++)
    sum += exp (-d[c]);
  g_assert_cmpfloat_with_epsilon (hyrsm_match_result_get_confidence (plain),
      exp (-d[best]) / sum, 1e-12);

  hyrsm_support_set_set_threshold (sset, d[best] * 0.5);
  g_assert_cmpfloat (hyrsm_support_set_get_threshold (sset), ==,
      d[best] * 0.5);
  g_autoptr (HyrsmMatchResult) strict = hyrsm_support_set_match (sset,
      query, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (hyrsm_match_result_get_label (strict), ==, "unknown");
  g_assert_true (hyrsm_match_result_is_unknown (strict));
  g_assert_cmpuint (hyrsm_match_result_get_best_index (strict), ==, best);

  hyrsm_support_set_set_threshold (sset, d[best] * 2);
  g_autoptr (HyrsmMatchResult) loose = hyrsm_support_set_match (sset, query,
      &error);
  g_assert_no_error (error);
  g_assert_cmpstr (hyrsm_match_result_get_label (loose), ==,
      hyrsm_match_result_get_labels (loose)[best]);

  g_object_set (sset, "threshold", 0.0, NULL);
  g_autoptr (HyrsmMatchResult) off = hyrsm_support_set_match (sset, query,
      &error);
  g_assert_no_error (error);
  g_assert_false (hyrsm_match_result_is_unknown (off));
}

/* Prototypes maintained incrementally (adds and removals in any order) give
 * the same distances as a set built in one go. */
static void
test_incremental (gconstpointer data)
{
  const char *head = data;
  g_autoptr (HyrsmModel) model = small_model (head);
  g_autoptr (HyrsmSupportSet) grown = hyrsm_support_set_new (model);
  g_autoptr (HyrsmSupportSet) fresh = hyrsm_support_set_new (model);
  g_autoptr (GError) error = NULL;

  add_video (grown, "wave", 0, 1);
  add_video (grown, "clap", 1, 2);
  add_video (grown, "jump", 2, 3);
  add_video (grown, "clap", 1, 4);
  hyrsm_support_set_remove_label (grown, "wave", &error);
  g_assert_no_error (error);
  add_video (grown, "jump", 2, 5);
  add_video (grown, "wave", 0, 6);

  add_video (fresh, "clap", 1, 2);
  add_video (fresh, "jump", 2, 3);
  add_video (fresh, "clap", 1, 4);
  add_video (fresh, "jump", 2, 5);
  add_video (fresh, "wave", 0, 6);

  g_autoptr (GBytes) query = video_bytes (2, 77);
  g_autoptr (HyrsmMatchResult) a = hyrsm_support_set_match (grown, query,
      &error);
  g_assert_no_error (error);
  g_autoptr (HyrsmMatchResult) b = hyrsm_support_set_match (fresh, query,
      &error);
  g_assert_no_error (error);
  g_assert_cmpstrv (hyrsm_match_result_get_labels (a),
      hyrsm_match_result_get_labels (b));
  guint n = 0;
  const double *da = hyrsm_match_result_get_distances (a, &n);
  const double *db = hyrsm_match_result_get_distances (b, NULL);
  g_assert_cmpuint (n, ==, 3);
  for (guint c = 0; c < n; c++)
    g_assert_cmpfloat_with_epsilon (da[c], db[c], 1e-6 * MAX (1, fabs
            (db[c])));
}

/* Backbone-only rule on a head model's support set is not reachable, so
 * check the metric itself: identical sets are at distance 0, and it is
 * symmetric. */
static void
test_bimhm (void)
{
  g_autofree float *a = video (0, 1);
  g_autofree float *b = video (1, 2);
  double na[SMALL_T], nb[SMALL_T];
  hyrsm_row_norms (a, SMALL_T, SMALL_D, na);
  hyrsm_row_norms (b, SMALL_T, SMALL_D, nb);
  g_assert_cmpfloat (fabs (hyrsm_bimhm (a, na, a, na, SMALL_T, SMALL_D)), <,
      1e-12);
  double ab = hyrsm_bimhm (a, na, b, nb, SMALL_T, SMALL_D);
  double ba = hyrsm_bimhm (b, nb, a, na, SMALL_T, SMALL_D);
  g_assert_cmpfloat (ab, >, 0);
  g_assert_cmpfloat_with_epsilon (ab, ba, 1e-12);
}

/* The shapes the packed GEMM is tested on (see test_gemm_packed). */
static const int packed_ks[] = { 1, 7, 256, 300, 513 };
static const int packed_ns[] = { 1, 23, 24, 50 };
static const int packed_ms[] = { 1, 2, 3, 4, 5, 9, 16, 17, 41 };

static gboolean
packed_gemm_runs_here (void)
{
  if (hyrsm_gemm_packed_supported ())
    return TRUE;
  g_test_skip ("the CPU has no AVX2 and FMA");
  return FALSE;
}

/* The packed GEMM (every relation product on an AVX2 CPU) against a
 * float64 product: row counts across the 4-row groups and the switch
 * between its two loop orders (16 rows), column counts that leave a
 * partial 24-wide panel, k across the 256-step blocks, stacked parts with
 * a row stride wider than k (as the fuse weight's halves are packed), and
 * a C with a row stride wider than n. */
static void
test_gemm_packed (void)
{
  if (!packed_gemm_runs_here ())
    return;
  GRand *rng = g_rand_new_with_seed (7);
  for (guint ki = 0; ki < G_N_ELEMENTS (packed_ks); ki++)
    for (guint ni = 0; ni < G_N_ELEMENTS (packed_ns); ni++) {
      int k = packed_ks[ki], n = packed_ns[ni], ldb = k + 3, parts = 2;
      g_autofree float *b = g_new (float, (gsize) parts * n * ldb);
      for (gsize i = 0; i < (gsize) parts * n * ldb; i++)
        b[i] = (float) g_rand_double_range (rng, -1, 1);
      const float *part[2] = { b, b + (gsize) n * ldb };
      HyrsmPackedWeight *w = hyrsm_gemm_pack_nt (parts, part, n, k, ldb,
          FALSE);
      g_assert_nonnull (w);
      g_assert_cmpint (hyrsm_gemm_packed_get_n (w), ==, parts * n);
      g_assert_cmpint (hyrsm_gemm_packed_get_k (w), ==, k);
      for (guint mi = 0; mi < G_N_ELEMENTS (packed_ms); mi++) {
        int m = packed_ms[mi], lda = k + 1, ldc = parts * n + 5;
        g_autofree float *a = g_new (float, (gsize) m * lda);
        g_autofree float *c = g_new (float, (gsize) m * ldc);
        for (gsize i = 0; i < (gsize) m * lda; i++)
          a[i] = (float) g_rand_double_range (rng, -1, 1);
        for (gsize i = 0; i < (gsize) m * ldc; i++)
          c[i] = 12345.0f;      /* the gaps between rows stay */
        hyrsm_gemm_packed_nt (m, a, lda, w, c, ldc);
        for (int i = 0; i < m; i++) {
          for (int j = 0; j < parts * n; j++) {
            const float *bj = part[j / n] + (gsize) (j % n) * ldb;
            double ref = 0, mag = 0;
            for (int t = 0; t < k; t++) {
              ref += (double) a[(gsize) i * lda + t] * bj[t];
              mag += fabs ((double) a[(gsize) i * lda + t] * bj[t]);
            }
            g_assert_cmpfloat (fabs (c[(gsize) i * ldc + j] - ref), <=,
                1e-6 * mag + 1e-30);
          }
          for (int j = parts * n; j < ldc; j++)
            g_assert_cmpfloat (c[(gsize) i * ldc + j], ==, 12345.0f);
        }
        /* several products in one region: the same bits as one at a time
         * (an empty product among them changes nothing) */
        g_autofree float *c2 = g_malloc0 ((gsize) m * ldc * sizeof (float));
        g_autofree float *c3 = g_malloc0 ((gsize) 2 * ldc * sizeof (float));
        g_autofree float *c4 = g_malloc0 ((gsize) 2 * ldc * sizeof (float));
        HyrsmPackedProduct many[3] = {
          {.m = MIN (2, m),.a = a,.lda = lda,.w = w,.c = c3,.ldc = ldc},
          {.m = 0,.a = a,.lda = lda,.w = w,.c = NULL,.ldc = ldc},
          {.m = m,.a = a,.lda = lda,.w = w,.c = c2,.ldc = ldc},
        };
        hyrsm_gemm_packed_nt_many (3, many);
        hyrsm_gemm_packed_nt (MIN (2, m), a, lda, w, c4, ldc);
        for (int i = 0; i < m; i++)
          g_assert_cmpmem (c2 + (gsize) i * ldc, parts * n * sizeof (float),
              c + (gsize) i * ldc, parts * n * sizeof (float));
        g_assert_cmpmem (c3, MIN (2, m) * ldc * sizeof (float), c4,
            MIN (2, m) * ldc * sizeof (float));
      }
      hyrsm_gemm_packed_free (w);
    }
  g_rand_free (rng);
}

/* The bf16 rounding: nearest, ties to even, exact for values that are
 * already bf16, infinities kept, NaN still NaN. */
static void
test_bf16_rounding (void)
{
  const struct
  {
    float in;
    guint16 out;
  } cases[] = {
    {1.0f, 0x3f80}, {-2.0f, 0xc000}, {0.0f, 0x0000}, {-0.0f, 0x8000},
    /* 1 + 2^-8 is halfway between 1 and 1 + 2^-7: to even (1) */
    {1.00390625f, 0x3f80},
    /* 1 + 3 * 2^-8 is halfway between 1 + 2^-7 and 1 + 2^-6: to even */
    {1.01171875f, 0x3f82},
    {INFINITY, 0x7f80}, {-INFINITY, 0xff80},
    /* the largest float rounds to infinity, as PyTorch's conversion */
    {FLT_MAX, 0x7f80},
  };
  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    g_assert_cmphex (hyrsm_float_to_bf16 (cases[i].in), ==, cases[i].out);
  /* just above the halfway point: up */
  g_assert_cmphex (hyrsm_float_to_bf16 (nextafterf (1.00390625f, 2.0f)), ==,
      0x3f81);
  g_assert_true (isnan (hyrsm_bf16_to_float (hyrsm_float_to_bf16 (NAN))));
  for (guint16 h = 0; h < 0x7f80; h += 37)
    g_assert_cmphex (hyrsm_float_to_bf16 (hyrsm_bf16_to_float (h)), ==, h);
}

/* The packed GEMM with bf16 weights is the float kernel on the weights
 * rounded to bf16, bit for bit (widening a bf16 is exact, and the blocks
 * are summed in the same order), across the same shapes as above. */
static void
test_gemm_packed_bf16 (void)
{
  if (!packed_gemm_runs_here ())
    return;
  GRand *rng = g_rand_new_with_seed (11);
  for (guint ki = 0; ki < G_N_ELEMENTS (packed_ks); ki++)
    for (guint ni = 0; ni < G_N_ELEMENTS (packed_ns); ni++) {
      int k = packed_ks[ki], n = packed_ns[ni], ldb = k + 3, parts = 2;
      gsize size = (gsize) parts * n * ldb;
      g_autofree float *b = g_new (float, size);
      g_autofree float *rounded = g_new (float, size);
      for (gsize i = 0; i < size; i++) {
        b[i] = (float) g_rand_double_range (rng, -1, 1);
        rounded[i] = hyrsm_bf16_to_float (hyrsm_float_to_bf16 (b[i]));
      }
      const float *part[2] = { b, b + (gsize) n * ldb };
      const float *rpart[2] = { rounded, rounded + (gsize) n * ldb };
      HyrsmPackedWeight *w16 = hyrsm_gemm_pack_nt (parts, part, n, k, ldb,
          TRUE);
      HyrsmPackedWeight *w32 = hyrsm_gemm_pack_nt (parts, rpart, n, k, ldb,
          FALSE);
      g_assert_true (hyrsm_gemm_packed_is_bf16 (w16));
      g_assert_false (hyrsm_gemm_packed_is_bf16 (w32));
      g_assert_cmpint (hyrsm_gemm_packed_get_n (w16), ==, parts * n);
      for (guint mi = 0; mi < G_N_ELEMENTS (packed_ms); mi++) {
        int m = packed_ms[mi], lda = k + 1, ldc = parts * n + 5;
        g_autofree float *a = g_new (float, (gsize) m * lda);
        g_autofree float *c16 = g_new (float, (gsize) m * ldc);
        g_autofree float *c32 = g_new (float, (gsize) m * ldc);
        for (gsize i = 0; i < (gsize) m * lda; i++)
          a[i] = (float) g_rand_double_range (rng, -1, 1);
        for (gsize i = 0; i < (gsize) m * ldc; i++)
          c16[i] = c32[i] = 12345.0f;
        hyrsm_gemm_packed_nt (m, a, lda, w16, c16, ldc);
        hyrsm_gemm_packed_nt (m, a, lda, w32, c32, ldc);
        g_assert_cmpmem (c16, (gsize) m * ldc * sizeof (float), c32,
            (gsize) m * ldc * sizeof (float));
      }
      hyrsm_gemm_packed_free (w16);
      hyrsm_gemm_packed_free (w32);
    }
  g_rand_free (rng);
}

/* match() from several threads while another thread adds and removes:
 * every match sees a consistent set (2 or 3 classes), and the writer is
 * never starved by the readers. */
typedef struct
{
  HyrsmSupportSet *sset;
  GBytes *query;
  gint stop;
  gint matches;
} Concurrent;

static gpointer
match_thread (gpointer data)
{
  Concurrent *c = data;
  while (!g_atomic_int_get (&c->stop)) {
    g_autoptr (GError) error = NULL;
    g_autoptr (HyrsmMatchResult) res = hyrsm_support_set_match (c->sset,
        c->query, &error);
    g_assert_no_error (error);
    guint n = hyrsm_match_result_get_n_classes (res);
    g_assert_true (n == 2 || n == 3);
    g_assert_cmpstr (hyrsm_match_result_get_labels (res)[0], ==, "wave");
    g_atomic_int_inc (&c->matches);
  }
  return NULL;
}

static void
test_concurrent (void)
{
  g_autoptr (HyrsmModel) model = small_model ("unnamed");
  g_autoptr (HyrsmSupportSet) sset = hyrsm_support_set_new (model);
  g_autoptr (GError) error = NULL;
  add_video (sset, "wave", 0, 1);
  add_video (sset, "clap", 1, 2);
  g_autoptr (GBytes) query = video_bytes (1, 3);
  Concurrent c = { sset, query, 0, 0 };

  GThread *threads[3];
  for (int i = 0; i < 3; i++)
    threads[i] = g_thread_new ("match", match_thread, &c);
  /* At least 50 rounds, and on until the readers have matched a few times
   * (a loaded machine may not have scheduled them yet); bounded. */
  gint64 deadline = g_get_monotonic_time () + 60 * G_TIME_SPAN_SECOND;
  int rounds = 0;
  while (rounds < 50 || (g_atomic_int_get (&c.matches) < 30
          && g_get_monotonic_time () < deadline)) {
    add_video (sset, "jump", 2, 10 + rounds);
    add_video (sset, "jump", 2, 1000 + rounds);
    hyrsm_support_set_remove_label (sset, "jump", &error);
    g_assert_no_error (error);
    rounds++;
  }
  g_atomic_int_set (&c.stop, 1);
  for (int i = 0; i < 3; i++)
    g_thread_join (threads[i]);
  g_test_message ("%d change rounds, %d matches", rounds, c.matches);
  g_assert_cmpint (c.matches, >, 0);
  g_assert_cmpuint (hyrsm_support_set_get_n_examples (sset), ==, 2);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  tmpdir = g_dir_make_tmp ("hyrsm-test-relation-XXXXXX", NULL);
  g_assert_nonnull (tmpdir);

  g_test_add_func ("/relation/errors/wrong-size", test_wrong_size);
  g_test_add_func ("/relation/errors/bad-values", test_bad_values);
  g_test_add_func ("/relation/errors/empty-set", test_empty_set);
  g_test_add_func ("/relation/errors/unknown-label", test_unknown_label);
  g_test_add_func ("/relation/support-set/labels-order", test_labels_order);
  g_test_add_func ("/relation/support-set/threshold", test_threshold);
  g_test_add_data_func ("/relation/support-set/incremental/5shot", "5shot",
      test_incremental);
  g_test_add_data_func ("/relation/support-set/incremental/unnamed",
      "unnamed", test_incremental);
  g_test_add_data_func ("/relation/support-set/incremental/1shot", "1shot",
      test_incremental);
  g_test_add_func ("/relation/support-set/concurrent", test_concurrent);
  g_test_add_func ("/relation/metric/bimhm", test_bimhm);
  g_test_add_func ("/relation/gemm/packed", test_gemm_packed);
  g_test_add_func ("/relation/gemm/packed-bf16", test_gemm_packed_bf16);
  g_test_add_func ("/relation/gemm/bf16-rounding", test_bf16_rounding);
  add_fixture_tests ();

  int ret = g_test_run ();
  remove_tree (tmpdir);
  g_free (tmpdir);
  g_free (fixture_dir);
  g_free (fixture_error);
  return ret;
}
