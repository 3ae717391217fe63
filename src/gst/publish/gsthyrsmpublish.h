/* gsthyrsmpublish.h: the hyrsmpublish element. */
#pragma once

#include <gst/base/gstbasetransform.h>

G_BEGIN_DECLS

/**
 * GstHyrsmPublishMethod:
 * @GST_HYRSM_PUBLISH_FILE: JSON Lines appended to a file (or stdout)
 * @GST_HYRSM_PUBLISH_MQTT: one MQTT message per decision
 */
typedef enum
{
  GST_HYRSM_PUBLISH_FILE,
  GST_HYRSM_PUBLISH_MQTT,
} GstHyrsmPublishMethod;

#define GST_TYPE_HYRSM_PUBLISH_METHOD (gst_hyrsm_publish_method_get_type ())
GType gst_hyrsm_publish_method_get_type (void);

#define GST_TYPE_HYRSM_PUBLISH (gst_hyrsm_publish_get_type ())
G_DECLARE_FINAL_TYPE (GstHyrsmPublish, gst_hyrsm_publish, GST, HYRSM_PUBLISH,
    GstBaseTransform)

GST_ELEMENT_REGISTER_DECLARE (hyrsmpublish);

G_END_DECLS
