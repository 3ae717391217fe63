/* hyrsm-model-private.h: the validated weights of a model, as the backends
 * and the relation code consume them, and (at the end) the object's fields
 * shared by the model's own files (private to libhyrsm).
 *
 * Every array below is a separately allocated, naturally aligned float32
 * copy owned by the model; BatchNorm is already folded into the
 * convolutions (docs/model.md section 3), so a convolution is w * x + bias.
 */
#pragma once

#include "hyrsm-model.h"
#include "hyrsm-resnet.h"           /* HyrsmBackboneKind, the topologies */

G_BEGIN_DECLS

typedef enum
{
  HYRSM_HEAD_NONE,
  HYRSM_HEAD_AUTO,              /* relation tensors present, head not named */
  HYRSM_HEAD_1SHOT,
  HYRSM_HEAD_5SHOT,
} HyrsmHeadKind;

/* One convolution with its BatchNorm folded in. */
typedef struct
{
  int in_channels;
  int out_channels;
  int kernel;                   /* square: kernel x kernel */
  int stride;
  int padding;
  float *weight;                /* out x in x kernel x kernel (OIHW) */
  float *bias;                  /* out */
} HyrsmConv;

/* A BasicBlock (ResNet-18/34: conv1 3x3, conv2 3x3) or a Bottleneck
 * (ResNet-50: conv1 1x1, conv2 3x3 with the stride, conv3 1x1). The output
 * is ReLU (last conv + shortcut), the shortcut being the input or the
 * downsample convolution of it. */
typedef struct
{
  HyrsmConv conv1;
  HyrsmConv conv2;
  HyrsmConv conv3;              /* Bottleneck only */
  HyrsmConv downsample;         /* when has_downsample */
  gboolean bottleneck;
  gboolean has_downsample;
} HyrsmBlock;

typedef struct
{
  HyrsmBackboneKind kind;
  HyrsmConv stem;               /* conv1 7x7/2 + bn1, then ReLU, maxpool 3x3/2 */
  int n_blocks;                 /* layer1..layer4 in order */
  HyrsmBlock *blocks;
  int blocks_per_layer[4];
  int feature_dim;              /* D: channels after layer4 */
} HyrsmBackboneWeights;

/* The HyRSM++ relation head (docs/model.md sections 4 and 5), D = dim. */
typedef struct
{
  int dim;
  int n_heads;                  /* 8 */
  float *pe;                    /* pe_rows x dim, the stored `pe.pe`, or computed */
  int pe_rows;
  /* intra-relation (temporal_atte_before) */
  float *pre_norm_weight, *pre_norm_bias;       /* dim */
  float *qkv_weight;            /* 3 dim x dim */
  float *out_weight, *out_bias; /* dim x dim, dim */
  /* inter-relation (temporal_atte) */
  float *wq, *wk, *wv;          /* dim x dim each */
  float *fc_weight, *fc_bias;   /* dim x dim, dim */
  float *ln_weight, *ln_bias;   /* dim */
  /* fuse (layer2.0) */
  float *fuse_weight;           /* dim x 2 dim: [W2a | W2b] */
  float *fuse_bias;             /* dim */
} HyrsmHeadWeights;

typedef struct _HyrsmBackend HyrsmBackend;

/* The two functions the engine (hyrsm-engine.c, the static
 * libhyrsm-engine.a linked into the plugin) needs from the model are
 * exported from libhyrsm although they are not public API: declared only
 * here, in an uninstalled header, and not introspected. */
#if defined(HYRSM_COMPILATION) && defined(__GNUC__)
#define HYRSM_PRIVATE_API __attribute__ ((visibility ("default"))) extern
#else
#define HYRSM_PRIVATE_API extern
#endif

/* The precision a load with @precision (NULL: "auto") asks for, as one of
 * "auto", "fp32", "bf16", "fp16": "auto" replaced by HYRSM_PRECISION when
 * that is set. NULL with HYRSM_ERROR_INVALID_ARGUMENT for an unknown name. */
const char *hyrsm_precision_request (const char *precision, GError **error);

HyrsmBackboneKind hyrsm_model_get_backbone_kind (HyrsmModel *self);
HyrsmHeadKind hyrsm_model_get_head_kind (HyrsmModel *self);
HYRSM_PRIVATE_API
const HyrsmBackboneWeights *hyrsm_model_get_backbone_weights (HyrsmModel *self);
const HyrsmHeadWeights *hyrsm_model_get_head_weights (HyrsmModel *self);
/* The backend holding this model's weights (never NULL once loaded). */
HyrsmBackend *hyrsm_model_get_backend (HyrsmModel *self);
const float *hyrsm_model_get_mean_array (HyrsmModel *self);     /* 3 */
const float *hyrsm_model_get_std_array (HyrsmModel *self);      /* 3 */

/* One packed RGB8 frame in host memory, as the element hands it over. */
typedef struct
{
  const guint8 *rgb;
  int width, height;
  int stride;                   /* bytes per row, >= width * 3 */
} HyrsmRgbFrame;

/* Pre-processes (docs/model.md section 2) and embeds @n frames of any sizes
 * into @features (n x D). A backend that pre-processes on its device
 * (embed_frames: CUDA) gets the raw frames, each uploaded once, runs of
 * equally sized frames in one call; otherwise every frame is pre-processed
 * on the CPU into @scratch (room for n x 3 x crop x crop floats) and the
 * backend's embed runs on those. Thread-safe. */
HYRSM_PRIVATE_API
gboolean hyrsm_model_embed_rgb_frames (HyrsmModel *self,
    const HyrsmRgbFrame *frames, guint n, float *scratch, float *features,
    GError **error);

/* ---- the object itself: for the files of HyrsmModel only (hyrsm-model.c,
 * hyrsm-model-load.c, hyrsm-device.c, hyrsm-embed.c) ---- */

struct _HyrsmModel
{
  GObject parent_instance;

  char *path;
  char *fingerprint;
  char *device;
  char *precision;              /* asked, then in effect once loaded */
  HyrsmBackboneKind backbone_kind;
  HyrsmHeadKind head_kind;
  guint frames;
  guint resize;
  guint crop;
  float mean[3];
  float std[3];
  double position_a;
  double position_b;
  guint64 parameter_count;
  GHashTable *metadata;         /* as in the file, string -> string */

  HyrsmBackboneWeights backbone;
  HyrsmHeadWeights head;
  HyrsmBackend *backend;        /* the device's copy of the weights */
};

/* hyrsm-model-load.c: reads and validates @path into @self (everything but
 * the backend). FALSE with @error set, naming the file, on any fault. */
gboolean hyrsm_model_load (HyrsmModel *self, const char *path,
    GError **error);
/* "resnet18", ... "none"; "1shot", "5shot", "auto", "none". */
const char *hyrsm_backbone_kind_to_string (HyrsmBackboneKind kind);
const char *hyrsm_head_kind_to_string (HyrsmHeadKind kind);
/* Frees the arrays hyrsm_model_load() allocated. */
void hyrsm_backbone_weights_clear (HyrsmBackboneWeights *w);
void hyrsm_head_weights_clear (HyrsmHeadWeights *h);

/* hyrsm-device.c: picks the backend for self->device and self->precision
 * and hands it the loaded weights once; both fields then say what is in
 * effect. */
gboolean hyrsm_model_create_backend (HyrsmModel *self, GError **error);

G_END_DECLS
