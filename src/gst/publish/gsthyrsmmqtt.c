/* gsthyrsmmqtt.c: a publishing MQTT client with a bounded queue that keeps
 * each message until the broker acknowledged it (libmosquitto).
 *
 * Messages wait in our queue, oldest first. While connected, up to
 * MAX_IN_FLIGHT of them are handed to libmosquitto; a message leaves the
 * queue when its on_publish callback arrives (PUBACK/PUBCOMP for QoS 1/2,
 * written out for QoS 0). libmosquitto keeps the messages it was handed
 * across a lost connection and resends them when it reconnects, so a message
 * sent while the broker went down is delivered once it is back (QoS 0
 * packets it had not written yet are dropped by libmosquitto: we send those
 * again). While disconnected, new messages only queue.
 *
 * max-queue bounds every message not yet acknowledged, those handed to
 * libmosquitto included. A full queue drops its oldest message that was not
 * handed to libmosquitto (or the new one when all are): one libmosquitto
 * holds may still be delivered, so it is never counted as dropped, and a
 * dropped one is never delivered. A broker that keeps the connection open
 * but acknowledges nothing (a stopped process) is only found by the
 * keepalive after 15 to 25 s: a message unacknowledged for ACK_STALL_US is
 * reported at once. */
#include "gsthyrsmmqtt.h"

#include <gio/gio.h>
#include <gst/gst.h>
#include <glib/gstdio.h>
#include <mosquitto.h>
#include <pthread.h>
#include <unistd.h>
#include <errno.h>
#include <sys/stat.h>
#include <string.h>

GST_DEBUG_CATEGORY_STATIC (hyrsm_mqtt_debug);
#define GST_CAT_DEFAULT hyrsm_mqtt_debug

/* libmosquitto's own default send window (MQTT 3.1.1 has no negotiation). */
#define MAX_IN_FLIGHT 20
#define KEEPALIVE_S 10
#define RECONNECT_DELAY_S 1
#define RECONNECT_DELAY_MAX_S 4
/* A first connection still not made after this long is reported even when
 * nothing failed visibly (a firewall dropping packets). */
#define CONNECT_WARN_US (5 * G_USEC_PER_SEC)
/* A message handed to libmosquitto and not acknowledged after this long,
 * while connected: the broker is stalled (or far too slow). */
#define ACK_STALL_US (5 * G_USEC_PER_SEC)

typedef struct
{
  gchar *payload;
  gsize len;
  gint mid;
  gboolean sent;                /* handed to libmosquitto */
  gint64 sent_at;               /* monotonic, µs */
} Message;

struct _GstHyrsmMqtt
{
  GstHyrsmMqttConfig config;
  struct mosquitto *mosq;
  GstHyrsmMqttNotify notify;
  gpointer user_data;

  GMutex lock;
  GCond cond;                   /* the queue shrank */
  GQueue queue;                 /* Message *, oldest first */
  guint in_flight;
  gint connected;               /* written under the lock, atomic */
  gboolean ever_connected;
  /* A failure was notified since connecting; atomic, as on_log reads it
   * without the lock (libmosquitto may log from inside mosquitto_publish,
   * which we call with the lock held). */
  gint reported_down;
  gint64 started;               /* monotonic, µs */
  gboolean running;             /* the network thread runs: notify */
  gchar *tls_error;             /* OpenSSL's reason, before the thread runs */
  gint tls_failed;              /* atomic */
  gint refused;                 /* atomic */
  gboolean interrupted;         /* drains return at once */
  gboolean stalled;             /* reported as stalled; under the lock */
  guint64 published;
  guint64 dropped;
};

static void
message_free (Message *m)
{
  g_free (m->payload);
  g_free (m);
}

static void
init_once (void)
{
  static gsize done = 0;
  if (g_once_init_enter (&done)) {
    mosquitto_lib_init ();
    GST_DEBUG_CATEGORY_INIT (hyrsm_mqtt_debug, "hyrsmmqtt", 0,
        "hyrsmpublish's MQTT client");
    g_once_init_leave (&done, 1);
  }
}

/**
 * gst_hyrsm_mqtt_parse_address:
 *
 * Splits "host:port" ("[v6addr]:port" for IPv6 literals); the port is
 * required.
 */
gboolean
gst_hyrsm_mqtt_parse_address (const gchar *address, gchar **host,
    guint *port, GError **error)
{
  const gchar *colon = address ? strrchr (address, ':') : NULL;
  guint64 p = 0;
  if (colon == NULL || colon == address
      || !g_ascii_string_to_unsigned (colon + 1, 10, 1, 65535, &p, NULL)) {
    g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
        "address \"%s\" is not host:port (port 1-65535)",
        address ? address : "");
    return FALSE;
  }
  const gchar *h = address;
  gsize len = colon - address;
  if (h[0] == '[' && len > 2 && h[len - 1] == ']') {
    h++;
    len -= 2;
  }
  *host = g_strndup (h, len);
  *port = p;
  return TRUE;
}

/**
 * gst_hyrsm_mqtt_check_topic:
 *
 * A topic one may publish to: not empty, valid UTF-8, no '+' or '#'.
 */
gboolean
gst_hyrsm_mqtt_check_topic (const gchar *topic, GError **error)
{
  init_once ();
  if (topic == NULL || *topic == '\0') {
    g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
        "topic is empty");
    return FALSE;
  }
  if (strchr (topic, '+') || strchr (topic, '#')) {
    g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
        "topic \"%s\" has a wildcard ('+' or '#'), which is only valid "
        "when subscribing", topic);
    return FALSE;
  }
  if (mosquitto_pub_topic_check2 (topic, strlen (topic)) != MOSQ_ERR_SUCCESS
      || mosquitto_validate_utf8 (topic, strlen (topic)) != MOSQ_ERR_SUCCESS) {
    g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
        "topic \"%s\" is not a valid MQTT topic name", topic);
    return FALSE;
  }
  return TRUE;
}

/* With the lock: hands queued messages to libmosquitto while connected and
 * the send window has room. */
static void
send_pending_locked (GstHyrsmMqtt *self)
{
  for (GList *l = self->queue.head; l && self->connected
      && self->in_flight < MAX_IN_FLIGHT; l = l->next) {
    Message *m = l->data;
    if (m->sent)
      continue;
    int mid = 0;
    int rc = mosquitto_publish (self->mosq, &mid, self->config.topic,
        (int) m->len, m->payload, self->config.qos, false);
    if (rc != MOSQ_ERR_SUCCESS) {
      /* Most likely the connection just went; on_disconnect follows and
       * the message is sent after reconnecting. */
      GST_INFO ("publish deferred: %s", mosquitto_strerror (rc));
      break;
    }
    m->mid = mid;
    m->sent = TRUE;
    m->sent_at = g_get_monotonic_time ();
    self->in_flight++;
  }
}

static void
notify (GstHyrsmMqtt *self, GstHyrsmMqttEvent event, const gchar *reason)
{
  if (self->notify)
    self->notify (event, reason, self->user_data);
}

/* Network thread callbacks. */
static void
on_connect_body (struct mosquitto *mosq, void *data, int rc)
{
  GstHyrsmMqtt *self = data;
  if (rc != 0) {
    GST_WARNING ("broker refused the connection: %s",
        mosquitto_connack_string (rc));
    /* libmosquitto keeps retrying; one error is enough. */
    if (g_atomic_int_compare_and_exchange (&self->refused, FALSE, TRUE))
      notify (self, GST_HYRSM_MQTT_REFUSED, mosquitto_connack_string (rc));
    return;
  }
  g_mutex_lock (&self->lock);
  g_atomic_int_set (&self->connected, TRUE);
  self->ever_connected = TRUE;
  gboolean was_down = g_atomic_int_exchange (&self->reported_down, FALSE);
  send_pending_locked (self);
  g_mutex_unlock (&self->lock);
  GST_INFO ("connected to %s:%u", self->config.host, self->config.port);
  if (was_down)
    notify (self, GST_HYRSM_MQTT_CONNECTED, NULL);
}

/* Why the connection went, in words: libmosquitto's own text for some
 * codes is "Unknown error". */
static gchar *
disconnect_reason (int rc)
{
  if (rc == MOSQ_ERR_KEEPALIVE)
    return g_strdup_printf ("no answer from the broker within the %d s "
        "keepalive (the broker is stalled, or the network drops packets)",
        KEEPALIVE_S);
  if (rc == MOSQ_ERR_ERRNO)
    return g_strdup (g_strerror (errno));
  const gchar *text = mosquitto_strerror (rc);
  if (g_str_has_prefix (text, "Unknown error"))
    return g_strdup_printf ("libmosquitto error %d", rc);
  return g_strdup (text);
}

static void
on_disconnect_body (struct mosquitto *mosq, void *data, int rc)
{
  GstHyrsmMqtt *self = data;
  g_mutex_lock (&self->lock);
  gboolean was_connected = g_atomic_int_exchange (&self->connected, FALSE);
  self->stalled = FALSE;
  if (self->config.qos == 0) {
    /* libmosquitto drops QoS 0 packets it had not written yet (written
     * ones were acknowledged through on_publish): send them again. */
    for (GList *l = self->queue.head; l; l = l->next)
      ((Message *) l->data)->sent = FALSE;
    self->in_flight = 0;
  }
  gboolean report = rc != 0 && was_connected
      && g_atomic_int_compare_and_exchange (&self->reported_down, FALSE, TRUE);
  g_mutex_unlock (&self->lock);
  g_autofree gchar *reason = disconnect_reason (rc);
  GST_INFO ("disconnected (%d: %s)", rc, reason);
  if (report)
    notify (self, GST_HYRSM_MQTT_LOST, reason);
}

static void
on_publish_body (struct mosquitto *mosq, void *data, int mid)
{
  GstHyrsmMqtt *self = data;
  g_mutex_lock (&self->lock);
  for (GList *l = self->queue.head; l; l = l->next) {
    Message *m = l->data;
    if (m->sent && m->mid == mid) {
      g_queue_delete_link (&self->queue, l);
      message_free (m);
      self->in_flight--;
      self->published++;
      break;
    }
  }
  gboolean resumed = self->stalled;
  self->stalled = FALSE;
  send_pending_locked (self);
  g_cond_broadcast (&self->cond);
  g_mutex_unlock (&self->lock);
  if (resumed)
    notify (self, GST_HYRSM_MQTT_RESUMED, NULL);
}

static gboolean
uses_tls (GstHyrsmMqtt *self)
{
  return (self->config.tls_ca_file && *self->config.tls_ca_file)
      || (self->config.tls_cert_file && *self->config.tls_cert_file);
}

/* libmosquitto reports some failures only here: a TLS handshake that
 * failed (certificate not verified, not a TLS port). libmosquitto's thread
 * gives up after a failed first handshake, so that one is final; other
 * errors while not connected are the reason of a retried connection. */
static void
on_log_body (struct mosquitto *mosq, void *data, int level, const char *text)
{
  GstHyrsmMqtt *self = data;
  GST_DEBUG ("libmosquitto: %s", text);
  if (!(level & MOSQ_LOG_ERR) || g_atomic_int_get (&self->connected))
    return;
  if (uses_tls (self) && g_str_has_prefix (text, "OpenSSL Error")
      && !self->ever_connected) {
    if (!self->running) {
      /* In gst_hyrsm_mqtt_new (): it reports the failure itself. */
      if (self->tls_error == NULL)
        self->tls_error = g_strdup (text);
    } else if (g_atomic_int_compare_and_exchange (&self->tls_failed, FALSE,
            TRUE)) {
      notify (self, GST_HYRSM_MQTT_TLS_FAILED, text);
    }
    return;
  }
  if (self->running
      && g_atomic_int_compare_and_exchange (&self->reported_down, FALSE, TRUE))
    notify (self, GST_HYRSM_MQTT_CONNECT_FAILED, text);
}

/* The callbacks run on libmosquitto's thread, which gst_hyrsm_mqtt_free
 * cancels (mosquitto_loop_stop (force)): never inside our code, where it
 * could hold our lock or GStreamer's (posting a message writes to the
 * bus, a cancellation point). */
#define NO_CANCEL(call) G_STMT_START { \
    int cancel_state; \
    pthread_setcancelstate (PTHREAD_CANCEL_DISABLE, &cancel_state); \
    call; \
    pthread_setcancelstate (cancel_state, NULL); \
  } G_STMT_END

static void
on_connect (struct mosquitto *mosq, void *data, int rc)
{
  NO_CANCEL (on_connect_body (mosq, data, rc));
}

static void
on_disconnect (struct mosquitto *mosq, void *data, int rc)
{
  NO_CANCEL (on_disconnect_body (mosq, data, rc));
}

static void
on_publish (struct mosquitto *mosq, void *data, int mid)
{
  NO_CANCEL (on_publish_body (mosq, data, mid));
}

static void
on_log (struct mosquitto *mosq, void *data, int level, const char *text)
{
  NO_CANCEL (on_log_body (mosq, data, level, text));
}

static gboolean
fail (GError **error, const gchar *what, int rc)
{
  g_set_error (error, G_IO_ERROR, G_IO_ERROR_FAILED, "%s: %s", what,
      rc == MOSQ_ERR_ERRNO ? g_strerror (errno) : mosquitto_strerror (rc));
  return FALSE;
}

/* libmosquitto opens the TLS files in mosquitto_tls_set (), in the
 * thread that changes the element's state: a named pipe there would block
 * it forever and a device would be read without end. As the model loader,
 * take only regular files (stat () does not open, so it cannot block). */
static gboolean
check_tls_file (const gchar *property, const gchar *file, GError **error)
{
  GStatBuf st;
  if (g_stat (file, &st) != 0 || g_access (file, R_OK) != 0) {
    int e = errno;
    g_set_error (error, G_IO_ERROR, g_io_error_from_errno (e),
        "%s \"%s\" cannot be read: %s", property, file, g_strerror (e));
    return FALSE;
  }
  if (!S_ISREG (st.st_mode)) {
    g_set_error (error, G_IO_ERROR, G_IO_ERROR_NOT_REGULAR_FILE,
        "%s \"%s\" is not a regular file (a named pipe, a device or a "
        "folder)", property, file);
    return FALSE;
  }
  return TRUE;
}

static gboolean
configure (GstHyrsmMqtt *self, GError **error)
{
  const GstHyrsmMqttConfig *c = &self->config;
  int rc;
  mosquitto_connect_callback_set (self->mosq, on_connect);
  mosquitto_disconnect_callback_set (self->mosq, on_disconnect);
  mosquitto_publish_callback_set (self->mosq, on_publish);
  mosquitto_log_callback_set (self->mosq, on_log);
  mosquitto_reconnect_delay_set (self->mosq, RECONNECT_DELAY_S,
      RECONNECT_DELAY_MAX_S, true);
  if (c->username && *c->username) {
    rc = mosquitto_username_pw_set (self->mosq, c->username, c->password);
    if (rc != MOSQ_ERR_SUCCESS)
      return fail (error, "username/password", rc);
  }
  gboolean ca = c->tls_ca_file && *c->tls_ca_file;
  gboolean cert = c->tls_cert_file && *c->tls_cert_file;
  gboolean key = c->tls_key_file && *c->tls_key_file;
  /* libmosquitto says only "Invalid function arguments provided." for
   * these: name the property that is missing. */
  if (cert != key) {
    g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
        "%s is set but %s is not: a client certificate needs its private "
        "key", cert ? "tls-cert-file" : "tls-key-file",
        cert ? "tls-key-file" : "tls-cert-file");
    return FALSE;
  }
  if (cert && !ca) {
    g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
        "tls-cert-file is set but tls-ca-file is not: TLS needs the "
        "certificate of the CA that signed the broker's");
    return FALSE;
  }
  if (ca) {
    const gchar *files[] = { c->tls_ca_file, c->tls_cert_file,
      c->tls_key_file
    };
    const gchar *names[] = { "tls-ca-file", "tls-cert-file", "tls-key-file" };
    for (guint i = 0; i < G_N_ELEMENTS (files); i++)
      if (files[i] && *files[i] && !check_tls_file (names[i], files[i],
              error))
        return FALSE;
    rc = mosquitto_tls_set (self->mosq, c->tls_ca_file, NULL,
        c->tls_cert_file && *c->tls_cert_file ? c->tls_cert_file : NULL,
        c->tls_key_file && *c->tls_key_file ? c->tls_key_file : NULL, NULL);
    if (rc != MOSQ_ERR_SUCCESS)
      return fail (error, "TLS settings (tls-ca-file, tls-cert-file, "
          "tls-key-file)", rc);
    mosquitto_tls_insecure_set (self->mosq, c->tls_insecure);
  }
  return TRUE;
}

/**
 * gst_hyrsm_mqtt_new:
 *
 * Starts a client on its own network thread and connects to the broker in
 * the background. Fails (with @error) on bad settings or a host name that
 * does not resolve; a broker that does not answer is reported through
 * @notify (GST_HYRSM_MQTT_CONNECT_FAILED) and retried.
 */
GstHyrsmMqtt *
gst_hyrsm_mqtt_new (const GstHyrsmMqttConfig *config,
    GstHyrsmMqttNotify notify_func, gpointer user_data, GError **error)
{
  init_once ();
  if (!gst_hyrsm_mqtt_check_topic (config->topic, error))
    return NULL;
  GstHyrsmMqtt *self = g_new0 (GstHyrsmMqtt, 1);
  self->config = *config;
  self->config.host = g_strdup (config->host);
  self->config.topic = g_strdup (config->topic);
  self->config.client_id = g_strdup (config->client_id);
  self->config.username = g_strdup (config->username);
  self->config.password = g_strdup (config->password);
  self->config.tls_ca_file = g_strdup (config->tls_ca_file);
  self->config.tls_cert_file = g_strdup (config->tls_cert_file);
  self->config.tls_key_file = g_strdup (config->tls_key_file);
  self->config.max_queue = MAX (config->max_queue, 1);
  self->notify = notify_func;
  self->user_data = user_data;
  g_mutex_init (&self->lock);
  g_cond_init (&self->cond);
  g_queue_init (&self->queue);
  self->started = g_get_monotonic_time ();

  const gchar *id = config->client_id && *config->client_id ?
      config->client_id : NULL;
  self->mosq = mosquitto_new (id, true, self);
  if (self->mosq == NULL) {
    g_set_error (error, G_IO_ERROR, G_IO_ERROR_FAILED,
        "cannot create an MQTT client: %s", g_strerror (errno));
    gst_hyrsm_mqtt_free (self);
    return NULL;
  }
  if (!configure (self, error)) {
    gst_hyrsm_mqtt_free (self);
    return NULL;
  }

  int rc = mosquitto_connect_async (self->mosq, self->config.host,
      self->config.port, KEEPALIVE_S);
  int err = errno;
  if (rc == MOSQ_ERR_EAI) {
    g_set_error (error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND,
        "cannot resolve host \"%s\"", self->config.host);
    gst_hyrsm_mqtt_free (self);
    return NULL;
  }
  if (rc == MOSQ_ERR_TLS) {
    g_set_error (error, G_IO_ERROR, G_IO_ERROR_FAILED,
        "TLS handshake failed: %s (check tls-ca-file, tls-cert-file, "
        "tls-key-file)", self->tls_error ? self->tls_error :
        mosquitto_strerror (rc));
    gst_hyrsm_mqtt_free (self);
    return NULL;
  }
  gboolean retry = rc != MOSQ_ERR_SUCCESS;
  if (retry) {
    /* Refused or unreachable now: the network thread keeps trying. */
    const gchar *reason = rc == MOSQ_ERR_ERRNO ? g_strerror (err) :
        mosquitto_strerror (rc);
    GST_INFO ("first connection to %s:%u failed: %s", self->config.host,
        self->config.port, reason);
    if (g_atomic_int_compare_and_exchange (&self->reported_down, FALSE, TRUE))
      notify (self, GST_HYRSM_MQTT_CONNECT_FAILED, reason);
  }
  self->running = TRUE;
  rc = mosquitto_loop_start (self->mosq);
  if (rc == MOSQ_ERR_SUCCESS && retry) {
    /* libmosquitto's thread does not retry a first connection that failed
     * before it started: hand it a reconnect. That attempt may fail at
     * once too (TLS), which on_log reported; the thread keeps trying. */
    int again = mosquitto_reconnect_async (self->mosq);
    if (again != MOSQ_ERR_SUCCESS)
      GST_INFO ("reconnect to %s:%u failed: %s", self->config.host,
          self->config.port, mosquitto_strerror (again));
  }
  if (rc != MOSQ_ERR_SUCCESS) {
    fail (error, "cannot start the MQTT network thread", rc);
    gst_hyrsm_mqtt_free (self);
    return NULL;
  }
  return self;
}

/**
 * gst_hyrsm_mqtt_publish:
 * @payload: (transfer full): the message
 *
 * Queues @payload and sends it when connected; never blocks on the
 * network. A full queue drops its oldest message.
 */
void
gst_hyrsm_mqtt_publish (GstHyrsmMqtt *self, gchar *payload)
{
  Message *m = g_new0 (Message, 1);
  m->payload = payload;
  m->len = strlen (payload);
  g_mutex_lock (&self->lock);
  if (self->queue.length >= self->config.max_queue) {
    /* Full: drop the oldest message libmosquitto does not hold, else the
     * new one (see the top of this file). */
    GList *l = self->queue.head;
    while (l && ((Message *) l->data)->sent)
      l = l->next;
    if (l) {
      message_free (l->data);
      g_queue_delete_link (&self->queue, l);
    } else {
      g_clear_pointer (&m, message_free);
    }
    self->dropped++;
  }
  if (m)
    g_queue_push_tail (&self->queue, m);
  send_pending_locked (self);
  /* The oldest message in flight is the one waiting longest. */
  GList *first_sent = self->queue.head;
  while (first_sent && !((Message *) first_sent->data)->sent)
    first_sent = first_sent->next;
  gboolean stall = self->connected && !self->stalled && first_sent
      && g_get_monotonic_time () - ((Message *) first_sent->data)->sent_at
      > ACK_STALL_US;
  if (stall)
    self->stalled = TRUE;
  gboolean report = !self->ever_connected
      && g_get_monotonic_time () - self->started > CONNECT_WARN_US
      && g_atomic_int_compare_and_exchange (&self->reported_down, FALSE, TRUE);
  g_mutex_unlock (&self->lock);
  if (report)
    notify (self, GST_HYRSM_MQTT_CONNECT_FAILED,
        "no answer after 5 s (still trying)");
  if (stall)
    notify (self, GST_HYRSM_MQTT_STALLED, "connected, but no decision "
        "acknowledged for 5 s (the broker is stalled or overloaded)");
}

/**
 * gst_hyrsm_mqtt_drain:
 *
 * Waits up to @timeout_us for every queued message to be acknowledged.
 * Returns: TRUE when the queue is empty
 */
gboolean
gst_hyrsm_mqtt_drain (GstHyrsmMqtt *self, gint64 timeout_us)
{
  gint64 end = g_get_monotonic_time () + timeout_us;
  g_mutex_lock (&self->lock);
  while (self->queue.length > 0 && !self->interrupted)
    if (!g_cond_wait_until (&self->cond, &self->lock, end))
      break;
  gboolean empty = self->queue.length == 0;
  g_mutex_unlock (&self->lock);
  return empty;
}

/**
 * gst_hyrsm_mqtt_interrupt:
 *
 * Makes a running gst_hyrsm_mqtt_drain() and later ones return at once
 * (the element is stopping).
 */
void
gst_hyrsm_mqtt_interrupt (GstHyrsmMqtt *self)
{
  g_mutex_lock (&self->lock);
  self->interrupted = TRUE;
  g_cond_broadcast (&self->cond);
  g_mutex_unlock (&self->lock);
}

void
gst_hyrsm_mqtt_get_stats (GstHyrsmMqtt *self, guint64 *published,
    guint *queued, guint64 *dropped, gboolean *connected)
{
  g_mutex_lock (&self->lock);
  *published = self->published;
  *queued = self->queue.length;
  *dropped = self->dropped;
  *connected = self->connected;
  g_mutex_unlock (&self->lock);
}

/* Disconnects (what is still queued is lost) and stops the thread. */
void
gst_hyrsm_mqtt_free (GstHyrsmMqtt *self)
{
  if (self->mosq) {
    mosquitto_disconnect (self->mosq);
    mosquitto_loop_stop (self->mosq, true);
    mosquitto_destroy (self->mosq);
  }
  g_queue_clear_full (&self->queue, (GDestroyNotify) message_free);
  g_free (self->tls_error);
  g_mutex_clear (&self->lock);
  g_cond_clear (&self->cond);
  g_free (self->config.host);
  g_free (self->config.topic);
  g_free (self->config.client_id);
  g_free (self->config.username);
  g_free (self->config.password);
  g_free (self->config.tls_ca_file);
  g_free (self->config.tls_cert_file);
  g_free (self->config.tls_key_file);
  g_free (self);
}
