/* gpu-tolerance.c: see gpu-tolerance.h. */
#include "gpu-tolerance.h"

#include <math.h>

#define REL_ERROR(got, ref, n) \
  G_STMT_START { \
    double diff = 0, scale = 0; \
    for (gsize i = 0; i < (n); i++) { \
      if (!isfinite ((double) (got)[i])) \
        return INFINITY; \
      diff = MAX (diff, fabs ((double) (got)[i] - (double) (ref)[i])); \
      scale = MAX (scale, fabs ((double) (ref)[i])); \
    } \
    return scale > 0 ? diff / scale : diff; \
  } G_STMT_END

double
gpu_rel_error (const float *got, const float *ref, gsize n)
{
  REL_ERROR (got, ref, n);
}

double
gpu_rel_error_d (const float *got, const double *ref, gsize n)
{
  REL_ERROR (got, ref, n);
}

double
gpu_rel_error_dd (const double *got, const double *ref, gsize n)
{
  REL_ERROR (got, ref, n);
}

guint
gpu_argmin (const double *d, guint n)
{
  guint best = 0;
  for (guint i = 1; i < n; i++)
    if (d[i] < d[best])
      best = i;
  return best;
}

char *
gpu_check_distances (const double *got, const double *ref, guint n,
    double tol)
{
  g_return_val_if_fail (n > 0, g_strdup ("no distances"));
  double err = gpu_rel_error_dd (got, ref, n);
  if (!(err < tol))
    return g_strdup_printf ("distances differ by %.3g (relative), not "
        "below %.0e", err, tol);
  double scale = 0;
  for (guint i = 0; i < n; i++)
    scale = MAX (scale, fabs (ref[i]));
  guint want = gpu_argmin (ref, n), have = gpu_argmin (got, n);
  if (have != want && ref[have] - ref[want] > tol * scale)
    return g_strdup_printf ("predicted class %u, the reference predicts %u "
        "(reference distances %.6g and %.6g)", have, want, ref[have],
        ref[want]);
  return NULL;
}
