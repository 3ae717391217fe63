/* test-backbone.c: the CPU backbone (oneDNN) against a naive direct
 * convolution in double precision, the frame pre-processing against
 * PyTorch's bilinear resize, and the model's embed API.
 *
 * The networks are built here with random weights: the real ResNet-18 and
 * ResNet-50 layouts at small crops (the arithmetic per pixel is the real
 * one, only the spatial sizes shrink), and narrow variants with channel
 * counts that are not multiples of oneDNN's blocking and odd crops. */
#include "hyrsm.h"
#include "hyrsm-backend.h"
#include "hyrsm-model-private.h"
#include "hyrsm-preprocess.h"
#include "test-model-writer.h"

#include <glib/gstdio.h>
#include <math.h>
#include <string.h>

/* ---- random networks ---- */

#include "test-random-net.h"

static float *
random_frames (int n, int crop, guint32 seed)
{
  GRand *rand = g_rand_new_with_seed (seed);
  gsize count = (gsize) n * 3 * crop * crop;
  float *f = g_new (float, count);
  for (gsize i = 0; i < count; i++)
    f[i] = (float) g_rand_double_range (rand, -2.0, 2.0);
  g_rand_free (rand);
  return f;
}

/* ---- reference: direct convolution, double accumulation ---- */

typedef struct
{
  int c, h, w;
  double *v;                    /* c x h x w */
} Map;

static Map
map_new (int c, int h, int w)
{
  Map m = { c, h, w, g_new0 (double, (gsize) c * h * w) };
  return m;
}

static Map
ref_conv (const Map *x, const HyrsmConv *c, gboolean relu)
{
  int k = c->kernel, s = c->stride, p = c->padding;
  Map y = map_new (c->out_channels, (x->h + 2 * p - k) / s + 1,
      (x->w + 2 * p - k) / s + 1);
  g_assert_cmpint (x->c, ==, c->in_channels);
  for (int o = 0; o < y.c; o++) {
    double *out = y.v + (gsize) o * y.h * y.w;
    for (gsize i = 0; i < (gsize) y.h * y.w; i++)
      out[i] = c->bias[o];
    for (int i = 0; i < x->c; i++) {
      const double *in = x->v + (gsize) i * x->h * x->w;
      for (int kh = 0; kh < k; kh++)
        for (int kw = 0; kw < k; kw++) {
          double wv = c->weight[(((gsize) o * x->c + i) * k + kh) * k + kw];
          for (int oh = 0; oh < y.h; oh++) {
            int ih = oh * s - p + kh;
            if (ih < 0 || ih >= x->h)
              continue;
            for (int ow = 0; ow < y.w; ow++) {
              int iw = ow * s - p + kw;
              if (iw >= 0 && iw < x->w)
                out[oh * y.w + ow] += wv * in[ih * x->w + iw];
            }
          }
        }
    }
  }
  if (relu)
    for (gsize i = 0; i < (gsize) y.c * y.h * y.w; i++)
      y.v[i] = MAX (y.v[i], 0.0);
  return y;
}

static Map
ref_maxpool (const Map *x)
{
  Map y = map_new (x->c, (x->h + 2 - 3) / 2 + 1, (x->w + 2 - 3) / 2 + 1);
  for (int c = 0; c < x->c; c++)
    for (int oh = 0; oh < y.h; oh++)
      for (int ow = 0; ow < y.w; ow++) {
        double m = -INFINITY;
        for (int ih = oh * 2 - 1; ih <= oh * 2 + 1; ih++)
          for (int iw = ow * 2 - 1; iw <= ow * 2 + 1; iw++)
            if (ih >= 0 && ih < x->h && iw >= 0 && iw < x->w)
              m = MAX (m, x->v[((gsize) c * x->h + ih) * x->w + iw]);
        y.v[((gsize) c * y.h + oh) * y.w + ow] = m;
      }
  return y;
}

static void
ref_forward (const HyrsmBackboneWeights *w, const float *frame, int crop,
    double *features)
{
  Map x = map_new (3, crop, crop);
  for (gsize i = 0; i < (gsize) 3 * crop * crop; i++)
    x.v[i] = frame[i];
  Map s = ref_conv (&x, &w->stem, TRUE);
  g_free (x.v);
  x = ref_maxpool (&s);
  g_free (s.v);
  for (int b = 0; b < w->n_blocks; b++) {
    const HyrsmBlock *blk = &w->blocks[b];
    Map sc = blk->has_downsample ? ref_conv (&x, &blk->downsample, FALSE) : x;
    Map h = ref_conv (&x, &blk->conv1, TRUE);
    if (blk->bottleneck) {
      Map h2 = ref_conv (&h, &blk->conv2, TRUE);
      g_free (h.v);
      h = ref_conv (&h2, &blk->conv3, FALSE);
      g_free (h2.v);
    } else {
      Map h2 = ref_conv (&h, &blk->conv2, FALSE);
      g_free (h.v);
      h = h2;
    }
    for (gsize i = 0; i < (gsize) h.c * h.h * h.w; i++)
      h.v[i] = MAX (h.v[i] + sc.v[i], 0.0);
    if (blk->has_downsample)
      g_free (sc.v);
    g_free (x.v);
    x = h;
  }
  g_assert_cmpint (x.c, ==, w->feature_dim);
  for (int c = 0; c < x.c; c++) {
    double sum = 0;
    for (int i = 0; i < x.h * x.w; i++)
      sum += x.v[(gsize) c * x.h * x.w + i];
    features[c] = sum / (x.h * x.w);
  }
  g_free (x.v);
}

/* max |got - ref| / max |ref| over one frame's features. */
static double
relative_error (const float *got, const double *ref, int n)
{
  double diff = 0, scale = 0;
  for (int i = 0; i < n; i++) {
    diff = MAX (diff, fabs (got[i] - ref[i]));
    scale = MAX (scale, fabs (ref[i]));
  }
  g_assert_cmpfloat (scale, >, 0);
  return diff / scale;
}

static HyrsmBackend *
backend_new (const HyrsmBackboneWeights *w, int crop)
{
  g_autoptr (GError) error = NULL;
  HyrsmBackend *be = hyrsm_backend_cpu_new (w, crop, FALSE, &error);
  g_assert_no_error (error);
  g_assert_nonnull (be);
  return be;
}

static float *
embed (HyrsmBackend *be, const float *frames, int n, int dim)
{
  g_autoptr (GError) error = NULL;
  float *features = g_new (float, (gsize) n * dim);
  g_assert_true (be->ops->embed (be, frames, n, features, &error));
  g_assert_no_error (error);
  return features;
}

/* Runs @w on @n random frames and compares every frame with the reference.
 * The weights are freed before embedding: the backend must have made its
 * own copies in create(). */
static void
check_network (HyrsmBackboneWeights *w, int crop, int n, guint32 seed)
{
  int dim = w->feature_dim;
  float *frames = random_frames (n, crop, seed);
  double *ref = g_new (double, (gsize) n * dim);
  for (int i = 0; i < n; i++)
    ref_forward (w, frames + (gsize) i * 3 * crop * crop, crop,
        ref + (gsize) i * dim);
  HyrsmBackend *be = backend_new (w, crop);
  backbone_free (w);

  float *got = embed (be, frames, n, dim);
  for (int i = 0; i < n; i++) {
    double err = relative_error (got + (gsize) i * dim, ref + (gsize) i * dim,
        dim);
    g_test_message ("frame %d: relative error %.3g", i, err);
    g_assert_cmpfloat (err, <, 1e-4);
  }
  for (gsize i = 0; i < (gsize) n * dim; i++)
    g_assert_cmpfloat (got[i], >=, 0.0f);       /* ReLU then average */
  be->ops->destroy (be);
  g_free (got);
  g_free (ref);
  g_free (frames);
}

static const int resnet18_blocks[4] = { 2, 2, 2, 2 };
static const int resnet50_blocks[4] = { 3, 4, 6, 3 };

static void
test_resnet18 (void)
{
  check_network (make_backbone (FALSE, resnet18_blocks, 64, 1), 64, 2, 11);
}

static void
test_resnet50 (void)
{
  check_network (make_backbone (TRUE, resnet50_blocks, 64, 2), 32, 2, 12);
}

static void
test_narrow_basic (void)
{
  /* 12, 24, 48, 96 channels (not multiples of 16), crop 45 (odd sizes all
   * the way down: 23, 12, 6, 3, 2). */
  check_network (make_backbone (FALSE, resnet18_blocks, 12, 3), 45, 3, 13);
}

static void
test_narrow_bottleneck (void)
{
  static const int blocks[4] = { 1, 2, 1, 1 };
  check_network (make_backbone (TRUE, blocks, 8, 4), 29, 2, 14);
}

static void
test_tiny_crop (void)
{
  /* Crop 8: the last two layers run on 1 x 1 maps. */
  check_network (make_backbone (TRUE, resnet50_blocks, 16, 5), 8, 2, 15);
}

/* Plans for several batch sizes coexist and are reused: batch 1, 3, then 1
 * again give each frame the same features. */
static void
test_batch_reuse (void)
{
  const int crop = 48;
  HyrsmBackboneWeights *w = make_backbone (TRUE, resnet50_blocks, 16, 6);
  int dim = w->feature_dim;
  float *frames = random_frames (3, crop, 16);
  double *ref = g_new (double, (gsize) 3 * dim);
  for (int i = 0; i < 3; i++)
    ref_forward (w, frames + (gsize) i * 3 * crop * crop, crop,
        ref + (gsize) i * dim);
  HyrsmBackend *be = backend_new (w, crop);
  backbone_free (w);

  float *one = embed (be, frames, 1, dim);
  float *three = embed (be, frames, 3, dim);
  float *again = embed (be, frames, 1, dim);
  g_assert_cmpmem (one, dim * sizeof (float), again, dim * sizeof (float));
  g_assert_cmpmem (one, dim * sizeof (float), three, dim * sizeof (float));
  for (int i = 0; i < 3; i++)
    g_assert_cmpfloat (relative_error (three + (gsize) i * dim,
            ref + (gsize) i * dim, dim), <, 1e-4);
  be->ops->destroy (be);
  g_free (one);
  g_free (three);
  g_free (again);
  g_free (ref);
  g_free (frames);
}

/* More frames than the backend runs at once are split into chunks. */
static void
test_large_batch (void)
{
  const int crop = 16, n = 37;
  HyrsmBackboneWeights *w = make_backbone (FALSE, resnet18_blocks, 8, 7);
  int dim = w->feature_dim;
  float *frames = random_frames (n, crop, 17);
  HyrsmBackend *be = backend_new (w, crop);
  float *all = embed (be, frames, n, dim);
  for (int i = 0; i < n; i += 9) {
    double ref[64];
    g_assert_cmpint (dim, <=, 64);
    ref_forward (w, frames + (gsize) i * 3 * crop * crop, crop, ref);
    g_assert_cmpfloat (relative_error (all + (gsize) i * dim, ref, dim), <,
        1e-4);
  }
  backbone_free (w);
  be->ops->destroy (be);
  g_free (all);
  g_free (frames);
}

typedef struct
{
  HyrsmBackend *be;
  const float *frames;
  int n, dim;
  float *out;
} ThreadJob;

static gpointer
thread_embed (gpointer data)
{
  ThreadJob *job = data;
  for (int round = 0; round < 3; round++) {
    g_autoptr (GError) error = NULL;
    if (!job->be->ops->embed (job->be, job->frames, job->n, job->out, &error))
      return g_strdup (error->message);
  }
  return NULL;
}

/* Several threads embedding at once get what they would alone. */
static void
test_threads (void)
{
  const int crop = 32, n_threads = 4;
  HyrsmBackboneWeights *w = make_backbone (TRUE, resnet50_blocks, 16, 8);
  int dim = w->feature_dim;
  HyrsmBackend *be = backend_new (w, crop);
  backbone_free (w);
  ThreadJob jobs[4];
  float *expected[4];
  GThread *threads[4];
  for (int t = 0; t < n_threads; t++) {
    int n = t + 1;
    jobs[t] = (ThreadJob) {
    be, random_frames (n, crop, 100 + t), n, dim,
          g_new (float, (gsize) n * dim)};
    expected[t] = embed (be, jobs[t].frames, n, dim);
  }
  for (int t = 0; t < n_threads; t++)
    threads[t] = g_thread_new ("embed", thread_embed, &jobs[t]);
  for (int t = 0; t < n_threads; t++) {
    char *message = g_thread_join (threads[t]);
    if (message)
      g_error ("thread %d: %s", t, message);
    gsize size = (gsize) jobs[t].n * dim * sizeof (float);
    g_assert_cmpmem (jobs[t].out, size, expected[t], size);
    g_free ((gpointer) jobs[t].frames);
    g_free (jobs[t].out);
    g_free (expected[t]);
  }
  be->ops->destroy (be);
}

static void
test_no_backbone (void)
{
  g_autoptr (GError) error = NULL;
  HyrsmBackend *be = hyrsm_backend_cpu_new (NULL, 224, FALSE, &error);
  g_assert_no_error (error);
  float frame[3] = { 0 }, out[1];
  g_assert_false (be->ops->embed (be, frame, 1, out, &error));
  g_assert_error (error, HYRSM_ERROR, HYRSM_ERROR_NO_BACKBONE);
  be->ops->destroy (be);
}

/* ---- bf16 ---- */

/* bf16 features against the double reference: within the tolerance of
 * docs/decisions.md (2e-2 of the largest feature; measured 3e-3 to 5e-3 on
 * random ResNet-18/50 with real frames). Only where oneDNN has bf16. */
#define TOL_BF16 2e-2

static void
check_network_bf16 (HyrsmBackboneWeights *w, int crop, int n, guint32 seed)
{
  if (!hyrsm_backend_cpu_has_bf16 ()) {
    g_test_skip ("this CPU has no AVX512-BF16 (oneDNN runs bf16 only with it)");
    backbone_free (w);
    return;
  }
  int dim = w->feature_dim;
  float *frames = random_frames (n, crop, seed);
  double *ref = g_new (double, (gsize) n * dim);
  for (int i = 0; i < n; i++)
    ref_forward (w, frames + (gsize) i * 3 * crop * crop, crop,
        ref + (gsize) i * dim);
  g_autoptr (GError) error = NULL;
  HyrsmBackend *be = hyrsm_backend_cpu_new (w, crop, TRUE, &error);
  g_assert_no_error (error);
  backbone_free (w);

  float *got = embed (be, frames, n, dim);
  for (int i = 0; i < n; i++) {
    double err = relative_error (got + (gsize) i * dim, ref + (gsize) i * dim,
        dim);
    g_test_message ("frame %d: bf16 relative error %.3g", i, err);
    g_assert_cmpfloat (err, <, TOL_BF16);
  }
  be->ops->destroy (be);
  g_free (got);
  g_free (ref);
  g_free (frames);
}

static void
test_bf16_resnet18 (void)
{
  check_network_bf16 (make_backbone (FALSE, resnet18_blocks, 64, 1), 64, 2,
      11);
}

static void
test_bf16_resnet50 (void)
{
  check_network_bf16 (make_backbone (TRUE, resnet50_blocks, 64, 2), 32, 2,
      12);
}

static void
test_bf16_narrow (void)
{
  /* Channel counts that are not multiples of oneDNN's bf16 blocking (which
   * pairs input channels), odd map sizes. */
  static const int blocks[4] = { 1, 2, 1, 1 };
  check_network_bf16 (make_backbone (TRUE, blocks, 8, 4), 29, 3, 14);
}

/* bf16 where oneDNN has it, else an error that says why. */
static void
test_bf16_availability (void)
{
  HyrsmBackboneWeights *w = make_backbone (FALSE, resnet18_blocks, 8, 7);
  g_autoptr (GError) error = NULL;
  HyrsmBackend *be = hyrsm_backend_cpu_new (w, 32, TRUE, &error);
  backbone_free (w);
  if (hyrsm_backend_cpu_has_bf16 ()) {
    g_assert_no_error (error);
    be->ops->destroy (be);
  } else {
    g_assert_null (be);
    g_assert_error (error, HYRSM_ERROR, HYRSM_ERROR_INVALID_ARGUMENT);
    g_assert_nonnull (strstr (error->message, "bf16"));
    g_assert_nonnull (strstr (error->message, "AVX512-BF16"));
  }
}

/* ---- pre-processing ---- */

/* PyTorch: interpolate(x.float(), size=(6, 6), mode="bilinear",
 * align_corners=False)[..., 1:5, 1:5], then (v / 255 - mean) / std with
 * ImageNet's mean and std, for this 5 x 3 frame (planar, as torch holds
 * it). */
static const guint8 torch_input[45] = {
  172, 47, 117, 192, 67, 251, 195, 103, 9, 211, 21, 242, 36, 87, 70,
  216, 88, 140, 58, 193, 230, 39, 87, 174, 88, 81, 165, 25, 77, 72,
  9, 148, 115, 208, 243, 197, 254, 79, 175, 192, 82, 99, 216, 177, 243,
};

static const float torch_output[48] = {
  -0.21812658, -0.38473627, 0.059436891, 0.20142986, 0.90140414,
  0.073351189, -0.66337013, -0.66551107, 1.365913, 0.21891145, -1.0529584,
  -0.99944377, 1.1754003, 0.051945318, -1.1093274, -0.80036831,
  -0.080400944, -0.18872559, -0.10666145, -0.16355926, -0.37145481,
  -0.63807195, 0.045795124, 0.36821634, -0.26641279, -0.79125828,
  -0.21316257, 0.29818833, 0.23472507, -0.6482842, -0.88353467,
  -0.37364316, 0.72060996, 0.54050857, 0.72387791, 1.8099347, 1.8230066,
  0.74239695, 0.42104551, 1.4831372, 1.7423965, 0.91015273, 0.6214816,
  1.3818303, 0.47878015, 1.0437765, 1.3251852, 1.5060133,
};

static const float imagenet_mean[3] = { 0.485f, 0.456f, 0.406f };
static const float imagenet_std[3] = { 0.229f, 0.224f, 0.225f };

static void
test_preprocess_torch (void)
{
  /* Packed RGB rows of 5 pixels, padded to a stride of 17 bytes. */
  guint8 rgb[3 * 17];
  float out[48];
  memset (rgb, 0xee, sizeof rgb);
  for (int c = 0; c < 3; c++)
    for (int y = 0; y < 3; y++)
      for (int x = 0; x < 5; x++)
        rgb[y * 17 + x * 3 + c] = torch_input[(c * 3 + y) * 5 + x];
  hyrsm_preprocess_rgb (rgb, 5, 3, 17, 6, 4, imagenet_mean, imagenet_std,
      out);
  for (int i = 0; i < 48; i++)
    g_assert_cmpfloat_with_epsilon (out[i], torch_output[i], 2e-6);
}

/* The whole resized frame in double precision, then cropped: the
 * straightforward reading of docs/model.md section 2. */
static void
ref_preprocess (const guint8 *rgb, int width, int height, int stride,
    int resize, int crop, double *out)
{
  int off = (resize - crop) / 2;
  for (int c = 0; c < 3; c++)
    for (int y = 0; y < resize; y++)
      for (int x = 0; x < resize; x++) {
        double sy = MAX ((y + 0.5) * height / resize - 0.5, 0.0);
        double sx = MAX ((x + 0.5) * width / resize - 0.5, 0.0);
        int y0 = MIN ((int) sy, height - 1), x0 = MIN ((int) sx, width - 1);
        int y1 = MIN (y0 + 1, height - 1), x1 = MIN (x0 + 1, width - 1);
        double fy = sy - y0, fx = sx - x0;
#define P(yy, xx) rgb[(yy) * stride + (xx) * 3 + c]
        double v = (1 - fy) * ((1 - fx) * P (y0, x0) + fx * P (y0, x1))
            + fy * ((1 - fx) * P (y1, x0) + fx * P (y1, x1));
#undef P
        if (y >= off && y < off + crop && x >= off && x < off + crop)
          out[(c * crop + y - off) * crop + x - off] =
              (v / 255.0 - imagenet_mean[c]) / imagenet_std[c];
      }
}

static void
test_preprocess_sizes (void)
{
  static const int sizes[][4] = {
    /* width, height, resize, crop */
    {1, 1, 8, 8}, {1, 7, 9, 5}, {2, 2, 256, 224}, {3, 5, 17, 16},
    {640, 480, 256, 224}, {97, 31, 40, 33}, {300, 300, 256, 224},
    {256, 256, 256, 224}, {1000, 13, 64, 63},
  };
  GRand *rand = g_rand_new_with_seed (5);
  for (guint t = 0; t < G_N_ELEMENTS (sizes); t++) {
    int width = sizes[t][0], height = sizes[t][1];
    int resize = sizes[t][2], crop = sizes[t][3];
    int stride = width * 3 + (t % 3) * 5;
    gsize n = (gsize) 3 * crop * crop;
    guint8 *rgb = g_new (guint8, (gsize) stride * height);
    for (gsize i = 0; i < (gsize) stride * height; i++)
      rgb[i] = g_rand_int_range (rand, 0, 256);
    float *got = g_new (float, n);
    double *ref = g_new (double, n);
    hyrsm_preprocess_rgb (rgb, width, height, stride, resize, crop,
        imagenet_mean, imagenet_std, got);
    ref_preprocess (rgb, width, height, stride, resize, crop, ref);
    double worst = 0;
    for (gsize i = 0; i < n; i++)
      worst = MAX (worst, fabs (got[i] - ref[i]));
    g_test_message ("%dx%d -> %d, crop %d: max error %.3g", width, height,
        resize, crop, worst);
    /* float coordinates and weights vs double: ~1e-5 of a 0..255 value */
    g_assert_cmpfloat (worst, <, 2e-4);
    if (width == 1 && height == 1)
      for (gsize i = 1; i < (gsize) crop * crop; i++)
        g_assert_cmpfloat (got[i], ==, got[0]);
    g_free (rgb);
    g_free (got);
    g_free (ref);
  }
  g_rand_free (rand);
}

/* ---- the model's embed API ---- */

static char *tmpdir;

static HyrsmModel *
load_test_model (const char *name, const TestModelSpec *spec)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *path = g_build_filename (tmpdir, name, NULL);
  g_assert_true (test_model_write (path, spec, &error));
  g_assert_no_error (error);
  HyrsmModel *model = hyrsm_model_new_from_file (path, &error);
  g_assert_no_error (error);
  return model;
}

static void
test_model_embed (void)
{
  static const char *const meta[] = { "hyrsm.resize", "40", "hyrsm.crop",
    "32", NULL
  };
  TestModelSpec spec = {.backbone = "resnet18",.extra_metadata = meta,
    .seed = 3
  };
  HyrsmModel *model = load_test_model ("embed.safetensors", &spec);
  const guint n = 11, width = 23, height = 17, crop = 32;
  guint dim = hyrsm_model_get_feature_dim (model);
  g_assert_cmpuint (dim, ==, 512);
  g_assert_cmpuint (hyrsm_model_get_crop (model), ==, crop);

  gsize frame_bytes = (gsize) width * height * 3;
  guint8 *rgb = g_new (guint8, n * frame_bytes);
  GRand *rand = g_rand_new_with_seed (9);
  for (gsize i = 0; i < n * frame_bytes; i++)
    rgb[i] = g_rand_int_range (rand, 0, 256);
  g_rand_free (rand);
  g_autoptr (GBytes) rgb_bytes = g_bytes_new_take (rgb, n * frame_bytes);

  /* embed_frames == pre-processing + embed_normalized */
  g_autoptr (GError) error = NULL;
  g_autoptr (GBytes) feats = hyrsm_model_embed_frames (model, rgb_bytes, n,
      width, height, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (g_bytes_get_size (feats), ==, n * dim * sizeof (float));
  gsize frame_floats = (gsize) 3 * crop * crop;
  float *norm = g_new (float, n * frame_floats);
  const float *mean = hyrsm_model_get_mean_array (model);
  const float *std = hyrsm_model_get_std_array (model);
  for (guint i = 0; i < n; i++)
    hyrsm_preprocess_rgb (rgb + i * frame_bytes, width, height, width * 3,
        40, crop, mean, std, norm + i * frame_floats);
  g_autoptr (GBytes) norm_bytes = g_bytes_new_take (norm,
      n * frame_floats * sizeof (float));
  g_autoptr (GBytes) feats2 = hyrsm_model_embed_normalized (model, norm_bytes,
      n, &error);
  g_assert_no_error (error);
  g_assert_true (g_bytes_equal (feats, feats2));

  /* the raw variant, with padded rows */
  int stride = width * 3 + 7;
  guint8 *padded = g_new0 (guint8, (gsize) stride * height * 2);
  for (int f = 0; f < 2; f++)
    for (guint y = 0; y < height; y++)
      memcpy (padded + ((gsize) f * height + y) * stride,
          rgb + f * frame_bytes + y * width * 3, width * 3);
  const guint8 *frames[2] = { padded, padded + (gsize) stride * height };
  int strides[2] = { stride, stride };
  float *raw = g_new (float, 2 * dim);
  g_assert_true (hyrsm_model_embed_rgb_raw (model, frames, strides, 2, width,
          height, raw, &error));
  g_assert_no_error (error);
  g_assert_cmpmem (raw, 2 * dim * sizeof (float), g_bytes_get_data (feats,
          NULL), 2 * dim * sizeof (float));
  g_free (raw);
  g_free (padded);

  /* wrong sizes and counts */
  g_assert_null (hyrsm_model_embed_frames (model, rgb_bytes, n, width + 1,
          height, &error));
  g_assert_error (error, HYRSM_ERROR, HYRSM_ERROR_SHAPE_MISMATCH);
  g_assert_nonnull (strstr (error->message, "n=11 frames of 24x17 RGB"));
  g_assert_nonnull (strstr (error->message, "expected 13464 bytes"));
  g_clear_error (&error);
  g_assert_null (hyrsm_model_embed_frames (model, rgb_bytes, 0, width,
          height, &error));
  g_assert_error (error, HYRSM_ERROR, HYRSM_ERROR_INVALID_ARGUMENT);
  g_clear_error (&error);
  g_assert_null (hyrsm_model_embed_normalized (model, rgb_bytes, 1, &error));
  g_assert_error (error, HYRSM_ERROR, HYRSM_ERROR_SHAPE_MISMATCH);
  g_assert_nonnull (strstr (error->message, "3 x 32 x 32 float32"));
  g_clear_error (&error);
  g_object_unref (model);

  /* a head-only model cannot embed */
  TestModelSpec head_only = {.head = "1shot",.head_dim = 64,.seed = 4 };
  model = load_test_model ("head-only.safetensors", &head_only);
  g_assert_null (hyrsm_model_embed_frames (model, rgb_bytes, n, width,
          height, &error));
  g_assert_error (error, HYRSM_ERROR, HYRSM_ERROR_NO_BACKBONE);
  g_assert_nonnull (strstr (error->message, "has no backbone"));
  g_assert_nonnull (strstr (error->message, "head-only.safetensors"));
  g_object_unref (model);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  tmpdir = g_dir_make_tmp ("hyrsm-backbone-XXXXXX", NULL);
  g_assert_nonnull (tmpdir);

  g_test_add_func ("/backbone/reference/resnet18-crop64", test_resnet18);
  g_test_add_func ("/backbone/reference/resnet50-crop32", test_resnet50);
  g_test_add_func ("/backbone/reference/narrow-basic-odd-crop",
      test_narrow_basic);
  g_test_add_func ("/backbone/reference/narrow-bottleneck-odd-crop",
      test_narrow_bottleneck);
  g_test_add_func ("/backbone/reference/tiny-crop", test_tiny_crop);
  g_test_add_func ("/backbone/batch/reuse-1-3-1", test_batch_reuse);
  g_test_add_func ("/backbone/batch/chunks", test_large_batch);
  g_test_add_func ("/backbone/batch/threads", test_threads);
  g_test_add_func ("/backbone/errors/no-backbone", test_no_backbone);
  g_test_add_func ("/backbone/bf16/resnet18-crop64", test_bf16_resnet18);
  g_test_add_func ("/backbone/bf16/resnet50-crop32", test_bf16_resnet50);
  g_test_add_func ("/backbone/bf16/narrow-bottleneck-odd-crop",
      test_bf16_narrow);
  g_test_add_func ("/backbone/bf16/availability", test_bf16_availability);
  g_test_add_func ("/backbone/preprocess/torch", test_preprocess_torch);
  g_test_add_func ("/backbone/preprocess/sizes", test_preprocess_sizes);
  g_test_add_func ("/backbone/model/embed", test_model_embed);

  int ret = g_test_run ();
  g_autoptr (GDir) dir = g_dir_open (tmpdir, 0, NULL);
  const char *name;
  while (dir && (name = g_dir_read_name (dir))) {
    g_autofree char *path = g_build_filename (tmpdir, name, NULL);
    g_unlink (path);
  }
  g_rmdir (tmpdir);
  g_free (tmpdir);
  return ret;
}
