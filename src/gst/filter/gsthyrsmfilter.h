/* gsthyrsmfilter.h: the hyrsmfilter element. */
#pragma once

#include <gst/base/gstbasetransform.h>

G_BEGIN_DECLS

/**
 * GstHyrsmSync:
 * @GST_HYRSM_SYNC_AUTO: block for non-live sources, never for live ones
 * @GST_HYRSM_SYNC_ALWAYS: always block the streaming thread until each
 *   window's result is ready
 * @GST_HYRSM_SYNC_NEVER: never block; drop whole windows when behind
 */
typedef enum
{
  GST_HYRSM_SYNC_AUTO,
  GST_HYRSM_SYNC_ALWAYS,
  GST_HYRSM_SYNC_NEVER,
} GstHyrsmSync;

#define GST_TYPE_HYRSM_SYNC (gst_hyrsm_sync_get_type ())
GType gst_hyrsm_sync_get_type (void);

#define GST_TYPE_HYRSM_FILTER (gst_hyrsm_filter_get_type ())
G_DECLARE_FINAL_TYPE (GstHyrsmFilter, gst_hyrsm_filter, GST, HYRSM_FILTER,
    GstBaseTransform)

GST_ELEMENT_REGISTER_DECLARE (hyrsmfilter);

G_END_DECLS
