/* gsthyrsmanalytics.h: hyrsmfilter's side of the metadata other elements
 * write and read: the regions roi=true decides (GstVideoRegionOfInterestMeta
 * or, with GStreamer's analytics library, GstAnalyticsODMtd) and each
 * decision written as GstAnalytics results. Built without the library
 * (GStreamer < 1.24), regions come from ROI metas only and nothing is
 * written. */
#pragma once

#include <gst/gst.h>
#include <gst/video/video.h>

G_BEGIN_DECLS

/* One region of a frame, wherever it came from. */
typedef struct
{
  gint id;                      /* its timeline: the ROI meta's id, the
                                 * detection's track id, else its own id */
  gint x, y, w, h;              /* the box as given (may leave the frame) */
  GQuark type;                  /* the ROI type / detected object type */
} GstHyrsmRegion;

/* Whether this build reads and writes GstAnalytics metadata. */
gboolean gst_hyrsm_analytics_available (void);

/* The regions of @buf (of @type unless 0), in their order on the buffer:
 * its ROI metas; only on a buffer without any (of @type), its analytics
 * detections. Free with g_array_unref(). */
GArray *gst_hyrsm_regions_collect (GstBuffer *buf, GQuark type);

/* The part of @region to embed: enlarged by @margin of its size on each
 * side, squared around its centre when @square, clipped to the
 * @width x @height frame. FALSE when less than 2 x 2 pixels are left. */
gboolean gst_hyrsm_region_crop (const GstHyrsmRegion *region, gint width,
    gint height, gdouble margin, gboolean square, GstVideoRectangle *crop);

/* Writes @decision as GstAnalytics results on @buf (writable): a
 * classification, and for a region's decision (roi-id) its detection and
 * track, related to it. @type is `roi-type` (0: any), which chose the
 * regions as gst_hyrsm_regions_collect() did. Does nothing without the
 * library. */
void gst_hyrsm_analytics_attach (GstBuffer *buf,
    const GstStructure *decision, GQuark type);

G_END_DECLS
