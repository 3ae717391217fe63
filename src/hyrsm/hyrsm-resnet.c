/* hyrsm-resnet.c: the ResNet topologies and tensor names (see the header). */
#include "hyrsm-resnet.h"

#include <string.h>

static const HyrsmResnetArch archs[] = {
  {HYRSM_BACKBONE_RESNET18, "resnet18", {2, 2, 2, 2}, FALSE, 512},
  {HYRSM_BACKBONE_RESNET34, "resnet34", {3, 4, 6, 3}, FALSE, 512},
  {HYRSM_BACKBONE_RESNET50, "resnet50", {3, 4, 6, 3}, TRUE, 2048},
};

const char *const hyrsm_resnet_sequential_names[HYRSM_RESNET_N_SEQUENTIAL] = {
  "conv1", "bn1", NULL /* relu */ , NULL /* maxpool */ ,
  "layer1", "layer2", "layer3", "layer4",
};

const HyrsmResnetArch *
hyrsm_resnet_arch (HyrsmBackboneKind kind)
{
  for (guint i = 0; i < G_N_ELEMENTS (archs); i++)
    if (archs[i].kind == kind)
      return &archs[i];
  return NULL;
}

const HyrsmResnetArch *
hyrsm_resnet_arch_from_name (const char *name)
{
  for (guint i = 0; i < G_N_ELEMENTS (archs); i++)
    if (g_strcmp0 (archs[i].name, name) == 0)
      return &archs[i];
  return NULL;
}

const HyrsmResnetArch *
hyrsm_resnet_arch_from_blocks (const int blocks[4], gboolean bottleneck)
{
  for (guint i = 0; i < G_N_ELEMENTS (archs); i++)
    if (!archs[i].bottleneck == !bottleneck
        && memcmp (archs[i].blocks_per_layer, blocks,
            sizeof archs[i].blocks_per_layer) == 0)
      return &archs[i];
  return NULL;
}

static void
set_conv (HyrsmResnetConvShape *c, int in, int out, int kernel, int stride)
{
  *c = (HyrsmResnetConvShape) {
  in, out, kernel, stride, kernel / 2};
}

void
hyrsm_resnet_stem_shape (int base, HyrsmResnetConvShape *shape)
{
  set_conv (shape, 3, base, 7, 2);
}

void
hyrsm_resnet_block_shape (gboolean bottleneck, int base, int layer,
    int index, int in_channels, HyrsmResnetBlockShape *shape)
{
  int width = base << (layer - 1);
  int stride = (layer > 1 && index == 0) ? 2 : 1;
  int out = bottleneck ? width * 4 : width;
  HyrsmResnetConvShape *c = shape->conv;

  memset (shape, 0, sizeof *shape);
  shape->bottleneck = bottleneck;
  shape->has_downsample = stride != 1 || in_channels != out;
  shape->out_channels = out;
  if (bottleneck) {
    set_conv (&c[HYRSM_RESNET_CONV1], in_channels, width, 1, 1);
    set_conv (&c[HYRSM_RESNET_CONV2], width, width, 3, stride);
    set_conv (&c[HYRSM_RESNET_CONV3], width, out, 1, 1);
  } else {
    set_conv (&c[HYRSM_RESNET_CONV1], in_channels, width, 3, stride);
    set_conv (&c[HYRSM_RESNET_CONV2], width, width, 3, 1);
  }
  if (shape->has_downsample)
    set_conv (&c[HYRSM_RESNET_DOWNSAMPLE], in_channels, out, 1, stride);
}

char *
hyrsm_resnet_name (int layer, int index, HyrsmResnetConvSlot slot,
    HyrsmResnetName what)
{
  if (layer == 0)
    return g_strdup (what == HYRSM_RESNET_NAME_BN ? "bn1" : "conv1");
  if (slot == HYRSM_RESNET_DOWNSAMPLE)
    return g_strdup_printf ("layer%d.%d.downsample%s", layer, index,
        what == HYRSM_RESNET_NAME_CONV ? ".0" :
        what == HYRSM_RESNET_NAME_BN ? ".1" : "");
  return g_strdup_printf ("layer%d.%d.%s%d", layer, index,
      what == HYRSM_RESNET_NAME_BN ? "bn" : "conv", (int) slot + 1);
}

char *
hyrsm_resnet_module_name (int layer, int index, HyrsmResnetConvSlot slot)
{
  return hyrsm_resnet_name (layer, index, slot, HYRSM_RESNET_NAME_MODULE);
}
