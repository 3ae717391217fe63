/* gsthyrsmanalytics.c: regions in, decisions out, in the metadata other
 * elements speak.
 *
 * In (roi=true): a buffer's GstVideoRegionOfInterestMeta, or, on a buffer
 * without any, the GstAnalyticsODMtd of its GstAnalyticsRelationMeta, the
 * timeline id being the track id of a GstAnalyticsTrackingMtd related to
 * the detection. Out: each decision as a GstAnalyticsClsMtd (every class,
 * the decided one first) and, for a region, the region's GstAnalyticsODMtd
 * (upstream's, or one added) with a GstAnalyticsTrackingMtd, related so
 * that both conventions in use find the classification from the
 * detection. docs/decisions.md ("GstAnalytics results") is the mapping. */
#include "gsthyrsmanalytics.h"
#include "gsthyrsmdecision.h"

#include <math.h>
#include <stdlib.h>

#ifdef HAVE_GST_ANALYTICS
#include <gst/analytics/analytics.h>
#endif

GST_DEBUG_CATEGORY_EXTERN (gst_hyrsm_windows_debug);
#define GST_CAT_DEFAULT gst_hyrsm_windows_debug

gboolean
gst_hyrsm_analytics_available (void)
{
#ifdef HAVE_GST_ANALYTICS
  return TRUE;
#else
  return FALSE;
#endif
}

static gboolean
roi_matches (const GstVideoRegionOfInterestMeta *roi, GQuark type)
{
  return type == 0 || roi->roi_type == type;
}

#ifdef HAVE_GST_ANALYTICS
/* The track of detection @od_id: a GstAnalyticsTrackingMtd related to it
 * in either direction, by any relation (DL Streamer and gst-plugins-rs'
 * trackers relate the detection to the track with RELATE_TO, others
 * IS_PART_OF or the other way round). */
static gboolean
find_tracking (GstAnalyticsRelationMeta *rmeta, guint od_id,
    GstAnalyticsTrackingMtd *trk)
{
  GstAnalyticsMtdType trk_type = gst_analytics_tracking_mtd_get_mtd_type ();
  gpointer state = NULL;
  if (gst_analytics_relation_meta_get_direct_related (rmeta, od_id,
          GST_ANALYTICS_REL_TYPE_ANY, trk_type, &state, trk))
    return TRUE;
  state = NULL;
  while (gst_analytics_relation_meta_iterate (rmeta, &state, trk_type, trk))
    if (gst_analytics_relation_meta_get_relation (rmeta, trk->id, od_id)
        != GST_ANALYTICS_REL_TYPE_NONE)
      return TRUE;
  return FALSE;
}

/* A detection's timeline id: its track's id, else the detection's own id
 * (its index in the relation meta, stable only while the detector lists
 * its objects in the same order). Track ids are 64-bit; timelines, like
 * ROI ids, are gint: the low 31 bits. */
static gint
od_region_id (GstAnalyticsRelationMeta *rmeta, GstAnalyticsODMtd *od)
{
  GstAnalyticsTrackingMtd trk;
  guint64 track_id;
  GstClockTime first, last;
  gboolean lost;
  if (find_tracking (rmeta, od->id, &trk)
      && gst_analytics_tracking_mtd_get_info (&trk, &track_id, &first, &last,
          &lost))
    return (gint) (track_id & G_MAXINT);
  return (gint) (od->id & G_MAXINT);
}
#endif

GArray *
gst_hyrsm_regions_collect (GstBuffer *buf, GQuark type)
{
  GArray *regions = g_array_new (FALSE, FALSE, sizeof (GstHyrsmRegion));
  gpointer state = NULL;
  GstMeta *meta;
  while ((meta = gst_buffer_iterate_meta_filtered (buf, &state,
              GST_VIDEO_REGION_OF_INTEREST_META_API_TYPE))) {
    GstVideoRegionOfInterestMeta *roi = (GstVideoRegionOfInterestMeta *) meta;
    if (!roi_matches (roi, type))
      continue;
    GstHyrsmRegion r = { roi->id, roi->x, roi->y, roi->w, roi->h,
      roi->roi_type
    };
    g_array_append_val (regions, r);
  }
#ifdef HAVE_GST_ANALYTICS
  /* ROI metas win: an upstream that writes both (DL Streamer) describes
   * the same objects twice, and hyrsmfilter itself adds detections only to
   * buffers carrying decisions, so a second hyrsmfilter behind a ROI-meta
   * tracker would otherwise switch sources from frame to frame. */
  GstAnalyticsRelationMeta *rmeta;
  if (regions->len > 0
      || !(rmeta = gst_buffer_get_analytics_relation_meta (buf)))
    return regions;
  GstAnalyticsODMtd od;
  state = NULL;
  while (gst_analytics_relation_meta_iterate (rmeta, &state,
          gst_analytics_od_mtd_get_mtd_type (), &od)) {
    GstHyrsmRegion r = {.type = gst_analytics_od_mtd_get_obj_type (&od) };
    gfloat confidence;
    if ((type && r.type != type)
        || !gst_analytics_od_mtd_get_location (&od, &r.x, &r.y, &r.w, &r.h,
            &confidence))
      continue;
    r.id = od_region_id (rmeta, &od);
    g_array_append_val (regions, r);
  }
#endif
  return regions;
}

gboolean
gst_hyrsm_region_crop (const GstHyrsmRegion *region, gint width, gint height,
    gdouble margin, gboolean square, GstVideoRectangle *crop)
{
  gdouble w = region->w, h = region->h;
  gdouble x = region->x - margin * w, y = region->y - margin * h;
  w += 2 * margin * w;
  h += 2 * margin * h;
  if (square) {
    gdouble side = MAX (w, h);
    x -= (side - w) / 2;
    y -= (side - h) / 2;
    w = h = side;
  }
  gdouble x0 = CLAMP (floor (x), 0, width), y0 = CLAMP (floor (y), 0, height);
  gdouble x1 = CLAMP (ceil (x + w), 0, width);
  gdouble y1 = CLAMP (ceil (y + h), 0, height);
  if (x1 - x0 < 2 || y1 - y0 < 2)
    return FALSE;
  crop->x = x0;
  crop->y = y0;
  crop->w = x1 - x0;
  crop->h = y1 - y0;
  return TRUE;
}

#ifdef HAVE_GST_ANALYTICS
typedef struct
{
  const gchar *label;
  gdouble distance;
  guint index;                  /* ties keep the support set's order */
} Class;

static int
by_distance (const void *pa, const void *pb)
{
  const Class *a = pa, *b = pb;
  if (a->distance != b->distance)
    return a->distance < b->distance ? -1 : 1;
  return a->index < b->index ? -1 : a->index > b->index;
}

/* The classification of @decision: its label with its confidence first
 * (so index 0 says what HyrsmMeta's label and confidence say, "unknown"
 * included), then every other class of the support set, closest first,
 * with its softmax share (the softmax of -distance that `confidence` is
 * at the closest class). Returns the number of classes. */
static gsize
decision_classes (const GstHyrsmDecision *decision, GQuark **quarks,
    gfloat **levels)
{
  const gchar *label = decision->label;
  /* NaN: the decision did not say. */
  gdouble confidence = isnan (decision->confidence) ? 0 :
      decision->confidence;
  guint n = decision->n_classes;
  Class *classes = g_new (Class, n);
  gdouble best = INFINITY, sum = 0;
  for (guint i = 0; i < n; i++) {
    classes[i].label = decision->labels[i];
    classes[i].distance = decision->distances[i];
    classes[i].index = i;
    best = MIN (best, classes[i].distance);
  }
  for (guint i = 0; i < n; i++)
    sum += exp (-(classes[i].distance - best));
  /* glib's sorts are deprecated (2.82) or missing (2.74) on one of the
   * two releases built on: the C library's. */
  qsort (classes, n, sizeof (Class), by_distance);

  *quarks = g_new (GQuark, n + 1);
  *levels = g_new (gfloat, n + 1);
  gsize len = 0;
  if (label) {
    (*quarks)[len] = g_quark_from_string (label);
    (*levels)[len++] = confidence;
  }
  for (guint i = 0; i < n; i++) {
    if (classes[i].label == NULL || g_strcmp0 (classes[i].label, label) == 0)
      continue;
    (*quarks)[len] = g_quark_from_string (classes[i].label);
    (*levels)[len++] = exp (-(classes[i].distance - best)) / sum;
  }
  g_free (classes);
  return len;
}

/* The buffer's ROI meta of @id (and @type), if any. */
static GstVideoRegionOfInterestMeta *
find_roi (GstBuffer *buf, gint id, GQuark type)
{
  gpointer state = NULL;
  GstMeta *meta;
  while ((meta = gst_buffer_iterate_meta_filtered (buf, &state,
              GST_VIDEO_REGION_OF_INTEREST_META_API_TYPE))) {
    GstVideoRegionOfInterestMeta *roi = (GstVideoRegionOfInterestMeta *) meta;
    if (roi->id == id && roi_matches (roi, type))
      return roi;
  }
  return NULL;
}

static gboolean
has_roi (GstBuffer *buf, GQuark type)
{
  gpointer state = NULL;
  GstMeta *meta;
  while ((meta = gst_buffer_iterate_meta_filtered (buf, &state,
              GST_VIDEO_REGION_OF_INTEREST_META_API_TYPE)))
    if (roi_matches ((GstVideoRegionOfInterestMeta *) meta, type))
      return TRUE;
  return FALSE;
}

/* A ROI meta's detection confidence: its "detection" parameter's
 * "confidence" (the convention of DL Streamer and GStreamer's
 * classifiers), else 1 (the region was given, not guessed). */
static gfloat
roi_confidence (GstVideoRegionOfInterestMeta *roi)
{
  GstStructure *det = gst_video_region_of_interest_meta_get_param (roi,
      "detection");
  gdouble confidence;
  if (det && gst_structure_get_double (det, "confidence", &confidence))
    return confidence;
  return 1.0f;
}

/* The detection of region @id on @buf: found as gst_hyrsm_regions_collect()
 * found the regions (a ROI meta's twin detection, same box and type, when
 * upstream wrote both; else the detection whose region id is @id), else
 * added with the region's box on this buffer or, in async mode when the
 * region is no longer on it, the box the decision carries. */
static gboolean
region_od (GstBuffer *buf, GstAnalyticsRelationMeta *rmeta,
    const GstHyrsmDecision *decision, gint id, GQuark type,
    GstAnalyticsODMtd *od)
{
  gint x = decision->roi_x, y = decision->roi_y;
  gint w = decision->roi_width, h = decision->roi_height;
  const gchar *type_name = decision->roi_type;
  GQuark od_type = type_name ? g_quark_from_string (type_name) : type;
  gfloat confidence = 1.0f;
  GstAnalyticsMtdType od_mtd = gst_analytics_od_mtd_get_mtd_type ();
  gpointer state = NULL;
  if (has_roi (buf, type)) {
    GstVideoRegionOfInterestMeta *roi = find_roi (buf, id, type);
    if (roi) {
      x = roi->x;
      y = roi->y;
      w = roi->w;
      h = roi->h;
      od_type = roi->roi_type;
      confidence = roi_confidence (roi);
      while (gst_analytics_relation_meta_iterate (rmeta, &state, od_mtd, od)) {
        gint ox, oy, ow, oh;
        gfloat c;
        if (gst_analytics_od_mtd_get_obj_type (od) == od_type
            && gst_analytics_od_mtd_get_location (od, &ox, &oy, &ow, &oh, &c)
            && ox == x && oy == y && ow == w && oh == h)
          return TRUE;
      }
    }
  } else {
    while (gst_analytics_relation_meta_iterate (rmeta, &state, od_mtd, od))
      if ((type == 0 || gst_analytics_od_mtd_get_obj_type (od) == type)
          && od_region_id (rmeta, od) == id)
        return TRUE;
  }
  return gst_analytics_relation_meta_add_od_mtd (rmeta, od_type, x, y, w, h,
      confidence, od);
}
#endif

void
gst_hyrsm_analytics_attach (GstBuffer *buf, const GstStructure *structure,
    GQuark type)
{
#ifdef HAVE_GST_ANALYTICS
  GstHyrsmDecision d;
  GError *error = NULL;
  if (!gst_hyrsm_decision_from_structure (structure, &d, &error)) {
    GST_WARNING ("no GstAnalytics results: %s", error->message);
    g_error_free (error);
    return;
  }
  const GstHyrsmDecision *decision = &d;
  GQuark *quarks;
  gfloat *levels;
  gsize n = decision_classes (decision, &quarks, &levels);
  GstAnalyticsRelationMeta *rmeta = gst_buffer_add_analytics_relation_meta
      (buf);
  GstAnalyticsClsMtd cls;
  gboolean added = n > 0 && rmeta
      && gst_analytics_relation_meta_add_cls_mtd (rmeta, n, levels, quarks,
      &cls);
  g_free (quarks);
  g_free (levels);
  if (!added) {
    GST_WARNING ("could not add a GstAnalyticsClsMtd for %" GST_PTR_FORMAT,
        structure);
    gst_hyrsm_decision_clear (&d);
    return;
  }
  gint id = decision->roi_id;
  GstAnalyticsODMtd od;
  if (!decision->is_region || !region_od (buf, rmeta, decision, id, type,
          &od)) {
    if (decision->is_region)
      GST_WARNING ("could not find or add the GstAnalyticsODMtd of region "
          "%d", id);
    gst_hyrsm_decision_clear (&d);
    return;
  }
  /* One cell of the relation matrix holds both bits: objectdetectionoverlay
   * (and upstream's trackers) look for RELATE_TO from the detection, DL
   * Streamer for CONTAIN; both test with a mask. IS_PART_OF back, as DL
   * Streamer writes it. */
  gst_analytics_relation_meta_set_relation (rmeta,
      GST_ANALYTICS_REL_TYPE_RELATE_TO | GST_ANALYTICS_REL_TYPE_CONTAIN,
      od.id, cls.id);
  gst_analytics_relation_meta_set_relation (rmeta,
      GST_ANALYTICS_REL_TYPE_IS_PART_OF, cls.id, od.id);

  GstAnalyticsTrackingMtd trk;
  /* NONE when the decision does not say (the reader's default). */
  GstClockTime first = decision->window_start, last = decision->window_end;
  if (!find_tracking (rmeta, od.id, &trk)
      && gst_analytics_relation_meta_add_tracking_mtd (rmeta, (guint64) id,
          first, &trk)) {
    gst_analytics_tracking_mtd_update_last_seen (&trk, last);
    gst_analytics_relation_meta_set_relation (rmeta,
        GST_ANALYTICS_REL_TYPE_RELATE_TO, od.id, trk.id);
  }
  gst_hyrsm_decision_clear (&d);
#endif
}
