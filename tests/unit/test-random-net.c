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

/* A ResNet like the loader makes (hyrsm-model-load.c load_backbone), with
 * @blocks per layer and stem width @base (64 in torchvision). */
HyrsmBackboneWeights *
make_backbone (gboolean bottleneck, const int blocks[4], int base,
    guint32 seed)
{
  GRand *rand = g_rand_new_with_seed (seed);
  HyrsmBackboneWeights *w = g_new0 (HyrsmBackboneWeights, 1);
  w->kind = bottleneck ? HYRSM_BACKBONE_RESNET50 : HYRSM_BACKBONE_RESNET18;
  make_conv (&w->stem, rand, 3, base, 7, 2, 3, 1.0);
  for (int i = 0; i < 4; i++) {
    w->blocks_per_layer[i] = blocks[i];
    w->n_blocks += blocks[i];
  }
  w->blocks = g_new0 (HyrsmBlock, w->n_blocks);
  int in = base, k = 0;
  for (int layer = 0; layer < 4; layer++) {
    int width = base << layer;
    for (int i = 0; i < blocks[layer]; i++, k++) {
      HyrsmBlock *b = &w->blocks[k];
      int stride = (layer > 0 && i == 0) ? 2 : 1;
      int out = bottleneck ? width * 4 : width;
      b->bottleneck = bottleneck;
      b->has_downsample = stride != 1 || in != out;
      if (bottleneck) {
        make_conv (&b->conv1, rand, in, width, 1, 1, 0, 1.0);
        make_conv (&b->conv2, rand, width, width, 3, stride, 1, 1.0);
        make_conv (&b->conv3, rand, width, out, 1, 1, 0, 0.3);
      } else {
        make_conv (&b->conv1, rand, in, width, 3, stride, 1, 1.0);
        make_conv (&b->conv2, rand, width, width, 3, 1, 1, 0.3);
      }
      if (b->has_downsample)
        make_conv (&b->downsample, rand, in, out, 1, stride, 0, 1.0);
      in = out;
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
