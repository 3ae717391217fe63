/* gsthyrsmdecision.h: one hyrsmfilter decision, and the one place that
 * writes it as the "hyrsm" GstStructure that the bus message, HyrsmMeta
 * and hyrsmpublish's JSON carry (the fields docs/publish.md and
 * gsthyrsmmeta.h list). Private to the plugin. */
#pragma once

#include <gst/gst.h>

G_BEGIN_DECLS

typedef struct
{
  const gchar *label;           /* best class, or "unknown" */
  gboolean unknown;             /* above the threshold */
  gdouble confidence;           /* softmax of -distance, best class */
  gdouble distance;             /* the best class's */
  const gchar *const *labels;   /* every class, support-set order */
  const gdouble *distances;     /* n_classes, same order */
  guint n_classes;
  GstClockTime window_start, window_end;        /* stream time */
  GstClockTime running_time_start, running_time;        /* running time */
  gint64 wallclock_end;         /* g_get_real_time() when the window ended */
  GstClockTime latency;         /* window end to decision */
  const gchar *stream_id, *model_fingerprint, *support_path;
  /* A region's decision (roi=true): its id, type (NULL: none) and box. */
  gboolean is_region;
  gint roi_id;
  const gchar *roi_type;
  gint roi_x, roi_y, roi_width, roi_height;
} GstHyrsmDecision;

/* The decision as the "hyrsm" structure (new). */
GstStructure *gst_hyrsm_decision_to_structure (const GstHyrsmDecision *d);

/* The region id of a decision structure, -1 for a whole-frame one (ids are
 * the metas' own, never negative in practice). */
gint gst_hyrsm_decision_region (const GstStructure *decision);

/* Adds @decision (taken; NULL: nothing) to @decisions, replacing an older
 * one of the same timeline (the bus has every decision; a buffer carries
 * the latest of each region). */
void gst_hyrsm_decisions_keep_latest (GPtrArray *decisions,
    GstStructure *decision);

G_END_DECLS
