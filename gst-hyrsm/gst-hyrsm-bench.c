/* gst-hyrsm-bench.c: `gst-hyrsm bench`, what a deployment can expect.
 *
 * Two workloads, on random inputs (the weights are the model's):
 * - the backbone: batches of already pre-processed frames (crop x crop)
 *   through hyrsm_model_embed_normalized(), frames per second per batch
 *   size;
 * - one query against a 1-shot support set of N classes (random T x D
 *   features): milliseconds per hyrsm_support_set_match_raw(), which is
 *   what hyrsmfilter pays per window after the backbone, as N grows.
 * Each measurement runs once to warm up, then repeatedly for at least
 * --min-time seconds. With --vs-torch, hyrsm-bench-torch.py runs the same
 * workloads in PyTorch in the same run (after ours, not concurrently) and
 * the ratios are printed.
 */
#include "gst-hyrsm-common.h"

#include <string.h>
#include <unistd.h>

#define COMMAND "bench"
#define TORCH_SCRIPT "hyrsm-bench-torch.py"
/* hyrsm-bench-torch.py's exit status when torch is missing. */
#define TORCH_MISSING 3

typedef struct
{
  char *model_path, *device, *precision, *batch, *classes;
  double min_time;
  gboolean vs_torch, json, quiet;
} BenchOptions;

typedef struct
{
  guint batch;
  double frames_per_s, ms_per_batch;
  double torch_frames_per_s;    /* 0: not measured */
} BackboneRow;

typedef struct
{
  guint classes;
  double ms_per_query, ms_per_add;
  double torch_ms_per_query;    /* 0: not measured */
} QueryRow;

typedef struct
{
  GArray *backbone;             /* BackboneRow */
  GArray *query;                /* QueryRow */
  char *torch_version, *torch_device;
  int torch_threads;
} Bench;

static void
fill_random (GRand *rand, float *v, gsize n, double lo, double hi)
{
  for (gsize i = 0; i < n; i++)
    v[i] = (float) g_rand_double_range (rand, lo, hi);
}

/* ---- backbone ---- */

static gboolean
bench_backbone (BenchOptions *o, HyrsmModel *model, GArray *batches,
    GArray *rows, GError **error)
{
  guint crop = hyrsm_model_get_crop (model);
  g_autoptr (GRand) rand = g_rand_new_with_seed (1);
  CliProgress progress;
  cli_progress_init (&progress, "Backbone", o->quiet);
  for (guint i = 0; i < batches->len; i++) {
    guint b = g_array_index (batches, guint, i);
    cli_progress_update (&progress, i, batches->len, NULL);
    gsize n = (gsize) b * 3 * crop * crop;
    float *data = g_new (float, n);
    fill_random (rand, data, n, -2.0, 2.0);
    g_autoptr (GBytes) frames = g_bytes_new_take (data, n * sizeof (float));
    g_autoptr (GBytes) warm = hyrsm_model_embed_normalized (model, frames, b,
        error);
    if (warm == NULL)
      return FALSE;
    guint iterations = 0;
    gint64 t0 = g_get_monotonic_time (), elapsed;
    do {
      g_autoptr (GBytes) f = hyrsm_model_embed_normalized (model, frames, b,
          error);
      if (f == NULL)
        return FALSE;
      iterations++;
      elapsed = g_get_monotonic_time () - t0;
    } while (elapsed < o->min_time * G_USEC_PER_SEC);
    BackboneRow row = {.batch = b,
      .frames_per_s = (double) b * iterations * G_USEC_PER_SEC / elapsed,
      .ms_per_batch = elapsed / 1e3 / iterations
    };
    g_array_append_val (rows, row);
  }
  cli_progress_end (&progress);
  return TRUE;
}

/* ---- one query against N classes ---- */

static gboolean
bench_query (BenchOptions *o, HyrsmModel *model, GArray *sizes,
    GArray *rows, GError **error)
{
  guint T = hyrsm_model_get_frames (model);
  guint D = hyrsm_model_get_feature_dim (model);
  gsize n = (gsize) T * D;
  g_autoptr (GRand) rand = g_rand_new_with_seed (2);
  g_autofree float *features = g_new (float, n);
  g_autofree float *query = g_new (float, n);
  fill_random (rand, query, n, 0.0, 2.0);
  CliProgress progress;
  cli_progress_init (&progress, "Query", o->quiet);
  for (guint i = 0; i < sizes->len; i++) {
    guint classes = g_array_index (sizes, guint, i);
    cli_progress_update (&progress, i, sizes->len, NULL);
    g_autoptr (HyrsmSupportSet) set = hyrsm_support_set_new (model);
    gint64 t0 = g_get_monotonic_time ();
    for (guint c = 0; c < classes; c++) {
      char label[32];
      g_snprintf (label, sizeof label, "class%05u", c);
      fill_random (rand, features, n, 0.0, 2.0);
      if (!hyrsm_support_set_add_raw (set, label, features, error))
        return FALSE;
    }
    double add_ms = (g_get_monotonic_time () - t0) / 1e3 / classes;
    g_autoptr (HyrsmMatchResult) warm = hyrsm_support_set_match_raw (set,
        query, error);
    if (warm == NULL)
      return FALSE;
    guint iterations = 0;
    gint64 elapsed;
    t0 = g_get_monotonic_time ();
    do {
      g_autoptr (HyrsmMatchResult) r = hyrsm_support_set_match_raw (set,
          query, error);
      if (r == NULL)
        return FALSE;
      iterations++;
      elapsed = g_get_monotonic_time () - t0;
    } while (elapsed < o->min_time * G_USEC_PER_SEC || iterations < 3);
    QueryRow row = {.classes = classes,
      .ms_per_query = elapsed / 1e3 / iterations,.ms_per_add = add_ms
    };
    g_array_append_val (rows, row);
  }
  cli_progress_end (&progress);
  return TRUE;
}

/* ---- PyTorch ---- */

static double
member_double (JsonObject *o, const char *key)
{
  JsonNode *n = json_object_get_member (o, key);
  return n && JSON_NODE_HOLDS_VALUE (n) ? json_node_get_double (n) : 0.0;
}

/* Reads the helper's JSON into the rows of the same sizes. */
static gboolean
merge_torch (Bench *bench, const char *text, GError **error)
{
  g_autoptr (JsonParser) parser = json_parser_new ();
  if (!json_parser_load_from_data (parser, text, -1, error))
    return FALSE;
  JsonNode *root = json_parser_get_root (parser);
  if (root == NULL || !JSON_NODE_HOLDS_OBJECT (root)) {
    g_set_error (error, HYRSM_ERROR, HYRSM_ERROR_BAD_FORMAT, "not an object");
    return FALSE;
  }
  JsonObject *top = json_node_get_object (root);
  bench->torch_version = g_strdup (json_object_get_string_member_with_default
      (top, "torch", "?"));
  bench->torch_device = g_strdup (json_object_get_string_member_with_default
      (top, "device", "?"));
  bench->torch_threads = json_object_get_int_member_with_default (top,
      "threads", 0);
  JsonArray *bb = json_object_get_array_member (top, "backbone");
  for (guint i = 0; bb && i < json_array_get_length (bb); i++) {
    JsonObject *r = json_array_get_object_element (bb, i);
    guint batch = json_object_get_int_member_with_default (r, "batch", 0);
    for (guint j = 0; j < bench->backbone->len; j++) {
      BackboneRow *row = &g_array_index (bench->backbone, BackboneRow, j);
      if (row->batch == batch)
        row->torch_frames_per_s = member_double (r, "frames_per_second");
    }
  }
  JsonArray *q = json_object_get_array_member (top, "query");
  for (guint i = 0; q && i < json_array_get_length (q); i++) {
    JsonObject *r = json_array_get_object_element (q, i);
    guint classes = json_object_get_int_member_with_default (r, "classes",
        0);
    for (guint j = 0; j < bench->query->len; j++) {
      QueryRow *row = &g_array_index (bench->query, QueryRow, j);
      if (row->classes == classes)
        row->torch_ms_per_query = member_double (r, "ms_per_query");
    }
  }
  return TRUE;
}

static int
run_torch (BenchOptions *o, HyrsmModel *model, Bench *bench)
{
  g_autofree char *script = cli_find_script (COMMAND, TORCH_SCRIPT);
  if (script == NULL)
    return CLI_EXIT_FAILED;
  g_autofree char *min_time = g_strdup_printf ("%g", o->min_time);
  const char *device = g_str_has_prefix (hyrsm_model_get_device (model),
      "cuda") ? hyrsm_model_get_device (model) : "cpu";
  g_autofree char *batches = g_strdup (bench->backbone->len ? o->batch : "");
  const char *args[] = { o->model_path, "--batch", batches,
    "--support-classes", o->classes, "--min-time", min_time, "--device",
    device, NULL
  };
  g_autofree char *out = NULL;
  if (!o->quiet && isatty (2))
    fprintf (stderr, "Running the same workloads in PyTorch...\n");
  int status = cli_run_script (COMMAND, script, args, &out);
  if (status < 0)
    return CLI_EXIT_FAILED;
  if (status == TORCH_MISSING)
    return CLI_EXIT_FAILED;     /* the script said what to install */
  if (status != 0) {
    cli_error ("%s: --vs-torch: %s failed (exit status %d)", COMMAND, script,
        status);
    return CLI_EXIT_FAILED;
  }
  g_autoptr (GError) error = NULL;
  if (!merge_torch (bench, out, &error)) {
    cli_error ("%s: --vs-torch: cannot read the output of %s: %s", COMMAND,
        script, error->message);
    return CLI_EXIT_FAILED;
  }
  return 0;
}

/* ---- output ---- */

static void
print_text (BenchOptions *o, HyrsmModel *model, Bench *bench)
{
  guint crop = hyrsm_model_get_crop (model);
  printf ("Model:    %s (%s, head %s, T %u, D %u, crop %u)\n", o->model_path,
      hyrsm_model_get_backbone (model), hyrsm_model_get_head (model),
      hyrsm_model_get_frames (model), hyrsm_model_get_feature_dim (model),
      crop);
  printf ("Device:   %s, %s (%u CPUs)", hyrsm_model_get_device (model),
      hyrsm_model_get_precision (model), g_get_num_processors ());
  if (bench->torch_version)
    printf ("; PyTorch %s on %s, %d %s", bench->torch_version,
        bench->torch_device, bench->torch_threads,
        bench->torch_threads == 1 ? "thread" : "threads");
  printf ("\n");
  gboolean torch = bench->torch_version != NULL;
  if (bench->backbone->len) {
    printf ("\nBackbone (random %ux%u frames, already pre-processed):\n",
        crop, crop);
    printf ("  %5s  %10s  %9s%s\n", "batch", "frames/s", "ms/batch",
        torch ? "  torch frames/s  speed-up" : "");
    for (guint i = 0; i < bench->backbone->len; i++) {
      BackboneRow *r = &g_array_index (bench->backbone, BackboneRow, i);
      printf ("  %5u  %10.1f  %9.2f", r->batch, r->frames_per_s,
          r->ms_per_batch);
      if (torch && r->torch_frames_per_s > 0)
        printf ("  %14.1f  %8.2fx", r->torch_frames_per_s,
            r->frames_per_s / r->torch_frames_per_s);
      printf ("\n");
    }
  }
  printf ("\nQuery (1-shot support set of random features, T %u):\n",
      hyrsm_model_get_frames (model));
  printf ("  %7s  %12s  %14s%s\n", "classes", "ms per query", "ms per enroll",
      torch ? "  torch ms/query  speed-up" : "");
  for (guint i = 0; i < bench->query->len; i++) {
    QueryRow *r = &g_array_index (bench->query, QueryRow, i);
    printf ("  %7u  %12.3f  %14.3f", r->classes, r->ms_per_query,
        r->ms_per_add);
    if (torch && r->torch_ms_per_query > 0)
      printf ("  %14.3f  %8.2fx", r->torch_ms_per_query,
          r->torch_ms_per_query / r->ms_per_query);
    printf ("\n");
  }
}

static void
print_json (BenchOptions *o, HyrsmModel *model, Bench *bench)
{
  g_autoptr (JsonBuilder) b = json_builder_new ();
  json_builder_begin_object (b);
  cli_json_string (b, "model", o->model_path);
  cli_json_string (b, "backbone_name", hyrsm_model_get_backbone (model));
  cli_json_string (b, "head", hyrsm_model_get_head (model));
  cli_json_string (b, "device", hyrsm_model_get_device (model));
  cli_json_string (b, "precision", hyrsm_model_get_precision (model));
  cli_json_int (b, "cpus", g_get_num_processors ());
  cli_json_int (b, "frames", hyrsm_model_get_frames (model));
  cli_json_int (b, "crop", hyrsm_model_get_crop (model));
  json_builder_set_member_name (b, "backbone");
  json_builder_begin_array (b);
  for (guint i = 0; i < bench->backbone->len; i++) {
    BackboneRow *r = &g_array_index (bench->backbone, BackboneRow, i);
    json_builder_begin_object (b);
    cli_json_int (b, "batch", r->batch);
    cli_json_double (b, "frames_per_second", r->frames_per_s);
    cli_json_double (b, "ms_per_batch", r->ms_per_batch);
    if (r->torch_frames_per_s > 0) {
      cli_json_double (b, "torch_frames_per_second", r->torch_frames_per_s);
      cli_json_double (b, "speedup", r->frames_per_s / r->torch_frames_per_s);
    }
    json_builder_end_object (b);
  }
  json_builder_end_array (b);
  json_builder_set_member_name (b, "query");
  json_builder_begin_array (b);
  for (guint i = 0; i < bench->query->len; i++) {
    QueryRow *r = &g_array_index (bench->query, QueryRow, i);
    json_builder_begin_object (b);
    cli_json_int (b, "classes", r->classes);
    cli_json_double (b, "ms_per_query", r->ms_per_query);
    cli_json_double (b, "ms_per_enroll", r->ms_per_add);
    if (r->torch_ms_per_query > 0) {
      cli_json_double (b, "torch_ms_per_query", r->torch_ms_per_query);
      cli_json_double (b, "speedup", r->torch_ms_per_query / r->ms_per_query);
    }
    json_builder_end_object (b);
  }
  json_builder_end_array (b);
  json_builder_set_member_name (b, "torch");
  if (bench->torch_version) {
    json_builder_begin_object (b);
    cli_json_string (b, "version", bench->torch_version);
    cli_json_string (b, "device", bench->torch_device);
    cli_json_int (b, "threads", bench->torch_threads);
    json_builder_end_object (b);
  } else {
    json_builder_add_null_value (b);
  }
  json_builder_end_object (b);
  cli_print_json (b);
}

/* ---- the command ---- */

static int
run_bench (BenchOptions *o, int argc, char **argv)
{
  if (!o->model_path)
    return cli_usage_error (COMMAND, "--model is required");
  if (argc > 1)
    return cli_usage_error (COMMAND, "unexpected argument \"%s\"", argv[1]);
  if (!(o->min_time > 0 && o->min_time <= 600))
    return cli_usage_error (COMMAND, "--min-time must be in (0, 600]");
  g_autoptr (GArray) batches = cli_parse_uint_list (COMMAND, "--batch",
      o->batch, 1, 4096);
  g_autoptr (GArray) sizes = batches ? cli_parse_uint_list (COMMAND,
      "--support-classes", o->classes, 1, 100000) : NULL;
  if (sizes == NULL)
    return CLI_EXIT_USAGE;
  g_autoptr (HyrsmModel) model = cli_load_model (COMMAND, o->model_path,
      o->device, o->precision);
  if (model == NULL)
    return CLI_EXIT_FAILED;

  Bench bench = {.backbone = g_array_new (FALSE, FALSE, sizeof (BackboneRow)),
    .query = g_array_new (FALSE, FALSE, sizeof (QueryRow))
  };
  g_autoptr (GError) error = NULL;
  int status = 0;
  gboolean has_backbone = hyrsm_model_has_backbone (model);
  if ((has_backbone && !bench_backbone (o, model, batches, bench.backbone,
              &error)) || !bench_query (o, model, sizes, bench.query,
          &error)) {
    cli_error ("%s: %s", COMMAND, error->message);
    status = CLI_EXIT_FAILED;
  }
  if (status == 0 && !has_backbone)
    cli_warning ("%s: model %s has no backbone: only the query is measured",
        COMMAND, o->model_path);
  if (status == 0 && o->vs_torch)
    status = run_torch (o, model, &bench);
  if (bench.query->len) {
    if (o->json)
      print_json (o, model, &bench);
    else
      print_text (o, model, &bench);
  }
  g_array_unref (bench.backbone);
  g_array_unref (bench.query);
  g_free (bench.torch_version);
  g_free (bench.torch_device);
  return status;
}

int
cli_cmd_bench (int argc, char **argv)
{
  BenchOptions o = {.min_time = 1.0 };
  GOptionEntry entries[] = {
    cli_option_model (&o.model_path),
    cli_option_device (&o.device),
    cli_option_precision (&o.precision),
    {"batch", 'b', 0, G_OPTION_ARG_STRING, &o.batch,
        "Backbone batch sizes (default 1,8,64)", "N,N,..."},
    {"support-classes", 'c', 0, G_OPTION_ARG_STRING, &o.classes,
        "Support-set sizes, in classes (default 5,50,500)", "N,N,..."},
    {"min-time", 0, 0, G_OPTION_ARG_DOUBLE, &o.min_time,
        "Seconds each measurement runs at least, after a warm-up "
          "(default 1)", "SECONDS"},
    {"vs-torch", 0, 0, G_OPTION_ARG_NONE, &o.vs_torch,
        "Run the same workloads in PyTorch too and print the speed-up "
          "(needs python3-torch and python3-torchvision)", NULL},
    cli_option_json (&o.json),
    cli_option_quiet (&o.quiet),
    {NULL}
  };
  int status = cli_parse_options (COMMAND, "--model MODEL",
      "Measures the backbone's frames per second for each batch size (random "
      "frames)\nand the milliseconds one query takes against a 1-shot "
      "support set of N\nclasses (random features), after a warm-up. With "
      "--vs-torch, runs the same\nworkloads in PyTorch in the same run and "
      "prints the speed-up.",
      "Example:\n"
      "  gst-hyrsm bench -m model.safetensors --batch 1,8 "
      "--support-classes 5,100 --vs-torch",
      entries, &argc, &argv);
  if (status == 0) {
    if (o.batch == NULL)
      o.batch = g_strdup ("1,8,64");
    if (o.classes == NULL)
      o.classes = g_strdup ("5,50,500");
    status = run_bench (&o, argc, argv);
  }
  g_free (o.model_path);
  g_free (o.device);
  g_free (o.precision);
  g_free (o.batch);
  g_free (o.classes);
  return status;
}
