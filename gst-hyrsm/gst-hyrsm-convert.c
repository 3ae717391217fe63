/* gst-hyrsm-convert.c: `gst-hyrsm convert`, PyTorch files to the model
 * format (docs/formats.md "The model file").
 *
 * The reading of pickled PyTorch files needs torch, so the work is done by
 * hyrsm-convert.py (installed next to this tool's data); this side finds
 * the script and an interpreter, passes the options on, and then loads the
 * written file with libhyrsm, so a file that converts but would not load
 * is reported here and not when hyrsmfilter starts.
 */
#include "gst-hyrsm-common.h"

#include <string.h>

#define COMMAND "convert"
#define SCRIPT "hyrsm-convert.py"

typedef struct
{
  char *backbone, *head, *mean, *std;
  int frames, resize, crop;
  char **meta;
  gboolean json, quiet;
} ConvertOptions;

static void
add_option (GPtrArray *args, const char *name, const char *value)
{
  g_ptr_array_add (args, g_strdup (name));
  g_ptr_array_add (args, g_strdup (value));
}

static GPtrArray *
script_args (ConvertOptions *o, const char *in, const char *out)
{
  GPtrArray *args = g_ptr_array_new_with_free_func (g_free);
  g_ptr_array_add (args, g_strdup (in));
  g_ptr_array_add (args, g_strdup (out));
  if (o->backbone)
    add_option (args, "--backbone", o->backbone);
  if (o->head)
    add_option (args, "--head", o->head);
  if (o->mean)
    add_option (args, "--mean", o->mean);
  if (o->std)
    add_option (args, "--std", o->std);
  char number[32];
  if (o->frames) {
    g_snprintf (number, sizeof number, "%d", o->frames);
    add_option (args, "--frames", number);
  }
  if (o->resize) {
    g_snprintf (number, sizeof number, "%d", o->resize);
    add_option (args, "--resize", number);
  }
  if (o->crop) {
    g_snprintf (number, sizeof number, "%d", o->crop);
    add_option (args, "--crop", number);
  }
  for (int i = 0; o->meta && o->meta[i]; i++)
    add_option (args, "--meta", o->meta[i]);
  if (o->quiet)
    g_ptr_array_add (args, g_strdup ("--quiet"));
  g_ptr_array_add (args, NULL);
  return args;
}

static int
check_options (ConvertOptions *o, int argc, char **argv)
{
  if (argc != 3)
    return cli_usage_error (COMMAND, "expected IN and OUT files");
  if (o->frames < 0 || o->frames > 1000 || o->resize < 0 || o->crop < 0)
    return cli_usage_error (COMMAND, "--frames, --resize and --crop must be "
        "positive");
  if (o->resize && o->crop && o->crop > o->resize)
    return cli_usage_error (COMMAND, "--crop %d is larger than --resize %d",
        o->crop, o->resize);
  for (int i = 0; o->meta && o->meta[i]; i++)
    if (!strchr (o->meta[i], '='))
      return cli_usage_error (COMMAND, "--meta expects KEY=VALUE, got \"%s\"",
          o->meta[i]);
  if (!g_file_test (argv[1], G_FILE_TEST_EXISTS)) {
    cli_error ("%s: %s does not exist", COMMAND, argv[1]);
    return CLI_EXIT_FAILED;
  }
  g_autofree char *a = g_canonicalize_filename (argv[1], NULL);
  g_autofree char *b = g_canonicalize_filename (argv[2], NULL);
  if (g_str_equal (a, b))
    return cli_usage_error (COMMAND, "IN and OUT are the same file");
  return 0;
}

static void
print_summary (HyrsmModel *model, const char *in, const char *out,
    gboolean json)
{
  if (json) {
    g_autoptr (JsonBuilder) b = json_builder_new ();
    json_builder_begin_object (b);
    cli_json_string (b, "input", in);
    cli_json_string (b, "output", out);
    cli_json_string (b, "fingerprint", hyrsm_model_get_fingerprint (model));
    cli_json_string (b, "backbone", hyrsm_model_get_backbone (model));
    cli_json_string (b, "head", hyrsm_model_get_head (model));
    cli_json_int (b, "frames", hyrsm_model_get_frames (model));
    cli_json_int (b, "feature_dim", hyrsm_model_get_feature_dim (model));
    cli_json_int (b, "resize", hyrsm_model_get_resize (model));
    cli_json_int (b, "crop", hyrsm_model_get_crop (model));
    cli_json_int (b, "parameters", hyrsm_model_get_parameter_count (model));
    json_builder_set_member_name (b, "metadata");
    json_builder_begin_object (b);
    g_auto (GStrv) keys = hyrsm_model_list_metadata (model);
    for (int i = 0; keys[i]; i++)
      cli_json_string (b, keys[i], hyrsm_model_get_metadata (model, keys[i]));
    json_builder_end_object (b);
    json_builder_end_object (b);
    cli_print_json (b);
    return;
  }
  printf ("Wrote %s: %s, head %s, T %u, D %u, resize %u, crop %u, %.1f M "
      "parameters, fingerprint %s\n", out, hyrsm_model_get_backbone (model),
      hyrsm_model_get_head (model), hyrsm_model_get_frames (model),
      hyrsm_model_get_feature_dim (model), hyrsm_model_get_resize (model),
      hyrsm_model_get_crop (model),
      hyrsm_model_get_parameter_count (model) / 1e6,
      hyrsm_model_get_fingerprint (model));
}

static int
run_convert (ConvertOptions *o, int argc, char **argv)
{
  int status = check_options (o, argc, argv);
  if (status)
    return status;
  g_autofree char *script = cli_find_script (COMMAND, SCRIPT);
  if (script == NULL)
    return CLI_EXIT_FAILED;
  g_autoptr (GPtrArray) args = script_args (o, argv[1], argv[2]);
  /* The script's own messages (what to install, what is wrong with IN,
   * which tensors were left out) go straight to stderr. */
  status = cli_run_script (COMMAND, script, (const char *const *) args->pdata,
      NULL);
  if (status < 0)
    return CLI_EXIT_FAILED;
  if (status != 0)
    return status == CLI_EXIT_USAGE ? CLI_EXIT_USAGE : CLI_EXIT_FAILED;

  g_autoptr (GError) error = NULL;
  g_autoptr (HyrsmModel) model = hyrsm_model_new_from_file_full (argv[2],
      "cpu", &error);
  if (model == NULL) {
    cli_error ("%s: %s was written but cannot be loaded: %s", COMMAND,
        argv[2], error->message);
    return CLI_EXIT_FAILED;
  }
  print_summary (model, argv[1], argv[2], o->json);
  return 0;
}

int
cli_cmd_convert (int argc, char **argv)
{
  ConvertOptions o = { 0 };
  GOptionEntry entries[] = {
    {"frames", 'T', 0, G_OPTION_ARG_INT, &o.frames,
        "Frames per video, T (default: the checkpoint's cfg, else 8)", "T"},
    {"backbone", 0, 0, G_OPTION_ARG_STRING, &o.backbone,
        "resnet18, resnet34 or resnet50 (default: from the tensors)",
        "NAME"},
    {"head", 0, 0, G_OPTION_ARG_STRING, &o.head,
        "1shot, 5shot or none (default: the cfg's VIDEO.HEAD.NAME)", "HEAD"},
    {"resize", 0, 0, G_OPTION_ARG_INT, &o.resize,
        "Resize before the crop, S (default: cfg DATA.TEST_SCALE, else 256)",
        "S"},
    {"crop", 0, 0, G_OPTION_ARG_INT, &o.crop,
        "Centre crop, C (default: cfg DATA.TEST_CROP_SIZE, else 224)", "C"},
    {"mean", 0, 0, G_OPTION_ARG_STRING, &o.mean,
        "Normalisation mean \"r,g,b\" (default: cfg DATA.MEAN; ImageNet's "
          "for torchvision files)", "R,G,B"},
    {"std", 0, 0, G_OPTION_ARG_STRING, &o.std,
        "Normalisation std \"r,g,b\" (default: cfg DATA.STD; ImageNet's "
          "for torchvision files)", "R,G,B"},
    {"meta", 0, 0, G_OPTION_ARG_STRING_ARRAY, &o.meta,
        "Set a __metadata__ entry (repeatable)", "KEY=VALUE"},
    {"json", 0, 0, G_OPTION_ARG_NONE, &o.json, "Print JSON", NULL},
    {"quiet", 'q', 0, G_OPTION_ARG_NONE, &o.quiet,
        "Do not list the tensors left out", NULL},
    {NULL}
  };
  int status = cli_parse_options (COMMAND, "IN OUT",
      "Converts a PyTorch file to the gst-hyrsm model format (safetensors "
      "with full\n__metadata__): the authors' HyRSM++ training checkpoints "
      "(torch.save of\n{\"model_state\", \"cfg\", ...}: T, backbone, head, "
      "mean/std, resize, crop and\nthe position scales come from the YAML "
      "cfg) and torchvision ResNet state dicts\n(.pth). Needs python3 with "
      "torch (python3-torch); $HYRSM_PYTHON picks the\ninterpreter.",
      "Examples:\n"
      "  gst-hyrsm convert checkpoint_epoch_00010.pyth hyrsm-ucf101.safetensors\n"
      "  gst-hyrsm convert resnet50-0676ba61.pth --frames 8 r50.safetensors",
      entries, &argc, &argv);
  if (status == 0)
    status = run_convert (&o, argc, argv);
  g_free (o.backbone);
  g_free (o.head);
  g_free (o.mean);
  g_free (o.std);
  g_strfreev (o.meta);
  return status;
}
