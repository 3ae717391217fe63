/* test-gpu-backbone.c: the CUDA backend's embeddings against the CPU
 * (oneDNN) backend's: random ResNets in both precisions, the fused
 * pre-processing, the GEMMs, and the model's embed paths: part of test-gpu
 * (see test-gpu.c). */
#include "hyrsm.h"
#include "hyrsm-backend.h"
#include "hyrsm-model-private.h"
#include "hyrsm-preprocess.h"
#include "gpu-test-util.h"
#include "gpu-test-frame.h"

#include <glib/gstdio.h>
#include <string.h>

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

void
gpu_add_backbone_tests (void)
{
  for (guint i = 0; i < G_N_ELEMENTS (net_cases); i++) {
    g_autofree char *name = g_strdup_printf ("/gpu/backbone/%s",
        net_cases[i].name);
    add_device_test (name, test_backbone, &net_cases[i]);
  }
  add_device_func ("/gpu/backbone/embed-frames", test_embed_frames);
  add_device_func ("/gpu/gemm", test_gemm);
  add_device_func ("/gpu/model/embed-rgb", test_model_embed_rgb);
}
