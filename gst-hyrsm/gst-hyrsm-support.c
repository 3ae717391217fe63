/* gst-hyrsm-support.c: `gst-hyrsm support publish|pull`: a support set
 * shared over an MQTT broker as one retained bundle (docs/cli.md "support",
 * docs/formats.md "The support-set bundle"). publish embeds a directory
 * (or takes its examples from the feature cache) and waits for the
 * broker's PUBACK; pull waits for the retained bundle, checks it like an
 * element would, and writes it back as a directory of feature files. */
#include "gst-hyrsm-common.h"
#include "gsthyrsmbundlemqtt.h"

#include <gst/gst.h>
#include <string.h>

#define COMMAND "support"

typedef struct
{
  char *model_path, *device, *precision, *key_file, *origin;
  char *username, *password, *tls_ca, *tls_cert, *tls_key;
  gboolean tls_insecure, no_cache, quiet;
  gint64 set_version;
  int timeout_s;
  gint64 max_size;
} SupportOptions;

static void
options_clear (SupportOptions *o)
{
  g_free (o->model_path);
  g_free (o->device);
  g_free (o->precision);
  g_free (o->key_file);
  g_free (o->origin);
  g_free (o->username);
  g_free (o->password);
  g_free (o->tls_ca);
  g_free (o->tls_cert);
  g_free (o->tls_key);
}

/* The broker options, the same as hyrsmpublish's properties. */
static void
add_broker_entries (GArray *entries, SupportOptions *o)
{
  GOptionEntry e[] = {
    {"username", 0, 0, G_OPTION_ARG_STRING, &o->username,
        "MQTT user name", "NAME"},
    {"password", 0, 0, G_OPTION_ARG_STRING, &o->password,
        "MQTT password", "PASSWORD"},
    {"tls-ca-file", 0, 0, G_OPTION_ARG_FILENAME, &o->tls_ca,
        "Connect with TLS, trusting this CA (PEM)", "FILE"},
    {"tls-cert-file", 0, 0, G_OPTION_ARG_FILENAME, &o->tls_cert,
        "TLS client certificate (PEM)", "FILE"},
    {"tls-key-file", 0, 0, G_OPTION_ARG_FILENAME, &o->tls_key,
        "TLS client key (PEM)", "FILE"},
    {"tls-insecure", 0, 0, G_OPTION_ARG_NONE, &o->tls_insecure,
        "Do not check the broker's host name against its certificate",
        NULL},
    {"key", 'k', 0, G_OPTION_ARG_FILENAME, &o->key_file,
        "The shared key file: sign (publish) or require and check (pull) "
          "an HMAC-SHA-256", "FILE"},
    {"timeout", 0, 0, G_OPTION_ARG_INT, &o->timeout_s,
        "Seconds to wait for the broker (default 10)", "SECONDS"},
  };
  g_array_append_vals (entries, e, G_N_ELEMENTS (e));
}

static gboolean
broker_from (GstHyrsmBroker *b, const char *uri, SupportOptions *o,
    GBytes **key)
{
  g_autoptr (GError) error = NULL;
  if (!gst_hyrsm_broker_parse_uri (b, uri, &error)) {
    cli_error ("%s: %s", COMMAND, error->message);
    return FALSE;
  }
  b->username = g_strdup (o->username);
  b->password = g_strdup (o->password);
  b->tls_ca_file = g_strdup (o->tls_ca);
  b->tls_cert_file = g_strdup (o->tls_cert);
  b->tls_key_file = g_strdup (o->tls_key);
  b->tls_insecure = o->tls_insecure;
  *key = NULL;
  if (o->key_file && !(*key = gst_hyrsm_bundle_load_key (o->key_file,
              &error))) {
    cli_error ("%s: %s", COMMAND, error->message);
    return FALSE;
  }
  return TRUE;
}

static char *
format_time (gint64 us)
{
  g_autoptr (GDateTime) t = g_date_time_new_from_unix_utc (us / G_USEC_PER_SEC);
  return t ? g_date_time_format_iso8601 (t) : g_strdup ("?");
}

/* The version after the one retained on the topic, 1 when there is none
 * (or it is not a bundle). */
static guint64
next_version (const GstHyrsmBroker *b)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GBytes) old = gst_hyrsm_bundle_fetch (b, 2000, &error);
  guint64 v = 0;
  if (old && gst_hyrsm_bundle_peek_version (g_bytes_get_data (old, NULL),
          g_bytes_get_size (old), &v) && v < G_MAXUINT64)
    return v + 1;
  return 1;
}

static int
run_publish (SupportOptions *o, const char *dir_path, const char *uri)
{
  GstHyrsmBroker b = { 0 };
  g_autoptr (GBytes) key = NULL;
  if (!broker_from (&b, uri, o, &key))
    return CLI_EXIT_USAGE;
  gst_init (NULL, NULL);
  g_autoptr (HyrsmModel) model = cli_load_model (COMMAND, o->model_path,
      o->device, o->precision);
  int status = CLI_EXIT_FAILED;
  g_autoptr (GError) error = NULL;
  g_autoptr (GstHyrsmSupportDir) dir = NULL;
  g_autoptr (GstHyrsmBundle) bundle = NULL;
  g_autoptr (GBytes) bytes = NULL;
  g_auto (GStrv) labels = NULL;
  if (model == NULL)
    goto out;
  dir = cli_load_support_dir (COMMAND, model, dir_path,
      GST_HYRSM_SUPPORT_DIR_KEEP_FEATURES | (o->no_cache ?
          GST_HYRSM_SUPPORT_DIR_NO_CACHE : 0), o->quiet);
  if (dir == NULL)
    goto out;
  cli_warn_skipped (COMMAND, dir, NULL);
  guint64 version = o->set_version > 0 ? (guint64) o->set_version :
      next_version (&b);
  bundle = gst_hyrsm_bundle_from_support_dir (dir, model, version,
      o->origin ? o->origin : g_get_host_name (), &error);
  if (bundle)
    bytes = gst_hyrsm_bundle_serialize (bundle, key, &error);
  if (bytes == NULL) {
    cli_error ("%s: %s", COMMAND, error->message);
    goto out;
  }
  if (!gst_hyrsm_bundle_publish (&b, bytes, o->timeout_s * 1000, &error)) {
    cli_error ("%s: %s", COMMAND, error->message);
    goto out;
  }
  labels = gst_hyrsm_bundle_get_labels (bundle);
  if (!o->quiet)
    printf ("Published version %" G_GUINT64_FORMAT " of %s (%u labels, %u "
        "examples, %" G_GSIZE_FORMAT " bytes%s) to %s\n", version, dir_path,
        g_strv_length (labels), gst_hyrsm_bundle_get_n_examples (bundle),
        g_bytes_get_size (bytes), key ? ", signed" : "", uri);
  status = CLI_EXIT_OK;
out:
  gst_hyrsm_broker_clear (&b);
  return status;
}

static int
run_pull (SupportOptions *o, const char *uri, const char *dir_path)
{
  GstHyrsmBroker b = { 0 };
  g_autoptr (GBytes) key = NULL;
  if (!broker_from (&b, uri, o, &key))
    return CLI_EXIT_USAGE;
  int status = CLI_EXIT_FAILED;
  g_autoptr (GError) error = NULL;
  g_autoptr (HyrsmModel) model = NULL;
  g_autoptr (GstHyrsmBundle) bundle = NULL;
  g_autoptr (GBytes) bytes = NULL;
  if (o->model_path) {
    gst_init (NULL, NULL);
    if (!(model = cli_load_model (COMMAND, o->model_path, o->device,
                o->precision)))
      goto out;
  }
  bytes = gst_hyrsm_bundle_fetch (&b, o->timeout_s * 1000, &error);
  if (bytes == NULL) {
    cli_error ("%s: %s", COMMAND, error->message);
    goto out;
  }
  bundle = gst_hyrsm_bundle_parse (g_bytes_get_data (bytes, NULL),
      g_bytes_get_size (bytes), key, (gsize) o->max_size, &error);
  if (bundle == NULL || (model && !gst_hyrsm_bundle_check_model (bundle,
              model, &error))
      || !gst_hyrsm_bundle_write_dir (bundle, dir_path, &error)) {
    cli_error ("%s: %s: %s", COMMAND, uri, error->message);
    goto out;
  }
  if (!o->quiet) {
    g_auto (GStrv) labels = gst_hyrsm_bundle_get_labels (bundle);
    g_autofree char *when = format_time (gst_hyrsm_bundle_get_created
        (bundle));
    printf ("Pulled version %" G_GUINT64_FORMAT " (from \"%s\", %s; model "
        "%s; %s) into %s: %u labels, %u examples\n",
        gst_hyrsm_bundle_get_version (bundle),
        gst_hyrsm_bundle_get_origin (bundle), when,
        gst_hyrsm_bundle_get_fingerprint (bundle),
        key ? "HMAC checked" : gst_hyrsm_bundle_is_signed (bundle)
        ? "signed, HMAC not checked: no --key" : "unsigned", dir_path,
        g_strv_length (labels), gst_hyrsm_bundle_get_n_examples (bundle));
  }
  status = CLI_EXIT_OK;
out:
  gst_hyrsm_broker_clear (&b);
  return status;
}

int
cli_cmd_support (int argc, char **argv)
{
  SupportOptions o = {.timeout_s = 10,
    .max_size = GST_HYRSM_BUNDLE_DEFAULT_MAX_SIZE
  };
  const char *action = argc >= 2 ? argv[1] : NULL;
  gboolean publish = g_strcmp0 (action, "publish") == 0;
  if (!publish && g_strcmp0 (action, "pull") != 0) {
    if (action && (g_str_equal (action, "--help") || g_str_equal (action,
                "-h"))) {
      printf ("Usage: gst-hyrsm support publish DIR mqtt://HOST:PORT/TOPIC "
          "--model MODEL [OPTION...]\n"
          "       gst-hyrsm support pull mqtt://HOST:PORT/TOPIC DIR "
          "[OPTION...]\n\nShares a support set over an MQTT broker as one "
          "retained bundle.\nRun gst-hyrsm support publish --help (or pull "
          "--help) for the options.\n");
      return CLI_EXIT_OK;
    }
    return cli_usage_error (COMMAND, "expected \"publish\" or \"pull\", "
        "got %s%s%s", action ? "\"" : "", action ? action : "nothing",
        action ? "\"" : "");
  }
  g_autoptr (GArray) entries = g_array_new (TRUE, TRUE,
      sizeof (GOptionEntry));
  GOptionEntry model = cli_option_model (&o.model_path);
  if (!publish)
    model.description = "Check the bundle against this model (optional)";
  GOptionEntry common[] = {
    model, cli_option_device (&o.device), cli_option_precision (&o.precision),
    cli_option_quiet (&o.quiet),
  };
  g_array_append_vals (entries, common, G_N_ELEMENTS (common));
  add_broker_entries (entries, &o);
  GOptionEntry pub[] = {
    {"origin", 0, 0, G_OPTION_ARG_STRING, &o.origin,
        "Who publishes (default: this host's name)", "NAME"},
    {"set-version", 0, 0, G_OPTION_ARG_INT64, &o.set_version,
        "The bundle's version (default: the retained bundle's + 1, or 1)",
        "N"},
    {"no-cache", 0, 0, G_OPTION_ARG_NONE, &o.no_cache,
        "Decode the support clips instead of using (or writing) the cache",
        NULL},
  };
  GOptionEntry pull[] = {
    {"max-size", 0, 0, G_OPTION_ARG_INT64, &o.max_size,
        "Refuse bundles larger than this many bytes (default 64 MiB)",
        "BYTES"},
  };
  if (publish)
    g_array_append_vals (entries, pub, G_N_ELEMENTS (pub));
  else
    g_array_append_vals (entries, pull, G_N_ELEMENTS (pull));
  argc--;
  argv++;
  int status = cli_parse_options (publish ? COMMAND " publish" :
      COMMAND " pull", publish ? "DIR mqtt://HOST:PORT/TOPIC --model MODEL" :
      "mqtt://HOST:PORT/TOPIC DIR", publish ?
      "Publishes the support set in DIR (embedded, or from its feature "
      "cache) as the\ntopic's retained bundle (QoS 1), and waits for the "
      "broker to acknowledge it.\nEvery hyrsmfilter with support=mqtt://... "
      "on that topic swaps it in." :
      "Waits for the topic's retained bundle, checks it (HMAC with --key, "
      "the model\nwith --model) and writes it as DIR/<label>/<n>.hyrsm "
      "feature files. DIR must\nnot exist or be empty.",
      publish ? "Example:\n  gst-hyrsm support publish actions "
      "mqtt://broker:1883/site/actions -m model.safetensors --key key" :
      "Example:\n  gst-hyrsm support pull mqtt://broker:1883/site/actions "
      "actions-copy --key key", (GOptionEntry *) entries->data, &argc,
      &argv);
  if (status == 0 && argc != 3)
    status = cli_usage_error (COMMAND, "expected %s", publish ?
        "DIR mqtt://HOST:PORT/TOPIC" : "mqtt://HOST:PORT/TOPIC DIR");
  if (status == 0 && publish && o.model_path == NULL)
    status = cli_usage_error (COMMAND, "--model is required");
  if (status == 0 && (o.timeout_s <= 0 || o.max_size < 0
          || o.set_version < 0))
    status = cli_usage_error (COMMAND, "--timeout must be positive, "
        "--max-size and --set-version not negative");
  if (status == 0)
    status = publish ? run_publish (&o, argv[1], argv[2]) :
        run_pull (&o, argv[1], argv[2]);
  options_clear (&o);
  return status;
}
