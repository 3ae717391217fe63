/* hyrsm-resnet.h: the ResNet topologies (18, 34, 50) and their tensor
 * names, the one table that the loader, both backends and the tests' model
 * writers share (private to libhyrsm; needs GLib only).
 *
 * torchvision's ResNet: a stem (conv1 7x7/2 + bn1, ReLU, maxpool 3x3/2)
 * then layer1..layer4 of blocks, layer L's blocks 64 << (L - 1) wide, the
 * first block of layer2..4 with stride 2. A BasicBlock (ResNet-18/34) is
 * conv1 3x3 (the stride), conv2 3x3; a Bottleneck (ResNet-50) is conv1 1x1,
 * conv2 3x3 (the stride: torchvision v1.5), conv3 1x1 to 4 x the width.
 * A block whose stride is not 1 or whose channels change has a downsample
 * (1x1 convolution with the stride, and a BatchNorm) on its shortcut.
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef enum
{
  HYRSM_BACKBONE_NONE,
  HYRSM_BACKBONE_RESNET18,
  HYRSM_BACKBONE_RESNET34,
  HYRSM_BACKBONE_RESNET50,
} HyrsmBackboneKind;

/* One supported depth. */
typedef struct
{
  HyrsmBackboneKind kind;
  const char *name;             /* "resnet18": hyrsm.backbone, the property */
  int blocks_per_layer[4];
  gboolean bottleneck;
  int feature_dim;              /* channels after layer4 */
} HyrsmResnetArch;

/* The stem's output channels and layer1's width in torchvision. */
#define HYRSM_RESNET_BASE_WIDTH 64

/* The entry of @kind; NULL for HYRSM_BACKBONE_NONE. */
const HyrsmResnetArch *hyrsm_resnet_arch (HyrsmBackboneKind kind);
/* The entry named @name ("resnet18", ...), or NULL. */
const HyrsmResnetArch *hyrsm_resnet_arch_from_name (const char *name);
/* The entry with these block counts and block type, or NULL. */
const HyrsmResnetArch *hyrsm_resnet_arch_from_blocks (const int blocks[4],
    gboolean bottleneck);

/* The convolutions of a block. */
typedef enum
{
  HYRSM_RESNET_CONV1,
  HYRSM_RESNET_CONV2,
  HYRSM_RESNET_CONV3,           /* Bottleneck only */
  HYRSM_RESNET_DOWNSAMPLE,      /* when the block has one */
  HYRSM_RESNET_N_CONVS,
} HyrsmResnetConvSlot;

typedef struct
{
  int in_channels, out_channels, kernel, stride, padding;
} HyrsmResnetConvShape;

typedef struct
{
  gboolean bottleneck;
  gboolean has_downsample;
  int out_channels;
  HyrsmResnetConvShape conv[HYRSM_RESNET_N_CONVS];      /* by slot */
} HyrsmResnetBlockShape;

/* The stem convolution: 3 -> @base channels, 7x7, stride 2, padding 3. */
void hyrsm_resnet_stem_shape (int base, HyrsmResnetConvShape *shape);

/* Block @index (from 0) of layer @layer (1 to 4) of a ResNet whose stem has
 * @base channels (HYRSM_RESNET_BASE_WIDTH), the block taking @in_channels.
 * The next block takes shape->out_channels. */
void hyrsm_resnet_block_shape (gboolean bottleneck, int base, int layer,
    int index, int in_channels, HyrsmResnetBlockShape *shape);

/* Names, torchvision's, newly allocated. @layer 0 is the stem (@index and
 * @slot ignored); layers 1 to 4 name block @index's convolution @slot. */
typedef enum
{
  HYRSM_RESNET_NAME_MODULE,     /* "conv1", "layer1.0.conv1",
                                   "layer2.0.downsample": for messages */
  HYRSM_RESNET_NAME_CONV,       /* tensor prefix of the convolution:
                                   "conv1", "layer2.0.downsample.0" */
  HYRSM_RESNET_NAME_BN,         /* tensor prefix of its BatchNorm:
                                   "bn1", "layer2.0.downsample.1" */
} HyrsmResnetName;

char *hyrsm_resnet_name (int layer, int index, HyrsmResnetConvSlot slot,
    HyrsmResnetName what);
/* hyrsm_resnet_name (..., HYRSM_RESNET_NAME_MODULE). */
char *hyrsm_resnet_module_name (int layer, int index,
    HyrsmResnetConvSlot slot);

/* The HyRSM++ authors' checkpoints hold the ResNet as an nn.Sequential
 * `backbone`: index i there is torchvision's module
 * hyrsm_resnet_sequential_names[i] (NULL: no parameters). */
#define HYRSM_RESNET_N_SEQUENTIAL 8
extern const char *const hyrsm_resnet_sequential_names[HYRSM_RESNET_N_SEQUENTIAL];

G_END_DECLS
