/* test-random-net.c: random ResNet weights, as the loader would give them
 * (BatchNorm folded), for the CPU and GPU backend tests. */
#include "test-random-net.h"

#include <math.h>

void
make_conv (HyrsmConv *c, GRand *rand, int in, int out, int kernel, int stride,
    int padding, double gain)
{
  gsize n = (gsize) out * in * kernel * kernel;
  /* He-like uniform init keeps activations O(1) through the depth. */
  double a = gain * sqrt (6.0 / (in * kernel * kernel));
  c->in_channels = in;
  c->out_channels = out;
  c->kernel = kernel;
  c->stride = stride;
  c->padding = padding;
  c->weight = g_new (float, n);
  c->bias = g_new (float, out);
  for (gsize i = 0; i < n; i++)
    c->weight[i] = (float) g_rand_double_range (rand, -a, a);
  for (int o = 0; o < out; o++)
    c->bias[o] = (float) g_rand_double_range (rand, -0.1, 0.1);
}

static void
make_shaped_conv (HyrsmConv *c, GRand *rand, const HyrsmResnetConvShape *s,
    double gain)
{
  make_conv (c, rand, s->in_channels, s->out_channels, s->kernel, s->stride,
      s->padding, gain);
}

/* A ResNet like the loader makes (hyrsm-model-load.c load_backbone), with
 * @blocks per layer and stem width @base (64 in torchvision). */
HyrsmBackboneWeights *
make_backbone (gboolean bottleneck, const int blocks[4], int base,
    guint32 seed)
{
  GRand *rand = g_rand_new_with_seed (seed);
  HyrsmBackboneWeights *w = g_new0 (HyrsmBackboneWeights, 1);
  w->kind = bottleneck ? HYRSM_BACKBONE_RESNET50 : HYRSM_BACKBONE_RESNET18;
  HyrsmResnetConvShape stem;
  hyrsm_resnet_stem_shape (base, &stem);
  make_shaped_conv (&w->stem, rand, &stem, 1.0);
  for (int i = 0; i < 4; i++) {
    w->blocks_per_layer[i] = blocks[i];
    w->n_blocks += blocks[i];
  }
  w->blocks = g_new0 (HyrsmBlock, w->n_blocks);
  int in = base, k = 0;
  for (int layer = 1; layer <= 4; layer++) {
    for (int i = 0; i < blocks[layer - 1]; i++, k++) {
      HyrsmBlock *b = &w->blocks[k];
      HyrsmResnetBlockShape shape;
      hyrsm_resnet_block_shape (bottleneck, base, layer, i, in, &shape);
      const HyrsmResnetConvShape *c = shape.conv;
      b->bottleneck = shape.bottleneck;
      b->has_downsample = shape.has_downsample;
      make_shaped_conv (&b->conv1, rand, &c[HYRSM_RESNET_CONV1], 1.0);
      make_shaped_conv (&b->conv2, rand, &c[HYRSM_RESNET_CONV2],
          bottleneck ? 1.0 : 0.3);
      if (bottleneck)
        make_shaped_conv (&b->conv3, rand, &c[HYRSM_RESNET_CONV3], 0.3);
      if (b->has_downsample)
        make_shaped_conv (&b->downsample, rand, &c[HYRSM_RESNET_DOWNSAMPLE],
            1.0);
      in = shape.out_channels;
    }
  }
  w->feature_dim = in;
  g_rand_free (rand);
  return w;
}

void
conv_free (HyrsmConv *c)
{
  g_free (c->weight);
  g_free (c->bias);
}

void
backbone_free (HyrsmBackboneWeights *w)
{
  conv_free (&w->stem);
  for (int i = 0; i < w->n_blocks; i++) {
    conv_free (&w->blocks[i].conv1);
    conv_free (&w->blocks[i].conv2);
    conv_free (&w->blocks[i].conv3);
    conv_free (&w->blocks[i].downsample);
  }
  g_free (w->blocks);
  g_free (w);
}

float *
random_floats (gsize n, double lo, double hi, guint32 seed)
{
  GRand *rand = g_rand_new_with_seed (seed);
  float *f = g_new (float, n);
  for (gsize i = 0; i < n; i++)
    f[i] = (float) g_rand_double_range (rand, lo, hi);
  g_rand_free (rand);
  return f;
}
