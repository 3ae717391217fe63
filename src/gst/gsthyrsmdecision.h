/* gsthyrsmdecision.h: one hyrsmfilter decision, and the one place that
 * writes it as the "hyrsm" GstStructure that the bus message, HyrsmMeta
 * and hyrsmpublish's JSON carry, and the one place that reads it back.
 *
 * Every consumer (hyrsmpublish's JSON, hyrsmoverlay, the GstAnalytics
 * writer, the C tests) reads a decision through
 * gst_hyrsm_decision_from_structure() rather than by field names of its
 * own, so that a field renamed or added here cannot be missed by one of
 * them. tests/python/decisions.py is the same reader for the Python tests.
 *
 * Part of libgsthyrsm (exported for the plugin, gst-hyrsm and the C tests)
 * but, like gsthyrsmbundle.h, neither installed nor in the GIR: a plain
 * struct of borrowed pointers is no API to keep stable or to bind.
 * Applications read the structure's fields, listed here and in
 * docs/publish.md.
 */
#pragma once

#include <gst/gst.h>
#include "gsthyrsmmeta.h"

G_BEGIN_DECLS

/* The structure's name: the bus message's and what
 * gst_hyrsm_decision_to_structure() makes. A HyrsmMeta's structure is
 * named GST_HYRSM_META_NAME (GStreamer names a custom meta's structure
 * after the meta) and holds the same fields; the reader takes both. */
#define GST_HYRSM_DECISION_NAME "hyrsm"

/* The fields, all written by gst_hyrsm_decision_to_structure(). Only
 * "label" is required of a structure made elsewhere (a HyrsmMeta added by
 * an application); the reader's defaults for the others are in the struct
 * below. */
#define GST_HYRSM_DECISION_LABEL "label"        /* string */
#define GST_HYRSM_DECISION_UNKNOWN "unknown"    /* boolean */
#define GST_HYRSM_DECISION_CONFIDENCE "confidence"      /* double */
#define GST_HYRSM_DECISION_DISTANCE "distance"  /* double */
#define GST_HYRSM_DECISION_LABELS "labels"      /* GstValueArray of strings */
#define GST_HYRSM_DECISION_DISTANCES "distances"        /* ... of doubles */
#define GST_HYRSM_DECISION_WINDOW_START "window-start"  /* guint64, stream time */
#define GST_HYRSM_DECISION_WINDOW_END "window-end"      /* guint64, stream time */
#define GST_HYRSM_DECISION_RUNNING_TIME_START "running-time-start"      /* guint64 */
#define GST_HYRSM_DECISION_RUNNING_TIME "running-time"  /* guint64, the end */
#define GST_HYRSM_DECISION_WALLCLOCK_END "wallclock-end"        /* gint64, µs */
#define GST_HYRSM_DECISION_LATENCY "latency"    /* guint64, ns */
#define GST_HYRSM_DECISION_STREAM_ID "stream-id"        /* string */
#define GST_HYRSM_DECISION_MODEL_FINGERPRINT "model-fingerprint"        /* string */
#define GST_HYRSM_DECISION_SUPPORT_PATH "support-path"  /* string */
/* A region's decision (roi=true) only: */
#define GST_HYRSM_DECISION_ROI_ID "roi-id"      /* int */
#define GST_HYRSM_DECISION_ROI_TYPE "roi-type"  /* string, when it has one */
#define GST_HYRSM_DECISION_ROI_X "roi-x"        /* int, pixels */
#define GST_HYRSM_DECISION_ROI_Y "roi-y"        /* int */
#define GST_HYRSM_DECISION_ROI_WIDTH "roi-width"        /* int */
#define GST_HYRSM_DECISION_ROI_HEIGHT "roi-height"      /* int */

/* wallclock_end of a decision that does not say when its window ended. */
#define GST_HYRSM_DECISION_NO_WALLCLOCK G_MININT64

/* The fields as the reader leaves them when the structure lacks them
 * (the defaults) are in brackets. */
typedef struct
{
  const gchar *label;           /* best class, or "unknown" (required) */
  gboolean unknown;             /* above the threshold [label is "unknown"] */
  gdouble confidence;           /* softmax of -distance, best class [NAN] */
  gdouble distance;             /* the best class's [NAN] */
  const gchar *const *labels;   /* every class, support-set order [NULL] */
  const gdouble *distances;     /* n_classes, same order [NULL] */
  guint n_classes;              /* [0] */
  GstClockTime window_start, window_end;        /* stream time [NONE] */
  GstClockTime running_time_start, running_time;        /* running time [NONE] */
  gint64 wallclock_end;         /* g_get_real_time() when the window ended
                                 * [GST_HYRSM_DECISION_NO_WALLCLOCK] */
  GstClockTime latency;         /* window end to decision [NONE] */
  const gchar *stream_id, *model_fingerprint, *support_path;    /* [NULL] */
  /* A region's decision (roi=true): its id, type (NULL: none) and box.
   * [FALSE: a whole-frame decision]; a structure with roi-id must carry
   * the box too. */
  gboolean is_region;
  gint roi_id;
  const gchar *roi_type;
  gint roi_x, roi_y, roi_width, roi_height;

  /* The reader's copies of the labels and distances arrays (a GstValueArray
   * holds GValues, not a C array); NULL in a decision filled by hand.
   * Released by gst_hyrsm_decision_clear(). */
  gpointer owned_labels, owned_distances;
} GstHyrsmDecision;

/* The decision as the "hyrsm" structure (new). */
GST_HYRSM_API
GstStructure *gst_hyrsm_decision_to_structure (const GstHyrsmDecision *d);

/* Reads @s (a "hyrsm" structure: the bus message's, a HyrsmMeta's) into
 * @d: its strings point into @s, so @d is valid while @s is, unchanged;
 * the labels and distances arrays are copies that @d owns until
 * gst_hyrsm_decision_clear(). Returns FALSE with @error set (naming the
 * field) when @s is not a decision, lacks "label", has a field of the wrong
 * type, labels and distances that do not pair up, or roi-id without its
 * box; @d is then cleared. */
GST_HYRSM_API
gboolean gst_hyrsm_decision_from_structure (const GstStructure *s,
    GstHyrsmDecision *d, GError **error);

/* Releases what gst_hyrsm_decision_from_structure() copied and zeroes @d
 * (harmless on a decision filled by hand, or cleared twice). */
GST_HYRSM_API
void gst_hyrsm_decision_clear (GstHyrsmDecision *d);

/* The region id of a decision structure, -1 for a whole-frame one (ids are
 * the metas' own, never negative in practice). */
GST_HYRSM_API
gint gst_hyrsm_decision_region (const GstStructure *decision);

/* Adds @decision (taken; NULL: nothing) to @decisions, replacing an older
 * one of the same timeline (the bus has every decision; a buffer carries
 * the latest of each region). */
GST_HYRSM_API
void gst_hyrsm_decisions_keep_latest (GPtrArray *decisions,
    GstStructure *decision);

G_END_DECLS
