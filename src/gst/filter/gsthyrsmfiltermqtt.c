/* gsthyrsmfiltermqtt.c: hyrsmfilter's support=mqtt://HOST:PORT/TOPIC: the
 * support set is the retained bundle on a broker topic (docs/decisions.md
 * "Support sets over MQTT"). The element subscribes while it runs; each
 * bundle is checked (size, HMAC when support-key is set, the model's
 * fingerprint, a version newer than the one in use), turned into a
 * support set and swapped in through gst_hyrsm_filter_install_support ().
 * The last good bundle is cached on disk, so that a start while the
 * broker is away begins with it. */
#include "gsthyrsmfilter-private.h"
#include "gsthyrsmbundlemqtt.h"

#include <errno.h>
#include <string.h>

#define GST_CAT_DEFAULT gst_hyrsm_filter_debug

#define DEFAULT_TIMEOUT_MS 10000
#define ENROLL_PUBLISH_TIMEOUT_MS 5000

enum
{
  MQTT_PROP_KEY,
  MQTT_PROP_MAX_SIZE,
  MQTT_PROP_TIMEOUT,
  MQTT_PROP_USERNAME,
  MQTT_PROP_PASSWORD,
  MQTT_PROP_TLS_CA_FILE,
  MQTT_PROP_TLS_CERT_FILE,
  MQTT_PROP_TLS_KEY_FILE,
  MQTT_N_PROPS
};

struct _GstHyrsmFilterMqtt
{
  /* Properties, under the element's object lock. */
  gchar *key_path;
  guint64 max_size;
  guint timeout_ms;
  gchar *username, *password, *tls_ca_file, *tls_cert_file, *tls_key_file;

  /* Between start and stop; `lock` serializes the bundles' handling. */
  GMutex lock;
  GCond cond;
  gboolean running;
  gboolean have_set;
  guint64 version;              /* of the set in use */
  GstHyrsmBundle *bundle;       /* the set in use, for enroll */
  GBytes *key;
  gsize max;
  gchar *uri;
  gchar *cache_path;
  gchar *last_problem;          /* why no set came yet */
  GstHyrsmBroker broker;
  GstHyrsmBundleSubscriber *subscriber;
};

void
gst_hyrsm_filter_mqtt_init (GstHyrsmFilter *self)
{
  self->mqtt = g_new0 (GstHyrsmFilterMqtt, 1);
  self->mqtt->max_size = GST_HYRSM_BUNDLE_DEFAULT_MAX_SIZE;
  self->mqtt->timeout_ms = DEFAULT_TIMEOUT_MS;
  g_mutex_init (&self->mqtt->lock);
  g_cond_init (&self->mqtt->cond);
}

void
gst_hyrsm_filter_mqtt_finalize (GstHyrsmFilter *self)
{
  GstHyrsmFilterMqtt *m = self->mqtt;
  g_free (m->key_path);
  g_free (m->username);
  g_free (m->password);
  g_free (m->tls_ca_file);
  g_free (m->tls_cert_file);
  g_free (m->tls_key_file);
  g_mutex_clear (&m->lock);
  g_cond_clear (&m->cond);
  g_free (m);
}

void
gst_hyrsm_filter_mqtt_install_properties (GObjectClass *klass, guint first)
{
  GParamFlags rw = G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
      GST_PARAM_MUTABLE_READY;
  g_object_class_install_property (klass, first + MQTT_PROP_KEY,
      g_param_spec_string ("support-key", "Support key",
          "With support=mqtt://: file holding the shared HMAC key; when set, "
          "bundles without a valid HMAC-SHA-256 are refused", NULL, rw));
  g_object_class_install_property (klass, first + MQTT_PROP_MAX_SIZE,
      g_param_spec_uint64 ("support-max-size", "Support max size",
          "With support=mqtt://: largest bundle accepted, in bytes", 1,
          G_MAXSIZE, GST_HYRSM_BUNDLE_DEFAULT_MAX_SIZE, rw));
  g_object_class_install_property (klass, first + MQTT_PROP_TIMEOUT,
      g_param_spec_uint ("support-timeout", "Support timeout",
          "With support=mqtt:// and no cached bundle: how long the start "
          "waits for the broker's retained bundle (ms) before failing", 0,
          G_MAXUINT, DEFAULT_TIMEOUT_MS, rw));
  g_object_class_install_property (klass, first + MQTT_PROP_USERNAME,
      g_param_spec_string ("support-username", "Support username",
          "With support=mqtt://: the broker's user name", NULL, rw));
  g_object_class_install_property (klass, first + MQTT_PROP_PASSWORD,
      g_param_spec_string ("support-password", "Support password",
          "With support=mqtt://: the broker's password", NULL,
          G_PARAM_WRITABLE | G_PARAM_STATIC_STRINGS |
          GST_PARAM_MUTABLE_READY));
  g_object_class_install_property (klass, first + MQTT_PROP_TLS_CA_FILE,
      g_param_spec_string ("support-tls-ca-file", "Support TLS CA file",
          "With support=mqtt://: CA certificates (PEM) to verify the broker; "
          "set to use TLS", NULL, rw));
  g_object_class_install_property (klass, first + MQTT_PROP_TLS_CERT_FILE,
      g_param_spec_string ("support-tls-cert-file",
          "Support TLS certificate file",
          "With support=mqtt://: client certificate (PEM)", NULL, rw));
  g_object_class_install_property (klass, first + MQTT_PROP_TLS_KEY_FILE,
      g_param_spec_string ("support-tls-key-file", "Support TLS key file",
          "With support=mqtt://: client private key (PEM)", NULL, rw));
}

static gchar **
string_field (GstHyrsmFilterMqtt *m, guint id)
{
  switch (id) {
    case MQTT_PROP_KEY:
      return &m->key_path;
    case MQTT_PROP_USERNAME:
      return &m->username;
    case MQTT_PROP_PASSWORD:
      return &m->password;
    case MQTT_PROP_TLS_CA_FILE:
      return &m->tls_ca_file;
    case MQTT_PROP_TLS_CERT_FILE:
      return &m->tls_cert_file;
    case MQTT_PROP_TLS_KEY_FILE:
      return &m->tls_key_file;
    default:
      return NULL;
  }
}

/* Called with the object lock; FALSE: not one of these properties. */
gboolean
gst_hyrsm_filter_mqtt_set_property (GstHyrsmFilter *self, guint id,
    const GValue *value)
{
  GstHyrsmFilterMqtt *m = self->mqtt;
  gchar **field = string_field (m, id);
  if (field) {
    g_free (*field);
    *field = g_value_dup_string (value);
    if (*field && **field == '\0')
      g_clear_pointer (field, g_free);
  } else if (id == MQTT_PROP_MAX_SIZE) {
    m->max_size = g_value_get_uint64 (value);
  } else if (id == MQTT_PROP_TIMEOUT) {
    m->timeout_ms = g_value_get_uint (value);
  } else {
    return FALSE;
  }
  return TRUE;
}

gboolean
gst_hyrsm_filter_mqtt_get_property (GstHyrsmFilter *self, guint id,
    GValue *value)
{
  GstHyrsmFilterMqtt *m = self->mqtt;
  gchar **field = string_field (m, id);
  if (field)
    g_value_set_string (value, *field);
  else if (id == MQTT_PROP_MAX_SIZE)
    g_value_set_uint64 (value, m->max_size);
  else if (id == MQTT_PROP_TIMEOUT)
    g_value_set_uint (value, m->timeout_ms);
  else
    return FALSE;
  return TRUE;
}

/* ---- bundles ---- */

static gchar *
cache_path_for (const gchar *uri)
{
  g_autofree gchar *hash = g_compute_checksum_for_string (G_CHECKSUM_SHA256,
      uri, -1);
  g_autofree gchar *name = g_strconcat (hash, ".bundle", NULL);
  return g_build_filename (g_get_user_cache_dir (), "gst-hyrsm", "bundles",
      name, NULL);
}

static void
set_problem (GstHyrsmFilterMqtt *m, const gchar *problem)
{
  g_free (m->last_problem);
  m->last_problem = g_strdup (problem);
}

/* Checks and installs one bundle; called with m->lock. @from_cache: read
 * from the cache file at start (not written back). */
static gboolean
handle_bundle (GstHyrsmFilter *self, GBytes *payload, gboolean from_cache)
{
  GstHyrsmFilterMqtt *m = self->mqtt;
  GST_OBJECT_LOCK (self);
  HyrsmModel *model = self->model ? g_object_ref (self->model) : NULL;
  GST_OBJECT_UNLOCK (self);
  if (model == NULL || !m->running) {
    g_clear_object (&model);
    return FALSE;
  }
  const gchar *what = from_cache ? "cached bundle" : "bundle";
  gsize size;
  const guint8 *data = g_bytes_get_data (payload, &size);
  GError *error = NULL;
  g_autoptr (GstHyrsmBundle) bundle = gst_hyrsm_bundle_parse (data, size,
      m->key, m->max, &error);
  if (bundle && !gst_hyrsm_bundle_check_model (bundle, model, &error))
    g_clear_pointer (&bundle, gst_hyrsm_bundle_unref);
  guint64 version = bundle ? gst_hyrsm_bundle_get_version (bundle) : 0;
  if (bundle && m->have_set && version == m->version) {
    /* The retained bundle again (a reconnect): nothing new. */
    GST_DEBUG_OBJECT (self, "bundle version %" G_GUINT64_FORMAT
        " is the one in use", version);
    g_object_unref (model);
    return FALSE;
  }
  if (bundle && m->have_set && version < m->version) {
    g_set_error (&error, GST_HYRSM_BUNDLE_ERROR,
        GST_HYRSM_BUNDLE_ERROR_STALE, "version %" G_GUINT64_FORMAT
        " is older than version %" G_GUINT64_FORMAT " in use", version,
        m->version);
    g_clear_pointer (&bundle, gst_hyrsm_bundle_unref);
  }
  HyrsmSupportSet *set = bundle ? gst_hyrsm_bundle_to_support_set (bundle,
      model, &error) : NULL;
  if (set == NULL) {
    set_problem (m, error->message);
    if (m->have_set)
      GST_ELEMENT_WARNING (self, RESOURCE, READ,
          ("Refused the support-set %s from \"%s\": %s; keeping version %"
              G_GUINT64_FORMAT ".", what, m->uri, error->message, m->version),
          (NULL));
    else
      GST_ELEMENT_WARNING (self, RESOURCE, READ,
          ("Refused the support-set %s from \"%s\": %s.", what, m->uri,
              error->message), (NULL));
    g_error_free (error);
    g_object_unref (model);
    return FALSE;
  }
  gchar **labels = hyrsm_support_set_get_labels (set);
  gchar **shown = g_strdupv (labels);
  if (!gst_hyrsm_filter_install_support (self, model, m->uri, set, labels,
          GST_CLOCK_TIME_NONE, NULL)) {
    g_strfreev (shown);
    g_object_unref (model);
    return FALSE;
  }
  g_object_unref (model);
  m->version = version;
  m->have_set = TRUE;
  g_clear_pointer (&m->bundle, gst_hyrsm_bundle_unref);
  m->bundle = gst_hyrsm_bundle_ref (bundle);
  g_cond_broadcast (&m->cond);
  GST_INFO_OBJECT (self, "support set from %s: version %" G_GUINT64_FORMAT
      " (%s), %u labels", from_cache ? m->cache_path : m->uri, version,
      gst_hyrsm_bundle_get_origin (bundle), g_strv_length (shown));

  if (!from_cache) {
    /* The last good bundle, for a start while the broker is away. */
    g_autofree gchar *dir = g_path_get_dirname (m->cache_path);
    if (g_mkdir_with_parents (dir, 0700) != 0
        || !g_file_set_contents (m->cache_path, (const gchar *) data, size,
            &error)) {
      GST_ELEMENT_WARNING (self, RESOURCE, WRITE,
          ("Could not cache the support-set bundle in \"%s\".",
              m->cache_path), ("%s", error ? error->message :
              g_strerror (errno)));
      g_clear_error (&error);
    }
  }

  GValue array = G_VALUE_INIT;
  gst_value_array_init (&array, g_strv_length (shown));
  for (guint i = 0; shown[i]; i++) {
    GValue v = G_VALUE_INIT;
    g_value_init (&v, G_TYPE_STRING);
    g_value_take_string (&v, shown[i]);
    gst_value_array_append_and_take_value (&array, &v);
  }
  GstStructure *s = gst_structure_new ("hyrsm-support",
      "path", G_TYPE_STRING, m->uri,
      "n-labels", G_TYPE_UINT, gst_value_array_get_size (&array),
      "version", G_TYPE_UINT64, version,
      "origin", G_TYPE_STRING, gst_hyrsm_bundle_get_origin (bundle),
      "created", G_TYPE_INT64, gst_hyrsm_bundle_get_created (bundle),
      "cached", G_TYPE_BOOLEAN, from_cache, NULL);
  gst_structure_take_value (s, "labels", &array);
  g_free (shown);               /* its strings went to the array */
  gst_element_post_message (GST_ELEMENT (self),
      gst_message_new_element (GST_OBJECT (self), s));
  return TRUE;
}

static void
on_bundle (GBytes *payload, gpointer user_data)
{
  GstHyrsmFilter *self = user_data;
  g_mutex_lock (&self->mqtt->lock);
  handle_bundle (self, payload, FALSE);
  g_mutex_unlock (&self->mqtt->lock);
}

static void
on_status (gboolean connected, const gchar *reason, gpointer user_data)
{
  GstHyrsmFilter *self = user_data;
  GstHyrsmFilterMqtt *m = self->mqtt;
  g_mutex_lock (&m->lock);
  if (connected) {
    GST_INFO_OBJECT (self, "connected to %s", m->uri);
    if (!m->have_set)
      set_problem (m, "connected, but nothing is retained on the topic");
  } else {
    GST_WARNING_OBJECT (self, "broker of %s: %s", m->uri, reason);
    if (!m->have_set) {
      g_autofree gchar *p = g_strdup_printf ("broker unreachable: %s",
          reason ? reason : "disconnected");
      set_problem (m, p);
    }
  }
  g_mutex_unlock (&m->lock);
}

static void
clear_run (GstHyrsmFilterMqtt *m)
{
  g_clear_pointer (&m->bundle, gst_hyrsm_bundle_unref);
  g_clear_pointer (&m->key, g_bytes_unref);
  g_clear_pointer (&m->uri, g_free);
  g_clear_pointer (&m->cache_path, g_free);
  g_clear_pointer (&m->last_problem, g_free);
  gst_hyrsm_broker_clear (&m->broker);
  m->have_set = FALSE;
  m->version = 0;
}

gboolean
gst_hyrsm_filter_mqtt_start (GstHyrsmFilter *self, const gchar *uri)
{
  GstHyrsmFilterMqtt *m = self->mqtt;
  GError *error = NULL;
  GstHyrsmBroker broker = { 0 };
  if (!gst_hyrsm_broker_parse_uri (&broker, uri, &error)) {
    GST_ELEMENT_ERROR (self, RESOURCE, SETTINGS,
        ("Support set \"%s\": %s", uri, error->message), (NULL));
    g_error_free (error);
    return FALSE;
  }
  GST_OBJECT_LOCK (self);
  gchar *key_path = g_strdup (m->key_path);
  gsize max = m->max_size;
  guint timeout_ms = m->timeout_ms;
  broker.username = g_strdup (m->username);
  broker.password = g_strdup (m->password);
  broker.tls_ca_file = g_strdup (m->tls_ca_file);
  broker.tls_cert_file = g_strdup (m->tls_cert_file);
  broker.tls_key_file = g_strdup (m->tls_key_file);
  GST_OBJECT_UNLOCK (self);
  GBytes *key = NULL;
  if (key_path) {
    key = gst_hyrsm_bundle_load_key (key_path, &error);
    if (key == NULL) {
      GST_ELEMENT_ERROR (self, RESOURCE, SETTINGS,
          ("Could not read the support key \"%s\".", key_path), ("%s",
              error->message));
      g_error_free (error);
      g_free (key_path);
      gst_hyrsm_broker_clear (&broker);
      return FALSE;
    }
  }
  g_free (key_path);

  g_mutex_lock (&m->lock);
  m->running = TRUE;
  m->broker = broker;
  m->key = key;
  m->max = max;
  m->uri = g_strdup (uri);
  m->cache_path = cache_path_for (uri);
  set_problem (m, "no answer from the broker");
  gchar *cached = NULL;
  gsize size;
  if (g_file_get_contents (m->cache_path, &cached, &size, NULL)) {
    g_autoptr (GBytes) bytes = g_bytes_new_take (cached, size);
    handle_bundle (self, bytes, TRUE);
  }
  g_mutex_unlock (&m->lock);

  GstHyrsmBundleSubscriber *sub = gst_hyrsm_bundle_subscriber_new (&broker,
      on_bundle, on_status, self, &error);
  if (sub == NULL) {
    GST_ELEMENT_ERROR (self, RESOURCE, SETTINGS,
        ("Cannot subscribe to support set \"%s\".", uri), ("%s",
            error->message));
    g_error_free (error);
    g_mutex_lock (&m->lock);
    m->running = FALSE;
    clear_run (m);
    g_mutex_unlock (&m->lock);
    return FALSE;
  }

  /* The first set must be there before the first window: with no cached
   * one, wait for the broker's retained bundle. */
  g_mutex_lock (&m->lock);
  m->subscriber = sub;
  gint64 deadline = g_get_monotonic_time () + timeout_ms * G_TIME_SPAN_MILLISECOND;
  while (!m->have_set && g_cond_wait_until (&m->cond, &m->lock, deadline));
  gboolean ok = m->have_set;
  gchar *problem = g_strdup (m->last_problem);
  gchar *cache_path = g_strdup (m->cache_path);
  g_mutex_unlock (&m->lock);
  if (!ok) {
    GST_ELEMENT_ERROR (self, RESOURCE, NOT_FOUND,
        ("No support set from \"%s\" within %u ms (%s), and no cached one.",
            uri, timeout_ms, problem), ("cache file: %s", cache_path));
    gst_hyrsm_filter_mqtt_stop (self);
  }
  g_free (problem);
  g_free (cache_path);
  return ok;
}

void
gst_hyrsm_filter_mqtt_stop (GstHyrsmFilter *self)
{
  GstHyrsmFilterMqtt *m = self->mqtt;
  g_mutex_lock (&m->lock);
  GstHyrsmBundleSubscriber *sub = m->subscriber;
  m->subscriber = NULL;
  m->running = FALSE;
  g_mutex_unlock (&m->lock);
  /* Joins the client's thread: no callback runs after it. */
  gst_hyrsm_bundle_subscriber_free (sub);
  g_mutex_lock (&m->lock);
  clear_run (m);
  g_mutex_unlock (&m->lock);
}

/* enroll: publishes the set in use plus @features under @label as the
 * next version; every element on the topic (this one too) swaps to it. */
gboolean
gst_hyrsm_filter_mqtt_publish_enrolled (GstHyrsmFilter *self,
    const gchar *label, const float *features)
{
  GstHyrsmFilterMqtt *m = self->mqtt;
  GError *error = NULL;
  g_mutex_lock (&m->lock);
  if (m->bundle == NULL) {
    g_mutex_unlock (&m->lock);
    return FALSE;
  }
  GstHyrsmBundle *old = m->bundle;
  g_autofree gchar *origin = g_strdup_printf ("%s/%s", g_get_host_name (),
      GST_OBJECT_NAME (self));
  g_autoptr (GstHyrsmBundle) next =
      gst_hyrsm_bundle_new (gst_hyrsm_bundle_get_fingerprint (old),
      gst_hyrsm_bundle_get_frames (old), gst_hyrsm_bundle_get_dim (old),
      m->version + 1, origin, g_get_real_time (), &error);
  guint n = gst_hyrsm_bundle_get_n_examples (old);
  for (guint i = 0; next && i < n; i++) {
    const gchar *l, *source;
    const float *f;
    gst_hyrsm_bundle_get_example (old, i, &l, &source, &f);
    if (!gst_hyrsm_bundle_add (next, l, source, f, &error))
      g_clear_pointer (&next, gst_hyrsm_bundle_unref);
  }
  if (next && !gst_hyrsm_bundle_add (next, label, "hyrsmfilter enroll",
          features, &error))
    g_clear_pointer (&next, gst_hyrsm_bundle_unref);
  GBytes *bytes = next ? gst_hyrsm_bundle_serialize (next, m->key, &error) :
      NULL;
  GstHyrsmBroker broker = m->broker;    /* strings live until stop */
  g_autofree gchar *uri = g_strdup (m->uri);
  guint64 version = m->version + 1;
  gboolean ok = bytes && gst_hyrsm_bundle_publish (&broker, bytes,
      ENROLL_PUBLISH_TIMEOUT_MS, &error);
  g_mutex_unlock (&m->lock);
  g_clear_pointer (&bytes, g_bytes_unref);
  if (!ok) {
    GST_ELEMENT_WARNING (self, RESOURCE, WRITE,
        ("Enrolled \"%s\" for this run, but could not publish it to \"%s\".",
            label, uri), ("%s", error ? error->message : "no bundle"));
    g_clear_error (&error);
    return FALSE;
  }
  GST_INFO_OBJECT (self, "enrolled \"%s\": published version %"
      G_GUINT64_FORMAT " to %s", label, version, uri);
  return TRUE;
}
