/* gsthyrsmoverlay.h: the hyrsmoverlay element. */
#pragma once

#include <gst/base/gstbasetransform.h>

G_BEGIN_DECLS

/**
 * GstHyrsmOverlayPosition:
 * @GST_HYRSM_OVERLAY_TOP_LEFT: top left corner
 * @GST_HYRSM_OVERLAY_TOP_RIGHT: top right corner
 * @GST_HYRSM_OVERLAY_BOTTOM_LEFT: bottom left corner
 * @GST_HYRSM_OVERLAY_BOTTOM_RIGHT: bottom right corner
 */
typedef enum
{
  GST_HYRSM_OVERLAY_TOP_LEFT,
  GST_HYRSM_OVERLAY_TOP_RIGHT,
  GST_HYRSM_OVERLAY_BOTTOM_LEFT,
  GST_HYRSM_OVERLAY_BOTTOM_RIGHT,
} GstHyrsmOverlayPosition;

#define GST_TYPE_HYRSM_OVERLAY_POSITION (gst_hyrsm_overlay_position_get_type ())
GType gst_hyrsm_overlay_position_get_type (void);

#define GST_TYPE_HYRSM_OVERLAY (gst_hyrsm_overlay_get_type ())
G_DECLARE_FINAL_TYPE (GstHyrsmOverlay, gst_hyrsm_overlay, GST, HYRSM_OVERLAY,
    GstBaseTransform)

GST_ELEMENT_REGISTER_DECLARE (hyrsmoverlay);

G_END_DECLS
