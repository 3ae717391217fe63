/* gst-hyrsm-common.h: what every gst-hyrsm subcommand shares: error
 * reporting, option parsing, the progress bar, JSON output, loading the
 * model, and running the tool's Python helper scripts.
 *
 * Conventions (docs/cli.md): exit status 0 success, 1 the work failed (a
 * bad file, a failed decode, ...), 2 bad usage; errors and warnings go to
 * stderr as one line each, naming the file at fault; results go to stdout,
 * as text or with --json as one JSON document; a progress bar is drawn on
 * stderr only when stderr is a terminal.
 */
#pragma once

#include <gsthyrsmsupport.h>
#include <hyrsm.h>
#include <json-glib/json-glib.h>
#include <stdio.h>

G_BEGIN_DECLS

#define CLI_EXIT_OK 0
#define CLI_EXIT_FAILED 1
#define CLI_EXIT_USAGE 2

/* "gst-hyrsm: MESSAGE" on stderr. */
void cli_error (const char *fmt, ...) G_GNUC_PRINTF (1, 2);
/* "gst-hyrsm: warning: MESSAGE" on stderr. */
void cli_warning (const char *fmt, ...) G_GNUC_PRINTF (1, 2);
/* A usage error of @command: printed with a pointer to its --help;
 * returns CLI_EXIT_USAGE. */
int cli_usage_error (const char *command, const char *fmt, ...)
    G_GNUC_PRINTF (2, 3);

/* Parses @entries (--help comes with them); removes the options from
 * argv. Returns 0, or the exit status to leave with. */
int cli_parse_options (const char *command, const char *params,
    const char *summary, const char *description, GOptionEntry *entries,
    int *argc, char ***argv);

/* "1,8,64" -> the numbers, each in [@min, @max]; NULL with an error
 * printed for @option of @command otherwise. */
GArray *cli_parse_uint_list (const char *command, const char *option,
    const char *text, guint min, guint max);

/* Loads @path for @device in @precision (NULL: auto); prints the error and
 * returns NULL when it fails. */
HyrsmModel *cli_load_model (const char *command, const char *path,
    const char *device, const char *precision);

/* The options several subcommands take, spelt and explained the same
 * everywhere: entries for their GOptionEntry arrays, each storing into
 * @value (a string is the subcommand's to free). --model MODEL (-m),
 * --device DEVICE, --precision PRECISION, --json, --quiet (-q). */
GOptionEntry cli_option_model (char **value);
GOptionEntry cli_option_device (char **value);
GOptionEntry cli_option_precision (char **value);
GOptionEntry cli_option_json (gboolean *value);
GOptionEntry cli_option_quiet (gboolean *value);

/* Prints @b's root, pretty, on stdout. */
void cli_print_json (JsonBuilder *b);

/* JSON members, shorter to write. */
void cli_json_string (JsonBuilder *b, const char *key, const char *value);
void cli_json_int (JsonBuilder *b, const char *key, gint64 value);
/* @value, a float read from a file, as the shortest decimal that reads
 * back as the same float (0.45f is 0.45, not 0.44999998807907104). */
double cli_float_as_written (double value);

/* Columns @text takes in a terminal (wide CJK characters count 2,
 * combining marks 0). */
int cli_display_width (const char *text);

/* @value rounded to @decimals places, never printed as "-0.000". */
double cli_no_negative_zero (double value, int decimals);

void cli_json_double (JsonBuilder *b, const char *key, double value);
void cli_json_bool (JsonBuilder *b, const char *key, gboolean value);

/* ---- the progress bar ---- */

typedef struct
{
  gboolean enabled;             /* stderr is a terminal and not --quiet */
  gboolean drawn;               /* something is on the line */
  gint64 last_draw;
  char *what;
} CliProgress;

void cli_progress_init (CliProgress *p, const char *what, gboolean quiet);
void cli_progress_update (CliProgress *p, guint done, guint total,
    const char *detail);
/* Clears the line (call before printing anything else on stderr). */
void cli_progress_clear (CliProgress *p);
void cli_progress_end (CliProgress *p);
/* A GstHyrsmProgressFunc drawing on the CliProgress in @user_data. */
void cli_progress_support_func (guint done, guint total, const gchar *label,
    const gchar *file, gpointer user_data);

/* Loads a support-set directory with a progress bar. NULL with the error
 * printed when it fails. */
GstHyrsmSupportDir *cli_load_support_dir (const char *command,
    HyrsmModel *model, const char *path, GstHyrsmSupportDirFlags flags,
    gboolean quiet);
/* A warning for each entry @dir skipped, but those named in @except
 * ("label/file", NULL-terminated, may be NULL). */
void cli_warn_skipped (const char *command, GstHyrsmSupportDir *dir,
    const char *const *except);

/* ---- helper scripts ---- */

/* The Python interpreter: $HYRSM_PYTHON, else /usr/bin/python3 when it
 * exists, else python3 from PATH. */
const char *cli_python (void);

/* Finds the helper script @name in $HYRSM_SCRIPT_DIR when that is set
 * (uninstalled: the sources' tools/), else in the installed
 * DATADIR/gst-hyrsm. NULL with an error printed when it is not there. */
char *cli_find_script (const char *command, const char *name);

/* Runs `python SCRIPT ARGS...` with stdin, stderr inherited; stdout is
 * inherited too, or captured into @stdout_out when that is not NULL.
 * Returns the script's exit status, or -1 with an error printed when it
 * could not be started. */
int cli_run_script (const char *command, const char *script,
    const char *const *args, char **stdout_out);

/* ---- the subcommands ---- */

int cli_cmd_info (int argc, char **argv);
int cli_cmd_enroll (int argc, char **argv);
int cli_cmd_classify (int argc, char **argv);
int cli_cmd_eval (int argc, char **argv);
int cli_cmd_bench (int argc, char **argv);
int cli_cmd_convert (int argc, char **argv);
int cli_cmd_support (int argc, char **argv);

G_END_DECLS
