/* test-gpu.c: the CUDA backend and kernels against the CPU path, op by op
 * and end to end, in the spirit of ggml's test-backend-ops.
 *
 * Every device test compares with the CPU implementation the engine uses
 * (hyrsm-preprocess.c, the oneDNN backend, hyrsm-relation.c's Bi-MHM) or,
 * for the kernels the CPU path inlines (LayerNorm, softmax, attention),
 * with a double-precision reference written here. Tolerances, relative to
 * the largest reference value of the tensor (gpu-tolerance.h): float32
 * 1e-4; float16 1e-2, and 3e-2 for class distances; end to end also the
 * same predicted label.
 *
 * Every device test runs in a process of its own (run_isolated): a failed
 * CUDA call aborts that process only, and a fault that poisons the CUDA
 * context (a sticky error) cannot fail the tests after it. So each test
 * passes or fails on its own, and the suite always runs to its end (with
 * --keep-going, which main() adds).
 *
 * Without a usable CUDA device (no GPU, no driver, a driver too old) every
 * device test is skipped with "no CUDA device: <reason>"; the tests of
 * device selection and errors still run.
 *
 * Environment: HYRSM_FIXTURES (tests/fixtures) and HYRSM_PYTHON (a Python
 * with torch and torchvision) for the end-to-end model, which is skipped
 * without them.
 *
 * One program in parts: this file holds main() and the tests that run
 * without a device (device selection, errors, the isolation itself);
 * test-gpu-kernels.c the kernels op by op, test-gpu-backbone.c the
 * backend's embeddings and GEMMs, test-gpu-match.c the relation head and
 * end to end; gpu-test-util.c the harness and checks they share,
 * gpu-test-frame.c the test frames. */
#include "hyrsm.h"
#include "hyrsm-backend.h"
#include "hyrsm-model-private.h"
#include "hyrsm-kernels.h"
#include "gpu-test-util.h"

#include <glib/gstdio.h>
#include <string.h>

/* ---- device selection and errors (run without a device too) ---- */

static void
test_no_such_device (void)
{
  g_autoptr (GError) error = NULL;
  HyrsmBackend *be = hyrsm_backend_cuda_new (NULL, 64, 99,
      HYRSM_PRECISION_FP32, &error);
  g_assert_null (be);
  g_assert_error (error, HYRSM_ERROR, HYRSM_ERROR_NO_DEVICE);
  note ("%s", error->message);
}

/* "auto" gives CUDA with a device and the CPU without; "cuda:N" for a
 * missing N is HYRSM_ERROR_NO_DEVICE naming it. */
static void
test_model_devices (void)
{
  g_autofree char *path = write_small_model ("devices.safetensors");
  g_autoptr (GError) error = NULL;
  HyrsmModel *model = hyrsm_model_new_from_file_full (path, "auto", &error);
  g_assert_no_error (error);
  const char *device = hyrsm_model_get_device (model);
  note ("auto -> %s", device);
  g_assert_cmpstr (device, ==, no_device ? "cpu" : "cuda:0");
  g_object_unref (model);

  model = hyrsm_model_new_from_file_full (path, "cuda:7", &error);
  g_assert_null (model);
  g_assert_error (error, HYRSM_ERROR, HYRSM_ERROR_NO_DEVICE);
  g_assert_nonnull (strstr (error->message, "cuda:7"));
  g_clear_error (&error);

  model = hyrsm_model_new_from_file_full (path, "cuda:x", &error);
  g_assert_null (model);
  g_assert_error (error, HYRSM_ERROR, HYRSM_ERROR_INVALID_ARGUMENT);
  g_clear_error (&error);

  model = hyrsm_model_new_from_file_full (path, "cuda", &error);
  if (no_device) {
    g_assert_null (model);
    g_assert_error (error, HYRSM_ERROR, HYRSM_ERROR_NO_DEVICE);
    note ("cuda without a device: %s", error->message);
  } else {
    g_assert_no_error (error);
    g_assert_cmpstr (hyrsm_model_get_device (model), ==, "cuda:0");
    g_object_unref (model);
  }
  g_unlink (path);
}

/* ---- the isolation of device tests (runs without a device) ---- */

/* A failed CUDA call in a test's own process fails that process, naming
 * the call, and the process running the suite carries on. */
static void
test_isolation (void)
{
  if (g_test_subprocess ()) {
    CUDA_OK (cudaErrorInvalidValue);    /* as a failed CUDA call would */
    return;
  }
  g_test_trap_subprocess (NULL, 60 * G_USEC_PER_SEC,
      G_TEST_SUBPROCESS_DEFAULT);
  g_test_trap_assert_failed ();
  g_test_trap_assert_stderr ("*cudaErrorInvalidValue*");
}

/* ---- main ---- */

int
main (int argc, char **argv)
{
  /* One failed test must not stop the others (GLib stops at the first
   * failure without --keep-going). */
  char **args = g_new0 (char *, argc + 2);
  for (int i = 0; i < argc; i++)
    args[i] = argv[i];
  args[argc++] = (char *) "--keep-going";
  argv = args;
  g_test_init (&argc, &argv, NULL);
  tmpdir = g_dir_make_tmp ("hyrsm-gpu-XXXXXX", NULL);
  g_assert_nonnull (tmpdir);

  char *reason = NULL;
  int count = hyrsm_cuda_device_count (&reason);
  if (count == 0)
    no_device = g_strdup_printf ("no CUDA device: %s", reason);
  else if (cudaSetDevice (0) != cudaSuccess
      || hyrsm_cuda_kernels_probe () != cudaSuccess)
    no_device = g_strdup_printf ("no CUDA device: cuda:0 cannot run this "
        "build's kernels (%s)", cudaGetErrorString (cudaGetLastError ()));
  g_free (reason);
  if (no_device)
    g_printerr ("# %s: the device tests skip\n", no_device);

  g_test_add_func ("/gpu/errors/no-such-device", test_no_such_device);
  g_test_add_func ("/gpu/model/devices", test_model_devices);
  g_test_add_func ("/gpu/isolation/cuda-failure", test_isolation);
  gpu_add_kernel_tests ();
  gpu_add_backbone_tests ();
  gpu_add_match_tests ();

  int status = g_test_run ();
  g_free (args);
  g_rmdir (tmpdir);
  g_free (tmpdir);
  g_free (no_device);
  return status;
}
