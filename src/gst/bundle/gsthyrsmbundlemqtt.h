/* gsthyrsmbundlemqtt.h: support-set bundles over an MQTT broker
 * (libmosquitto): a blocking publish of a retained bundle that waits for
 * the broker's PUBACK, a blocking fetch of the retained bundle, and a
 * subscriber that hands every bundle it receives to a callback and keeps
 * reconnecting. Bundles are opaque bytes here: checking them is the
 * caller's (gst_hyrsm_bundle_parse()). */
#pragma once

#include "gsthyrsmbundle.h"

G_BEGIN_DECLS

/* Where the bundles are and how to reach the broker; the same options as
 * hyrsmpublish's (src/gst/publish/gsthyrsmpublish.c). */
typedef struct
{
  gchar *host;
  guint port;
  gchar *topic;
  gchar *username, *password;
  gchar *tls_ca_file, *tls_cert_file, *tls_key_file;
  gboolean tls_insecure;
} GstHyrsmBroker;

GST_HYRSM_API
gboolean gst_hyrsm_broker_parse_uri (GstHyrsmBroker *broker,
    const gchar *uri, GError **error);
GST_HYRSM_API
void gst_hyrsm_broker_clear (GstHyrsmBroker *broker);
GST_HYRSM_API
gboolean gst_hyrsm_is_mqtt_uri (const gchar *text);

GST_HYRSM_API
gboolean gst_hyrsm_bundle_publish (const GstHyrsmBroker *broker,
    GBytes *payload, guint timeout_ms, GError **error);
GST_HYRSM_API
GBytes *gst_hyrsm_bundle_fetch (const GstHyrsmBroker *broker,
    guint timeout_ms, GError **error);

typedef struct _GstHyrsmBundleSubscriber GstHyrsmBundleSubscriber;

/* Called on the client's network thread for each message on the topic
 * (retained or live); @payload is the caller's to parse. */
typedef void (*GstHyrsmBundleReceivedFunc) (GBytes *payload,
    gpointer user_data);
/* Called on the network thread when the connection comes or goes;
 * @reason says why it failed or was lost (NULL when connected). */
typedef void (*GstHyrsmBrokerStatusFunc) (gboolean connected,
    const gchar *reason, gpointer user_data);

GST_HYRSM_API
GstHyrsmBundleSubscriber *gst_hyrsm_bundle_subscriber_new (const
    GstHyrsmBroker *broker, GstHyrsmBundleReceivedFunc received,
    GstHyrsmBrokerStatusFunc status, gpointer user_data, GError **error);
GST_HYRSM_API
void gst_hyrsm_bundle_subscriber_free (GstHyrsmBundleSubscriber *self);

G_END_DECLS
