/* test-gpu-tolerance.c: the pass / fail rule of the GPU parity tests
 * (gpu-tolerance.h). Needs no GPU, so it runs everywhere. */
#include "gpu-tolerance.h"

#include <math.h>
#include <string.h>

static void
test_rel_error (void)
{
  const float ref[3] = { 2.0f, -4.0f, 1.0f };
  const float same[3] = { 2.0f, -4.0f, 1.0f };
  const float off[3] = { 2.0f, -4.04f, 1.0f };
  const float nan_[3] = { 2.0f, NAN, 1.0f };
  const float inf_[3] = { INFINITY, -4.0f, 1.0f };
  const float zero[2] = { 0, 0 }, small[2] = { 1e-6f, 0 };
  g_assert_cmpfloat (gpu_rel_error (same, ref, 3), ==, 0.0);
  /* 0.04 against the largest reference magnitude, 4 */
  g_assert_cmpfloat_with_epsilon (gpu_rel_error (off, ref, 3), 0.01, 1e-6);
  g_assert_true (isinf (gpu_rel_error (nan_, ref, 3)));
  g_assert_true (isinf (gpu_rel_error (inf_, ref, 3)));
  /* an all-zero reference: the absolute error */
  g_assert_cmpfloat_with_epsilon (gpu_rel_error (small, zero, 2), 1e-6,
      1e-9);
  const double dref[3] = { 2.0, -4.0, 1.0 };
  g_assert_cmpfloat_with_epsilon (gpu_rel_error_d (off, dref, 3), 0.01,
      1e-6);
}

static void
test_argmin (void)
{
  const double d[4] = { 3.0, 1.0, 2.0, 1.0 };
  g_assert_cmpuint (gpu_argmin (d, 4), ==, 1);  /* the first of equals */
  g_assert_cmpuint (gpu_argmin (d, 1), ==, 0);
}

/* float16 distances 1.4 % off (what 3e-3 feature noise gives on the
 * end-to-end fixture) pass at 3e-2 and would have failed at 1e-2. */
static void
test_fp16_distances (void)
{
  const double ref[5] = { 1.20, 0.80, 1.50, 1.10, 1.30 };
  double got[5];
  for (int i = 0; i < 5; i++)
    got[i] = ref[i] * (i % 2 ? 1.014 : 0.986);
  char *why = gpu_check_distances (got, ref, 5, GPU_TOL_FP16_DISTANCE);
  g_assert_null (why);
  why = gpu_check_distances (got, ref, 5, GPU_TOL_FP16);
  g_assert_nonnull (why);
  g_test_message ("at 1e-2: %s", why);
  g_free (why);
}

static void
test_wrong_label (void)
{
  /* Small errors, but the best class changes although the reference
   * separates the two by far more than the tolerance. */
  const double ref[3] = { 1.00, 0.50, 0.60 };
  const double got[3] = { 1.00, 0.56, 0.55 };
  char *why = gpu_check_distances (got, ref, 3, 0.08);
  g_assert_nonnull (why);
  g_assert_nonnull (strstr (why, "predicted class 2"));
  g_free (why);
}

static void
test_tie (void)
{
  /* The reference's two best are 0.1 % apart: the tolerance cannot tell
   * them apart, so either prediction passes. */
  const double ref[3] = { 1.000, 0.5000, 0.5010 };
  const double got[3] = { 1.001, 0.5012, 0.5008 };
  char *why = gpu_check_distances (got, ref, 3, GPU_TOL_FP16_DISTANCE);
  g_assert_null (why);
}

static void
test_too_far (void)
{
  const double ref[2] = { 1.0, 2.0 };
  const double got[2] = { 1.0, 2.1 };
  char *why = gpu_check_distances (got, ref, 2, GPU_TOL_FP16_DISTANCE);
  g_assert_nonnull (why);
  g_test_message ("%s", why);
  g_free (why);
  const double nan_[2] = { 1.0, NAN };
  why = gpu_check_distances (nan_, ref, 2, GPU_TOL_FP16_DISTANCE);
  g_assert_nonnull (why);
  g_free (why);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/gpu-tolerance/rel-error", test_rel_error);
  g_test_add_func ("/gpu-tolerance/argmin", test_argmin);
  g_test_add_func ("/gpu-tolerance/fp16-distances", test_fp16_distances);
  g_test_add_func ("/gpu-tolerance/wrong-label", test_wrong_label);
  g_test_add_func ("/gpu-tolerance/tie", test_tie);
  g_test_add_func ("/gpu-tolerance/too-far", test_too_far);
  return g_test_run ();
}
