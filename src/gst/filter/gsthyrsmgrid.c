/* gsthyrsmgrid.c: hyrsmfilter's sampling grid (see gsthyrsmgrid.h).
 *
 * Everything is integer arithmetic on running times and point numbers,
 * written so that no property value or timestamp can overflow it or make
 * it loop: the filter walks only the points an advance returns, and one
 * advance returns at most a window of missing points plus
 * gst_hyrsm_grid_max_points_per_frame() covered ones.
 */
#include "gsthyrsmgrid.h"

/* Points are at most a minute of the grid per frame, but never fewer than
 * four windows' worth (a slow camera's frame may span several windows). */
#define MAX_FRAME_SPAN (60 * GST_SECOND)

guint64
gst_hyrsm_grid_stride_points (GstClockTime period, GstClockTime stride)
{
  g_return_val_if_fail (period > 0, 1);
  /* Rounded to nearest without computing stride + period / 2, which
   * overflows near G_MAXUINT64. */
  guint64 points = stride / period;
  if (stride % period >= period - period / 2)
    points++;
  return MAX (points, 1);
}

void
gst_hyrsm_grid_init (GstHyrsmGrid *grid, guint frames, GstClockTime window,
    GstClockTime stride)
{
  g_return_if_fail (frames > 0);
  grid->frames = frames;
  grid->period = MAX (window / frames, 1);
  grid->stride = gst_hyrsm_grid_stride_points (grid->period, stride);
  grid->origin = GST_CLOCK_TIME_NONE;
  grid->base = 0;
  grid->next = 0;
}

void
gst_hyrsm_grid_reset (GstHyrsmGrid *grid)
{
  grid->origin = GST_CLOCK_TIME_NONE;
  grid->base = grid->next;
}

guint64
gst_hyrsm_grid_max_points_per_frame (const GstHyrsmGrid *grid)
{
  return MAX ((guint64) 4 * grid->frames, MAX_FRAME_SPAN / grid->period);
}

GstClockTime
gst_hyrsm_grid_point_time (const GstHyrsmGrid *grid, guint64 k)
{
  return grid->origin + (k - grid->base) * grid->period + grid->period / 2;
}

/* How many points of the current grid lie before running time @t. */
static guint64
points_before (const GstHyrsmGrid *grid, GstClockTime t)
{
  GstClockTime first = grid->origin + grid->period / 2;
  if (t <= first)
    return 0;
  guint64 x = t - first;
  return x / grid->period + (x % grid->period ? 1 : 0);
}

static void
restart (GstHyrsmGrid *grid, GstClockTime start)
{
  grid->origin = start;
  grid->base = grid->next;
}

void
gst_hyrsm_grid_advance (GstHyrsmGrid *grid, GstClockTime start,
    GstClockTime end, gboolean discont, GstHyrsmGridStep *step)
{
  g_return_if_fail (GST_CLOCK_TIME_IS_VALID (start));
  if (!GST_CLOCK_TIME_IS_VALID (end) || end < start)
    end = start;
  step->restarted = FALSE;
  step->truncated = FALSE;

  if (!GST_CLOCK_TIME_IS_VALID (grid->origin)) {
    restart (grid, start);
    step->restarted = TRUE;
  } else {
    GstClockTime expected = gst_hyrsm_grid_point_time (grid, grid->next);
    GstClockTime window = grid->period * grid->frames;
    /* A hole of a window or more leaves no window to complete across it;
     * a DISCONT after any hole says the timeline itself broke; a frame a
     * window or more in the past means timestamps went back. Each starts
     * a new grid here instead of walking the points in between. */
    gboolean gap = start > expected && start - expected >= window;
    gboolean broken = discont && start > expected;
    gboolean backwards = end < expected && expected - end >= window;
    if (gap || broken || backwards) {
      restart (grid, start);
      step->restarted = TRUE;
    }
  }

  step->begin = grid->next;
  guint64 first = MAX (grid->next, grid->base + points_before (grid, start));
  guint64 last = MAX (first, grid->base + points_before (grid, end));
  guint64 max_points = gst_hyrsm_grid_max_points_per_frame (grid);
  if (last - first > max_points) {
    last = first + max_points;
    step->truncated = TRUE;
  }
  step->first_covered = first;
  step->end = last;
  grid->next = last;
}

gboolean
gst_hyrsm_grid_window_ends_at (const GstHyrsmGrid *grid, guint64 k)
{
  if (k < grid->base || k - grid->base + 1 < grid->frames)
    return FALSE;
  return (k - grid->base + 1 - grid->frames) % grid->stride == 0;
}
