/* gpu-test-util.h: what the parts of test-gpu share: the skip without a
 * device, each device test in a process of its own, device buffers, and the
 * checks against the CPU reference (gpu-tolerance.h). test-gpu.c says why
 * the tests run this way. */
#pragma once

#include "hyrsm.h"
#include "gpu-tolerance.h"
#include "test-random-net.h"       /* random_floats() */

#include <cuda_runtime_api.h>
#include <glib.h>

#define TOL_FP32 GPU_TOL_FP32
#define TOL_FP16 GPU_TOL_FP16

/* Set by main() before the tests run. */
extern char *no_device;         /* "no CUDA device: ..." or NULL */
extern char *tmpdir;

#define REQUIRE_DEVICE() \
  G_STMT_START { \
    if (no_device) { \
      g_test_skip (no_device); \
      return; \
    } \
  } G_STMT_END

/* A failed CUDA call ends the test's own process (run_isolated), which
 * fails that test alone. */
#define CUDA_OK(call) \
  G_STMT_START { \
    cudaError_t _st = (call); \
    if (_st != cudaSuccess) \
      g_error ("%s: %s", #call, cudaGetErrorString (_st)); \
  } G_STMT_END

void note (const char *format, ...) G_GNUC_PRINTF (1, 2);
void run_child (void);
void add_device_test (const char *path, GTestDataFunc func,
    gconstpointer data);
void add_device_func (const char *path, GTestFunc func);

void *dev_upload (const void *host, gsize bytes);
void *dev_download (const void *dev, gsize bytes);
float half_to_float (guint16 h);
void check_close (const char *what, double err, double tol);
void check_distances (const char *what, const double *got,
    const double *ref, guint n, double tol);
char *write_small_model (const char *name);

/* The parts' tests, registered by main() in this order. */
void gpu_add_kernel_tests (void);
void gpu_add_backbone_tests (void);
void gpu_add_match_tests (void);
