/* gst-hyrsm.c: the gst-hyrsm command-line tool: main() dispatches to one
 * function per subcommand (info here, the others in gst-hyrsm-<name>.c).
 *
 * Exit status: 0 success, 1 the work failed (bad file, ...), 2 bad usage.
 * Errors go to stderr as one line naming the file at fault (docs/cli.md).
 */
#include "gst-hyrsm-common.h"

#include <gst/gst.h>
#include <locale.h>
#include <string.h>

typedef struct
{
  const char *name;
  const char *summary;
  int (*run) (int argc, char **argv);
} Command;

/* ---- info ---- */

static void
print_model_text (HyrsmModel *model)
{
  double m[3], s[3];
  hyrsm_model_get_mean (model, &m[0], &m[1], &m[2]);
  hyrsm_model_get_std (model, &s[0], &s[1], &s[2]);
  printf ("Model:        %s\n", hyrsm_model_get_path (model));
  printf ("Fingerprint:  %s\n", hyrsm_model_get_fingerprint (model));
  printf ("Backbone:     %s\n", hyrsm_model_get_backbone (model));
  printf ("Head:         %s\n", hyrsm_model_get_head (model));
  printf ("Frames (T):   %u\n", hyrsm_model_get_frames (model));
  printf ("Features (D): %u\n", hyrsm_model_get_feature_dim (model));
  printf ("Input:        resize %u, centre crop %u\n",
      hyrsm_model_get_resize (model), hyrsm_model_get_crop (model));
  printf ("Mean:         %.4g, %.4g, %.4g\n", m[0], m[1], m[2]);
  printf ("Std:          %.4g, %.4g, %.4g\n", s[0], s[1], s[2]);
  printf ("Position:     a = %g, b = %g\n",
      hyrsm_model_get_position_a (model), hyrsm_model_get_position_b (model));
  printf ("Parameters:   %" G_GUINT64_FORMAT " (%.1f M)\n",
      hyrsm_model_get_parameter_count (model),
      hyrsm_model_get_parameter_count (model) / 1e6);
  printf ("Device:       %s\n", hyrsm_model_get_device (model));
  printf ("Precision:    %s\n", hyrsm_model_get_precision (model));
  g_auto (GStrv) keys = hyrsm_model_list_metadata (model);
  printf ("Metadata:     %s\n", keys[0] ? "" : "(none in the file)");
  for (int i = 0; keys[i]; i++)
    printf ("  %s = %s\n", keys[i], hyrsm_model_get_metadata (model, keys[i]));
}

static void
print_model_json (HyrsmModel *model)
{
  g_autoptr (JsonBuilder) b = json_builder_new ();
  double m[3], s[3];
  hyrsm_model_get_mean (model, &m[0], &m[1], &m[2]);
  hyrsm_model_get_std (model, &s[0], &s[1], &s[2]);
  json_builder_begin_object (b);
#define STR(k, v) json_builder_set_member_name (b, k); json_builder_add_string_value (b, v)
#define INT(k, v) json_builder_set_member_name (b, k); json_builder_add_int_value (b, v)
  STR ("path", hyrsm_model_get_path (model));
  STR ("fingerprint", hyrsm_model_get_fingerprint (model));
  STR ("backbone", hyrsm_model_get_backbone (model));
  STR ("head", hyrsm_model_get_head (model));
  INT ("frames", hyrsm_model_get_frames (model));
  INT ("feature_dim", hyrsm_model_get_feature_dim (model));
  INT ("resize", hyrsm_model_get_resize (model));
  INT ("crop", hyrsm_model_get_crop (model));
  INT ("parameters", hyrsm_model_get_parameter_count (model));
  STR ("device", hyrsm_model_get_device (model));
  STR ("precision", hyrsm_model_get_precision (model));
#undef STR
#undef INT
  const char *names[2] = { "mean", "std" };
  double *values[2] = { m, s };
  for (int k = 0; k < 2; k++) {
    json_builder_set_member_name (b, names[k]);
    json_builder_begin_array (b);
    for (int i = 0; i < 3; i++)
      json_builder_add_double_value (b, cli_float_as_written (values[k][i]));
    json_builder_end_array (b);
  }
  json_builder_set_member_name (b, "metadata");
  json_builder_begin_object (b);
  g_auto (GStrv) keys = hyrsm_model_list_metadata (model);
  for (int i = 0; keys[i]; i++) {
    json_builder_set_member_name (b, keys[i]);
    json_builder_add_string_value (b, hyrsm_model_get_metadata (model,
            keys[i]));
  }
  json_builder_end_object (b);
  json_builder_end_object (b);
  cli_print_json (b);
}

int
cli_cmd_info (int argc, char **argv)
{
  gboolean json = FALSE;
  char *device = NULL, *precision = NULL;
  GOptionEntry entries[] = {
    cli_option_json (&json),
    {"device", 0, 0, G_OPTION_ARG_STRING, &device,
        "Load for this device (auto, cpu, cuda, cuda:N)", "DEVICE"},
    cli_option_precision (&precision),
    {NULL}
  };
  int status = cli_parse_options ("info", "MODEL",
      "Shows a model file's architecture, sizes, metadata and the "
      "fingerprint\nthat names its feature cache (DIR/.hyrsm-cache/FINGERPRINT).",
      NULL, entries, &argc, &argv);
  if (status)
    return status;
  if (argc != 2) {
    g_free (device);
    g_free (precision);
    return cli_usage_error ("info", "expected one MODEL file");
  }
  g_autoptr (HyrsmModel) model = cli_load_model ("info", argv[1], device,
      precision);
  g_free (device);
  g_free (precision);
  if (model == NULL)
    return CLI_EXIT_FAILED;
  if (json)
    print_model_json (model);
  else
    print_model_text (model);
  return 0;
}

/* ---- main ---- */

static const Command commands[] = {
  {"info", "Show a model file's architecture, sizes, metadata, fingerprint",
      cli_cmd_info},
  {"enroll", "Add clips (or a live source) to a support-set directory",
      cli_cmd_enroll},
  {"classify", "Classify whole clips against a support set", cli_cmd_classify},
  {"eval", "Accuracy over N-way K-shot episodes of a folder-per-class "
        "dataset", cli_cmd_eval},
  {"bench", "Backbone frames/s and per-query latency (optionally vs PyTorch)",
      cli_cmd_bench},
  {"convert", "Convert the authors' checkpoints or torchvision .pth files",
      cli_cmd_convert},
  {"support", "Publish a support set to an MQTT broker, or pull one",
      cli_cmd_support},
};

static void
print_usage (FILE *out)
{
  fprintf (out, "Usage: gst-hyrsm COMMAND [OPTION...]\n\n"
      "Few-shot action recognition (HyRSM++) from the command line.\n\n"
      "Commands:\n");
  for (guint i = 0; i < G_N_ELEMENTS (commands); i++)
    fprintf (out, "  %-10s %s\n", commands[i].name, commands[i].summary);
  fprintf (out, "\nRun gst-hyrsm COMMAND --help for a command's options.\n");
}

int
main (int argc, char **argv)
{
  setlocale (LC_ALL, "");
  if (argc < 2) {
    print_usage (stderr);
    return CLI_EXIT_USAGE;
  }
  if (strcmp (argv[1], "help") == 0 && argc == 3) {
    /* gst-hyrsm help COMMAND = gst-hyrsm COMMAND --help */
    char *help_argv[] = { argv[2], (char *) "--help", NULL };
    for (guint i = 0; i < G_N_ELEMENTS (commands); i++)
      if (strcmp (argv[2], commands[i].name) == 0)
        return commands[i].run (2, help_argv);
  }
  if (strcmp (argv[1], "--help") == 0 || strcmp (argv[1], "-h") == 0
      || strcmp (argv[1], "help") == 0) {
    print_usage (stdout);
    return 0;
  }
  if (strcmp (argv[1], "--version") == 0) {
    printf ("gst-hyrsm %s\n", GST_HYRSM_VERSION);
    return 0;
  }
  for (guint i = 0; i < G_N_ELEMENTS (commands); i++)
    if (strcmp (argv[1], commands[i].name) == 0)
      return commands[i].run (argc - 1, argv + 1);
  cli_error ("unknown command \"%s\"", argv[1]);
  print_usage (stderr);
  return CLI_EXIT_USAGE;
}
