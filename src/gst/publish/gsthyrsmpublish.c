/* gsthyrsmpublish.c: hyrsmpublish, every decision (HyrsmMeta) as a JSON
 * document to a file or an MQTT broker; buffers pass untouched. */

/**
 * SECTION:element-hyrsmpublish
 * @title: hyrsmpublish
 *
 * Publishes each decision that hyrsmfilter attached to a buffer (HyrsmMeta)
 * as one JSON document (schema in docs/publish.md): appended as a line to a
 * file (`method=file`) or sent to an MQTT broker (`method=mqtt`). Buffers
 * pass through unchanged; publishing never blocks the stream.
 *
 * ## Example launch lines
 * |[
 * gst-launch-1.0 v4l2src ! videoconvert ! hyrsmfilter model=m.safetensors support=actions/ ! hyrsmpublish file-path=decisions.jsonl ! fakesink
 * gst-launch-1.0 v4l2src ! videoconvert ! hyrsmfilter model=m.safetensors support=actions/ ! hyrsmpublish method=mqtt address=localhost:1883 topic=cam1/actions ! fakesink
 * ]|
 */
#include "gsthyrsmpublish.h"
#include "gsthyrsmjson.h"
#include "gsthyrsmmeta.h"
#include "gsthyrsmmqtt.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <glib/gstdio.h>

GST_DEBUG_CATEGORY_STATIC (gst_hyrsm_publish_debug);
#define GST_CAT_DEFAULT gst_hyrsm_publish_debug

#define DEFAULT_METHOD GST_HYRSM_PUBLISH_FILE
#define DEFAULT_ADDRESS "localhost:1883"
#define DEFAULT_TOPIC "hyrsm/decisions"
#define DEFAULT_QOS 1
/* A minute of decisions at 16 per second (stride 60 ms); the default
 * stride of 500 ms fills it in over half an hour. */
#define DEFAULT_MAX_QUEUE 1000
#define DEFAULT_DRAIN_TIMEOUT (5 * GST_SECOND)

enum
{
  PROP_0,
  PROP_METHOD,
  PROP_FILE_PATH,
  PROP_ADDRESS,
  PROP_TOPIC,
  PROP_CLIENT_ID,
  PROP_QOS,
  PROP_USERNAME,
  PROP_PASSWORD,
  PROP_TLS_CA_FILE,
  PROP_TLS_CERT_FILE,
  PROP_TLS_KEY_FILE,
  PROP_TLS_INSECURE,
  PROP_MAX_QUEUE,
  PROP_DRAIN_TIMEOUT,
  PROP_SOURCE,
  PROP_STATS,
};

struct _GstHyrsmPublish
{
  GstBaseTransform parent;

  /* Properties, under the object lock. */
  GstHyrsmPublishMethod method;
  gchar *file_path;
  gchar *address;
  gchar *topic;
  gchar *client_id;
  gint qos;
  gchar *username, *password;
  gchar *tls_ca_file, *tls_cert_file, *tls_key_file;
  gboolean tls_insecure;
  guint max_queue;
  GstClockTime drain_timeout;
  gchar *source;

  /* Between start() and stop(). */
  FILE *file;                   /* method=file */
  gboolean own_file;            /* not stdout */
  GstHyrsmMqtt *mqtt;           /* method=mqtt */
  gchar *stream_source;         /* `source`, or the upstream URI */
  gboolean source_known;
  guint64 file_published;       /* object lock */
  GstStructure *final_stats;    /* method=mqtt, after stop; object lock */
};

static GstStaticPadTemplate sink_template = GST_STATIC_PAD_TEMPLATE ("sink",
    GST_PAD_SINK, GST_PAD_ALWAYS, GST_STATIC_CAPS_ANY);
static GstStaticPadTemplate src_template = GST_STATIC_PAD_TEMPLATE ("src",
    GST_PAD_SRC, GST_PAD_ALWAYS, GST_STATIC_CAPS_ANY);

G_DEFINE_TYPE (GstHyrsmPublish, gst_hyrsm_publish, GST_TYPE_BASE_TRANSFORM);
GST_ELEMENT_REGISTER_DEFINE (hyrsmpublish, "hyrsmpublish", GST_RANK_NONE,
    GST_TYPE_HYRSM_PUBLISH);

GType
gst_hyrsm_publish_method_get_type (void)
{
  static gsize type = 0;
  static const GEnumValue values[] = {
    {GST_HYRSM_PUBLISH_FILE, "JSON Lines to a file (or stdout)", "file"},
    {GST_HYRSM_PUBLISH_MQTT, "MQTT messages to a broker", "mqtt"},
    {0, NULL, NULL},
  };
  if (g_once_init_enter (&type))
    g_once_init_leave (&type, g_enum_register_static ("GstHyrsmPublishMethod",
            values));
  return type;
}

/* ---- start / stop ---- */

static gboolean
open_file (GstHyrsmPublish *self)
{
  GST_OBJECT_LOCK (self);
  gchar *path = g_strdup (self->file_path);
  GST_OBJECT_UNLOCK (self);
  if (path == NULL || *path == '\0' || g_str_equal (path, "-")) {
    self->file = stdout;
    self->own_file = FALSE;
  } else {
    self->file = g_fopen (path, "a");
    self->own_file = TRUE;
    if (self->file == NULL)
      GST_ELEMENT_ERROR (self, RESOURCE, OPEN_WRITE,
          ("Could not open \"%s\" (file-path) for appending: %s.", path,
              g_strerror (errno)), (NULL));
  }
  g_free (path);
  return self->file != NULL;
}

/* On the MQTT client's network thread. */
static void
mqtt_notify (GstHyrsmMqttEvent event, const gchar *reason, gpointer data)
{
  GstHyrsmPublish *self = data;
  GST_OBJECT_LOCK (self);
  gchar *address = g_strdup (self->address);
  guint max_queue = self->max_queue;
  GST_OBJECT_UNLOCK (self);
  switch (event) {
    case GST_HYRSM_MQTT_CONNECT_FAILED:
      GST_ELEMENT_WARNING (self, RESOURCE, OPEN_WRITE,
          ("Could not connect to MQTT broker %s (address): %s; retrying, "
              "keeping up to %u decisions (max-queue).", address, reason,
              max_queue), (NULL));
      break;
    case GST_HYRSM_MQTT_LOST:
      GST_ELEMENT_WARNING (self, RESOURCE, WRITE,
          ("Lost the connection to MQTT broker %s: %s; reconnecting, keeping "
              "up to %u decisions (max-queue).", address, reason, max_queue),
          (NULL));
      break;
    case GST_HYRSM_MQTT_CONNECTED:
      GST_ELEMENT_INFO (self, RESOURCE, WRITE,
          ("Connected to MQTT broker %s; sending the queued decisions.",
              address), (NULL));
      break;
    case GST_HYRSM_MQTT_TLS_FAILED:
      GST_ELEMENT_ERROR (self, RESOURCE, OPEN_WRITE,
          ("TLS handshake with MQTT broker %s failed: %s (check "
              "tls-ca-file, tls-cert-file, tls-key-file).", address, reason),
          (NULL));
      break;
    case GST_HYRSM_MQTT_STALLED:
      GST_ELEMENT_WARNING (self, RESOURCE, WRITE,
          ("MQTT broker %s: %s; keeping up to %u decisions (max-queue).",
              address, reason, max_queue), (NULL));
      break;
    case GST_HYRSM_MQTT_RESUMED:
      GST_ELEMENT_INFO (self, RESOURCE, WRITE,
          ("MQTT broker %s acknowledges decisions again.", address), (NULL));
      break;
    case GST_HYRSM_MQTT_REFUSED:
      GST_ELEMENT_ERROR (self, RESOURCE, OPEN_WRITE,
          ("MQTT broker %s refused the connection: %s (check username, "
              "password, client-id).", address, reason), (NULL));
      break;
  }
  g_free (address);
}

static gboolean
start_mqtt (GstHyrsmPublish *self)
{
  GstHyrsmMqttConfig config = { 0 };
  GError *error = NULL;
  gboolean ok = FALSE;
  GST_OBJECT_LOCK (self);
  gchar *address = g_strdup (self->address);
  config.topic = g_strdup (self->topic);
  config.client_id = g_strdup (self->client_id);
  config.qos = self->qos;
  config.username = g_strdup (self->username);
  config.password = g_strdup (self->password);
  config.tls_ca_file = g_strdup (self->tls_ca_file);
  config.tls_cert_file = g_strdup (self->tls_cert_file);
  config.tls_key_file = g_strdup (self->tls_key_file);
  config.tls_insecure = self->tls_insecure;
  config.max_queue = self->max_queue;
  GST_OBJECT_UNLOCK (self);

  if (!gst_hyrsm_mqtt_check_topic (config.topic, &error)) {
    GST_ELEMENT_ERROR (self, RESOURCE, SETTINGS,
        ("Invalid \"topic\" property: %s.", error->message), (NULL));
  } else if (!gst_hyrsm_mqtt_parse_address (address, &config.host,
          &config.port, &error)) {
    GST_ELEMENT_ERROR (self, RESOURCE, SETTINGS,
        ("Invalid \"address\" property: %s.", error->message), (NULL));
  } else {
    self->mqtt = gst_hyrsm_mqtt_new (&config, mqtt_notify, self, &error);
    if (self->mqtt == NULL)
      GST_ELEMENT_ERROR (self, RESOURCE, OPEN_WRITE,
          ("Could not start publishing to MQTT broker %s (address): %s.",
              address, error->message), (NULL));
    ok = self->mqtt != NULL;
  }
  g_clear_error (&error);
  g_free (address);
  g_free (config.host);
  g_free (config.topic);
  g_free (config.client_id);
  g_free (config.username);
  g_free (config.password);
  g_free (config.tls_ca_file);
  g_free (config.tls_cert_file);
  g_free (config.tls_key_file);
  return ok;
}

static gboolean
gst_hyrsm_publish_start (GstBaseTransform *trans)
{
  GstHyrsmPublish *self = GST_HYRSM_PUBLISH (trans);
  GST_OBJECT_LOCK (self);
  GstHyrsmPublishMethod method = self->method;
  self->file_published = 0;
  gst_clear_structure (&self->final_stats);
  GST_OBJECT_UNLOCK (self);
  self->source_known = FALSE;
  return method == GST_HYRSM_PUBLISH_FILE ? open_file (self) :
      start_mqtt (self);
}

static gboolean
gst_hyrsm_publish_stop (GstBaseTransform *trans)
{
  GstHyrsmPublish *self = GST_HYRSM_PUBLISH (trans);
  if (self->file && self->own_file)
    fclose (self->file);
  self->file = NULL;
  if (self->mqtt) {
    /* Keep the last stats readable after stop. */
    guint64 published, dropped;
    guint queued;
    gboolean connected;
    gst_hyrsm_mqtt_get_stats (self->mqtt, &published, &queued, &dropped,
        &connected);
    if (queued > 0)
      GST_WARNING_OBJECT (self, "stopping with %u decisions not delivered",
          queued);
    GstHyrsmMqtt *mqtt = self->mqtt;
    GST_OBJECT_LOCK (self);
    self->mqtt = NULL;
    gst_clear_structure (&self->final_stats);
    self->final_stats = gst_structure_new ("hyrsmpublish-stats",
        "published", G_TYPE_UINT64, published,
        "queued", G_TYPE_UINT, queued,
        "dropped", G_TYPE_UINT64, dropped,
        "connected", G_TYPE_BOOLEAN, FALSE, NULL);
    GST_OBJECT_UNLOCK (self);
    gst_hyrsm_mqtt_free (mqtt);
  }
  g_clear_pointer (&self->stream_source, g_free);
  return TRUE;
}

/* ---- streaming ---- */

/* `source`, else the URI the upstream source answers (filesrc, uridecodebin,
 * rtspsrc, v4l2src...), once per stream. */
static const gchar *
stream_source (GstHyrsmPublish *self)
{
  if (self->source_known)
    return self->stream_source;
  GST_OBJECT_LOCK (self);
  g_free (self->stream_source);
  self->stream_source = g_strdup (self->source);
  GST_OBJECT_UNLOCK (self);
  if (self->stream_source == NULL) {
    GstQuery *q = gst_query_new_uri ();
    if (gst_pad_peer_query (GST_BASE_TRANSFORM_SINK_PAD (self), q))
      gst_query_parse_uri (q, &self->stream_source);
    gst_query_unref (q);
  }
  self->source_known = TRUE;
  return self->stream_source;
}

static GstFlowReturn
write_line (GstHyrsmPublish *self, const gchar *json)
{
  if (fputs (json, self->file) < 0 || fputc ('\n', self->file) < 0
      || fflush (self->file) != 0) {
    GST_OBJECT_LOCK (self);
    gchar *path = g_strdup (self->file_path);
    GST_OBJECT_UNLOCK (self);
    GST_ELEMENT_ERROR (self, RESOURCE, WRITE,
        ("Could not write a decision to \"%s\" (file-path): %s.",
            self->own_file ? path : "stdout", g_strerror (errno)), (NULL));
    g_free (path);
    return GST_FLOW_ERROR;
  }
  GST_OBJECT_LOCK (self);
  self->file_published++;
  GST_OBJECT_UNLOCK (self);
  return GST_FLOW_OK;
}

static GstFlowReturn
gst_hyrsm_publish_transform_ip (GstBaseTransform *trans, GstBuffer *buf)
{
  GstHyrsmPublish *self = GST_HYRSM_PUBLISH (trans);
  /* Every decision of the buffer: with roi=true the whole frame's and each
   * region's ride on the same buffer, one HyrsmMeta each. */
  gpointer state = NULL;
  const GstStructure *decision;
  GstFlowReturn ret = GST_FLOW_OK;
  while (ret == GST_FLOW_OK
      && (decision = gst_buffer_iterate_hyrsm_meta (buf, &state))) {
    GError *error = NULL;
    GstHyrsmDecision d;
    if (!gst_hyrsm_decision_from_structure (decision, &d, &error)) {
      GST_ELEMENT_WARNING (self, STREAM, FORMAT,
          ("A HyrsmMeta could not be published."), ("%s: %" GST_PTR_FORMAT,
              error->message, decision));
      g_error_free (error);
      continue;
    }
    gchar *json = gst_hyrsm_decision_to_json (&d, stream_source (self));
    gst_hyrsm_decision_clear (&d);
    GST_LOG_OBJECT (self, "decision %s", json);
    if (self->mqtt) {
      gst_hyrsm_mqtt_publish (self->mqtt, json);
      continue;
    }
    ret = write_line (self, json);
    g_free (json);
  }
  return ret;
}

static gboolean
gst_hyrsm_publish_sink_event (GstBaseTransform *trans, GstEvent *event)
{
  GstHyrsmPublish *self = GST_HYRSM_PUBLISH (trans);
  switch (GST_EVENT_TYPE (event)) {
    case GST_EVENT_STREAM_START:
      self->source_known = FALSE;
      break;
    case GST_EVENT_EOS:
      if (self->mqtt) {
        /* Give the broker time to acknowledge the last decisions before
         * the application tears the pipeline down. */
        GST_OBJECT_LOCK (self);
        GstClockTime timeout = self->drain_timeout;
        GST_OBJECT_UNLOCK (self);
        if (!gst_hyrsm_mqtt_drain (self->mqtt, timeout / GST_USECOND)) {
          guint64 published, dropped;
          guint queued;
          gboolean connected;
          gst_hyrsm_mqtt_get_stats (self->mqtt, &published, &queued,
              &dropped, &connected);
          GST_ELEMENT_WARNING (self, RESOURCE, WRITE,
              ("%u decision(s) not yet acknowledged by the MQTT broker at "
                  "EOS (drain-timeout %" GST_TIME_FORMAT "); they are lost "
                  "if the pipeline stops now.", queued,
                  GST_TIME_ARGS (timeout)), (NULL));
        }
      }
      break;
    default:
      break;
  }
  return GST_BASE_TRANSFORM_CLASS (gst_hyrsm_publish_parent_class)->sink_event
      (trans, event);
}

/* A drain at EOS must not hold up stopping: the streaming thread is
 * waited for before stop(). */
static GstStateChangeReturn
gst_hyrsm_publish_change_state (GstElement *element,
    GstStateChange transition)
{
  GstHyrsmPublish *self = GST_HYRSM_PUBLISH (element);
  if (transition == GST_STATE_CHANGE_PAUSED_TO_READY) {
    GST_OBJECT_LOCK (self);
    if (self->mqtt)
      gst_hyrsm_mqtt_interrupt (self->mqtt);
    GST_OBJECT_UNLOCK (self);
  }
  return GST_ELEMENT_CLASS (gst_hyrsm_publish_parent_class)->change_state
      (element, transition);
}

/* ---- properties ---- */

static GstStructure *
make_stats (GstHyrsmPublish *self)
{
  guint64 published = 0, dropped = 0;
  guint queued = 0;
  gboolean connected = FALSE;
  GST_OBJECT_LOCK (self);
  if (self->final_stats && self->mqtt == NULL) {
    GstStructure *s = gst_structure_copy (self->final_stats);
    GST_OBJECT_UNLOCK (self);
    return s;
  }
  if (self->mqtt)
    gst_hyrsm_mqtt_get_stats (self->mqtt, &published, &queued, &dropped,
        &connected);
  else
    published = self->file_published;
  GST_OBJECT_UNLOCK (self);
  return gst_structure_new ("hyrsmpublish-stats",
      "published", G_TYPE_UINT64, published,
      "queued", G_TYPE_UINT, queued,
      "dropped", G_TYPE_UINT64, dropped,
      "connected", G_TYPE_BOOLEAN, connected, NULL);
}

static void
gst_hyrsm_publish_set_property (GObject *object, guint prop_id,
    const GValue *value, GParamSpec *pspec)
{
  GstHyrsmPublish *self = GST_HYRSM_PUBLISH (object);
  GST_OBJECT_LOCK (self);
  switch (prop_id) {
    case PROP_METHOD:
      self->method = g_value_get_enum (value);
      break;
#define SET_STRING(ID, field) \
    case ID: g_free (self->field); self->field = g_value_dup_string (value); \
      break;
      SET_STRING (PROP_FILE_PATH, file_path);
      SET_STRING (PROP_ADDRESS, address);
      SET_STRING (PROP_TOPIC, topic);
      SET_STRING (PROP_CLIENT_ID, client_id);
      SET_STRING (PROP_USERNAME, username);
      SET_STRING (PROP_PASSWORD, password);
      SET_STRING (PROP_TLS_CA_FILE, tls_ca_file);
      SET_STRING (PROP_TLS_CERT_FILE, tls_cert_file);
      SET_STRING (PROP_TLS_KEY_FILE, tls_key_file);
      SET_STRING (PROP_SOURCE, source);
#undef SET_STRING
    case PROP_QOS:
      self->qos = g_value_get_int (value);
      break;
    case PROP_TLS_INSECURE:
      self->tls_insecure = g_value_get_boolean (value);
      break;
    case PROP_MAX_QUEUE:
      self->max_queue = g_value_get_uint (value);
      break;
    case PROP_DRAIN_TIMEOUT:
      self->drain_timeout = g_value_get_uint64 (value);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
  }
  GST_OBJECT_UNLOCK (self);
}

static void
gst_hyrsm_publish_get_property (GObject *object, guint prop_id,
    GValue *value, GParamSpec *pspec)
{
  GstHyrsmPublish *self = GST_HYRSM_PUBLISH (object);
  if (prop_id == PROP_STATS) {
    g_value_take_boxed (value, make_stats (self));
    return;
  }
  GST_OBJECT_LOCK (self);
  switch (prop_id) {
    case PROP_METHOD:
      g_value_set_enum (value, self->method);
      break;
#define GET_STRING(ID, field) \
    case ID: g_value_set_string (value, self->field); break;
      GET_STRING (PROP_FILE_PATH, file_path);
      GET_STRING (PROP_ADDRESS, address);
      GET_STRING (PROP_TOPIC, topic);
      GET_STRING (PROP_CLIENT_ID, client_id);
      GET_STRING (PROP_USERNAME, username);
      GET_STRING (PROP_PASSWORD, password);
      GET_STRING (PROP_TLS_CA_FILE, tls_ca_file);
      GET_STRING (PROP_TLS_CERT_FILE, tls_cert_file);
      GET_STRING (PROP_TLS_KEY_FILE, tls_key_file);
      GET_STRING (PROP_SOURCE, source);
#undef GET_STRING
    case PROP_QOS:
      g_value_set_int (value, self->qos);
      break;
    case PROP_TLS_INSECURE:
      g_value_set_boolean (value, self->tls_insecure);
      break;
    case PROP_MAX_QUEUE:
      g_value_set_uint (value, self->max_queue);
      break;
    case PROP_DRAIN_TIMEOUT:
      g_value_set_uint64 (value, self->drain_timeout);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
  }
  GST_OBJECT_UNLOCK (self);
}

static void
gst_hyrsm_publish_finalize (GObject *object)
{
  GstHyrsmPublish *self = GST_HYRSM_PUBLISH (object);
  g_free (self->file_path);
  g_free (self->address);
  g_free (self->topic);
  g_free (self->client_id);
  g_free (self->username);
  g_free (self->password);
  g_free (self->tls_ca_file);
  g_free (self->tls_cert_file);
  g_free (self->tls_key_file);
  g_free (self->source);
  gst_clear_structure (&self->final_stats);
  G_OBJECT_CLASS (gst_hyrsm_publish_parent_class)->finalize (object);
}

static void
gst_hyrsm_publish_class_init (GstHyrsmPublishClass *klass)
{
  GObjectClass *gobject_class = G_OBJECT_CLASS (klass);
  GstElementClass *element_class = GST_ELEMENT_CLASS (klass);
  GstBaseTransformClass *trans_class = GST_BASE_TRANSFORM_CLASS (klass);
  /* Read when the element starts. */
  GParamFlags rw = G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
      GST_PARAM_MUTABLE_READY;

  gobject_class->set_property = gst_hyrsm_publish_set_property;
  gobject_class->get_property = gst_hyrsm_publish_get_property;
  gobject_class->finalize = gst_hyrsm_publish_finalize;

  g_object_class_install_property (gobject_class, PROP_METHOD,
      g_param_spec_enum ("method", "Method", "Where decisions go",
          GST_TYPE_HYRSM_PUBLISH_METHOD, DEFAULT_METHOD, rw));
  g_object_class_install_property (gobject_class, PROP_FILE_PATH,
      g_param_spec_string ("file-path", "File path",
          "method=file: JSON Lines file, appended to and flushed per "
          "decision (\"-\" or empty: stdout)", NULL, rw));
  g_object_class_install_property (gobject_class, PROP_ADDRESS,
      g_param_spec_string ("address", "Address",
          "method=mqtt: the broker as host:port", DEFAULT_ADDRESS, rw));
  g_object_class_install_property (gobject_class, PROP_TOPIC,
      g_param_spec_string ("topic", "Topic",
          "method=mqtt: topic to publish to (no wildcards)", DEFAULT_TOPIC,
          rw));
  g_object_class_install_property (gobject_class, PROP_CLIENT_ID,
      g_param_spec_string ("client-id", "Client ID",
          "method=mqtt: MQTT client id (empty: a random one)", NULL, rw));
  g_object_class_install_property (gobject_class, PROP_QOS,
      g_param_spec_int ("qos", "QoS",
          "method=mqtt: MQTT quality of service; at 1 and 2 a decision stays "
          "queued until the broker acknowledged it", 0, 2, DEFAULT_QOS, rw));
  g_object_class_install_property (gobject_class, PROP_USERNAME,
      g_param_spec_string ("username", "Username",
          "method=mqtt: user name for the broker", NULL, rw));
  g_object_class_install_property (gobject_class, PROP_PASSWORD,
      g_param_spec_string ("password", "Password",
          "method=mqtt: password for the broker", NULL, rw));
  g_object_class_install_property (gobject_class, PROP_TLS_CA_FILE,
      g_param_spec_string ("tls-ca-file", "TLS CA file",
          "method=mqtt: PEM file of the CA certificates that sign the "
          "broker's; setting it turns TLS on", NULL, rw));
  g_object_class_install_property (gobject_class, PROP_TLS_CERT_FILE,
      g_param_spec_string ("tls-cert-file", "TLS certificate file",
          "method=mqtt: PEM client certificate (with tls-key-file)", NULL,
          rw));
  g_object_class_install_property (gobject_class, PROP_TLS_KEY_FILE,
      g_param_spec_string ("tls-key-file", "TLS key file",
          "method=mqtt: PEM private key of tls-cert-file", NULL, rw));
  g_object_class_install_property (gobject_class, PROP_TLS_INSECURE,
      g_param_spec_boolean ("tls-insecure", "TLS insecure",
          "method=mqtt: do not check that the broker's certificate names "
          "its host (testing only)", FALSE, rw));
  g_object_class_install_property (gobject_class, PROP_MAX_QUEUE,
      g_param_spec_uint ("max-queue", "Max queue",
          "method=mqtt: decisions kept while the broker is away or has not "
          "acknowledged them; when full the oldest is dropped", 1,
          G_MAXUINT, DEFAULT_MAX_QUEUE, rw));
  g_object_class_install_property (gobject_class, PROP_DRAIN_TIMEOUT,
      g_param_spec_uint64 ("drain-timeout", "Drain timeout",
          "method=mqtt: at EOS, how long (ns) to wait for the broker to "
          "acknowledge the queued decisions", 0, G_MAXUINT64,
          DEFAULT_DRAIN_TIMEOUT, rw));
  g_object_class_install_property (gobject_class, PROP_SOURCE,
      g_param_spec_string ("source", "Source",
          "Names the stream in each document (\"stream\".\"source\"); "
          "empty: the URI of the upstream source, when it has one", NULL,
          rw));
  g_object_class_install_property (gobject_class, PROP_STATS,
      g_param_spec_boxed ("stats", "Statistics",
          "published (delivered: acknowledged by the broker, or written), "
          "queued (waiting for the broker), dropped (oldest, queue full), "
          "connected", GST_TYPE_STRUCTURE,
          G_PARAM_READABLE | G_PARAM_STATIC_STRINGS));

  gst_element_class_set_static_metadata (element_class,
      "HyRSM++ decision publisher", "Sink/Analyzer/Network",
      "Publishes each HyrsmMeta decision as JSON to a file or an MQTT "
      "broker; buffers pass through unchanged", "gst-hyrsm developers");
  gst_element_class_add_static_pad_template (element_class, &sink_template);
  gst_element_class_add_static_pad_template (element_class, &src_template);

  element_class->change_state =
      GST_DEBUG_FUNCPTR (gst_hyrsm_publish_change_state);
  trans_class->start = GST_DEBUG_FUNCPTR (gst_hyrsm_publish_start);
  trans_class->stop = GST_DEBUG_FUNCPTR (gst_hyrsm_publish_stop);
  trans_class->transform_ip =
      GST_DEBUG_FUNCPTR (gst_hyrsm_publish_transform_ip);
  trans_class->sink_event = GST_DEBUG_FUNCPTR (gst_hyrsm_publish_sink_event);
  trans_class->transform_ip_on_passthrough = TRUE;

  gst_type_mark_as_plugin_api (GST_TYPE_HYRSM_PUBLISH_METHOD, 0);
  GST_DEBUG_CATEGORY_INIT (gst_hyrsm_publish_debug, "hyrsmpublish", 0,
      "HyRSM++ decision publisher");
}

static void
gst_hyrsm_publish_init (GstHyrsmPublish *self)
{
  self->method = DEFAULT_METHOD;
  self->address = g_strdup (DEFAULT_ADDRESS);
  self->topic = g_strdup (DEFAULT_TOPIC);
  self->qos = DEFAULT_QOS;
  self->max_queue = DEFAULT_MAX_QUEUE;
  self->drain_timeout = DEFAULT_DRAIN_TIMEOUT;
  gst_base_transform_set_passthrough (GST_BASE_TRANSFORM (self), TRUE);
  gst_base_transform_set_in_place (GST_BASE_TRANSFORM (self), TRUE);
}
