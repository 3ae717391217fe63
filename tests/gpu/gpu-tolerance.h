/* gpu-tolerance.h: how the GPU parity tests decide that the CUDA path
 * agrees with the CPU path (tests/gpu/test-gpu-*.c); unit-tested without a
 * GPU by test-gpu-tolerance.c.
 *
 * Errors are relative to the largest reference value of a tensor. float32
 * must agree to 1e-4 everywhere. float16 activations agree to about 3e-3
 * per feature, which the relation head and the cosine distances amplify:
 * on the end-to-end fixture (ResNet-18 + 1-shot head, 5 classes), noise
 * of that size on the CPU features (Gaussian, 3e-3 of the largest
 * feature) moved the class distances by 1.4 % to 1.7 % (largest of five
 * draws). So float16 features are held to 1e-2 and float16 distances to
 * 3e-2, and the predicted label must agree either way (up to a tie within
 * the tolerance, gpu_check_distances()). */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

#define GPU_TOL_FP32 1e-4
#define GPU_TOL_FP16 1e-2
#define GPU_TOL_FP16_DISTANCE 3e-2

/* max |got - ref| / max |ref| (the absolute error when ref is all zero);
 * infinity when @got holds a NaN or an infinity. */
double gpu_rel_error (const float *got, const float *ref, gsize n);
double gpu_rel_error_d (const float *got, const double *ref, gsize n);
double gpu_rel_error_dd (const double *got, const double *ref, gsize n);

/* The index of the smallest of @n > 0 values (the first of equals): the
 * predicted class of a list of class distances. */
guint gpu_argmin (const double *d, guint n);

/* NULL when the @n class distances @got agree with the reference @ref:
 * relative error below @tol and the same predicted class, where a class
 * whose reference distance is within @tol (relative) of the best one
 * counts as the same prediction (a tie the tolerance cannot separate).
 * Otherwise a newly allocated sentence saying what differs. */
char *gpu_check_distances (const double *got, const double *ref, guint n,
    double tol);

G_END_DECLS
