/* gsthyrsmbundlemqtt.c: support-set bundles over MQTT
 * (gsthyrsmbundlemqtt.h). The blocking calls drive libmosquitto's loop
 * themselves (no thread) up to a deadline; the subscriber runs
 * libmosquitto's own thread and resubscribes on every connect, so a
 * broker restart delivers the retained bundle again. */
#include "gsthyrsmbundlemqtt.h"

#include <errno.h>
#include <mosquitto.h>
#include <string.h>

static void
init_once (void)
{
  static gsize done = 0;
  if (g_once_init_enter (&done)) {
    mosquitto_lib_init ();
    g_once_init_leave (&done, 1);
  }
}

void
gst_hyrsm_broker_clear (GstHyrsmBroker *b)
{
  g_clear_pointer (&b->host, g_free);
  g_clear_pointer (&b->topic, g_free);
  g_clear_pointer (&b->username, g_free);
  g_clear_pointer (&b->password, g_free);
  g_clear_pointer (&b->tls_ca_file, g_free);
  g_clear_pointer (&b->tls_cert_file, g_free);
  g_clear_pointer (&b->tls_key_file, g_free);
}

gboolean
gst_hyrsm_is_mqtt_uri (const gchar *text)
{
  return text && g_ascii_strncasecmp (text, "mqtt://", 7) == 0;
}

/**
 * gst_hyrsm_broker_parse_uri:
 * @broker: where host, port and topic go (other fields untouched)
 * @uri: mqtt://HOST[:PORT]/TOPIC (port 1883 by default; the topic is the
 *   rest of the path, percent-decoded, without wildcards)
 * @error: return location for a #GError
 *
 * Returns: %TRUE, or %FALSE with @error naming what is wrong in @uri
 */
gboolean
gst_hyrsm_broker_parse_uri (GstHyrsmBroker *broker, const gchar *uri,
    GError **error)
{
  init_once ();
  g_autoptr (GError) e = NULL;
  g_autoptr (GUri) u = gst_hyrsm_is_mqtt_uri (uri)
      ? g_uri_parse (uri, G_URI_FLAGS_NONE, &e) : NULL;
  if (u == NULL || g_uri_get_host (u) == NULL || !*g_uri_get_host (u)) {
    g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
        "\"%s\" is not mqtt://HOST:PORT/TOPIC%s%s", uri ? uri : "",
        e ? ": " : "", e ? e->message : "");
    return FALSE;
  }
  /* '#' would otherwise start a URI fragment and '?' a query, silently
   * naming another topic. */
  if (g_uri_get_fragment (u) || g_uri_get_query (u)) {
    g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
        "\"%s\": the topic has a wildcard ('#') or a '?': not a single "
        "topic", uri);
    return FALSE;
  }
  const char *path = g_uri_get_path (u);
  while (*path == '/')
    path++;
  if (!*path || strchr (path, '+') || strchr (path, '#')
      || mosquitto_pub_topic_check2 (path, strlen (path)) != MOSQ_ERR_SUCCESS
      || mosquitto_validate_utf8 (path, strlen (path)) != MOSQ_ERR_SUCCESS) {
    g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
        "\"%s\": the topic \"%s\" is empty, has a wildcard or is not a "
        "valid MQTT topic name", uri, path);
    return FALSE;
  }
  g_free (broker->host);
  g_free (broker->topic);
  broker->host = g_strdup (g_uri_get_host (u));
  broker->port = g_uri_get_port (u) > 0 ? g_uri_get_port (u) : 1883;
  broker->topic = g_strdup (path);
  return TRUE;
}

static gboolean
fail (GError **error, const GstHyrsmBroker *b, const char *what, int rc)
{
  g_set_error (error, G_IO_ERROR, G_IO_ERROR_FAILED, "mqtt://%s:%u/%s: %s: "
      "%s", b->host, b->port, b->topic, what, rc == MOSQ_ERR_ERRNO
      ? g_strerror (errno) : mosquitto_strerror (rc));
  return FALSE;
}

static struct mosquitto *
client_new (const GstHyrsmBroker *b, void *obj, GError **error)
{
  init_once ();
  struct mosquitto *m = mosquitto_new (NULL, true, obj);
  if (m == NULL) {
    fail (error, b, "cannot create an MQTT client", MOSQ_ERR_ERRNO);
    return NULL;
  }
  int rc = MOSQ_ERR_SUCCESS;
  const char *what = NULL;
  if (b->username && *b->username) {
    what = "username/password";
    rc = mosquitto_username_pw_set (m, b->username, b->password);
  }
  if (rc == MOSQ_ERR_SUCCESS && ((b->tls_ca_file && *b->tls_ca_file)
          || (b->tls_cert_file && *b->tls_cert_file))) {
    what = "TLS settings (tls-ca-file, tls-cert-file, tls-key-file)";
    rc = mosquitto_tls_set (m, b->tls_ca_file, NULL,
        b->tls_cert_file && *b->tls_cert_file ? b->tls_cert_file : NULL,
        b->tls_key_file && *b->tls_key_file ? b->tls_key_file : NULL, NULL);
    if (rc == MOSQ_ERR_SUCCESS)
      rc = mosquitto_tls_insecure_set (m, b->tls_insecure);
  }
  if (rc != MOSQ_ERR_SUCCESS) {
    fail (error, b, what, rc);
    mosquitto_destroy (m);
    return NULL;
  }
  return m;
}

/* ---- blocking publish and fetch ---- */

typedef struct
{
  int connack;                  /* -1: none yet */
  int mid;
  gboolean published, subscribed;
  GBytes *payload;              /* fetch: the retained message */
  const char *topic;
} Sync;

static void
sync_on_connect (struct mosquitto *m, void *obj, int rc)
{
  ((Sync *) obj)->connack = rc;
}

static void
sync_on_publish (struct mosquitto *m, void *obj, int mid)
{
  Sync *s = obj;
  if (mid == s->mid)
    s->published = TRUE;
}

static void
sync_on_message (struct mosquitto *m, void *obj,
    const struct mosquitto_message *msg)
{
  Sync *s = obj;
  if (s->payload == NULL && msg->payloadlen > 0
      && g_strcmp0 (msg->topic, s->topic) == 0)
    s->payload = g_bytes_new (msg->payload, msg->payloadlen);
}

/* Connects and runs the loop until *@flag or the deadline. */
static gboolean
sync_run (struct mosquitto *m, const GstHyrsmBroker *b, Sync *s,
    gboolean *flag, gint64 deadline, const char *waiting, GError **error)
{
  while (!*flag) {
    if (s->connack > 0) {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_PERMISSION_DENIED,
          "mqtt://%s:%u: the broker refused the connection: %s", b->host,
          b->port, mosquitto_connack_string (s->connack));
      return FALSE;
    }
    gint64 left = deadline - g_get_monotonic_time ();
    if (left <= 0) {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT,
          "mqtt://%s:%u/%s: timed out %s", b->host, b->port, b->topic,
          waiting);
      return FALSE;
    }
    int rc = mosquitto_loop (m, (int) MIN (left / 1000 + 1, 100), 1);
    if (rc != MOSQ_ERR_SUCCESS)
      return fail (error, b, "connection lost", rc);
  }
  return TRUE;
}

static struct mosquitto *
sync_connect (const GstHyrsmBroker *b, Sync *s, GError **error)
{
  struct mosquitto *m = client_new (b, s, error);
  if (m == NULL)
    return NULL;
  mosquitto_connect_callback_set (m, sync_on_connect);
  mosquitto_publish_callback_set (m, sync_on_publish);
  mosquitto_message_callback_set (m, sync_on_message);
  int rc = mosquitto_connect (m, b->host, b->port, 30);
  if (rc != MOSQ_ERR_SUCCESS) {
    fail (error, b, "cannot connect", rc);
    mosquitto_destroy (m);
    return NULL;
  }
  return m;
}

/**
 * gst_hyrsm_bundle_publish:
 * @broker: the broker and topic
 * @payload: the bundle's bytes
 * @timeout_ms: how long to wait for the connection and the PUBACK
 * @error: return location for a #GError
 *
 * Publishes @payload as the topic's retained message with QoS 1 and waits
 * until the broker acknowledged it, so that a %TRUE means the broker has
 * it (and hands it to every subscriber, present and future).
 *
 * Returns: %TRUE, or %FALSE with @error set (refused, timed out, too
 *   large for the broker)
 */
gboolean
gst_hyrsm_bundle_publish (const GstHyrsmBroker *broker, GBytes *payload,
    guint timeout_ms, GError **error)
{
  gint64 deadline = g_get_monotonic_time () + (gint64) timeout_ms * 1000;
  Sync s = {.connack = -1,.topic = broker->topic };
  struct mosquitto *m = sync_connect (broker, &s, error);
  if (m == NULL)
    return FALSE;
  gsize size;
  const void *data = g_bytes_get_data (payload, &size);
  gboolean ok = FALSE;
  if (size > 256 * 1024 * 1024 - 1024)
    fail (error, broker, "the bundle is over MQTT's message size",
        MOSQ_ERR_PAYLOAD_SIZE);
  else {
    int rc = mosquitto_publish (m, &s.mid, broker->topic, (int) size, data,
        1, true);
    if (rc != MOSQ_ERR_SUCCESS)
      fail (error, broker, "publish", rc);
    else
      ok = sync_run (m, broker, &s, &s.published, deadline,
          "waiting for the broker's PUBACK", error);
  }
  mosquitto_disconnect (m);
  mosquitto_destroy (m);
  return ok;
}

static void
fetch_on_subscribe (struct mosquitto *m, void *obj, int mid, int n,
    const int *granted)
{
  Sync *s = obj;
  if (mid == s->mid)
    s->subscribed = TRUE;
}

/**
 * gst_hyrsm_bundle_fetch:
 * @broker: the broker and topic
 * @timeout_ms: how long to wait for a retained bundle
 * @error: return location for a #GError
 *
 * Subscribes to the topic and waits for its message: the retained one, or
 * the next published one when there is none yet.
 *
 * Returns: (transfer full): the message's bytes (unchecked), or %NULL with
 *   @error set (%G_IO_ERROR_TIMED_OUT when nothing came)
 */
GBytes *
gst_hyrsm_bundle_fetch (const GstHyrsmBroker *broker, guint timeout_ms,
    GError **error)
{
  gint64 deadline = g_get_monotonic_time () + (gint64) timeout_ms * 1000;
  Sync s = {.connack = -1,.topic = broker->topic };
  struct mosquitto *m = sync_connect (broker, &s, error);
  if (m == NULL)
    return NULL;
  mosquitto_subscribe_callback_set (m, fetch_on_subscribe);
  int rc = mosquitto_subscribe (m, &s.mid, broker->topic, 1);
  gboolean got = FALSE;
  if (rc != MOSQ_ERR_SUCCESS)
    fail (error, broker, "subscribe", rc);
  else {
    /* Wait for the payload itself: sync_run's flag. */
    while (!(got = s.payload != NULL)) {
      gboolean step = FALSE;
      gint64 until = MIN (deadline, g_get_monotonic_time () + 100000);
      GError *e = NULL;
      if (!sync_run (m, broker, &s, &step, until,
              "waiting for a bundle (nothing retained on the topic?)", &e)) {
        if (!g_error_matches (e, G_IO_ERROR, G_IO_ERROR_TIMED_OUT)
            || g_get_monotonic_time () >= deadline) {
          g_propagate_error (error, e);
          break;
        }
        g_error_free (e);
      }
    }
  }
  mosquitto_disconnect (m);
  mosquitto_destroy (m);
  if (!got)
    g_clear_pointer (&s.payload, g_bytes_unref);
  return s.payload;
}

/* ---- the subscriber ---- */

struct _GstHyrsmBundleSubscriber
{
  GstHyrsmBroker broker;
  struct mosquitto *mosq;
  GstHyrsmBundleReceivedFunc received;
  GstHyrsmBrokerStatusFunc status;
  gpointer user_data;
};

static void
sub_on_connect (struct mosquitto *m, void *obj, int rc)
{
  GstHyrsmBundleSubscriber *self = obj;
  if (rc != 0) {
    if (self->status)
      self->status (FALSE, mosquitto_connack_string (rc), self->user_data);
    return;
  }
  /* A clean session forgets subscriptions: subscribe on every connect,
   * which also brings the retained bundle again after a broker restart. */
  mosquitto_subscribe (m, NULL, self->broker.topic, 1);
  if (self->status)
    self->status (TRUE, NULL, self->user_data);
}

static void
sub_on_disconnect (struct mosquitto *m, void *obj, int rc)
{
  GstHyrsmBundleSubscriber *self = obj;
  if (rc != 0 && self->status)
    self->status (FALSE, mosquitto_strerror (rc), self->user_data);
}

static void
sub_on_message (struct mosquitto *m, void *obj,
    const struct mosquitto_message *msg)
{
  GstHyrsmBundleSubscriber *self = obj;
  /* An empty retained message clears the topic: nothing to install. */
  if (msg->payloadlen <= 0 || g_strcmp0 (msg->topic, self->broker.topic))
    return;
  g_autoptr (GBytes) payload = g_bytes_new (msg->payload, msg->payloadlen);
  self->received (payload, self->user_data);
}

/**
 * gst_hyrsm_bundle_subscriber_new:
 * @broker: the broker and topic
 * @received: called with each message's bytes
 * @status: (nullable): called when the connection comes or goes
 * @user_data: for both
 * @error: return location for a #GError
 *
 * Starts a client thread that connects (retrying every 1 to 10 s while the
 * broker is away), subscribes with QoS 1 and hands every message on the
 * topic to @received.
 *
 * Returns: (transfer full): the subscriber, or %NULL with @error set (bad
 *   TLS or credential settings; an unreachable broker is not an error)
 */
GstHyrsmBundleSubscriber *
gst_hyrsm_bundle_subscriber_new (const GstHyrsmBroker *broker,
    GstHyrsmBundleReceivedFunc received, GstHyrsmBrokerStatusFunc status,
    gpointer user_data, GError **error)
{
  GstHyrsmBundleSubscriber *self = g_new0 (GstHyrsmBundleSubscriber, 1);
  self->broker.host = g_strdup (broker->host);
  self->broker.port = broker->port;
  self->broker.topic = g_strdup (broker->topic);
  self->broker.username = g_strdup (broker->username);
  self->broker.password = g_strdup (broker->password);
  self->broker.tls_ca_file = g_strdup (broker->tls_ca_file);
  self->broker.tls_cert_file = g_strdup (broker->tls_cert_file);
  self->broker.tls_key_file = g_strdup (broker->tls_key_file);
  self->broker.tls_insecure = broker->tls_insecure;
  self->received = received;
  self->status = status;
  self->user_data = user_data;
  self->mosq = client_new (&self->broker, self, error);
  if (self->mosq == NULL) {
    gst_hyrsm_broker_clear (&self->broker);
    g_free (self);
    return NULL;
  }
  mosquitto_connect_callback_set (self->mosq, sub_on_connect);
  mosquitto_disconnect_callback_set (self->mosq, sub_on_disconnect);
  mosquitto_message_callback_set (self->mosq, sub_on_message);
  mosquitto_reconnect_delay_set (self->mosq, 1, 10, true);
  int rc = mosquitto_connect_async (self->mosq, self->broker.host,
      self->broker.port, 30);
  gboolean retry = rc != MOSQ_ERR_SUCCESS;
  if (retry && status)
    status (FALSE, rc == MOSQ_ERR_ERRNO ? g_strerror (errno) :
        mosquitto_strerror (rc), user_data);
  rc = mosquitto_loop_start (self->mosq);
  if (rc != MOSQ_ERR_SUCCESS) {
    fail (error, &self->broker, "cannot start the MQTT thread", rc);
    gst_hyrsm_bundle_subscriber_free (self);
    return NULL;
  }
  /* libmosquitto's thread does not retry a first connection that failed
   * before it started (the broker is down): hand it a reconnect. */
  if (retry)
    mosquitto_reconnect_async (self->mosq);
  return self;
}

void
gst_hyrsm_bundle_subscriber_free (GstHyrsmBundleSubscriber *self)
{
  if (self == NULL)
    return;
  mosquitto_disconnect (self->mosq);
  mosquitto_loop_stop (self->mosq, true);
  mosquitto_destroy (self->mosq);
  gst_hyrsm_broker_clear (&self->broker);
  g_free (self);
}
