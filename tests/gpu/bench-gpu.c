/* bench-gpu.c: the CUDA backend's speed, for tests/gpu/run.sh.
 *
 *   bench-gpu MODEL [--batches 1,8,64,256] [--json OUT] [--quick]
 *
 * MODEL: a ResNet model with a relation head (tests/fixtures/make_model.py
 * --backbone resnet50 --head 1shot); the precision is HYRSM_PRECISION
 * (default fp16). Measures, on device cuda:0:
 * - backbone frames/s per batch size, input already on the device (GPU time
 *   from CUDA events, CUDA graph replay), which is what PyTorch's eager
 *   `model(x)` on a CUDA tensor is compared with;
 * - frames/s from host memory at batch 64: embed() of normalized float
 *   frames and embed_frames() of 320x240 RGB frames (copies included);
 * - the latency of one window, 5-way 1-shot: 8 RGB frames -> pre-processing
 *   -> backbone -> relation head -> Bi-MHM -> label, wall clock, median of
 *   many, and its two halves (embed, match).
 * Prints a line per figure and, with --json, writes them as one object. */
#include "hyrsm.h"
#include "hyrsm-backend.h"
#include "hyrsm-model-private.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int
compare_doubles (const void *a, const void *b)
{
  double x = *(const double *) a, y = *(const double *) b;
  return x < y ? -1 : x > y;
}

static double
median (double *v, int n)
{
  qsort (v, n, sizeof *v, compare_doubles);
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

static guint8 *
random_rgb (int n, int width, int height, guint32 seed)
{
  GRand *rand = g_rand_new_with_seed (seed);
  gsize size = (gsize) n * width * height * 3;
  guint8 *rgb = g_malloc (size);
  for (gsize i = 0; i < size; i++)
    rgb[i] = (guint8) g_rand_int_range (rand, 0, 256);
  g_rand_free (rand);
  return rgb;
}

static void
die (const char *what, GError *error)
{
  g_printerr ("bench-gpu: %s: %s\n", what, error ? error->message : "failed");
  exit (1);
}

/* Embeds @n RGB frames of @width x @height the way the engine does:
 * hyrsm_model_embed_rgb_raw(), which hands the raw frames to the backend's
 * fused device pre-processing (embed_frames). */
static gboolean
embed_rgb (HyrsmModel *model, HyrsmBackend *be, const guint8 *rgb, int n,
    int width, int height, float *features, GError **error)
{
  g_assert (be->ops->embed_frames != NULL);
  const guint8 **frames = g_new (const guint8 *, n);
  for (int i = 0; i < n; i++)
    frames[i] = rgb + (gsize) i * width * height * 3;
  gboolean ok = hyrsm_model_embed_rgb_raw (model, frames, NULL, n, width,
      height, features, error);
  g_free (frames);
  return ok;
}

int
main (int argc, char **argv)
{
  g_autofree char *batches_arg = g_strdup ("1,8,64,256");
  g_autofree char *json_path = NULL;
  gboolean quick = FALSE;
  GOptionEntry entries[] = {
    {"batches", 0, 0, G_OPTION_ARG_STRING, &batches_arg, "batch sizes", "LIST"},
    {"json", 0, 0, G_OPTION_ARG_FILENAME, &json_path, "write results", "OUT"},
    {"quick", 0, 0, G_OPTION_ARG_NONE, &quick, "fewer iterations", NULL},
    {NULL}
  };
  GError *error = NULL;
  GOptionContext *ctx = g_option_context_new ("MODEL - CUDA backend speed");
  g_option_context_add_main_entries (ctx, entries, NULL);
  if (!g_option_context_parse (ctx, &argc, &argv, &error) || argc != 2)
    die ("usage: bench-gpu MODEL [--batches 1,8,64,256] [--json OUT]", error);
  g_option_context_free (ctx);

  HyrsmModel *model = hyrsm_model_new_from_file_full (argv[1], "cuda",
      &error);
  if (model == NULL)
    die ("loading the model", error);
  HyrsmBackend *be = hyrsm_model_get_backend (model);
  int D = hyrsm_model_get_feature_dim (model);
  int T = hyrsm_model_get_frames (model);
  GString *json = g_string_new ("{");
  g_string_append_printf (json, "\"device\": \"%s\", \"feature_dim\": %d",
      hyrsm_backend_cuda_describe (be), D);
  printf ("device %s\n", hyrsm_backend_cuda_describe (be));

  /* Backbone throughput, input on the device. */
  g_auto (GStrv) list = g_strsplit (batches_arg, ",", -1);
  g_string_append (json, ", \"backbone_fps\": {");
  for (int i = 0; list[i]; i++) {
    int n = atoi (list[i]);
    int iters = quick ? 3 : MAX (10, 2048 / MAX (n, 1));
    double seconds = 0;
    if (!hyrsm_backend_cuda_time_backbone (be, n, 3, iters, &seconds,
            &error))
      die ("backbone timing", error);
    printf ("backbone batch %d: %.0f frames/s (%.3f ms per batch)\n", n,
        n / seconds, seconds * 1e3);
    g_string_append_printf (json, "%s\"%d\": %.1f", i ? ", " : "", n,
        n / seconds);
  }
  g_string_append (json, "}");

  /* From host memory, batch 64. */
  const int hn = 64, width = 320, height = 240;
  int crop = hyrsm_model_get_crop (model);
  float *features = g_new (float, (gsize) hn * D);
  float *normalized = g_new0 (float, (gsize) hn * 3 * crop * crop);
  guint8 *rgb = random_rgb (hn, width, height, 1);
  int rounds = quick ? 2 : 10;
  double t_embed = 0, t_frames = 0;
  for (int r = -1; r < rounds; r++) {   /* r = -1: warm-up */
    gint64 t0 = g_get_monotonic_time ();
    if (!be->ops->embed (be, normalized, hn, features, &error))
      die ("embed", error);
    gint64 t1 = g_get_monotonic_time ();
    if (!embed_rgb (model, be, rgb, hn, width, height, features, &error))
      die ("embed_frames", error);
    gint64 t2 = g_get_monotonic_time ();
    if (r >= 0) {
      t_embed += (t1 - t0) * 1e-6;
      t_frames += (t2 - t1) * 1e-6;
    }
  }
  printf ("host float frames, batch %d: %.0f frames/s\n", hn,
      hn * rounds / t_embed);
  printf ("host RGB %dx%d frames, batch %d: %.0f frames/s\n", width, height,
      hn, hn * rounds / t_frames);
  g_string_append_printf (json, ", \"host_float_fps_64\": %.1f, "
      "\"host_rgb_fps_64\": %.1f", hn * rounds / t_embed,
      hn * rounds / t_frames);

  /* One window, 5-way 1-shot. */
  if (hyrsm_model_get_head_weights (model) != NULL) {
    HyrsmSupportSet *set = hyrsm_support_set_new (model);
    float *video = g_new (float, (gsize) T * D);
    for (int c = 0; c < 5; c++) {
      guint8 *clip = random_rgb (T, width, height, 10 + c);
      if (!embed_rgb (model, be, clip, T, width, height, video, &error))
        die ("support embedding", error);
      g_autofree char *label = g_strdup_printf ("class-%d", c);
      if (!hyrsm_support_set_add_raw (set, label, video, &error))
        die ("support set", error);
      g_free (clip);
    }
    guint8 *query = random_rgb (T, width, height, 20);
    int n_windows = quick ? 5 : 50;
    double *total = g_new (double, n_windows);
    double *embed_t = g_new (double, n_windows);
    double *match_t = g_new (double, n_windows);
    for (int w = -3; w < n_windows; w++) {
      gint64 t0 = g_get_monotonic_time ();
      if (!embed_rgb (model, be, query, T, width, height, video, &error))
        die ("window embedding", error);
      gint64 t1 = g_get_monotonic_time ();
      HyrsmMatchResult *res = hyrsm_support_set_match_raw (set, video,
          &error);
      if (res == NULL)
        die ("match", error);
      gint64 t2 = g_get_monotonic_time ();
      g_object_unref (res);
      if (w >= 0) {
        embed_t[w] = (t1 - t0) * 1e-3;
        match_t[w] = (t2 - t1) * 1e-3;
        total[w] = (t2 - t0) * 1e-3;
      }
    }
    double m_total = median (total, n_windows);
    double m_embed = median (embed_t, n_windows);
    double m_match = median (match_t, n_windows);
    printf ("window (%d frames %dx%d, 5-way 1-shot): %.2f ms median "
        "(embed %.2f ms, relation + metric %.2f ms)\n", T, width, height,
        m_total, m_embed, m_match);
    g_string_append_printf (json, ", \"window_ms\": %.3f, "
        "\"window_embed_ms\": %.3f, \"window_match_ms\": %.3f", m_total,
        m_embed, m_match);
    g_free (total);
    g_free (embed_t);
    g_free (match_t);
    g_free (query);
    g_free (video);
    g_object_unref (set);
  }
  g_string_append (json, "}\n");
  if (json_path && !g_file_set_contents (json_path, json->str, -1, &error))
    die (json_path, error);
  g_string_free (json, TRUE);
  g_free (rgb);
  g_free (normalized);
  g_free (features);
  g_object_unref (model);
  return 0;
}
