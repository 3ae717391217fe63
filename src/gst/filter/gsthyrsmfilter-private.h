/* gsthyrsmfilter-private.h: what the files of the hyrsmfilter element
 * share: its instance struct and the entry points of
 * gsthyrsmfiltersupport.c (the element's support sets) and
 * gsthyrsmfiltermqtt.c (support=mqtt://). Its window pipeline is an object
 * of its own (gsthyrsmwindows.h). */
#pragma once

#include "gsthyrsmfilter.h"
#include "gsthyrsmanalytics.h"
#include "gsthyrsmwindows.h"

#include <gst/video/video.h>
#include <hyrsm.h>

G_BEGIN_DECLS

GST_DEBUG_CATEGORY_EXTERN (gst_hyrsm_filter_debug);

typedef struct _GstHyrsmFilterMqtt GstHyrsmFilterMqtt;

struct _GstHyrsmFilter
{
  GstBaseTransform parent;

  /* Properties, under the object lock. */
  gchar *model_path;
  gchar *support_path;
  gchar *device;
  gchar *precision;
  GstClockTime window;
  gboolean window_changed;      /* applies from the next frame */
  GstClockTime stride;
  gdouble threshold;
  GstHyrsmSync sync;
  gboolean post_messages;
  gboolean attach_meta;
  gboolean attach_analytics;    /* `analytics-meta` */
  gboolean roi;
  gchar *roi_type;
  gdouble roi_margin;
  gboolean roi_square;
  GstClockTime roi_timeout;

  /* Between start() and stop(). The support set and its labels are
   * swapped under the object lock; the rest belongs to the streaming
   * thread unless noted. */
  HyrsmModel *model;
  HyrsmSupportSet *support;     /* object lock */
  gchar **labels;               /* object lock */
  gchar *support_in_use;        /* the directory of `support`; object lock */
  /* support_in_use as UTF-8 (g_filename_display_name()), for decisions:
   * GstStructure refuses a string that is not; object lock */
  gchar *support_display;
  gchar *support_signature;     /* its files when loaded; object lock */
  GstClockTime support_median;  /* object lock */
  guint frames;                 /* T */
  guint dim;                    /* D */
  /* The window pipeline (set and cleared under the object lock, which
   * install_support() holds to hand it a new set). */
  GstHyrsmWindows *windows;
  GThread *loader;              /* background support loads, object lock */
  gchar *loader_path;           /* next path to load, object lock */
  /* support=mqtt://: its properties and subscriber
   * (gsthyrsmfiltermqtt.c) */
  GstHyrsmFilterMqtt *mqtt;

  /* The streaming thread's. */
  gboolean live_checked;        /* sync mode chosen for this stream */
  gboolean configured;          /* the grid knows the caps' frame rate */
  gboolean roi_mode;            /* `roi` as read at start */
  gboolean warned_no_pts;
  GPtrArray *decisions;         /* this buffer's, reused */
  guint64 frames_in;            /* object lock */
};

/* gsthyrsmfiltersupport.c: support sets (the streaming thread never waits
 * for one). */
gboolean gst_hyrsm_filter_load_initial_support (GstHyrsmFilter *self);
void gst_hyrsm_filter_request_support_load_locked (GstHyrsmFilter *self,
    const gchar *path);
gboolean gst_hyrsm_filter_enroll (GstHyrsmFilter *self, const gchar *label);
void gst_hyrsm_filter_reload (GstHyrsmFilter *self);
gboolean gst_hyrsm_filter_install_support (GstHyrsmFilter *self,
    HyrsmModel *model, const gchar *path, HyrsmSupportSet *set,
    gchar **labels, GstClockTime median, gchar *signature);

/* gsthyrsmfiltermqtt.c: support=mqtt://HOST:PORT/TOPIC, a support set
 * shared as a retained bundle on a broker. */
void gst_hyrsm_filter_mqtt_init (GstHyrsmFilter *self);
void gst_hyrsm_filter_mqtt_finalize (GstHyrsmFilter *self);
void gst_hyrsm_filter_mqtt_install_properties (GObjectClass *klass,
    guint first);
gboolean gst_hyrsm_filter_mqtt_set_property (GstHyrsmFilter *self, guint id,
    const GValue *value);
gboolean gst_hyrsm_filter_mqtt_get_property (GstHyrsmFilter *self, guint id,
    GValue *value);
gboolean gst_hyrsm_filter_mqtt_start (GstHyrsmFilter *self, const gchar *uri);
void gst_hyrsm_filter_mqtt_stop (GstHyrsmFilter *self);
gboolean gst_hyrsm_filter_mqtt_publish_enrolled (GstHyrsmFilter *self,
    const gchar *label, const float *features);

G_END_DECLS
