/* test-random-net.h: random ResNet weights for the backend tests. */
#pragma once

#include "hyrsm-model-private.h"

void make_conv (HyrsmConv *c, GRand *rand, int in, int out, int kernel, int stride,
    int padding, double gain);
HyrsmBackboneWeights *make_backbone (gboolean bottleneck, const int blocks[4], int base,
    guint32 seed);
void conv_free (HyrsmConv *c);
void backbone_free (HyrsmBackboneWeights *w);
