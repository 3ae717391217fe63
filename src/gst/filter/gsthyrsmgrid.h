/* gsthyrsmgrid.h: hyrsmfilter's sampling grid, the arithmetic only.
 *
 * A window of duration W holds T samples, one every period = W / T. The
 * grid's points are numbered for the whole run of the element; point k
 * sits at running time
 *
 *     origin + (k - base) * period + period / 2
 *
 * where (origin, base) are set by the first frame and reset by a restart
 * (a timestamp gap of a window or more, a DISCONT buffer after a hole,
 * timestamps going backwards, a window change). A window ends at every
 * stride-th point counted from base, once T points of the current grid
 * exist: windows never span a restart. Point numbers only grow, so a
 * restart never reuses the number of a point still referenced elsewhere.
 *
 * No locking: the streaming thread owns the grid.
 */
#pragma once

#include <gst/gst.h>

G_BEGIN_DECLS

typedef struct
{
  guint frames;                 /* T */
  GstClockTime period;          /* W / T, >= 1 */
  guint64 stride;               /* points between two window ends, >= 1 */
  GstClockTime origin;          /* GST_CLOCK_TIME_NONE before a frame */
  guint64 base;                 /* first point of the current grid */
  guint64 next;                 /* next point to assign */
} GstHyrsmGrid;

/* What one frame does to the grid (see gst_hyrsm_grid_advance()). */
typedef struct
{
  gboolean restarted;           /* the grid restarted at this frame */
  guint64 begin;                /* points begin..end-1 were passed... */
  guint64 end;
  guint64 first_covered;       /* ...of which first_covered..end-1 lie in the
                                 * frame's interval (none when equal to end) */
  gboolean truncated;           /* the frame covers more points than one
                                 * advance assigns (the rest is a gap) */
} GstHyrsmGridStep;

void gst_hyrsm_grid_init (GstHyrsmGrid *grid, guint frames,
    GstClockTime window, GstClockTime stride);

/* Rounds @stride to whole periods (at least 1, saturating). */
guint64 gst_hyrsm_grid_stride_points (GstClockTime period, GstClockTime
    stride);

/* Forgets the timeline: the next frame starts a new grid. */
void gst_hyrsm_grid_reset (GstHyrsmGrid *grid);

/* Passes the grid over a frame covering running times [start, end):
 * points before @start that no frame covered are skipped (missing), the
 * points inside are the frame's. @discont: the buffer is flagged DISCONT. */
void gst_hyrsm_grid_advance (GstHyrsmGrid *grid, GstClockTime start,
    GstClockTime end, gboolean discont, GstHyrsmGridStep *step);

/* The running time of point @k (of the current grid). */
GstClockTime gst_hyrsm_grid_point_time (const GstHyrsmGrid *grid, guint64 k);

/* Whether a window ends at point @k of the current grid. */
gboolean gst_hyrsm_grid_window_ends_at (const GstHyrsmGrid *grid, guint64 k);

/* Most points one frame is given (a longer frame is truncated): a minute
 * of the grid, at least four windows. */
guint64 gst_hyrsm_grid_max_points_per_frame (const GstHyrsmGrid *grid);

G_END_DECLS
