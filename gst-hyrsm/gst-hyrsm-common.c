/* gst-hyrsm-common.c: what the subcommands share (see the header). */
#include "gst-hyrsm-common.h"

#include <math.h>

#include <errno.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <unistd.h>

/* ---- messages ---- */

void
cli_error (const char *fmt, ...)
{
  va_list args;
  va_start (args, fmt);
  g_autofree char *msg = g_strdup_vprintf (fmt, args);
  va_end (args);
  fprintf (stderr, "gst-hyrsm: %s\n", msg);
}

void
cli_warning (const char *fmt, ...)
{
  va_list args;
  va_start (args, fmt);
  g_autofree char *msg = g_strdup_vprintf (fmt, args);
  va_end (args);
  fprintf (stderr, "gst-hyrsm: warning: %s\n", msg);
}

int
cli_usage_error (const char *command, const char *fmt, ...)
{
  va_list args;
  va_start (args, fmt);
  g_autofree char *msg = g_strdup_vprintf (fmt, args);
  va_end (args);
  fprintf (stderr, "gst-hyrsm: %s: %s (see gst-hyrsm %s --help)\n", command,
      msg, command);
  return CLI_EXIT_USAGE;
}

int
cli_parse_options (const char *command, const char *params,
    const char *summary, const char *description, GOptionEntry *entries,
    int *argc, char ***argv)
{
  /* "Usage: gst-hyrsm COMMAND [OPTION…] PARAMS" */
  g_autofree char *prgname = g_strdup_printf ("gst-hyrsm %s", command);
  g_set_prgname (prgname);
  g_autoptr (GOptionContext) ctx = g_option_context_new (params);
  g_option_context_set_summary (ctx, summary);
  if (description)
    g_option_context_set_description (ctx, description);
  g_option_context_add_main_entries (ctx, entries, NULL);
  g_autoptr (GError) error = NULL;
  if (!g_option_context_parse (ctx, argc, argv, &error))
    return cli_usage_error (command, "%s", error->message);
  /* A "--" left in place by GOption ends the options: drop it. */
  for (int i = 1; i < *argc; i++)
    if (strcmp ((*argv)[i], "--") == 0) {
      memmove (&(*argv)[i], &(*argv)[i + 1], (*argc - i) * sizeof (char *));
      (*argc)--;
      break;
    }
  return 0;
}

GOptionEntry
cli_option_model (char **value)
{
  return (GOptionEntry) {"model", 'm', 0, G_OPTION_ARG_FILENAME, value,
    "The model file (required)", "MODEL"};
}

GOptionEntry
cli_option_device (char **value)
{
  return (GOptionEntry) {"device", 0, 0, G_OPTION_ARG_STRING, value,
    "Compute device: auto, cpu, cuda, cuda:N (default auto)", "DEVICE"};
}

GOptionEntry
cli_option_precision (char **value)
{
  return (GOptionEntry) {"precision", 0, 0, G_OPTION_ARG_STRING, value,
    "Precision: auto, fp32, bf16 (a backbone needs AVX512-BF16; the "
        "relation head's bf16 weights any AVX2 CPU), fp16 (CUDA) (default "
        "auto: bf16 or fp16 where the device has it, else fp32)",
        "PRECISION"};
}

GOptionEntry
cli_option_json (gboolean *value)
{
  return (GOptionEntry) {"json", 0, 0, G_OPTION_ARG_NONE, value,
    "Print JSON", NULL};
}

GOptionEntry
cli_option_quiet (gboolean *value)
{
  return (GOptionEntry) {"quiet", 'q', 0, G_OPTION_ARG_NONE, value,
    "No progress bar", NULL};
}

GArray *
cli_parse_uint_list (const char *command, const char *option,
    const char *text, guint min, guint max)
{
  GArray *values = g_array_new (FALSE, FALSE, sizeof (guint));
  g_auto (GStrv) parts = g_strsplit (text, ",", -1);
  for (int i = 0; parts[i]; i++) {
    guint64 v;
    const char *p = g_strstrip (parts[i]);
    if (!g_ascii_string_to_unsigned (p, 10, min, max, &v, NULL)) {
      cli_usage_error (command, "%s: \"%s\" is not a number from %u to %u",
          option, p, min, max);
      g_array_unref (values);
      return NULL;
    }
    guint u = (guint) v;
    g_array_append_val (values, u);
  }
  if (values->len == 0) {
    cli_usage_error (command, "%s: empty list", option);
    g_array_unref (values);
    return NULL;
  }
  return values;
}

HyrsmModel *
cli_load_model (const char *command, const char *path, const char *device,
    const char *precision)
{
  g_autoptr (GError) error = NULL;
  HyrsmModel *model = hyrsm_model_new_full (path, device, precision, &error);
  if (model == NULL)
    cli_error ("%s: %s", command, error->message);
  return model;
}

/* ---- JSON ---- */

void
cli_print_json (JsonBuilder *b)
{
  g_autoptr (JsonGenerator) gen = json_generator_new ();
  g_autoptr (JsonNode) root = json_builder_get_root (b);
  json_generator_set_root (gen, root);
  json_generator_set_pretty (gen, TRUE);
  g_autofree char *text = json_generator_to_data (gen, NULL);
  printf ("%s\n", text);
}

void
cli_json_string (JsonBuilder *b, const char *key, const char *value)
{
  json_builder_set_member_name (b, key);
  if (value)
    json_builder_add_string_value (b, value);
  else
    json_builder_add_null_value (b);
}

void
cli_json_int (JsonBuilder *b, const char *key, gint64 value)
{
  json_builder_set_member_name (b, key);
  json_builder_add_int_value (b, value);
}

void
cli_json_double (JsonBuilder *b, const char *key, double value)
{
  json_builder_set_member_name (b, key);
  json_builder_add_double_value (b, value);
}

void
cli_json_bool (JsonBuilder *b, const char *key, gboolean value)
{
  json_builder_set_member_name (b, key);
  json_builder_add_boolean_value (b, value);
}

/* ---- progress bar ---- */

#define PROGRESS_INTERVAL (100 * G_TIME_SPAN_MILLISECOND)

static int
terminal_width (void)
{
  struct winsize ws;
  if (ioctl (STDERR_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col >= 20)
    return ws.ws_col;
  return 80;
}

void
cli_progress_init (CliProgress *p, const char *what, gboolean quiet)
{
  p->enabled = !quiet && isatty (STDERR_FILENO);
  p->drawn = FALSE;
  p->last_draw = 0;
  p->what = g_strdup (what);
}

void
cli_progress_update (CliProgress *p, guint done, guint total,
    const char *detail)
{
  if (!p->enabled || total == 0)
    return;
  gint64 now = g_get_monotonic_time ();
  if (done < total && p->drawn && now - p->last_draw < PROGRESS_INTERVAL)
    return;
  p->last_draw = now;
  int width = terminal_width () - 1;
  const int bar = 24;
  int filled = (int) ((guint64) bar * MIN (done, total) / total);
  GString *line = g_string_new (NULL);
  g_string_append_printf (line, "%s [", p->what);
  for (int i = 0; i < bar; i++)
    g_string_append_c (line, i < filled ? '#' : '.');
  g_string_append_printf (line, "] %u/%u", done, total);
  if (detail)
    g_string_append_printf (line, " %s", detail);
  /* Cut at the terminal width (counting characters, not bytes). */
  if (g_utf8_strlen (line->str, -1) > width) {
    const char *end = g_utf8_offset_to_pointer (line->str, width);
    g_string_truncate (line, end - line->str);
  }
  fprintf (stderr, "\r\033[K%s", line->str);
  fflush (stderr);
  g_string_free (line, TRUE);
  p->drawn = TRUE;
}

void
cli_progress_clear (CliProgress *p)
{
  if (p->enabled && p->drawn) {
    fputs ("\r\033[K", stderr);
    fflush (stderr);
    p->drawn = FALSE;
  }
}

void
cli_progress_end (CliProgress *p)
{
  cli_progress_clear (p);
  g_clear_pointer (&p->what, g_free);
}

void
cli_progress_support_func (guint done, guint total, const gchar *label,
    const gchar *file, gpointer user_data)
{
  CliProgress *p = user_data;
  g_autofree char *detail = label ? g_strdup_printf ("%s/%s", label, file) :
      NULL;
  cli_progress_update (p, done, total, detail);
}

GstHyrsmSupportDir *
cli_load_support_dir (const char *command, HyrsmModel *model,
    const char *path, GstHyrsmSupportDirFlags flags, gboolean quiet)
{
  CliProgress progress;
  g_autofree char *what = g_strdup_printf ("Loading %s", path);
  cli_progress_init (&progress, what, quiet);
  g_autoptr (GError) error = NULL;
  GstHyrsmSupportDir *dir = gst_hyrsm_support_dir_load_full (model, path,
      flags, cli_progress_support_func, &progress, NULL, &error);
  cli_progress_end (&progress);
  if (dir == NULL)
    cli_error ("%s: %s", command, error->message);
  return dir;
}

void
cli_warn_skipped (const char *command, GstHyrsmSupportDir *dir,
    const char *const *except)
{
  const char *path = gst_hyrsm_support_dir_get_path (dir);
  g_auto (GStrv) skipped = gst_hyrsm_support_dir_get_skipped (dir);
  for (int i = 0; skipped[i]; i++) {
    gboolean mine = FALSE;
    for (int j = 0; except && except[j]; j++)
      mine = mine || (g_str_has_prefix (skipped[i], except[j])
          && g_str_has_prefix (skipped[i] + strlen (except[j]), ": "));
    if (!mine)
      cli_warning ("%s: skipped %s%s%s", command, path,
          g_str_has_suffix (path, G_DIR_SEPARATOR_S) ? "" :
          G_DIR_SEPARATOR_S, skipped[i]);
  }
}

/* ---- helper scripts ---- */

const char *
cli_python (void)
{
  const char *env = g_getenv ("HYRSM_PYTHON");
  if (env && *env)
    return env;
  if (g_file_test ("/usr/bin/python3", G_FILE_TEST_IS_EXECUTABLE))
    return "/usr/bin/python3";
  return "python3";
}

char *
cli_find_script (const char *command, const char *name)
{
  /* $HYRSM_SCRIPT_DIR (the build tree: scripts/env.sh, the tests and
   * `meson devenv` set it to tools/ in the sources) replaces the installed
   * folder; nothing else is searched. */
  const char *env = g_getenv ("HYRSM_SCRIPT_DIR");
  const char *dir = env && *env ? env : GST_HYRSM_SCRIPT_DIR;
  char *path = g_build_filename (dir, name, NULL);
  if (g_file_test (path, G_FILE_TEST_IS_REGULAR))
    return path;
  g_free (path);
  if (env && *env)
    cli_error ("%s: helper script %s not found in $HYRSM_SCRIPT_DIR (%s): "
        "in the build tree it is the sources' tools/ folder", command, name,
        env);
  else
    cli_error ("%s: helper script %s not found in %s; is gst-hyrsm fully "
        "installed? (uninstalled: set HYRSM_SCRIPT_DIR to the sources' "
        "tools/ folder, as scripts/env.sh does)", command, name,
        GST_HYRSM_SCRIPT_DIR);
  return NULL;
}

int
cli_run_script (const char *command, const char *script,
    const char *const *args, char **stdout_out)
{
  g_autoptr (GPtrArray) argv = g_ptr_array_new ();
  const char *python = cli_python ();
  g_ptr_array_add (argv, (char *) python);
  g_ptr_array_add (argv, (char *) script);
  for (int i = 0; args && args[i]; i++)
    g_ptr_array_add (argv, (char *) args[i]);
  g_ptr_array_add (argv, NULL);
  GSpawnFlags flags = G_SPAWN_SEARCH_PATH | G_SPAWN_CHILD_INHERITS_STDIN;
  g_autoptr (GError) error = NULL;
  int status = 0;
  if (!g_spawn_sync (NULL, (char **) argv->pdata, NULL, flags, NULL, NULL,
          stdout_out, NULL, &status, &error)) {
    cli_error ("%s: cannot run %s (set HYRSM_PYTHON to a python3 with "
        "torch): %s", command, python, error->message);
    return -1;
  }
  if (WIFEXITED (status))
    return WEXITSTATUS (status);
  cli_error ("%s: %s %s was killed (signal %d)", command, python, script,
      WIFSIGNALED (status) ? WTERMSIG (status) : 0);
  return 128 + (WIFSIGNALED (status) ? WTERMSIG (status) : 0);
}

double
cli_float_as_written (double value)
{
  char text[G_ASCII_DTOSTR_BUF_SIZE];
  for (int digits = 1; digits <= 9; digits++) {
    char format[8];
    g_snprintf (format, sizeof format, "%%.%dg", digits);
    g_ascii_formatd (text, sizeof text, format, value);
    double shortest = g_ascii_strtod (text, NULL);
    if ((float) shortest == (float) value)
      return shortest;
  }
  return value;
}

int
cli_display_width (const char *text)
{
  int width = 0;
  for (const char *p = text; *p; p = g_utf8_next_char (p)) {
    gunichar c = g_utf8_get_char (p);
    if (g_unichar_iszerowidth (c))
      continue;
    width += g_unichar_iswide (c) ? 2 : 1;
  }
  return width;
}

double
cli_no_negative_zero (double value, int decimals)
{
  double scale = pow (10, decimals);
  double rounded = round (value * scale) / scale;
  return rounded == 0 ? 0.0 : rounded;
}
