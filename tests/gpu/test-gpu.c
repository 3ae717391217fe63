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
 * without them. */
#include "hyrsm.h"
#include "hyrsm-backend.h"
#include "hyrsm-model-private.h"
#include "hyrsm-preprocess.h"
#include "hyrsm-relation.h"
#include "hyrsm-kernels.h"
#include "metric.h"
#include "test-kernels.h"
#include "test-model-writer.h"
#include "gpu-tolerance.h"

#include <cuda_runtime_api.h>
#include <glib/gstdio.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#define TOL_FP32 GPU_TOL_FP32
#define TOL_FP16 GPU_TOL_FP16
#define CHILD_TIMEOUT_S 150     /* one device test, in its own process */

static char *no_device;         /* "no CUDA device: ..." or NULL */
static char *tmpdir;

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

/* g_test_message() for a test that may run in a child process: the child
 * runs quietly (-q) and its messages would be lost, so it prints them as
 * TAP comments on the stdout it shares with the parent. */
static void G_GNUC_PRINTF (1, 2)
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

/* Runs the current test again in a child process (see the top) and fails
 * it when the child fails, crashes or runs out of time. */
static void
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

static void
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

static void
add_device_func (const char *path, GTestFunc func)
{
  add_device_test (path, call_func, (gconstpointer) func);
}

/* ---- helpers ---- */

static void *
dev_upload (const void *host, gsize bytes)
{
  void *p = NULL;
  CUDA_OK (cudaMalloc (&p, MAX (bytes, 1)));
  if (host)
    CUDA_OK (cudaMemcpy (p, host, bytes, cudaMemcpyHostToDevice));
  return p;
}

static void *
dev_download (const void *dev, gsize bytes)
{
  void *host = g_malloc (MAX (bytes, 1));
  CUDA_OK (cudaDeviceSynchronize ());
  CUDA_OK (cudaMemcpy (host, dev, bytes, cudaMemcpyDeviceToHost));
  return host;
}

static float
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


static void
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
static void
check_distances (const char *what, const double *got, const double *ref,
    guint n, double tol)
{
  g_autofree char *why = gpu_check_distances (got, ref, n, tol);
  if (why) {
    note ("FAIL: %s: %s", what, why);
    g_test_fail_printf ("%s: %s", what, why);
  }
}

static float *
random_floats (gsize n, double lo, double hi, guint32 seed)
{
  GRand *rand = g_rand_new_with_seed (seed);
  float *f = g_new (float, n);
  for (gsize i = 0; i < n; i++)
    f[i] = (float) g_rand_double_range (rand, lo, hi);
  g_rand_free (rand);
  return f;
}

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

static char *
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

/* ---- preprocess ---- */

typedef struct
{
  HyrsmKernelPixelFormat format;
  const char *name;
} Format;

static const Format formats[] = {
  {HYRSM_KERNEL_PIXEL_RGB, "RGB"}, {HYRSM_KERNEL_PIXEL_BGR, "BGR"},
  {HYRSM_KERNEL_PIXEL_RGBX, "RGBx"}, {HYRSM_KERNEL_PIXEL_BGRX, "BGRx"},
  {HYRSM_KERNEL_PIXEL_RGBA, "RGBA"}, {HYRSM_KERNEL_PIXEL_BGRA, "BGRA"},
  {HYRSM_KERNEL_PIXEL_I420, "I420"}, {HYRSM_KERNEL_PIXEL_NV12, "NV12"},
};

/* A random frame: planes with padded strides, and the packed RGB8 frame
 * the CPU path would get after conversion. */
typedef struct
{
  int n_planes;
  guint8 *plane[3];
  int stride[3], rows[3];
  guint8 *rgb;                  /* width x height x 3 */
} TestFrame;

static void
test_frame_make (TestFrame *f, int format, int matrix, int width, int height,
    guint32 seed)
{
  GRand *rand = g_rand_new_with_seed (seed);
  int cw = (width + 1) / 2, ch = (height + 1) / 2;
  int bpp = hyrsm_kernel_pixel_bytes (format);
  memset (f, 0, sizeof *f);
  if (format == HYRSM_KERNEL_PIXEL_I420) {
    f->n_planes = 3;
    f->stride[0] = width + 5;
    f->rows[0] = height;
    f->stride[1] = f->stride[2] = cw + 3;
    f->rows[1] = f->rows[2] = ch;
  } else if (format == HYRSM_KERNEL_PIXEL_NV12) {
    f->n_planes = 2;
    f->stride[0] = width + 5;
    f->rows[0] = height;
    f->stride[1] = 2 * cw + 6;
    f->rows[1] = ch;
  } else {
    f->n_planes = 1;
    f->stride[0] = width * bpp + 7;
    f->rows[0] = height;
  }
  for (int p = 0; p < f->n_planes; p++) {
    gsize size = (gsize) f->stride[p] * f->rows[p];
    f->plane[p] = g_malloc (size);
    for (gsize i = 0; i < size; i++)
      f->plane[p][i] = (guint8) g_rand_int_range (rand, 0, 256);
  }
  g_rand_free (rand);

  f->rgb = g_malloc ((gsize) width * height * 3);
  for (int y = 0; y < height; y++)
    for (int x = 0; x < width; x++) {
      guint8 *out = f->rgb + ((gsize) y * width + x) * 3;
      const guint8 *row = f->plane[0] + (gsize) y * f->stride[0];
      switch (format) {
        case HYRSM_KERNEL_PIXEL_RGB:
        case HYRSM_KERNEL_PIXEL_RGBX:
        case HYRSM_KERNEL_PIXEL_RGBA:
          memcpy (out, row + x * bpp, 3);
          break;
        case HYRSM_KERNEL_PIXEL_BGR:
        case HYRSM_KERNEL_PIXEL_BGRX:
        case HYRSM_KERNEL_PIXEL_BGRA:
          out[0] = row[x * bpp + 2];
          out[1] = row[x * bpp + 1];
          out[2] = row[x * bpp];
          break;
        case HYRSM_KERNEL_PIXEL_I420:
          hyrsm_kernel_yuv_to_rgb (matrix, row[x],
              f->plane[1][(y / 2) * f->stride[1] + x / 2],
              f->plane[2][(y / 2) * f->stride[2] + x / 2], out);
          break;
        default:{
          const guint8 *uv = f->plane[1] + (y / 2) * f->stride[1];
          hyrsm_kernel_yuv_to_rgb (matrix, row[x], uv[(x / 2) * 2],
              uv[(x / 2) * 2 + 1], out);
          break;
        }
      }
    }
}

static void
test_frame_clear (TestFrame *f)
{
  for (int p = 0; p < 3; p++)
    g_free (f->plane[p]);
  g_free (f->rgb);
}

static const float test_mean[3] = { 0.485f, 0.456f, 0.406f };
static const float test_std[3] = { 0.229f, 0.224f, 0.225f };

/* One format at one size: NCHW float32 (exact rule: 1e-4, expected 0) and
 * NHWC float16 with 8 channels (1e-2, padding zero), from device memory;
 * and NCHW from pinned host memory read in place. */
static void
check_preprocess (int format, const char *name, int matrix, int width,
    int height, int resize, int crop)
{
  TestFrame f;
  test_frame_make (&f, format, matrix, width, height,
      (guint32) (format * 1000 + width));
  gsize plane = (gsize) crop * crop;
  float *ref = g_new (float, 3 * plane);
  hyrsm_preprocess_rgb (f.rgb, width, height, width * 3, resize, crop,
      test_mean, test_std, ref);

  HyrsmKernelFrame desc = { {NULL}, {0} }, pinned_desc = desc;
  void *pinned[3] = { NULL };
  for (int p = 0; p < f.n_planes; p++) {
    gsize size = (gsize) f.stride[p] * f.rows[p];
    desc.plane[p] = dev_upload (f.plane[p], size);
    desc.stride[p] = pinned_desc.stride[p] = f.stride[p];
    CUDA_OK (cudaHostAlloc (&pinned[p], size, cudaHostAllocDefault));
    memcpy (pinned[p], f.plane[p], size);
    pinned_desc.plane[p] = pinned[p];
  }
  HyrsmKernelFrame *d_desc = dev_upload (&desc, sizeof desc);
  HyrsmKernelFrame *d_pinned_desc = dev_upload (&pinned_desc, sizeof desc);
  HyrsmPreprocessParams params = {.format = format,.yuv_matrix = matrix,
    .width = width,.height = height,.resize = resize,.crop = crop,
    .layout = HYRSM_KERNEL_NCHW,.dtype = HYRSM_KERNEL_F32,.channels = 3
  };
  memcpy (params.mean, test_mean, sizeof test_mean);
  memcpy (params.std, test_std, sizeof test_std);

  void *out = dev_upload (NULL, 8 * plane * sizeof (float));
  g_autofree char *what = NULL;

  CUDA_OK (hyrsm_cuda_preprocess (d_desc, 1, &params, out, NULL));
  float *got = dev_download (out, 3 * plane * sizeof (float));
  what = g_strdup_printf ("preprocess %s %dx%d -> %d/%d NCHW f32", name,
      width, height, resize, crop);
  check_close (what, gpu_rel_error (got, ref, 3 * plane), TOL_FP32);
  g_free (got);

  CUDA_OK (hyrsm_cuda_preprocess (d_pinned_desc, 1, &params, out, NULL));
  got = dev_download (out, 3 * plane * sizeof (float));
  g_free (what);
  what = g_strdup_printf ("preprocess %s from pinned host memory", name);
  check_close (what, gpu_rel_error (got, ref, 3 * plane), TOL_FP32);
  g_free (got);

  params.layout = HYRSM_KERNEL_NHWC;
  params.dtype = HYRSM_KERNEL_F16;
  params.channels = 8;
  CUDA_OK (hyrsm_cuda_preprocess (d_desc, 1, &params, out, NULL));
  guint16 *half = dev_download (out, 8 * plane * 2);
  float *nchw = g_new (float, 3 * plane);
  for (gsize px = 0; px < plane; px++) {
    for (int c = 0; c < 3; c++)
      nchw[c * plane + px] = half_to_float (half[px * 8 + c]);
    for (int c = 3; c < 8; c++)
      g_assert_cmpint (half[px * 8 + c], ==, 0);
  }
  g_free (what);
  what = g_strdup_printf ("preprocess %s NHWC f16", name);
  check_close (what, gpu_rel_error (nchw, ref, 3 * plane), TOL_FP16);

  g_free (nchw);
  g_free (half);
  cudaFree (out);
  cudaFree (d_desc);
  cudaFree (d_pinned_desc);
  for (int p = 0; p < f.n_planes; p++) {
    cudaFree ((void *) desc.plane[p]);
    cudaFreeHost (pinned[p]);
  }
  g_free (ref);
  test_frame_clear (&f);
}

static void
test_preprocess (gconstpointer data)
{
  const Format *fmt = data;
  REQUIRE_DEVICE ();
  check_preprocess (fmt->format, fmt->name, HYRSM_KERNEL_YUV_BT601, 640, 480,
      256, 224);
  check_preprocess (fmt->format, fmt->name, HYRSM_KERNEL_YUV_BT709, 97, 61,
      72, 64);
  check_preprocess (fmt->format, fmt->name, HYRSM_KERNEL_YUV_BT601, 3, 5, 17,
      16);
}

/* ---- layernorm, softmax, attention ---- */

static void
ref_layernorm (const float *x, int rows, int dim, const float *w,
    const float *b, double *y)
{
  for (int r = 0; r < rows; r++) {
    const float *xr = x + (gsize) r * dim;
    double mean = 0, var = 0;
    for (int j = 0; j < dim; j++)
      mean += xr[j];
    mean /= dim;
    for (int j = 0; j < dim; j++)
      var += (xr[j] - mean) * (xr[j] - mean);
    double inv = 1.0 / sqrt (var / dim + 1e-5);
    for (int j = 0; j < dim; j++)
      y[(gsize) r * dim + j] = (xr[j] - mean) * inv * w[j] + b[j];
  }
}

static void
test_layernorm (void)
{
  REQUIRE_DEVICE ();
  static const int dims[] = { 512, 2048, 37 };
  for (guint t = 0; t < G_N_ELEMENTS (dims); t++) {
    int rows = 9, dim = dims[t];
    gsize n = (gsize) rows * dim;
    float *x = random_floats (n, 2.0, 4.0, 1 + t);      /* mean far from 0 */
    float *w = random_floats (dim, 0.5, 1.5, 2 + t);
    float *b = random_floats (dim, -0.5, 0.5, 3 + t);
    double *ref = g_new (double, n);
    ref_layernorm (x, rows, dim, w, b, ref);
    float *dx = dev_upload (x, n * 4), *dw = dev_upload (w, dim * 4);
    float *db = dev_upload (b, dim * 4);
    CUDA_OK (hyrsm_cuda_layernorm (dx, rows, dim, dw, db, 1e-5f, dx, NULL));
    float *got = dev_download (dx, n * 4);
    g_autofree char *what = g_strdup_printf ("layernorm %d x %d (in place)",
        rows, dim);
    check_close (what, gpu_rel_error_d (got, ref, n), TOL_FP32);
    cudaFree (dx);
    cudaFree (dw);
    cudaFree (db);
    g_free (got);
    g_free (ref);
    g_free (x);
    g_free (w);
    g_free (b);
  }
}

static void
test_softmax (void)
{
  REQUIRE_DEVICE ();
  static const int ns[] = { 9, 300 };
  for (guint t = 0; t < G_N_ELEMENTS (ns); t++) {
    int rows = 17, n = ns[t];
    gsize count = (gsize) rows * n;
    float scale = 0.125f;
    float *x = random_floats (count, -20.0, 20.0, 10 + t);
    double *ref = g_new (double, count);
    for (int r = 0; r < rows; r++) {
      double max = -INFINITY, sum = 0;
      for (int j = 0; j < n; j++)
        max = MAX (max, (double) scale * x[r * n + j]);
      for (int j = 0; j < n; j++)
        sum += exp ((double) scale * x[r * n + j] - max);
      for (int j = 0; j < n; j++)
        ref[r * n + j] = exp ((double) scale * x[r * n + j] - max) / sum;
    }
    float *dx = dev_upload (x, count * 4);
    CUDA_OK (hyrsm_cuda_softmax_rows (dx, rows, n, scale, dx, NULL));
    float *got = dev_download (dx, count * 4);
    g_autofree char *what = g_strdup_printf ("softmax %d x %d", rows, n);
    check_close (what, gpu_rel_error_d (got, ref, count), TOL_FP32);
    cudaFree (dx);
    g_free (got);
    g_free (ref);
    g_free (x);
  }
}

/* Q, K, V interleaved as in the intra-relation's QKV product (ld = 3D). */
static void
check_attention (int n, int heads, int d, guint32 seed)
{
  int D = heads * d, ld = 3 * D;
  gsize count = (gsize) n * ld;
  float *qkv = random_floats (count, -1.0, 1.0, seed);
  double *ref = g_new0 (double, (gsize) n * D);
  double *p = g_new (double, n);
  for (int h = 0; h < heads; h++)
    for (int i = 0; i < n; i++) {
      double max = -INFINITY, sum = 0;
      for (int j = 0; j < n; j++) {
        double dot = 0;
        for (int c = 0; c < d; c++)
          dot += (double) qkv[i * ld + h * d + c]
              * qkv[j * ld + D + h * d + c];
        p[j] = dot / sqrt ((double) d);
        max = MAX (max, p[j]);
      }
      for (int j = 0; j < n; j++)
        sum += (p[j] = exp (p[j] - max));
      for (int j = 0; j < n; j++)
        for (int c = 0; c < d; c++)
          ref[(gsize) i * D + h * d + c] += p[j] / sum
              * qkv[j * ld + 2 * D + h * d + c];
    }
  float *dqkv = dev_upload (qkv, count * 4);
  float *dout = dev_upload (NULL, (gsize) n * D * 4);
  CUDA_OK (hyrsm_cuda_attention (dqkv, dqkv + D, dqkv + 2 * D, ld, n, heads,
          d, dout, D, NULL));
  float *got = dev_download (dout, (gsize) n * D * 4);
  g_autofree char *what = g_strdup_printf ("attention %d tokens, %d heads "
      "of %d", n, heads, d);
  check_close (what, gpu_rel_error_d (got, ref, (gsize) n * D), TOL_FP32);
  cudaFree (dqkv);
  cudaFree (dout);
  g_free (got);
  g_free (p);
  g_free (ref);
  g_free (qkv);
}

static void
test_attention (void)
{
  REQUIRE_DEVICE ();
  check_attention (8, 8, 64, 21);       /* intra, ResNet-18/34 */
  check_attention (8, 8, 256, 22);      /* intra, ResNet-50 */
  check_attention (26, 8, 256, 23);     /* inter, 25 tokens + query */
}

/* ---- metric ---- */

static void
test_metric (void)
{
  REQUIRE_DEVICE ();
  const int tokens = 25, rows = 8, dim = 2048;
  gsize per = (gsize) rows * dim;
  float *support = random_floats (tokens * per, -1.0, 1.0, 31);
  float *query = random_floats (per, -1.0, 1.0, 32);
  memcpy (support + 7 * per, query, per * sizeof (float));     /* distance 0 */
  memset (support + 3 * per, 0, dim * sizeof (float));  /* a zero row */
  double *ref = g_new (double, tokens);
  double qn[8], sn[8];
  hyrsm_row_norms (query, rows, dim, qn);
  for (int m = 0; m < tokens; m++) {
    hyrsm_row_norms (support + m * per, rows, dim, sn);
    ref[m] = hyrsm_bimhm (support + m * per, sn, query, qn, rows, dim);
  }
  float *ds = dev_upload (support, tokens * per * 4);
  float *dq = dev_upload (query, per * 4);
  float *dd = dev_upload (NULL, tokens * 4);
  CUDA_OK (hyrsm_cuda_bimhm (ds, tokens, dq, rows, dim, dd, NULL));
  float *got = dev_download (dd, tokens * 4);
  check_close ("Bi-MHM, 25 tokens of 8 x 2048", gpu_rel_error_d (got, ref,
          tokens), TOL_FP32);
  g_assert_cmpfloat (fabs (got[7]), <, 1e-5);
  cudaFree (ds);
  cudaFree (dq);
  cudaFree (dd);
  g_free (got);
  g_free (ref);
  g_free (support);
  g_free (query);
}

/* ---- element-wise ---- */

static void
test_elementwise (void)
{
  REQUIRE_DEVICE ();
  const int n = 2, c = 3, h = 5, w = 7, cp = 4, rows = 8, cols = 300;
  gsize img = (gsize) n * c * h * w;
  float *x = random_floats (img, -2.0, 2.0, 41);
  float *dx = dev_upload (x, img * 4);
  float *dy = dev_upload (NULL, (gsize) n * h * w * cp * 4);

  /* NCHW -> NHWC, padded: exact. */
  CUDA_OK (hyrsm_cuda_nchw_to_nhwc (dx, n, c, h, w, cp, HYRSM_KERNEL_F32, dy,
          NULL));
  float *got = dev_download (dy, (gsize) n * h * w * cp * 4);
  for (int f = 0; f < n; f++)
    for (int p = 0; p < h * w; p++)
      for (int ch = 0; ch < cp; ch++)
        g_assert_cmpfloat (got[((gsize) f * h * w + p) * cp + ch], ==,
            ch < c ? x[((gsize) f * c + ch) * h * w + p] : 0.0f);
  /* Global average pool of that. */
  float *dp = dev_upload (NULL, (gsize) n * cp * 4);
  CUDA_OK (hyrsm_cuda_avgpool_nhwc (dy, HYRSM_KERNEL_F32, n, h * w, cp, dp,
          NULL));
  float *pooled = dev_download (dp, (gsize) n * cp * 4);
  double ref_pool[2 * 4];
  for (int f = 0; f < n; f++)
    for (int ch = 0; ch < cp; ch++) {
      double s = 0;
      for (int p = 0; ch < c && p < h * w; p++)
        s += x[((gsize) f * c + ch) * h * w + p];
      ref_pool[f * cp + ch] = s / (h * w);
    }
  check_close ("average pool", gpu_rel_error_d (pooled, ref_pool, n * cp),
      TOL_FP32);

  /* bias + residual + ReLU, scale_add, add_row, mean_rows. */
  gsize m = (gsize) rows * cols;
  float *a = random_floats (m, -1.0, 1.0, 42);
  float *b = random_floats (m, -1.0, 1.0, 43);
  float *bias = random_floats (cols, -1.0, 1.0, 44);
  float *da = dev_upload (a, m * 4), *db = dev_upload (b, m * 4);
  float *dbias = dev_upload (bias, cols * 4);
  float *dout = dev_upload (NULL, m * 4);
  float *expect = g_new (float, m);

  CUDA_OK (cudaMemcpy (dout, da, m * 4, cudaMemcpyDeviceToDevice));
  CUDA_OK (hyrsm_cuda_bias_act (dout, HYRSM_KERNEL_F32, dbias, db, rows, cols,
          TRUE, NULL));
  float *r1 = dev_download (dout, m * 4);
  for (gsize i = 0; i < m; i++)
    expect[i] = MAX (a[i] + bias[i % cols] + b[i], 0.0f);
  check_close ("bias + residual + ReLU", gpu_rel_error (r1, expect, m), TOL_FP32);

  CUDA_OK (hyrsm_cuda_scale_add (da, 2.5f, db, 0.5f, m, dout, NULL));
  float *r2 = dev_download (dout, m * 4);
  for (gsize i = 0; i < m; i++)
    expect[i] = 2.5f * a[i] + 0.5f * b[i];
  check_close ("scale_add", gpu_rel_error (r2, expect, m), TOL_FP32);

  CUDA_OK (hyrsm_cuda_add_row (da, dbias, rows, cols, dout, NULL));
  float *r3 = dev_download (dout, m * 4);
  for (gsize i = 0; i < m; i++)
    expect[i] = a[i] + bias[i % cols];
  check_close ("add_row", gpu_rel_error (r3, expect, m), TOL_FP32);
  /* two matrices of rows / 2 rows, each with its own row (b's first two) */
  CUDA_OK (hyrsm_cuda_add_row_batched (da, db, 2, rows / 2, cols, dout,
          NULL));
  g_free (r3);
  r3 = dev_download (dout, m * 4);
  for (gsize i = 0; i < m; i++)
    expect[i] = a[i] + b[i / ((gsize) (rows / 2) * cols) * cols + i % cols];
  check_close ("add_row_batched", gpu_rel_error (r3, expect, m), TOL_FP32);

  CUDA_OK (hyrsm_cuda_mean_rows (da, 2, rows / 2, cols, dout, NULL));
  float *r4 = dev_download (dout, 2 * cols * 4);
  for (int bt = 0; bt < 2; bt++)
    for (int j = 0; j < cols; j++) {
      double s = 0;
      for (int r = 0; r < rows / 2; r++)
        s += a[((gsize) bt * (rows / 2) + r) * cols + j];
      expect[bt * cols + j] = (float) (s / (rows / 2));
    }
  check_close ("mean_rows", gpu_rel_error (r4, expect, 2 * cols), TOL_FP32);

  void *dh = dev_upload (NULL, m * 2);
  CUDA_OK (hyrsm_cuda_f32_to_f16 (da, m, dh, NULL));
  guint16 *h16 = dev_download (dh, m * 2);
  for (gsize i = 0; i < m; i++)
    expect[i] = half_to_float (h16[i]);
  check_close ("f32 -> f16", gpu_rel_error (expect, a, m), 1e-3);

  void *ptrs[] = { dx, dy, dp, da, db, dbias, dout, dh };
  for (guint i = 0; i < G_N_ELEMENTS (ptrs); i++)
    cudaFree (ptrs[i]);
  void *host[] = { x, got, pooled, a, b, bias, expect, r1, r2, r3, r4, h16 };
  for (guint i = 0; i < G_N_ELEMENTS (host); i++)
    g_free (host[i]);
}

/* ---- backbone: random networks (as tests/unit/test-backbone.c) ---- */

#include "test-random-net.h"

static float *
embed_with (HyrsmBackend *be, const float *frames, int n, int dim)
{
  g_autoptr (GError) error = NULL;
  float *features = g_new (float, (gsize) n * dim);
  gboolean ok = be->ops->embed (be, frames, n, features, &error);
  g_assert_no_error (error);
  g_assert_true (ok);
  return features;
}

static HyrsmBackend *
cuda_new (const HyrsmBackboneWeights *w, int crop, HyrsmPrecision precision)
{
  g_autoptr (GError) error = NULL;
  HyrsmBackend *be = hyrsm_backend_cuda_new (w, crop, 0, precision, &error);
  g_assert_no_error (error);
  g_assert_nonnull (be);
  note ("%s", hyrsm_backend_cuda_describe (be));
  return be;
}

typedef struct
{
  const char *name;
  gboolean bottleneck;
  int blocks[4];
  int base, crop, n;
  HyrsmPrecision precision;
} NetCase;

static const NetCase net_cases[] = {
  {"resnet18/fp32", FALSE, {2, 2, 2, 2}, 64, 64, 3, HYRSM_PRECISION_FP32},
  {"resnet18/fp16", FALSE, {2, 2, 2, 2}, 64, 64, 3, HYRSM_PRECISION_FP16},
  {"resnet50/fp32", TRUE, {3, 4, 6, 3}, 64, 64, 2, HYRSM_PRECISION_FP32},
  {"resnet50/fp16", TRUE, {3, 4, 6, 3}, 64, 64, 2, HYRSM_PRECISION_FP16},
  {"narrow-basic/fp32", FALSE, {2, 2, 2, 2}, 12, 45, 3, HYRSM_PRECISION_FP32},
  {"narrow-bottleneck/fp16", TRUE, {1, 2, 1, 1}, 8, 29, 2,
      HYRSM_PRECISION_FP16},
};

/* CPU (oneDNN) and CUDA backends on the same random network and frames;
 * batch 1 and batch n; every call repeated so that the second runs the
 * captured CUDA graph, which must give the same bits. */
static void
test_backbone (gconstpointer data)
{
  const NetCase *nc = data;
  REQUIRE_DEVICE ();
  HyrsmBackboneWeights *w = make_backbone (nc->bottleneck, nc->blocks,
      nc->base, 7);
  int dim = w->feature_dim, n = nc->n;
  double tol = nc->precision == HYRSM_PRECISION_FP32 ? TOL_FP32 : TOL_FP16;
  float *frames = random_floats ((gsize) n * 3 * nc->crop * nc->crop, -2.0,
      2.0, 8);
  g_autoptr (GError) error = NULL;
  HyrsmBackend *cpu = hyrsm_backend_cpu_new (w, nc->crop, FALSE, &error);
  g_assert_no_error (error);
  HyrsmBackend *gpu = cuda_new (w, nc->crop, nc->precision);
  backbone_free (w);            /* both made their own copies */

  float *ref = embed_with (cpu, frames, n, dim);
  float *first = embed_with (gpu, frames, n, dim);
  float *again = embed_with (gpu, frames, n, dim);
  float *one = embed_with (gpu, frames, 1, dim);
  float *one_again = embed_with (gpu, frames, 1, dim);
  for (int i = 0; i < n; i++) {
    g_autofree char *what = g_strdup_printf ("%s frame %d of %d", nc->name,
        i, n);
    check_close (what, gpu_rel_error (first + (gsize) i * dim,
            ref + (gsize) i * dim, dim), tol);
  }
  check_close ("batch 1 against the CPU", gpu_rel_error (one, ref, dim), tol);
  g_assert_cmpmem (first, (gsize) n * dim * 4, again, (gsize) n * dim * 4);
  g_assert_cmpmem (one, (gsize) dim * 4, one_again, (gsize) dim * 4);

  cpu->ops->destroy (cpu);
  gpu->ops->destroy (gpu);
  void *host[] = { frames, ref, first, again, one, one_again };
  for (guint i = 0; i < G_N_ELEMENTS (host); i++)
    g_free (host[i]);
}

/* Frames in a pixel format through the backend's fused pre-processing
 * against the CPU pre-processing and the CPU backbone. */
static void
test_embed_frames (void)
{
  REQUIRE_DEVICE ();
  static const int blocks[4] = { 2, 2, 2, 2 };
  const int crop = 64, resize = 72, width = 97, height = 61, n = 3;
  HyrsmBackboneWeights *w = make_backbone (FALSE, blocks, 16, 9);
  int dim = w->feature_dim;
  g_autoptr (GError) error = NULL;
  HyrsmBackend *cpu = hyrsm_backend_cpu_new (w, crop, FALSE, &error);
  g_assert_no_error (error);
  HyrsmBackend *gpu = cuda_new (w, crop, HYRSM_PRECISION_FP32);
  backbone_free (w);

  for (guint fi = 0; fi < G_N_ELEMENTS (formats); fi++) {
    TestFrame f[3];
    HyrsmFramePlanes planes[3];
    float *normalized = g_new (float, (gsize) n * 3 * crop * crop);
    for (int i = 0; i < n; i++) {
      test_frame_make (&f[i], formats[fi].format, HYRSM_KERNEL_YUV_BT601,
          width, height, 50 + i);
      for (int p = 0; p < 3; p++) {
        planes[i].plane[p] = f[i].plane[p];
        planes[i].stride[p] = f[i].stride[p];
      }
      hyrsm_preprocess_rgb (f[i].rgb, width, height, width * 3, resize, crop,
          test_mean, test_std, normalized + (gsize) i * 3 * crop * crop);
    }
    float *ref = embed_with (cpu, normalized, n, dim);
    float *got = g_new (float, (gsize) n * dim);
    gboolean ok = gpu->ops->embed_frames (gpu,
        (HyrsmPixelFormat) formats[fi].format, HYRSM_YUV_BT601, planes, n,
        width, height, resize, test_mean, test_std, got, &error);
    g_assert_no_error (error);
    g_assert_true (ok);
    g_autofree char *what = g_strdup_printf ("embed_frames %s",
        formats[fi].name);
    check_close (what, gpu_rel_error (got, ref, (gsize) n * dim), TOL_FP32);
    for (int i = 0; i < n; i++)
      test_frame_clear (&f[i]);
    g_free (normalized);
    g_free (ref);
    g_free (got);
  }
  cpu->ops->destroy (cpu);
  gpu->ops->destroy (gpu);
}

/* ---- GEMM ---- */

static void
check_gemm (HyrsmPrecision precision, double tol)
{
  const int m = 9, n = 1536, k = 512;
  float *a = random_floats ((gsize) m * k, -1.0, 1.0, 61);
  float *b = random_floats ((gsize) n * k, -1.0, 1.0, 62);
  float *ref = g_new (float, (gsize) m * n);
  float *got = g_new (float, (gsize) m * n);
  g_autoptr (GError) error = NULL;
  HyrsmBackend *cpu = hyrsm_backend_cpu_new (NULL, 32, FALSE, &error);
  g_assert_no_error (error);
  HyrsmBackend *gpu = cuda_new (NULL, 32, precision);
  g_assert_true (cpu->ops->gemm_nt (cpu, m, n, k, a, b, ref, &error));
  g_assert_no_error (error);

  g_assert_true (gpu->ops->gemm_nt (gpu, m, n, k, a, b, got, &error));
  g_assert_no_error (error);
  check_close ("gemm_nt 9 x 1536 x 512", gpu_rel_error (got, ref,
          (gsize) m * n), tol);
  for (int round = 0; round < 2; round++) {     /* upload, then cached */
    memset (got, 0, (gsize) m * n * 4);
    g_assert_true (gpu->ops->gemm_nt_weight (gpu, m, n, k, a, b, got,
            &error));
    g_assert_no_error (error);
    check_close ("gemm_nt_weight", gpu_rel_error (got, ref, (gsize) m * n), tol);
  }
  g_assert_false (gpu->ops->gemm_nt (gpu, 0, n, k, a, b, got, &error));
  g_assert_error (error, HYRSM_ERROR, HYRSM_ERROR_INVALID_ARGUMENT);
  cpu->ops->destroy (cpu);
  gpu->ops->destroy (gpu);
  g_free (a);
  g_free (b);
  g_free (ref);
  g_free (got);
}

static void
test_gemm (void)
{
  REQUIRE_DEVICE ();
  check_gemm (HYRSM_PRECISION_FP32, TOL_FP32);
  check_gemm (HYRSM_PRECISION_FP16, TOL_FP16);  /* TF32 GEMMs */
}

/* ---- end to end through the public API ---- */

/* A ResNet-18 + 1-shot head made by tests/fixtures/make_model.py (well
 * scaled random weights), at a small crop. NULL (and a skip) without
 * Python + torch. tests/gpu/run.sh makes the same file (same arguments). */
static char *
make_head_model (void)
{
  const char *fixtures = g_getenv ("HYRSM_FIXTURES");
  const char *python = g_getenv ("HYRSM_PYTHON");
  if (fixtures == NULL) {
    g_test_skip ("HYRSM_FIXTURES is not set");
    return NULL;
  }
  g_autofree char *script = g_build_filename (fixtures, "make_model.py",
      NULL);
  char *path = g_build_filename (tmpdir, "e2e.safetensors", NULL);
  const char *argv[] = { python ? python : "python3", script, path,
    "--backbone", "resnet18", "--head", "1shot", "--seed", "5",
    "--meta", "hyrsm.crop=112", "--meta", "hyrsm.resize=128", NULL
  };
  g_autofree char *err_text = NULL;
  g_autoptr (GError) error = NULL;
  int status = 0;
  if (!g_spawn_sync (NULL, (char **) argv, NULL, G_SPAWN_SEARCH_PATH, NULL,
          NULL, NULL, &err_text, &status, &error)
      || !g_spawn_check_wait_status (status, NULL)) {
    g_autofree char *msg = g_strdup_printf ("cannot make the model with %s "
        "(needs torch, torchvision, numpy): %s", argv[0],
        error ? error->message : err_text);
    g_test_skip (msg);
    g_free (path);
    return NULL;
  }
  return path;
}

/* T frames of one synthetic "action": a moving coloured gradient whose
 * colour and direction depend on @class, plus noise. */
static guint8 *
action_frames (int class, int T, int width, int height, guint32 seed)
{
  GRand *rand = g_rand_new_with_seed (seed);
  guint8 *rgb = g_malloc ((gsize) T * width * height * 3);
  for (int t = 0; t < T; t++)
    for (int y = 0; y < height; y++)
      for (int x = 0; x < width; x++) {
        guint8 *p = rgb + (((gsize) t * height + y) * width + x) * 3;
        double phase = (class % 2 ? x : y) * 0.05 + t * (0.3 + 0.2 * class);
        for (int c = 0; c < 3; c++) {
          double v = 128 + 100 * sin (phase + c * (1 + class));
          v += g_rand_double_range (rand, -20, 20);
          p[c] = (guint8) CLAMP (v, 0, 255);
        }
      }
  g_rand_free (rand);
  return rgb;
}

typedef struct
{
  float *features;              /* (classes + 1) x T x D: supports, query */
  double *distances;
  char *label;
} E2E;

static void
run_e2e (const char *path, const char *device, int classes, int T,
    int width, int height, E2E *out)
{
  g_autoptr (GError) error = NULL;
  HyrsmModel *model = hyrsm_model_new_from_file_full (path, device, &error);
  g_assert_no_error (error);
  note ("%s: %s", device, hyrsm_model_get_device (model));
  int D = hyrsm_model_get_feature_dim (model);
  gsize video = (gsize) T * D;
  out->features = g_new (float, (classes + 1) * video);
  HyrsmSupportSet *set = hyrsm_support_set_new (model);
  for (int c = 0; c <= classes; c++) {
    /* The query (last) is class 2 again with other noise. */
    guint8 *rgb = action_frames (c < classes ? c : 2, T, width, height,
        100 + c);
    GBytes *bytes = g_bytes_new_take (rgb, (gsize) T * width * height * 3);
    GBytes *feats = hyrsm_model_embed_frames (model, bytes, T, width, height,
        &error);
    g_assert_no_error (error);
    memcpy (out->features + c * video, g_bytes_get_data (feats, NULL),
        video * sizeof (float));
    if (c < classes) {
      g_autofree char *label = g_strdup_printf ("action-%d", c);
      g_assert_true (hyrsm_support_set_add (set, label, feats, &error));
      g_assert_no_error (error);
    }
    g_bytes_unref (feats);
    g_bytes_unref (bytes);
  }
  HyrsmMatchResult *res = hyrsm_support_set_match_raw (set,
      out->features + classes * video, &error);
  g_assert_no_error (error);
  guint n = 0;
  const double *d = hyrsm_match_result_get_distances (res, &n);
  g_assert_cmpuint (n, ==, classes);
  out->distances = g_memdup2 (d, n * sizeof (double));
  out->label = g_strdup (hyrsm_match_result_get_label (res));
  g_object_unref (res);
  g_object_unref (set);
  g_object_unref (model);
}

/* The model is made here, in the parent (Python, no CUDA), so that a
 * missing torch is a skip; the comparison runs in a child (run_child). */
static void
test_end_to_end (void)
{
  if (!g_test_subprocess ()) {
    REQUIRE_DEVICE ();
    /* run.sh makes the model itself (HYRSM_GPU_E2E_MODEL_FILE), so that
     * PyTorch does not run under the bundle's LD_LIBRARY_PATH. */
    const char *given = g_getenv ("HYRSM_GPU_E2E_MODEL_FILE");
    g_autofree char *model = given ? g_strdup (given) : make_head_model ();
    if (model == NULL)
      return;
    g_setenv ("HYRSM_GPU_E2E_MODEL", model, TRUE);
    run_child ();
    g_unsetenv ("HYRSM_GPU_E2E_MODEL");
    if (given == NULL)
      g_unlink (model);
    return;
  }
  const char *path = g_getenv ("HYRSM_GPU_E2E_MODEL");
  g_assert_nonnull (path);
  const int classes = 5, T = 8, width = 160, height = 120;
  E2E cpu, gpu[2];
  run_e2e (path, "cpu", classes, T, width, height, &cpu);
  static const char *const precisions[2] = { "fp32", "fp16" };
  for (int p = 0; p < 2; p++) {
    double tol = p == 0 ? TOL_FP32 : TOL_FP16;
    double dist_tol = p == 0 ? TOL_FP32 : GPU_TOL_FP16_DISTANCE;
    g_setenv ("HYRSM_PRECISION", precisions[p], TRUE);
    run_e2e (path, "cuda", classes, T, width, height, &gpu[p]);
    gsize nf = (gsize) (classes + 1) * T * 512;
    g_autofree char *w1 = g_strdup_printf ("end to end %s: features",
        precisions[p]);
    check_close (w1, gpu_rel_error (gpu[p].features, cpu.features, nf), tol);
    for (int c = 0; c < classes; c++)
      note ("%s: distance %d: cpu %.6f, cuda %.6f", precisions[p],
          c, cpu.distances[c], gpu[p].distances[c]);
    g_autofree char *w2 = g_strdup_printf ("end to end %s: distances",
        precisions[p]);
    check_close (w2, gpu_rel_error_dd (gpu[p].distances, cpu.distances,
            classes), dist_tol);
    check_distances (w2, gpu[p].distances, cpu.distances, classes,
        dist_tol);
    if (gpu_argmin (gpu[p].distances, classes) == gpu_argmin (cpu.distances,
            classes))
      g_assert_cmpstr (gpu[p].label, ==, cpu.label);
  }
  g_unsetenv ("HYRSM_PRECISION");
  for (int p = 0; p < 2; p++) {
    g_free (gpu[p].features);
    g_free (gpu[p].distances);
    g_free (gpu[p].label);
  }
  g_free (cpu.features);
  g_free (cpu.distances);
  g_free (cpu.label);
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

/* ---- the model's embed paths (device pre-processing) ---- */

/* hyrsm_model_embed_frames() and the engine's hyrsm_model_embed_rgb_frames()
 * (frames of two sizes in one batch, rows with padding) on `cuda`, where
 * the raw frames are pre-processed on the device, against `cpu`. */
static void
test_model_embed_rgb (void)
{
  g_autofree char *path = write_small_model ("embed-rgb.safetensors");
  g_autoptr (GError) error = NULL;
  g_setenv ("HYRSM_PRECISION", "fp32", TRUE);
  HyrsmModel *cpu = hyrsm_model_new_from_file_full (path, "cpu", &error);
  g_assert_no_error (error);
  HyrsmModel *gpu = hyrsm_model_new_from_file_full (path, "cuda", &error);
  g_assert_no_error (error);
  HyrsmBackend *be = hyrsm_model_get_backend (gpu);
  g_assert_nonnull (be->ops->embed_frames);
  int D = hyrsm_model_get_feature_dim (cpu);

  const int n = 3, width = 97, height = 61;
  guint8 *rgb = g_malloc ((gsize) n * width * height * 3);
  GRand *rand = g_rand_new_with_seed (21);
  for (gsize i = 0; i < (gsize) n * width * height * 3; i++)
    rgb[i] = (guint8) g_rand_int_range (rand, 0, 256);
  g_autoptr (GBytes) bytes = g_bytes_new (rgb, (gsize) n * width * height * 3);
  g_autoptr (GBytes) ref = hyrsm_model_embed_frames (cpu, bytes, n, width,
      height, &error);
  g_assert_no_error (error);
  g_autoptr (GBytes) got = hyrsm_model_embed_frames (gpu, bytes, n, width,
      height, &error);
  g_assert_no_error (error);
  check_close ("embed_frames (RGB) on the device",
      gpu_rel_error (g_bytes_get_data (got, NULL), g_bytes_get_data (ref,
              NULL), (gsize) n * D), TOL_FP32);

  /* The engine's batch: 97x61, then a 40x30 frame with padded rows, then
   * 97x61 again (three runs of equal size). */
  const int w2 = 40, h2 = 30, stride2 = w2 * 3 + 7;
  guint8 *small = g_malloc ((gsize) stride2 * h2);
  for (gsize i = 0; i < (gsize) stride2 * h2; i++)
    small[i] = (guint8) g_rand_int_range (rand, 0, 256);
  HyrsmRgbFrame frames[3] = {
    {rgb, width, height, width * 3},
    {small, w2, h2, stride2},
    {rgb + (gsize) width * height * 3, width, height, width * 3},
  };
  int crop = hyrsm_model_get_crop (cpu);
  float *scratch = g_new (float, (gsize) 3 * 3 * crop * crop);
  float *want = g_new (float, (gsize) 3 * D), *have = g_new (float,
      (gsize) 3 * D);
  g_assert_true (hyrsm_model_embed_rgb_frames (cpu, frames, 3, scratch, want,
          &error));
  g_assert_no_error (error);
  memset (scratch, 0xff, (gsize) 3 * 3 * crop * crop * sizeof (float));
  g_assert_true (hyrsm_model_embed_rgb_frames (gpu, frames, 3, scratch, have,
          &error));
  g_assert_no_error (error);
  check_close ("the engine's mixed batch on the device",
      gpu_rel_error (have, want, (gsize) 3 * D), TOL_FP32);

  g_rand_free (rand);
  g_free (rgb);
  g_free (small);
  g_free (scratch);
  g_free (want);
  g_free (have);
  g_object_unref (cpu);
  g_object_unref (gpu);
  g_unsetenv ("HYRSM_PRECISION");
  g_unlink (path);
}

/* ---- the relation head on the device ---- */

/* relation_intra / relation_inter / token_distances of the CUDA backend
 * (through hyrsm-relation.c, which hands sections 4 to 6 to it) against
 * the CPU model's, and a whole match through the public API. float32 head
 * in both precisions; fp16 mode runs its GEMMs in TF32. */
static void
check_relation (const char *precision, double tol, double dist_tol)
{
  const int D = 256, T = 8, classes = 5;
  TestModelSpec spec = {.head = "1shot",.head_dim = D,.seed = 11 };
  g_autofree char *path = g_build_filename (tmpdir, "head.safetensors",
      NULL);
  g_autoptr (GError) error = NULL;
  g_assert_true (test_model_write (path, &spec, &error));
  g_assert_no_error (error);
  g_setenv ("HYRSM_PRECISION", precision, TRUE);
  HyrsmModel *cpu = hyrsm_model_new_from_file_full (path, "cpu", &error);
  g_assert_no_error (error);
  HyrsmModel *gpu = hyrsm_model_new_from_file_full (path, "cuda", &error);
  g_assert_no_error (error);
  g_assert_nonnull (hyrsm_model_get_backend (gpu)->ops->relation_intra);
  const HyrsmRelation *rc = hyrsm_relation_get (cpu);
  const HyrsmRelation *rg = hyrsm_relation_get (gpu);
  g_assert_cmpint (hyrsm_relation_get_frames (rg), ==, T);

  float *f = random_floats ((gsize) T * D, 0.0, 3.0, 31);
  float *want = g_new (float, (gsize) T * D), *have = g_new (float,
      (gsize) T * D);
  g_assert_true (hyrsm_relation_intra (rc, f, want, &error));
  g_assert_true (hyrsm_relation_intra (rg, f, have, &error));
  g_assert_no_error (error);
  g_autofree char *w1 = g_strdup_printf ("%s: intra-video relation",
      precision);
  check_close (w1, gpu_rel_error (have, want, (gsize) T * D), tol);

  /* 6 tokens (5 supports + the query), and more than the device takes
   * (the CPU computes those) */
  const int counts[2] = { classes + 1, HYRSM_RELATION_MAX_TOKENS + 1 };
  for (int i = 0; i < 2; i++) {
    int n = counts[i];
    float *u = random_floats ((gsize) n * D, -1.0, 1.0, 32 + i);
    float *g1 = g_new (float, (gsize) n * D), *g2 = g_new (float,
        (gsize) n * D);
    g_assert_true (hyrsm_relation_inter (rc, u, n, g1, &error));
    g_assert_true (hyrsm_relation_inter (rg, u, n, g2, &error));
    g_assert_no_error (error);
    g_autofree char *w2 = g_strdup_printf ("%s: inter-video relation, %d "
        "tokens", precision, n);
    check_close (w2, gpu_rel_error (g2, g1, (gsize) n * D), tol);
    g_free (u);
    g_free (g1);
    g_free (g2);
  }

  /* A whole decision: 5 classes, 1 shot, through the public API. */
  HyrsmSupportSet *sc = hyrsm_support_set_new (cpu);
  HyrsmSupportSet *sg = hyrsm_support_set_new (gpu);
  for (int c = 0; c < classes; c++) {
    float *ex = random_floats ((gsize) T * D, 0.0, 2.0, 40 + c);
    g_autofree char *label = g_strdup_printf ("class-%d", c);
    g_assert_true (hyrsm_support_set_add_raw (sc, label, ex, &error));
    g_assert_true (hyrsm_support_set_add_raw (sg, label, ex, &error));
    g_assert_no_error (error);
    g_free (ex);
  }
  float *query = random_floats ((gsize) T * D, 0.0, 2.0, 42);
  HyrsmMatchResult *mc = hyrsm_support_set_match_raw (sc, query, &error);
  g_assert_no_error (error);
  HyrsmMatchResult *mg = hyrsm_support_set_match_raw (sg, query, &error);
  g_assert_no_error (error);
  guint nc = 0, ng = 0;
  const double *dc = hyrsm_match_result_get_distances (mc, &nc);
  const double *dg = hyrsm_match_result_get_distances (mg, &ng);
  g_assert_cmpuint (nc, ==, classes);
  g_assert_cmpuint (ng, ==, classes);
  g_autofree char *w3 = g_strdup_printf ("%s: match distances", precision);
  check_close (w3, gpu_rel_error_dd (dg, dc, classes), dist_tol);
  check_distances (w3, dg, dc, classes, dist_tol);

  g_object_unref (mc);
  g_object_unref (mg);
  g_object_unref (sc);
  g_object_unref (sg);
  g_free (query);
  g_free (f);
  g_free (want);
  g_free (have);
  g_object_unref (cpu);
  g_object_unref (gpu);
  g_unsetenv ("HYRSM_PRECISION");
  g_unlink (path);
}

static void
test_relation (void)
{
  check_relation ("fp32", TOL_FP32, TOL_FP32);
  check_relation ("fp16", TOL_FP16, GPU_TOL_FP16_DISTANCE);
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
  for (guint i = 0; i < G_N_ELEMENTS (formats); i++) {
    g_autofree char *name = g_strdup_printf ("/gpu/preprocess/%s",
        formats[i].name);
    add_device_test (name, test_preprocess, &formats[i]);
  }
  add_device_func ("/gpu/layernorm", test_layernorm);
  add_device_func ("/gpu/softmax/rows", test_softmax);
  add_device_func ("/gpu/softmax/attention", test_attention);
  add_device_func ("/gpu/metric/bimhm", test_metric);
  add_device_func ("/gpu/elementwise", test_elementwise);
  for (guint i = 0; i < G_N_ELEMENTS (net_cases); i++) {
    g_autofree char *name = g_strdup_printf ("/gpu/backbone/%s",
        net_cases[i].name);
    add_device_test (name, test_backbone, &net_cases[i]);
  }
  add_device_func ("/gpu/backbone/embed-frames", test_embed_frames);
  add_device_func ("/gpu/gemm", test_gemm);
  add_device_func ("/gpu/model/embed-rgb", test_model_embed_rgb);
  add_device_func ("/gpu/relation/head", test_relation);
  g_test_add_func ("/gpu/end-to-end/resnet18-1shot", test_end_to_end);

  int status = g_test_run ();
  g_free (args);
  g_rmdir (tmpdir);
  g_free (tmpdir);
  g_free (no_device);
  return status;
}
