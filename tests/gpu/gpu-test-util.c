/* gpu-test-util.c: the harness and checks the parts of test-gpu share
 * (gpu-test-util.h). */
#include "gpu-test-util.h"
#include "test-model-writer.h"

#include <math.h>
#include <stdio.h>

#define CHILD_TIMEOUT_S 150     /* one device test, in its own process */

char *no_device;
char *tmpdir;

/* g_test_message() for a test that may run in a child process: the child
 * runs quietly (-q) and its messages would be lost, so it prints them as
 * TAP comments on the stdout it shares with the parent. */
void
note (const char *format, ...)
{
  va_list args;
  va_start (args, format);
  g_autofree char *text = g_strdup_vprintf (format, args);
  va_end (args);
  if (g_test_subprocess ()) {
    g_print ("# %s\n", text);
    fflush (stdout);            /* before a crash can lose it */
  } else
    g_test_message ("%s", text);
}

/* Runs the current test again in a child process (see test-gpu.c) and fails
 * it when the child fails, crashes or runs out of time. */
void
run_child (void)
{
  g_test_trap_subprocess (NULL, (guint64) CHILD_TIMEOUT_S * G_USEC_PER_SEC,
      G_TEST_SUBPROCESS_INHERIT_STDOUT | G_TEST_SUBPROCESS_INHERIT_STDERR);
  if (g_test_trap_reached_timeout ())
    g_test_fail_printf ("no result after %d s (the test's process was "
        "killed)", CHILD_TIMEOUT_S);
  else if (!g_test_trap_has_passed ())
    g_test_fail_printf ("failed in its own process: see its messages "
        "above");
}

typedef struct
{
  GTestDataFunc func;
  gconstpointer data;
} Isolated;

/* A device test: skipped without a device, otherwise run in a child. */
static void
run_isolated (gconstpointer p)
{
  const Isolated *t = p;
  if (g_test_subprocess ()) {
    t->func (t->data);
    return;
  }
  if (no_device) {
    g_test_skip (no_device);
    return;
  }
  run_child ();
}

void
add_device_test (const char *path, GTestDataFunc func, gconstpointer data)
{
  Isolated *t = g_new (Isolated, 1);     /* lives as long as the process */
  t->func = func;
  t->data = data;
  g_test_add_data_func (path, t, run_isolated);
}

static void
call_func (gconstpointer func)
{
  ((GTestFunc) func) ();
}

void
add_device_func (const char *path, GTestFunc func)
{
  add_device_test (path, call_func, (gconstpointer) func);
}

/* ---- helpers ---- */

void *
dev_upload (const void *host, gsize bytes)
{
  void *p = NULL;
  CUDA_OK (cudaMalloc (&p, MAX (bytes, 1)));
  if (host)
    CUDA_OK (cudaMemcpy (p, host, bytes, cudaMemcpyHostToDevice));
  return p;
}

void *
dev_download (const void *dev, gsize bytes)
{
  void *host = g_malloc (MAX (bytes, 1));
  CUDA_OK (cudaDeviceSynchronize ());
  CUDA_OK (cudaMemcpy (host, dev, bytes, cudaMemcpyDeviceToHost));
  return host;
}

float
half_to_float (guint16 h)
{
  guint32 sign = (h >> 15) & 1, exp = (h >> 10) & 31, mant = h & 1023;
  float v;
  if (exp == 0)
    v = ldexpf ((float) mant, -24);
  else if (exp == 31)
    v = mant ? NAN : INFINITY;
  else
    v = ldexpf ((float) (mant | 1024), (int) exp - 25);
  return sign ? -v : v;
}


void
check_close (const char *what, double err, double tol)
{
  note ("%s: relative error %.3g (tolerance %.0e)", what, err, tol);
  if (!(err < tol)) {
    note ("FAIL: %s: relative error %.3g is not below %.0e", what, err, tol);
    g_test_fail_printf ("%s: relative error %.3g is not below %.0e", what,
        err, tol);
  }
}

/* Class distances against the CPU's: gpu_check_distances(). */
void
check_distances (const char *what, const double *got, const double *ref,
    guint n, double tol)
{
  g_autofree char *why = gpu_check_distances (got, ref, n, tol);
  if (why) {
    note ("FAIL: %s: %s", what, why);
    g_test_fail_printf ("%s: %s", what, why);
  }
}

char *
write_small_model (const char *name)
{
  static const char *const meta[] = { "hyrsm.crop", "32", "hyrsm.resize",
    "36", NULL
  };
  TestModelSpec spec = {.backbone = "resnet18",.extra_metadata = meta,
    .seed = 3
  };
  g_autoptr (GError) error = NULL;
  char *path = g_build_filename (tmpdir, name, NULL);
  g_assert_true (test_model_write (path, &spec, &error));
  g_assert_no_error (error);
  return path;
}
