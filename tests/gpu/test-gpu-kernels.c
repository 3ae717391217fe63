/* test-gpu-kernels.c: the CUDA kernels one by one against the CPU path
 * (pre-processing) or a double-precision reference written here (LayerNorm,
 * softmax, attention, Bi-MHM, the element-wise ops): part of test-gpu (see
 * test-gpu.c). */
#include "hyrsm-preprocess.h"
#include "hyrsm-relation.h"
#include "hyrsm-kernels.h"
#include "metric.h"
#include "test-kernels.h"
#include "gpu-test-util.h"
#include "gpu-test-frame.h"

#include <math.h>
#include <string.h>

/* ---- preprocess ---- */

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

void
gpu_add_kernel_tests (void)
{
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
}
