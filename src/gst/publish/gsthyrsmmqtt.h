/* gsthyrsmmqtt.h: a publishing MQTT client with a bounded queue that keeps
 * each message until the broker acknowledged it (libmosquitto). */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef struct _GstHyrsmMqtt GstHyrsmMqtt;

typedef struct
{
  gchar *host;
  guint port;
  gchar *topic;
  gchar *client_id;             /* NULL: the library makes one up */
  gint qos;
  gchar *username, *password;
  gchar *tls_ca_file, *tls_cert_file, *tls_key_file;
  gboolean tls_insecure;        /* skip the server name check */
  guint max_queue;
} GstHyrsmMqttConfig;

typedef enum
{
  GST_HYRSM_MQTT_CONNECTED,
  GST_HYRSM_MQTT_CONNECT_FAILED,        /* no connection yet; retrying */
  GST_HYRSM_MQTT_LOST,          /* connection lost; retrying */
  GST_HYRSM_MQTT_REFUSED,       /* the broker refused us (credentials...) */
  GST_HYRSM_MQTT_TLS_FAILED,    /* first TLS handshake failed; given up */
  GST_HYRSM_MQTT_STALLED,       /* connected, but nothing acknowledged */
  GST_HYRSM_MQTT_RESUMED,       /* acknowledging again after a stall */
} GstHyrsmMqttEvent;

/* Called on the client's network thread. */
typedef void (*GstHyrsmMqttNotify) (GstHyrsmMqttEvent event,
    const gchar *reason, gpointer user_data);

gboolean gst_hyrsm_mqtt_parse_address (const gchar *address, gchar **host,
    guint *port, GError **error);
gboolean gst_hyrsm_mqtt_check_topic (const gchar *topic, GError **error);

GstHyrsmMqtt *gst_hyrsm_mqtt_new (const GstHyrsmMqttConfig *config,
    GstHyrsmMqttNotify notify, gpointer user_data, GError **error);
void gst_hyrsm_mqtt_publish (GstHyrsmMqtt *self, gchar *payload);
gboolean gst_hyrsm_mqtt_drain (GstHyrsmMqtt *self, gint64 timeout_us);
void gst_hyrsm_mqtt_interrupt (GstHyrsmMqtt *self);
void gst_hyrsm_mqtt_get_stats (GstHyrsmMqtt *self, guint64 *published,
    guint *queued, guint64 *dropped, gboolean *connected);
void gst_hyrsm_mqtt_free (GstHyrsmMqtt *self);

G_END_DECLS
