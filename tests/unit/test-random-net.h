/* test-random-net.h: random ResNet weights, and random floats, for the
 * backend tests. */
#pragma once

#include "hyrsm-model-private.h"

void make_conv (HyrsmConv *c, GRand *rand, int in, int out, int kernel, int stride,
    int padding, double gain);
HyrsmBackboneWeights *make_backbone (gboolean bottleneck, const int blocks[4], int base,
    guint32 seed);
void conv_free (HyrsmConv *c);
void backbone_free (HyrsmBackboneWeights *w);

/* @n floats uniform in [@lo, @hi), the same for the same @seed. */
float *random_floats (gsize n, double lo, double hi, guint32 seed);
