/* gst-hyrsm-classify.c: `gst-hyrsm classify`, one decision per whole clip.
 *
 * The support set is loaded the way hyrsmfilter loads it (with its feature
 * cache); each CLIP is decoded whole, T frames are sampled over all of it
 * (docs/model.md section 1: gst_hyrsm_embed_clip()). A `.hyrsm` feature file
 * is accepted as a CLIP too. The clips are then matched in batches
 * (hyrsm_support_set_match_batch_raw(): the relation weights read once per
 * batch). A clip that cannot be used is reported on stderr and the others
 * go on; the exit status is then 1.
 */
#include "gst-hyrsm-common.h"

#include <string.h>

#define COMMAND "classify"
/* Clips matched together at most. */
#define MATCH_BATCH 32

typedef struct
{
  char *model_path, *support, *device, *precision;
  double threshold;
  gboolean json, quiet, no_cache;
} ClassifyOptions;

typedef struct
{
  const char *clip;
  GBytes *features;             /* T x D, until matched */
  HyrsmMatchResult *result;     /* NULL when the clip failed */
  char *error;
  GstClockTime duration;
  double ms;                    /* decode + embed + its share of the batch
                                 * match */
} Decision;

static void
decision_clear (Decision *d)
{
  g_clear_pointer (&d->features, g_bytes_unref);
  g_clear_object (&d->result);
  g_clear_pointer (&d->error, g_free);
}

static GBytes *
query_features (HyrsmModel *model, const char *clip, GstClockTime *duration,
    GError **error)
{
  *duration = GST_CLOCK_TIME_NONE;
  if (g_str_has_suffix (clip, HYRSM_FEATURES_EXTENSION)
      && g_file_test (clip, G_FILE_TEST_IS_REGULAR))
    return hyrsm_features_load_bytes (clip, model, NULL, error);
  return gst_hyrsm_embed_clip (model, clip, NULL, duration, error);
}

/* Decodes and embeds @d's clip into d->features, or sets d->error. */
static void
embed (HyrsmModel *model, Decision *d)
{
  g_autoptr (GError) error = NULL;
  gint64 t0 = g_get_monotonic_time ();
  d->features = query_features (model, d->clip, &d->duration, &error);
  gsize want = (gsize) hyrsm_model_get_frames (model)
      * hyrsm_model_get_feature_dim (model) * sizeof (float);
  if (d->features && g_bytes_get_size (d->features) != want) {
    g_set_error (&error, HYRSM_ERROR, HYRSM_ERROR_SHAPE_MISMATCH,
        "%s: features are %" G_GSIZE_FORMAT " bytes, the model's T x D "
        "float32 are %" G_GSIZE_FORMAT, d->clip,
        g_bytes_get_size (d->features), want);
    g_clear_pointer (&d->features, g_bytes_unref);
  }
  d->ms = (g_get_monotonic_time () - t0) / 1e3;
  if (d->features == NULL)
    d->error = g_strdup (error->message);
}

/* Matches the embedded clips of @ds (@n) as one batch; if the batch fails
 * (a clip's features hold a non-finite value), clip by clip so that the
 * error names the clip. Each clip's ms gets its share of the match. */
static void
match_batch (HyrsmSupportSet *set, Decision **ds, guint n, gsize td)
{
  g_autofree float *queries = g_new (float, n * td);
  g_autofree HyrsmMatchResult **results = g_new0 (HyrsmMatchResult *, n);
  for (guint i = 0; i < n; i++)
    memcpy (queries + i * td, g_bytes_get_data (ds[i]->features, NULL),
        td * sizeof (float));
  gint64 t0 = g_get_monotonic_time ();
  if (hyrsm_support_set_match_batch_raw (set, queries, n, results, NULL)) {
    double share = (g_get_monotonic_time () - t0) / 1e3 / n;
    for (guint i = 0; i < n; i++) {
      ds[i]->result = results[i];
      ds[i]->ms += share;
    }
  } else {
    for (guint i = 0; i < n; i++) {
      g_autoptr (GError) error = NULL;
      gint64 t1 = g_get_monotonic_time ();
      ds[i]->result = hyrsm_support_set_match (set, ds[i]->features, &error);
      ds[i]->ms += (g_get_monotonic_time () - t1) / 1e3;
      if (ds[i]->result == NULL)
        ds[i]->error = g_strdup_printf ("%s: %s", ds[i]->clip,
            error->message);
    }
  }
  for (guint i = 0; i < n; i++)
    g_clear_pointer (&ds[i]->features, g_bytes_unref);
}

/* Matches every embedded clip of @ds, MATCH_BATCH at a time. */
static void
match_all (HyrsmModel *model, HyrsmSupportSet *set, Decision *ds, int n)
{
  gsize td = (gsize) hyrsm_model_get_frames (model)
      * hyrsm_model_get_feature_dim (model);
  Decision *batch[MATCH_BATCH];
  guint k = 0;
  for (int i = 0; i < n; i++) {
    if (ds[i].features)
      batch[k++] = &ds[i];
    if (k == MATCH_BATCH || (k > 0 && i == n - 1)) {
      match_batch (set, batch, k, td);
      k = 0;
    }
  }
}

/* ---- output ---- */

static void
print_table (HyrsmSupportSet *set, Decision *ds, int n)
{
  g_auto (GStrv) labels = hyrsm_support_set_get_labels (set);
  int clip_w = 4, label_w = 5;
  for (int i = 0; i < n; i++)
    clip_w = MAX (clip_w, cli_display_width (ds[i].clip));
  for (int i = 0; labels[i]; i++)
    label_w = MAX (label_w, cli_display_width (labels[i]));
  label_w = MAX (label_w, (int) strlen (HYRSM_UNKNOWN_LABEL));
  printf ("%-*s  %-*s  %10s", clip_w, "CLIP", label_w, "LABEL",
      "CONFIDENCE");
  for (int i = 0; labels[i]; i++)
    printf ("  %*s%s", MAX (8, cli_display_width (labels[i]))
        - cli_display_width (labels[i]), "", labels[i]);
  printf ("\n");
  for (int i = 0; i < n; i++) {
    Decision *d = &ds[i];
    printf ("%s%*s  ", d->clip, clip_w - cli_display_width (d->clip), "");
    if (d->result == NULL) {
      printf ("(failed: see the error above)\n");
      continue;
    }
    const char *label = hyrsm_match_result_get_label (d->result);
    printf ("%s%*s  %10.3f", label, label_w - cli_display_width (label), "",
        hyrsm_match_result_get_confidence (d->result));
    guint nd;
    const double *dist = hyrsm_match_result_get_distances (d->result, &nd);
    for (guint j = 0; j < nd; j++)
      printf ("  %*.4f", MAX (8, cli_display_width (labels[j])),
          cli_no_negative_zero (dist[j], 4));
    printf ("\n");
  }
}

static void
print_json (ClassifyOptions *o, HyrsmModel *model, GstHyrsmSupportDir *dir,
    Decision *ds, int n)
{
  HyrsmSupportSet *set = gst_hyrsm_support_dir_get_support_set (dir);
  g_autoptr (JsonBuilder) b = json_builder_new ();
  json_builder_begin_object (b);
  cli_json_string (b, "model", o->model_path);
  cli_json_string (b, "support", o->support);
  cli_json_string (b, "device", hyrsm_model_get_device (model));
  cli_json_string (b, "precision", hyrsm_model_get_precision (model));
  /* How the support set was loaded: decoded now, from the cache, or from
   * .hyrsm feature files. */
  cli_json_int (b, "support_examples", hyrsm_support_set_get_n_examples (set));
  cli_json_int (b, "support_decoded",
      gst_hyrsm_support_dir_get_n_decoded (dir));
  cli_json_int (b, "support_cached", gst_hyrsm_support_dir_get_n_cached (dir));
  cli_json_int (b, "support_feature_files",
      gst_hyrsm_support_dir_get_n_feature_files (dir));
  json_builder_set_member_name (b, "labels");
  json_builder_begin_array (b);
  g_auto (GStrv) labels = hyrsm_support_set_get_labels (set);
  for (int i = 0; labels[i]; i++)
    json_builder_add_string_value (b, labels[i]);
  json_builder_end_array (b);
  json_builder_set_member_name (b, "results");
  json_builder_begin_array (b);
  for (int i = 0; i < n; i++) {
    Decision *d = &ds[i];
    json_builder_begin_object (b);
    cli_json_string (b, "clip", d->clip);
    if (d->result == NULL) {
      cli_json_string (b, "error", d->error);
      json_builder_end_object (b);
      continue;
    }
    HyrsmMatchResult *r = d->result;
    cli_json_string (b, "label", hyrsm_match_result_get_label (r));
    cli_json_double (b, "confidence", hyrsm_match_result_get_confidence (r));
    cli_json_double (b, "distance", hyrsm_match_result_get_distance (r));
    cli_json_bool (b, "unknown", hyrsm_match_result_is_unknown (r));
    json_builder_set_member_name (b, "distances");
    json_builder_begin_object (b);
    guint nd;
    const double *dist = hyrsm_match_result_get_distances (r, &nd);
    const char *const *names = hyrsm_match_result_get_labels (r);
    for (guint j = 0; j < nd; j++)
      cli_json_double (b, names[j], dist[j]);
    json_builder_end_object (b);
    if (GST_CLOCK_TIME_IS_VALID (d->duration))
      cli_json_double (b, "duration", d->duration / 1e9);
    cli_json_double (b, "milliseconds", d->ms);
    json_builder_end_object (b);
  }
  json_builder_end_array (b);
  json_builder_end_object (b);
  cli_print_json (b);
}

/* ---- the command ---- */

static int
run_classify (ClassifyOptions *o, int argc, char **argv)
{
  if (!o->model_path)
    return cli_usage_error (COMMAND, "--model is required");
  if (!o->support)
    return cli_usage_error (COMMAND, "--support is required");
  if (argc < 2)
    return cli_usage_error (COMMAND, "expected CLIP files to classify");
  gst_init (NULL, NULL);
  g_autoptr (HyrsmModel) model = cli_load_model (COMMAND, o->model_path,
      o->device, o->precision);
  if (model == NULL)
    return CLI_EXIT_FAILED;
  g_autoptr (GstHyrsmSupportDir) dir = cli_load_support_dir (COMMAND, model,
      o->support, o->no_cache ? GST_HYRSM_SUPPORT_DIR_NO_CACHE :
      GST_HYRSM_SUPPORT_DIR_NONE, o->quiet);
  if (dir == NULL)
    return CLI_EXIT_FAILED;
  cli_warn_skipped (COMMAND, dir, NULL);
  HyrsmSupportSet *set = gst_hyrsm_support_dir_get_support_set (dir);
  hyrsm_support_set_set_threshold (set, o->threshold);

  int n = argc - 1;
  g_autofree Decision *ds = g_new0 (Decision, n);
  CliProgress progress;
  cli_progress_init (&progress, "Classifying", o->quiet);
  int status = 0;
  for (int i = 0; i < n; i++) {
    ds[i].clip = argv[i + 1];
    cli_progress_update (&progress, i, n, ds[i].clip);
    embed (model, &ds[i]);
    if (ds[i].error) {
      cli_progress_clear (&progress);
      cli_error ("%s: %s", COMMAND, ds[i].error);
      status = CLI_EXIT_FAILED;
    }
  }
  g_autofree gboolean *embedded = g_new (gboolean, n);
  for (int i = 0; i < n; i++)
    embedded[i] = ds[i].features != NULL;
  match_all (model, set, ds, n);
  cli_progress_update (&progress, n, n, NULL);
  cli_progress_end (&progress);
  for (int i = 0; i < n; i++)
    if (embedded[i] && ds[i].result == NULL) {
      cli_error ("%s: %s", COMMAND, ds[i].error);
      status = CLI_EXIT_FAILED;
    }
  if (o->json)
    print_json (o, model, dir, ds, n);
  else
    print_table (set, ds, n);
  for (int i = 0; i < n; i++)
    decision_clear (&ds[i]);
  return status;
}

int
cli_cmd_classify (int argc, char **argv)
{
  ClassifyOptions o = { 0 };
  GOptionEntry entries[] = {
    cli_option_model (&o.model_path),
    {"support", 's', 0, G_OPTION_ARG_FILENAME, &o.support,
        "The support-set directory (required)", "DIR"},
    {"threshold", 't', 0, G_OPTION_ARG_DOUBLE, &o.threshold,
        "Say \"unknown\" when the best distance is above this (<= 0: "
          "never; default 0)", "DISTANCE"},
    cli_option_device (&o.device),
    cli_option_precision (&o.precision),
    {"no-cache", 0, 0, G_OPTION_ARG_NONE, &o.no_cache,
        "Decode the support clips instead of using (or writing) the cache",
        NULL},
    cli_option_json (&o.json),
    cli_option_quiet (&o.quiet),
    {NULL}
  };
  int status = cli_parse_options (COMMAND, "--model MODEL --support DIR "
      "CLIP...",
      "Classifies each CLIP as a whole (T frames sampled over the clip) "
      "against the\nsupport set in DIR: prints the best label, its "
      "confidence (softmax of -distance)\nand every class's distance. A "
      "CLIP is a video file, a folder of frames or a\n.hyrsm feature file.",
      "Example:\n"
      "  gst-hyrsm classify -m model.safetensors -s actions clip.mp4",
      entries, &argc, &argv);
  if (status == 0)
    status = run_classify (&o, argc, argv);
  g_free (o.model_path);
  g_free (o.support);
  g_free (o.device);
  g_free (o.precision);
  return status;
}
