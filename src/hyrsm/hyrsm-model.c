/* hyrsm-model.c: loading and validating a HyRSM++ model file.
 *
 * The file is safetensors (hyrsm-safetensors.c). Tensor names are either
 * the HyRSM++ authors' (`backbone.N...`, optionally under `head.` and
 * `module.`) or torchvision's (`conv1`, `bn1`, `layer1`...); both are
 * mapped to torchvision's names first. Then the architecture is worked out
 * from the tensors present (and `__metadata__` where given, which must
 * agree), every tensor the architecture needs is checked for dtype and
 * shape, BatchNorm is folded into the convolutions, and the relation head's
 * weights are copied out. The file is read into memory once (not mapped:
 * a mapped file truncated by someone else is SIGBUS) and dropped after.
 */
#include "hyrsm-model-private.h"
#include "hyrsm-backend.h"
#include "hyrsm-error.h"
#include "hyrsm-preprocess.h"
#include "hyrsm-safetensors.h"

#include <math.h>
#include <string.h>

#define BN_EPS 1e-5

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

enum
{
  PROP_0,
  PROP_PATH,
  PROP_BACKBONE,
  PROP_HEAD,
  PROP_FRAMES,
  PROP_FEATURE_DIM,
  PROP_RESIZE,
  PROP_CROP,
  PROP_PARAMETER_COUNT,
  PROP_FINGERPRINT,
  PROP_DEVICE,
  PROP_PRECISION,
  N_PROPS
};

static GParamSpec *properties[N_PROPS];

G_DEFINE_FINAL_TYPE (HyrsmModel, hyrsm_model, G_TYPE_OBJECT)

/* ---- loading context ---- */

typedef struct
{
  const char *path;
  HyrsmSafetensors *st;
  GHashTable *canonical;        /* canonical name -> const HyrsmTensorInfo* */
  gboolean authors_names;
  guint64 parameter_count;
} Loader;

/* The authors' nn.Sequential indices -> torchvision module names. */
static const char *const authors_backbone_names[] = {
  "conv1", "bn1", NULL, NULL, "layer1", "layer2", "layer3", "layer4",
};

static gboolean
is_ignored_name (const char *name)
{
  return g_str_has_prefix (name, "fc.")
      || g_str_has_prefix (name, "classification_layer.")
      || g_str_has_suffix (name, "num_batches_tracked");
}

/* Maps a file name to the canonical (torchvision / head) name, or NULL
 * when the tensor is not used at inference. */
static char *
canonical_name (const char *name, gboolean *authors)
{
  for (;;) {
    if (g_str_has_prefix (name, "module."))
      name += strlen ("module.");
    else if (g_str_has_prefix (name, "head."))
      name += strlen ("head.");
    else
      break;
  }
  if (is_ignored_name (name))
    return NULL;
  if (g_str_has_prefix (name, "backbone.")) {
    const char *rest = name + strlen ("backbone.");
    char *end;
    guint64 index = g_ascii_strtoull (rest, &end, 10);
    if (end == rest || *end != '.' || index >= G_N_ELEMENTS
        (authors_backbone_names) || authors_backbone_names[index] == NULL)
      return g_strdup (name);   /* reported as unknown later */
    *authors = TRUE;
    return g_strconcat (authors_backbone_names[index], end, NULL);
  }
  return g_strdup (name);
}

static gboolean
loader_index (Loader *l, GError **error)
{
  l->canonical = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  guint n = hyrsm_safetensors_get_n_tensors (l->st);
  for (guint i = 0; i < n; i++) {
    const HyrsmTensorInfo *t = hyrsm_safetensors_get_tensor (l->st, i);
    char *name = canonical_name (t->name, &l->authors_names);
    if (name == NULL)
      continue;
    if (g_hash_table_contains (l->canonical, name)) {
      g_set_error (error, HYRSM_ERROR, HYRSM_ERROR_BAD_FORMAT,
          "%s: tensor \"%s\" appears twice (under two naming schemes)",
          l->path, t->name);
      g_free (name);
      return FALSE;
    }
    g_hash_table_insert (l->canonical, name, (gpointer) t);
  }
  return TRUE;
}

static gboolean
has_tensor (Loader *l, const char *name)
{
  return g_hash_table_contains (l->canonical, name);
}

static char *
shape_to_string (const gint64 *shape, int rank)
{
  GString *s = g_string_new ("[");
  for (int i = 0; i < rank; i++)
    g_string_append_printf (s, "%s%" G_GINT64_FORMAT, i ? ", " : "", shape[i]);
  g_string_append_c (s, ']');
  return g_string_free (s, FALSE);
}

/* Looks up @name, checks it is F32 of exactly @shape, and returns a new
 * float copy (or NULL with @error set). */
static float *
take_tensor (Loader *l, const char *name, int rank, const gint64 *shape,
    gboolean parameter, GError **error)
{
  const HyrsmTensorInfo *t = g_hash_table_lookup (l->canonical, name);
  if (t == NULL) {
    g_set_error (error, HYRSM_ERROR, HYRSM_ERROR_MISSING_TENSOR,
        "%s: missing tensor \"%s\"", l->path, name);
    return NULL;
  }
  if (t->dtype != HYRSM_DTYPE_F32) {
    g_set_error (error, HYRSM_ERROR, HYRSM_ERROR_BAD_DTYPE,
        "%s: tensor \"%s\" is %s, expected F32", l->path, t->name,
        hyrsm_dtype_to_string (t->dtype));
    return NULL;
  }
  gboolean same = t->rank == rank;
  for (int i = 0; same && i < rank; i++)
    same = t->shape[i] == shape[i];
  if (!same) {
    g_autofree char *want = shape_to_string (shape, rank);
    g_autofree char *got = shape_to_string (t->shape, t->rank);
    g_set_error (error, HYRSM_ERROR, HYRSM_ERROR_SHAPE_MISMATCH,
        "%s: tensor \"%s\" has shape %s, expected %s", l->path, t->name, got,
        want);
    return NULL;
  }
  float *copy = g_new (float, MAX (t->n_elements, 1));
  hyrsm_tensor_copy_f32 (t, copy);
  if (parameter)
    l->parameter_count += t->n_elements;
  return copy;
}

static float *
take_vector (Loader *l, const char *name, gint64 n, gboolean parameter,
    GError **error)
{
  gint64 shape[1] = { n };
  return take_tensor (l, name, 1, shape, parameter, error);
}

static float *
take_matrix (Loader *l, const char *name, gint64 rows, gint64 cols,
    GError **error)
{
  gint64 shape[2] = { rows, cols };
  return take_tensor (l, name, 2, shape, TRUE, error);
}

/* ---- backbone ---- */

static void
conv_clear (HyrsmConv *c)
{
  g_clear_pointer (&c->weight, g_free);
  g_clear_pointer (&c->bias, g_free);
}

/* Loads `<conv>.weight` and `<bn>.*`, folding the BatchNorm into the
 * convolution: w' = w * gamma / sqrt(var + eps), b' = beta - mean * that. */
static gboolean
load_conv_bn (Loader *l, HyrsmConv *conv, const char *conv_name,
    const char *bn_name, int in, int out, int kernel, int stride,
    int padding, GError **error)
{
  g_autofree char *wname = g_strconcat (conv_name, ".weight", NULL);
  gint64 wshape[4] = { out, in, kernel, kernel };
  conv->in_channels = in;
  conv->out_channels = out;
  conv->kernel = kernel;
  conv->stride = stride;
  conv->padding = padding;
  conv->weight = take_tensor (l, wname, 4, wshape, TRUE, error);
  if (conv->weight == NULL)
    return FALSE;

  static const char *const suffixes[] = { ".weight", ".bias", ".running_mean",
    ".running_var"
  };
  float *bn[4] = { 0 };
  gboolean ok = TRUE;
  for (int i = 0; i < 4 && ok; i++) {
    g_autofree char *name = g_strconcat (bn_name, suffixes[i], NULL);
    bn[i] = take_vector (l, name, out, i < 2, error);
    ok = bn[i] != NULL;
  }
  if (ok) {
    gsize per_out = (gsize) in * kernel * kernel;
    conv->bias = g_new (float, out);
    for (int o = 0; o < out; o++) {
      double scale = bn[0][o] / sqrt ((double) bn[3][o] + BN_EPS);
      for (gsize k = 0; k < per_out; k++)
        conv->weight[o * per_out + k] =
            (float) (conv->weight[o * per_out + k] * scale);
      conv->bias[o] = (float) (bn[1][o] - bn[2][o] * scale);
    }
  }
  for (int i = 0; i < 4; i++)
    g_free (bn[i]);
  return ok;
}

static int
count_blocks (Loader *l, int layer)
{
  int n = 0;
  for (;;) {
    g_autofree char *name = g_strdup_printf ("layer%d.%d.conv1.weight", layer,
        n);
    if (!has_tensor (l, name))
      return n;
    n++;
  }
}

static const char *
backbone_kind_to_string (HyrsmBackboneKind kind)
{
  switch (kind) {
    case HYRSM_BACKBONE_RESNET18:
      return "resnet18";
    case HYRSM_BACKBONE_RESNET34:
      return "resnet34";
    case HYRSM_BACKBONE_RESNET50:
      return "resnet50";
    default:
      return "none";
  }
}

static gboolean
backbone_kind_from_string (const char *s, HyrsmBackboneKind *kind)
{
  static const HyrsmBackboneKind all[] = { HYRSM_BACKBONE_NONE,
    HYRSM_BACKBONE_RESNET18, HYRSM_BACKBONE_RESNET34, HYRSM_BACKBONE_RESNET50
  };
  for (guint i = 0; i < G_N_ELEMENTS (all); i++)
    if (g_strcmp0 (s, backbone_kind_to_string (all[i])) == 0) {
      *kind = all[i];
      return TRUE;
    }
  return FALSE;
}

/* Works out the ResNet depth from the blocks present. */
static gboolean
detect_backbone (Loader *l, const char *declared, HyrsmBackboneKind *kind,
    GError **error)
{
  HyrsmBackboneKind named = HYRSM_BACKBONE_NONE;
  if (declared && !backbone_kind_from_string (declared, &named)) {
    g_set_error (error, HYRSM_ERROR, HYRSM_ERROR_UNSUPPORTED_ARCHITECTURE,
        "%s: __metadata__ hyrsm.backbone is \"%s\"; supported: resnet18, "
        "resnet34, resnet50, none", l->path, declared);
    return FALSE;
  }
  gboolean present = has_tensor (l, "conv1.weight");
  if (declared && named == HYRSM_BACKBONE_NONE) {
    *kind = HYRSM_BACKBONE_NONE;
    return TRUE;
  }
  if (!present) {
    if (declared) {
      g_set_error (error, HYRSM_ERROR, HYRSM_ERROR_MISSING_TENSOR,
          "%s: missing tensor \"%s\" (hyrsm.backbone is %s)", l->path,
          l->authors_names ? "backbone.0.weight" : "conv1.weight", declared);
      return FALSE;
    }
    *kind = HYRSM_BACKBONE_NONE;
    return TRUE;
  }

  int blocks[4];
  for (int i = 0; i < 4; i++)
    blocks[i] = count_blocks (l, i + 1);
  gboolean bottleneck = has_tensor (l, "layer1.0.conv3.weight");
  HyrsmBackboneKind found;
  if (!bottleneck && blocks[0] == 2 && blocks[1] == 2 && blocks[2] == 2
      && blocks[3] == 2)
    found = HYRSM_BACKBONE_RESNET18;
  else if (blocks[0] == 3 && blocks[1] == 4 && blocks[2] == 6
      && blocks[3] == 3)
    found = bottleneck ? HYRSM_BACKBONE_RESNET50 : HYRSM_BACKBONE_RESNET34;
  else {
    g_set_error (error, HYRSM_ERROR, HYRSM_ERROR_UNSUPPORTED_ARCHITECTURE,
        "%s: a ResNet with %d, %d, %d, %d %s blocks is not supported "
        "(resnet18: 2,2,2,2 basic; resnet34: 3,4,6,3 basic; resnet50: "
        "3,4,6,3 bottleneck)", l->path, blocks[0], blocks[1], blocks[2],
        blocks[3], bottleneck ? "bottleneck" : "basic");
    return FALSE;
  }
  if (declared && named != found) {
    g_set_error (error, HYRSM_ERROR, HYRSM_ERROR_UNSUPPORTED_ARCHITECTURE,
        "%s: __metadata__ hyrsm.backbone says %s but the tensors are a %s",
        l->path, declared, backbone_kind_to_string (found));
    return FALSE;
  }
  *kind = found;
  return TRUE;
}

static gboolean
load_block (Loader *l, HyrsmBlock *b, int layer, int index, int in,
    int width, int stride, gboolean bottleneck, GError **error)
{
  g_autofree char *p = g_strdup_printf ("layer%d.%d", layer, index);
  g_autofree char *c1 = g_strconcat (p, ".conv1", NULL);
  g_autofree char *b1 = g_strconcat (p, ".bn1", NULL);
  g_autofree char *c2 = g_strconcat (p, ".conv2", NULL);
  g_autofree char *b2 = g_strconcat (p, ".bn2", NULL);
  g_autofree char *c3 = g_strconcat (p, ".conv3", NULL);
  g_autofree char *b3 = g_strconcat (p, ".bn3", NULL);
  g_autofree char *ds = g_strconcat (p, ".downsample.0", NULL);
  g_autofree char *dsbn = g_strconcat (p, ".downsample.1", NULL);
  int out = bottleneck ? width * 4 : width;

  b->bottleneck = bottleneck;
  b->has_downsample = stride != 1 || in != out;
  if (bottleneck) {
    /* torchvision (v1.5) puts the stride on the 3x3 convolution. */
    if (!load_conv_bn (l, &b->conv1, c1, b1, in, width, 1, 1, 0, error)
        || !load_conv_bn (l, &b->conv2, c2, b2, width, width, 3, stride, 1,
            error)
        || !load_conv_bn (l, &b->conv3, c3, b3, width, out, 1, 1, 0, error))
      return FALSE;
  } else {
    if (!load_conv_bn (l, &b->conv1, c1, b1, in, width, 3, stride, 1, error)
        || !load_conv_bn (l, &b->conv2, c2, b2, width, width, 3, 1, 1, error))
      return FALSE;
  }
  if (b->has_downsample
      && !load_conv_bn (l, &b->downsample, ds, dsbn, in, out, 1, stride, 0,
          error))
    return FALSE;
  return TRUE;
}

static gboolean
load_backbone (Loader *l, HyrsmBackboneWeights *w, HyrsmBackboneKind kind,
    GError **error)
{
  static const int resnet18_blocks[4] = { 2, 2, 2, 2 };
  static const int resnet34_blocks[4] = { 3, 4, 6, 3 };
  const int *per_layer = kind == HYRSM_BACKBONE_RESNET18 ? resnet18_blocks :
      resnet34_blocks;
  gboolean bottleneck = kind == HYRSM_BACKBONE_RESNET50;

  w->kind = kind;
  if (!load_conv_bn (l, &w->stem, "conv1", "bn1", 3, 64, 7, 2, 3, error))
    return FALSE;
  w->n_blocks = 0;
  for (int i = 0; i < 4; i++) {
    w->blocks_per_layer[i] = per_layer[i];
    w->n_blocks += per_layer[i];
  }
  w->blocks = g_new0 (HyrsmBlock, w->n_blocks);
  int in = 64, k = 0;
  for (int layer = 0; layer < 4; layer++) {
    int width = 64 << layer;
    for (int i = 0; i < per_layer[layer]; i++, k++) {
      int stride = (layer > 0 && i == 0) ? 2 : 1;
      if (!load_block (l, &w->blocks[k], layer + 1, i, in, width, stride,
              bottleneck, error))
        return FALSE;
      in = bottleneck ? width * 4 : width;
    }
  }
  w->feature_dim = in;
  return TRUE;
}

static void
backbone_clear (HyrsmBackboneWeights *w)
{
  conv_clear (&w->stem);
  for (int i = 0; i < w->n_blocks && w->blocks; i++) {
    conv_clear (&w->blocks[i].conv1);
    conv_clear (&w->blocks[i].conv2);
    conv_clear (&w->blocks[i].conv3);
    conv_clear (&w->blocks[i].downsample);
  }
  g_clear_pointer (&w->blocks, g_free);
}

/* ---- relation head ---- */

static const char *const head_tensor_names[] = {
  "temporal_atte_before.norm.weight", "temporal_atte_before.norm.bias",
  "temporal_atte_before.fn.to_qkv.weight",
  "temporal_atte_before.fn.to_out.0.weight",
  "temporal_atte_before.fn.to_out.0.bias",
  "temporal_atte.w_qs.weight", "temporal_atte.w_ks.weight",
  "temporal_atte.w_vs.weight", "temporal_atte.fc.weight",
  "temporal_atte.fc.bias", "temporal_atte.layer_norm.weight",
  "temporal_atte.layer_norm.bias", "layer2.0.weight", "layer2.0.bias",
};

static gboolean
any_head_tensor (Loader *l)
{
  for (guint i = 0; i < G_N_ELEMENTS (head_tensor_names); i++)
    if (has_tensor (l, head_tensor_names[i]))
      return TRUE;
  return FALSE;
}

static const char *
head_kind_to_string (HyrsmHeadKind kind)
{
  switch (kind) {
    case HYRSM_HEAD_1SHOT:
      return "1shot";
    case HYRSM_HEAD_5SHOT:
      return "5shot";
    case HYRSM_HEAD_AUTO:
      return "auto";
    default:
      return "none";
  }
}

static gboolean
detect_head (Loader *l, const char *declared, HyrsmHeadKind *kind,
    GError **error)
{
  gboolean present = any_head_tensor (l);
  if (declared == NULL) {
    *kind = present ? HYRSM_HEAD_AUTO : HYRSM_HEAD_NONE;
    return TRUE;
  }
  if (g_str_equal (declared, "none"))
    *kind = HYRSM_HEAD_NONE;
  else if (g_str_equal (declared, "1shot"))
    *kind = HYRSM_HEAD_1SHOT;
  else if (g_str_equal (declared, "5shot"))
    *kind = HYRSM_HEAD_5SHOT;
  else {
    g_set_error (error, HYRSM_ERROR, HYRSM_ERROR_UNSUPPORTED_ARCHITECTURE,
        "%s: __metadata__ hyrsm.head is \"%s\"; supported: 1shot, 5shot, none",
        l->path, declared);
    return FALSE;
  }
  return TRUE;
}

/* Positional table of docs/model.md section 4 (exponent 2j/D, as the authors). */
static float *
compute_positional_table (int rows, int dim)
{
  float *pe = g_new (float, (gsize) rows * dim);
  for (int t = 0; t < rows; t++)
    for (int j = 0; j < dim; j++) {
      double angle = t / pow (10000.0, 2.0 * j / dim);
      pe[(gsize) t * dim + j] = (float) ((j % 2 == 0) ? sin (angle) :
          cos (angle));
    }
  return pe;
}

static gboolean
load_head (Loader *l, HyrsmHeadWeights *h, int backbone_dim, guint frames,
    GError **error)
{
  const HyrsmTensorInfo *fuse = g_hash_table_lookup (l->canonical,
      "layer2.0.weight");
  if (fuse == NULL) {
    g_set_error (error, HYRSM_ERROR, HYRSM_ERROR_MISSING_TENSOR,
        "%s: missing tensor \"layer2.0.weight\" of the relation head",
        l->path);
    return FALSE;
  }
  if (fuse->rank != 3 || fuse->shape[0] < 8 || fuse->shape[0] > 65536
      || fuse->shape[0] % 8 != 0) {
    g_autofree char *got = shape_to_string (fuse->shape, fuse->rank);
    g_set_error (error, HYRSM_ERROR, HYRSM_ERROR_SHAPE_MISMATCH,
        "%s: tensor \"%s\" has shape %s, expected [D, 2D, 1] with D a "
        "multiple of 8", l->path, fuse->name, got);
    return FALSE;
  }
  gint64 D = fuse->shape[0];
  if (backbone_dim > 0 && D != backbone_dim) {
    g_set_error (error, HYRSM_ERROR, HYRSM_ERROR_SHAPE_MISMATCH,
        "%s: relation head width %" G_GINT64_FORMAT " (tensor \"%s\") does "
        "not match the backbone's %d features", l->path, D, fuse->name,
        backbone_dim);
    return FALSE;
  }
  h->dim = D;
  h->n_heads = 8;
  gint64 fuse_shape[3] = { D, 2 * D, 1 };
  gint64 qkv_shape[2] = { 3 * D, D };
  if (!(h->fuse_weight = take_tensor (l, "layer2.0.weight", 3, fuse_shape,
              TRUE, error))
      || !(h->fuse_bias = take_vector (l, "layer2.0.bias", D, TRUE, error))
      || !(h->pre_norm_weight = take_vector (l,
              "temporal_atte_before.norm.weight", D, TRUE, error))
      || !(h->pre_norm_bias = take_vector (l,
              "temporal_atte_before.norm.bias", D, TRUE, error))
      || !(h->qkv_weight = take_tensor (l,
              "temporal_atte_before.fn.to_qkv.weight", 2, qkv_shape, TRUE,
              error))
      || !(h->out_weight = take_matrix (l,
              "temporal_atte_before.fn.to_out.0.weight", D, D, error))
      || !(h->out_bias = take_vector (l,
              "temporal_atte_before.fn.to_out.0.bias", D, TRUE, error))
      || !(h->wq = take_matrix (l, "temporal_atte.w_qs.weight", D, D, error))
      || !(h->wk = take_matrix (l, "temporal_atte.w_ks.weight", D, D, error))
      || !(h->wv = take_matrix (l, "temporal_atte.w_vs.weight", D, D, error))
      || !(h->fc_weight = take_matrix (l, "temporal_atte.fc.weight", D, D,
              error))
      || !(h->fc_bias = take_vector (l, "temporal_atte.fc.bias", D, TRUE,
              error))
      || !(h->ln_weight = take_vector (l, "temporal_atte.layer_norm.weight",
              D, TRUE, error))
      || !(h->ln_bias = take_vector (l, "temporal_atte.layer_norm.bias", D,
              TRUE, error)))
    return FALSE;

  const HyrsmTensorInfo *pe = g_hash_table_lookup (l->canonical, "pe.pe");
  if (pe != NULL) {
    if (pe->rank != 3 || pe->shape[0] != 1 || pe->shape[2] != D
        || pe->shape[1] < frames) {
      g_autofree char *got = shape_to_string (pe->shape, pe->rank);
      g_set_error (error, HYRSM_ERROR, HYRSM_ERROR_SHAPE_MISMATCH,
          "%s: tensor \"%s\" has shape %s, expected [1, >= %u, %"
          G_GINT64_FORMAT "]", l->path, pe->name, got, frames, D);
      return FALSE;
    }
    gint64 pe_shape[3] = { 1, pe->shape[1], D };
    h->pe_rows = pe->shape[1];
    if (!(h->pe = take_tensor (l, "pe.pe", 3, pe_shape, FALSE, error)))
      return FALSE;
  } else {
    h->pe_rows = frames;
    h->pe = compute_positional_table (frames, D);
  }
  return TRUE;
}

static void
head_clear (HyrsmHeadWeights *h)
{
  float **all[] = { &h->pe, &h->pre_norm_weight, &h->pre_norm_bias,
    &h->qkv_weight, &h->out_weight, &h->out_bias, &h->wq, &h->wk, &h->wv,
    &h->fc_weight, &h->fc_bias, &h->ln_weight, &h->ln_bias, &h->fuse_weight,
    &h->fuse_bias
  };
  for (guint i = 0; i < G_N_ELEMENTS (all); i++)
    g_clear_pointer (all[i], g_free);
}

/* ---- metadata ---- */

static gboolean
meta_uint (Loader *l, const char *key, guint min, guint max, guint *out,
    GError **error)
{
  const char *s = hyrsm_safetensors_get_metadata (l->st, key);
  if (s == NULL)
    return TRUE;
  guint64 v;
  if (!g_ascii_string_to_unsigned (s, 10, min, max, &v, NULL)) {
    g_set_error (error, HYRSM_ERROR, HYRSM_ERROR_BAD_METADATA,
        "%s: __metadata__ %s is \"%s\", expected an integer in [%u, %u]",
        l->path, key, s, min, max);
    return FALSE;
  }
  *out = v;
  return TRUE;
}

static gboolean
meta_double (Loader *l, const char *key, double *out, GError **error)
{
  const char *s = hyrsm_safetensors_get_metadata (l->st, key);
  if (s == NULL)
    return TRUE;
  char *end;
  double v = g_ascii_strtod (s, &end);
  if (end == s || *end != '\0' || !isfinite (v)) {
    g_set_error (error, HYRSM_ERROR, HYRSM_ERROR_BAD_METADATA,
        "%s: __metadata__ %s is \"%s\", expected a number", l->path, key, s);
    return FALSE;
  }
  *out = v;
  return TRUE;
}

static gboolean
meta_triple (Loader *l, const char *key, gboolean positive, float out[3],
    GError **error)
{
  const char *s = hyrsm_safetensors_get_metadata (l->st, key);
  if (s == NULL)
    return TRUE;
  g_auto (GStrv) parts = g_strsplit (s, ",", -1);
  gboolean ok = g_strv_length (parts) == 3;
  float v[3];
  for (int i = 0; ok && i < 3; i++) {
    char *end;
    g_strstrip (parts[i]);
    double d = g_ascii_strtod (parts[i], &end);
    ok = end != parts[i] && *end == '\0' && isfinite (d) && (!positive
        || d > 0);
    v[i] = d;
  }
  if (!ok) {
    g_set_error (error, HYRSM_ERROR, HYRSM_ERROR_BAD_METADATA,
        "%s: __metadata__ %s is \"%s\", expected three %snumbers \"r,g,b\"",
        l->path, key, s, positive ? "positive " : "");
    return FALSE;
  }
  memcpy (out, v, sizeof v);
  return TRUE;
}

static gboolean
load_metadata (HyrsmModel *self, Loader *l, GError **error)
{
  /* Defaults (docs/formats.md): the authors' normalization for HyRSM++ files,
   * ImageNet's for plain torchvision files. */
  gboolean hyrsm_file = l->authors_names || any_head_tensor (l);
  const float authors_mean[3] = { 0.45f, 0.45f, 0.45f };
  const float authors_std[3] = { 0.225f, 0.225f, 0.225f };
  const float imagenet_mean[3] = { 0.485f, 0.456f, 0.406f };
  const float imagenet_std[3] = { 0.229f, 0.224f, 0.225f };
  memcpy (self->mean, hyrsm_file ? authors_mean : imagenet_mean,
      sizeof self->mean);
  memcpy (self->std, hyrsm_file ? authors_std : imagenet_std,
      sizeof self->std);
  self->frames = 8;
  self->resize = 256;
  self->crop = 224;
  self->position_a = 10;
  self->position_b = 1;

  if (!meta_uint (l, "hyrsm.frames", 1, 64, &self->frames, error)
      || !meta_uint (l, "hyrsm.resize", 8, 4096, &self->resize, error)
      || !meta_uint (l, "hyrsm.crop", 8, 4096, &self->crop, error)
      || !meta_triple (l, "hyrsm.mean", FALSE, self->mean, error)
      || !meta_triple (l, "hyrsm.std", TRUE, self->std, error)
      || !meta_double (l, "hyrsm.position_a", &self->position_a, error)
      || !meta_double (l, "hyrsm.position_b", &self->position_b, error))
    return FALSE;
  if (self->crop > self->resize) {
    g_set_error (error, HYRSM_ERROR, HYRSM_ERROR_BAD_METADATA,
        "%s: __metadata__ hyrsm.crop (%u) is larger than hyrsm.resize (%u)",
        l->path, self->crop, self->resize);
    return FALSE;
  }
  if (self->position_a <= 0) {
    g_set_error (error, HYRSM_ERROR, HYRSM_ERROR_BAD_METADATA,
        "%s: __metadata__ hyrsm.position_a must be positive", l->path);
    return FALSE;
  }
  GHashTable *table = hyrsm_safetensors_get_metadata_table (l->st);
  if (table)
    self->metadata = g_hash_table_ref (table);
  return TRUE;
}

/* Of the very bytes that were parsed: reading the file a second time could
 * see another file (replaced meanwhile) and label these weights with its
 * fingerprint. */
static char *
compute_fingerprint (GBytes *contents)
{
  gsize size;
  const guchar *data = g_bytes_get_data (contents, &size);
  g_autoptr (GChecksum) sum = g_checksum_new (G_CHECKSUM_SHA256);
  g_checksum_update (sum, data, size);
  /* 16 hex digits are plenty to tell model files apart in a cache path. */
  return g_strndup (g_checksum_get_string (sum), 16);
}

static const char *const precisions[] = { "auto", "fp32", "bf16", "fp16" };

const char *
hyrsm_precision_request (const char *precision, GError **error)
{
  const char *env = g_getenv ("HYRSM_PRECISION");
  const char *asked = precision ? precision : "auto";
  gboolean from_env = FALSE;
  if (g_str_equal (asked, "auto") && env && *env) {
    asked = env;
    from_env = TRUE;
    if (g_ascii_strcasecmp (env, "float32") == 0)  /* its old spelling */
      return "fp32";
  }
  for (guint i = 0; i < G_N_ELEMENTS (precisions); i++)
    if (g_ascii_strcasecmp (asked, precisions[i]) == 0)
      return precisions[i];
  g_set_error (error, HYRSM_ERROR, HYRSM_ERROR_INVALID_ARGUMENT,
      "%sprecision \"%s\" is not one of auto, fp32, bf16, fp16",
      from_env ? "HYRSM_PRECISION: " : "", asked);
  return NULL;
}

/* The CPU backend in the precision asked: "auto" is bf16 where the CPU has
 * it, else fp32; "fp16" does not exist on the CPU, and bf16 (fewer mantissa
 * bits) is no substitute for it. */
static gboolean
create_cpu_backend (HyrsmModel *self, const HyrsmBackboneWeights *w,
    const char *precision, GError **error)
{
  gboolean bf16;
  if (g_str_equal (precision, "fp16")) {
    g_set_error (error, HYRSM_ERROR, HYRSM_ERROR_INVALID_ARGUMENT,
        "precision \"fp16\" is not available on the CPU (its 16-bit "
        "precision is bf16)");
    return FALSE;
  }
  if (g_str_equal (precision, "auto"))
    bf16 = hyrsm_backend_cpu_has_bf16 ();
  else
    bf16 = g_str_equal (precision, "bf16");
  self->backend = hyrsm_backend_cpu_new (w, self->crop, bf16, error);
  if (self->backend == NULL)
    return FALSE;
  g_free (self->precision);
  self->precision = g_strdup (bf16 ? "bf16" : "fp32");
  g_free (self->device);
  self->device = g_strdup (hyrsm_backend_cpu_ops.name);
  return TRUE;
}

/* Picks the backend for self->device and hands it the weights once:
 * "cpu"; "cuda" / "cuda:N" (HYRSM_ERROR_NO_DEVICE without such a device);
 * "auto": CUDA device 0 when it can be used, else the CPU, with one log
 * line saying which (a message when CUDA exists but failed, info else). */
static gboolean
create_backend (HyrsmModel *self, GError **error)
{
  const HyrsmBackboneWeights *w = hyrsm_model_get_backbone_weights (self);
  const char *device = self->device;
  gboolean is_auto = g_str_equal (device, "auto");
  gboolean is_cuda = g_str_equal (device, "cuda")
      || g_str_has_prefix (device, "cuda:");
  guint64 index = 0;
  const char *precision = hyrsm_precision_request (self->precision, error);

  if (precision == NULL)
    return FALSE;
  if ((!is_auto && !is_cuda && !g_str_equal (device, "cpu"))
      || (g_str_has_prefix (device, "cuda:")
          && !g_ascii_string_to_unsigned (device + 5, 10, 0, G_MAXINT,
              &index, NULL))) {
    g_set_error (error, HYRSM_ERROR, HYRSM_ERROR_INVALID_ARGUMENT,
        "device \"%s\" is not one of auto, cpu, cuda, cuda:N", device);
    return FALSE;
  }
#ifdef HYRSM_HAVE_CUDA
  if (is_auto || is_cuda) {
    /* CUDA's 16-bit precision is fp16: it stands for "auto" and for "bf16"
     * too (fp16 keeps more mantissa bits than bf16). */
    g_autoptr (GError) cuda_error = NULL;
    gboolean fp32 = g_str_equal (precision, "fp32");
    self->backend = hyrsm_backend_cuda_new (w, self->crop, (int) index,
        fp32 ? HYRSM_PRECISION_FP32 : HYRSM_PRECISION_FP16, &cuda_error);
    if (self->backend) {
      g_free (self->precision);
      self->precision = g_strdup (fp32 ? "fp32" : "fp16");
      g_info ("%s: device %s: using %s", self->path, device,
          hyrsm_backend_cuda_describe (self->backend));
      g_free (self->device);
      self->device = g_strdup_printf ("cuda:%d", (int) index);
      return TRUE;
    }
    if (is_cuda) {
      g_set_error (error, cuda_error->domain, cuda_error->code,
          "%s: device \"%s\" is not available: %s", self->path, device,
          cuda_error->message);
      return FALSE;
    }
    if (g_error_matches (cuda_error, HYRSM_ERROR, HYRSM_ERROR_NO_DEVICE))
      g_info ("%s: device auto: using the CPU (%s)", self->path,
          cuda_error->message);
    else
      g_message ("%s: device auto: using the CPU, as the CUDA backend "
          "failed: %s", self->path, cuda_error->message);
  }
#else
  if (is_cuda) {
    g_set_error (error, HYRSM_ERROR, HYRSM_ERROR_NO_DEVICE,
        "%s: device \"%s\" is not available: this build has no CUDA backend",
        self->path, device);
    return FALSE;
  }
  if (is_auto)
    g_info ("%s: device auto: using the CPU (built without CUDA)",
        self->path);
#endif
  return create_cpu_backend (self, w, precision, error);
}

static gboolean
load (HyrsmModel *self, const char *path, GError **error)
{
  Loader l = {.path = path };
  gboolean ok = FALSE;
  const char *declared_backbone, *declared_head;

  l.st = hyrsm_safetensors_open (path, error);
  if (l.st == NULL)
    return FALSE;
  if (!loader_index (&l, error))
    goto out;
  if (!load_metadata (self, &l, error))
    goto out;
  declared_backbone = hyrsm_safetensors_get_metadata (l.st, "hyrsm.backbone");
  declared_head = hyrsm_safetensors_get_metadata (l.st, "hyrsm.head");
  if (!detect_backbone (&l, declared_backbone, &self->backbone_kind, error)
      || !detect_head (&l, declared_head, &self->head_kind, error))
    goto out;
  if (self->backbone_kind == HYRSM_BACKBONE_NONE
      && self->head_kind == HYRSM_HEAD_NONE) {
    g_set_error (error, HYRSM_ERROR, HYRSM_ERROR_UNSUPPORTED_ARCHITECTURE,
        "%s: neither a ResNet backbone (conv1.weight / backbone.0.weight) nor "
        "a HyRSM++ relation head (layer2.0.weight) found", path);
    goto out;
  }
  if (self->backbone_kind != HYRSM_BACKBONE_NONE
      && !load_backbone (&l, &self->backbone, self->backbone_kind, error))
    goto out;
  if (self->head_kind != HYRSM_HEAD_NONE
      && !load_head (&l, &self->head, self->backbone.feature_dim,
          self->frames, error))
    goto out;
  self->parameter_count = l.parameter_count;
  self->fingerprint = compute_fingerprint (hyrsm_safetensors_get_bytes (l.st));
  ok = create_backend (self, error);

out:
  g_clear_pointer (&l.canonical, g_hash_table_unref);
  hyrsm_safetensors_free (l.st);
  return ok;
}

/**
 * hyrsm_model_new_from_file:
 * @path: (type filename): a model file (safetensors)
 * @error: return location for a #GError
 *
 * Loads and validates a model for the default device ("auto").
 *
 * Returns: (transfer full): the model, or %NULL with @error set
 */
HyrsmModel *
hyrsm_model_new_from_file (const char *path, GError **error)
{
  return hyrsm_model_new_from_file_full (path, "auto", error);
}

/**
 * hyrsm_model_new_from_file_full:
 * @path: (type filename): a model file (safetensors)
 * @device: (nullable): "auto", "cpu", "cuda" or "cuda:N"; %NULL for "auto"
 * @error: return location for a #GError
 *
 * Loads and validates a model for @device.
 *
 * Returns: (transfer full): the model, or %NULL with @error set
 */
HyrsmModel *
hyrsm_model_new_from_file_full (const char *path, const char *device,
    GError **error)
{
  return hyrsm_model_new_full (path, device, NULL, error);
}

/**
 * hyrsm_model_new_full:
 * @path: (type filename): a model file (safetensors)
 * @device: (nullable): "auto", "cpu", "cuda" or "cuda:N"; %NULL for "auto"
 * @precision: (nullable): "auto", "fp32", "bf16" or "fp16"; %NULL for "auto"
 * @error: return location for a #GError
 *
 * Loads and validates a model for @device in @precision. The CPU runs
 * "fp32", or "bf16" on CPUs with AVX512-BF16; CUDA runs "fp32" or "fp16".
 * "auto" is the device's 16-bit precision where it has one (bf16 on the CPU,
 * fp16 on CUDA), else fp32; the environment variable HYRSM_PRECISION, when
 * set, says what "auto" means instead. "bf16" on CUDA runs fp16; "bf16" on a
 * CPU without it, "fp16" on the CPU, and unknown names are
 * %HYRSM_ERROR_INVALID_ARGUMENT. hyrsm_model_get_precision() tells which
 * precision is in effect.
 *
 * Returns: (transfer full): the model, or %NULL with @error set
 */
HyrsmModel *
hyrsm_model_new_full (const char *path, const char *device,
    const char *precision, GError **error)
{
  g_return_val_if_fail (path != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);
  if (device == NULL)
    device = "auto";
  HyrsmModel *self = g_object_new (HYRSM_TYPE_MODEL, NULL);
  self->path = g_strdup (path);
  self->device = g_strdup (device);
  self->precision = g_strdup (precision ? precision : "auto");
  if (!load (self, path, error)) {
    g_object_unref (self);
    return NULL;
  }
  return self;
}

/* ---- GObject ---- */

static void
hyrsm_model_finalize (GObject *object)
{
  HyrsmModel *self = HYRSM_MODEL (object);
  if (self->backend)
    self->backend->ops->destroy (self->backend);
  backbone_clear (&self->backbone);
  head_clear (&self->head);
  g_clear_pointer (&self->metadata, g_hash_table_unref);
  g_free (self->path);
  g_free (self->fingerprint);
  g_free (self->device);
  g_free (self->precision);
  G_OBJECT_CLASS (hyrsm_model_parent_class)->finalize (object);
}

static void
hyrsm_model_get_property (GObject *object, guint prop_id, GValue *value,
    GParamSpec *pspec)
{
  HyrsmModel *self = HYRSM_MODEL (object);
  switch (prop_id) {
    case PROP_PATH:
      g_value_set_string (value, self->path);
      break;
    case PROP_BACKBONE:
      g_value_set_string (value, hyrsm_model_get_backbone (self));
      break;
    case PROP_HEAD:
      g_value_set_string (value, hyrsm_model_get_head (self));
      break;
    case PROP_FRAMES:
      g_value_set_uint (value, self->frames);
      break;
    case PROP_FEATURE_DIM:
      g_value_set_uint (value, hyrsm_model_get_feature_dim (self));
      break;
    case PROP_RESIZE:
      g_value_set_uint (value, self->resize);
      break;
    case PROP_CROP:
      g_value_set_uint (value, self->crop);
      break;
    case PROP_PARAMETER_COUNT:
      g_value_set_uint64 (value, self->parameter_count);
      break;
    case PROP_FINGERPRINT:
      g_value_set_string (value, self->fingerprint);
      break;
    case PROP_DEVICE:
      g_value_set_string (value, self->device);
      break;
    case PROP_PRECISION:
      g_value_set_string (value, self->precision);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
  }
}

static void
hyrsm_model_class_init (HyrsmModelClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  object_class->finalize = hyrsm_model_finalize;
  object_class->get_property = hyrsm_model_get_property;

  GParamFlags ro = G_PARAM_READABLE | G_PARAM_STATIC_STRINGS;
  properties[PROP_PATH] = g_param_spec_string ("path", "Path",
      "The model file", NULL, ro);
  properties[PROP_BACKBONE] = g_param_spec_string ("backbone", "Backbone",
      "resnet18, resnet34, resnet50 or none", NULL, ro);
  properties[PROP_HEAD] = g_param_spec_string ("head", "Head",
      "Relation head: 1shot, 5shot, auto (present, rule chosen by the support "
      "set) or none", NULL, ro);
  properties[PROP_FRAMES] = g_param_spec_uint ("frames", "Frames",
      "Frames per video (T)", 1, 64, 8, ro);
  properties[PROP_FEATURE_DIM] = g_param_spec_uint ("feature-dim",
      "Feature dimension", "Width of a frame's feature vector (D)", 0,
      G_MAXUINT, 0, ro);
  properties[PROP_RESIZE] = g_param_spec_uint ("resize", "Resize",
      "Frames are resized to resize x resize before cropping", 0, G_MAXUINT,
      256, ro);
  properties[PROP_CROP] = g_param_spec_uint ("crop", "Crop",
      "Side of the centre crop fed to the backbone", 0, G_MAXUINT, 224, ro);
  properties[PROP_PARAMETER_COUNT] = g_param_spec_uint64 ("parameter-count",
      "Parameter count", "Learned parameters used at inference", 0,
      G_MAXUINT64, 0, ro);
  properties[PROP_FINGERPRINT] = g_param_spec_string ("fingerprint",
      "Fingerprint", "Short hash of the model file, used to key caches",
      NULL, ro);
  properties[PROP_DEVICE] = g_param_spec_string ("device", "Device",
      "The device the model was loaded for", NULL, ro);
  properties[PROP_PRECISION] = g_param_spec_string ("precision", "Precision",
      "The precision the backbone runs in: fp32, bf16 (CPU) or fp16 (CUDA)",
      NULL, ro);
  g_object_class_install_properties (object_class, N_PROPS, properties);
}

static void
hyrsm_model_init (HyrsmModel *self)
{
}

/* ---- getters ---- */

const char *
hyrsm_model_get_path (HyrsmModel *self)
{
  g_return_val_if_fail (HYRSM_IS_MODEL (self), NULL);
  return self->path;
}

const char *
hyrsm_model_get_backbone (HyrsmModel *self)
{
  g_return_val_if_fail (HYRSM_IS_MODEL (self), NULL);
  return backbone_kind_to_string (self->backbone_kind);
}

const char *
hyrsm_model_get_head (HyrsmModel *self)
{
  g_return_val_if_fail (HYRSM_IS_MODEL (self), NULL);
  return head_kind_to_string (self->head_kind);
}

gboolean
hyrsm_model_has_head (HyrsmModel *self)
{
  g_return_val_if_fail (HYRSM_IS_MODEL (self), FALSE);
  return self->head_kind != HYRSM_HEAD_NONE;
}

gboolean
hyrsm_model_has_backbone (HyrsmModel *self)
{
  g_return_val_if_fail (HYRSM_IS_MODEL (self), FALSE);
  return self->backbone_kind != HYRSM_BACKBONE_NONE;
}

guint
hyrsm_model_get_frames (HyrsmModel *self)
{
  g_return_val_if_fail (HYRSM_IS_MODEL (self), 0);
  return self->frames;
}

guint
hyrsm_model_get_feature_dim (HyrsmModel *self)
{
  g_return_val_if_fail (HYRSM_IS_MODEL (self), 0);
  return self->backbone_kind != HYRSM_BACKBONE_NONE ?
      (guint) self->backbone.feature_dim : (guint) self->head.dim;
}

guint
hyrsm_model_get_resize (HyrsmModel *self)
{
  g_return_val_if_fail (HYRSM_IS_MODEL (self), 0);
  return self->resize;
}

guint
hyrsm_model_get_crop (HyrsmModel *self)
{
  g_return_val_if_fail (HYRSM_IS_MODEL (self), 0);
  return self->crop;
}

/**
 * hyrsm_model_get_mean:
 * @self: a #HyrsmModel
 * @r: (out): red
 * @g: (out): green
 * @b: (out): blue
 *
 * The per-channel mean subtracted after scaling pixels to [0, 1].
 */
void
hyrsm_model_get_mean (HyrsmModel *self, double *r, double *g, double *b)
{
  g_return_if_fail (HYRSM_IS_MODEL (self));
  *r = self->mean[0];
  *g = self->mean[1];
  *b = self->mean[2];
}

/**
 * hyrsm_model_get_std:
 * @self: a #HyrsmModel
 * @r: (out): red
 * @g: (out): green
 * @b: (out): blue
 *
 * The per-channel standard deviation pixels are divided by.
 */
void
hyrsm_model_get_std (HyrsmModel *self, double *r, double *g, double *b)
{
  g_return_if_fail (HYRSM_IS_MODEL (self));
  *r = self->std[0];
  *g = self->std[1];
  *b = self->std[2];
}

double
hyrsm_model_get_position_a (HyrsmModel *self)
{
  g_return_val_if_fail (HYRSM_IS_MODEL (self), 0);
  return self->position_a;
}

double
hyrsm_model_get_position_b (HyrsmModel *self)
{
  g_return_val_if_fail (HYRSM_IS_MODEL (self), 0);
  return self->position_b;
}

guint64
hyrsm_model_get_parameter_count (HyrsmModel *self)
{
  g_return_val_if_fail (HYRSM_IS_MODEL (self), 0);
  return self->parameter_count;
}

const char *
hyrsm_model_get_fingerprint (HyrsmModel *self)
{
  g_return_val_if_fail (HYRSM_IS_MODEL (self), NULL);
  return self->fingerprint;
}

const char *
hyrsm_model_get_device (HyrsmModel *self)
{
  g_return_val_if_fail (HYRSM_IS_MODEL (self), NULL);
  return self->device;
}

/**
 * hyrsm_model_get_precision:
 * @self: a #HyrsmModel
 *
 * Returns: the precision the model's backbone runs in: "fp32", "bf16" (CPU)
 * or "fp16" (CUDA)
 */
const char *
hyrsm_model_get_precision (HyrsmModel *self)
{
  g_return_val_if_fail (HYRSM_IS_MODEL (self), NULL);
  return self->precision;
}

static gint
compare_string_pointers (gconstpointer a, gconstpointer b)
{
  return g_strcmp0 (*(char *const *) a, *(char *const *) b);
}

/**
 * hyrsm_model_list_metadata:
 * @self: a #HyrsmModel
 *
 * Returns: (transfer full): the `__metadata__` keys present in the file,
 *   sorted
 */
char **
hyrsm_model_list_metadata (HyrsmModel *self)
{
  g_return_val_if_fail (HYRSM_IS_MODEL (self), NULL);
  GPtrArray *keys = g_ptr_array_new ();
  if (self->metadata) {
    GHashTableIter it;
    gpointer k;
    g_hash_table_iter_init (&it, self->metadata);
    while (g_hash_table_iter_next (&it, &k, NULL))
      g_ptr_array_add (keys, g_strdup (k));
  }
  g_ptr_array_sort (keys, compare_string_pointers);
  g_ptr_array_add (keys, NULL);
  return (char **) g_ptr_array_free (keys, FALSE);
}

/**
 * hyrsm_model_get_metadata:
 * @self: a #HyrsmModel
 * @key: a `__metadata__` key
 *
 * Returns: (nullable): the value stored in the file, or %NULL
 */
const char *
hyrsm_model_get_metadata (HyrsmModel *self, const char *key)
{
  g_return_val_if_fail (HYRSM_IS_MODEL (self), NULL);
  return self->metadata ? g_hash_table_lookup (self->metadata, key) : NULL;
}

/* ---- private accessors ---- */

HyrsmBackboneKind
hyrsm_model_get_backbone_kind (HyrsmModel *self)
{
  return self->backbone_kind;
}

HyrsmHeadKind
hyrsm_model_get_head_kind (HyrsmModel *self)
{
  return self->head_kind;
}

const HyrsmBackboneWeights *
hyrsm_model_get_backbone_weights (HyrsmModel *self)
{
  return self->backbone_kind != HYRSM_BACKBONE_NONE ? &self->backbone : NULL;
}

const HyrsmHeadWeights *
hyrsm_model_get_head_weights (HyrsmModel *self)
{
  return self->head_kind != HYRSM_HEAD_NONE ? &self->head : NULL;
}

HyrsmBackend *
hyrsm_model_get_backend (HyrsmModel *self)
{
  return self->backend;
}

const float *
hyrsm_model_get_mean_array (HyrsmModel *self)
{
  return self->mean;
}

const float *
hyrsm_model_get_std_array (HyrsmModel *self)
{
  return self->std;
}

/* ---- embedding ---- */

/* Frames pre-processed and embedded at once by hyrsm_model_embed_rgb_raw():
 * bounds its float buffer (8 x 3 x 224 x 224 floats = 4.8 MB) and is the
 * batch the CPU backend runs fastest. */
#define EMBED_CHUNK 8

/* Frames of one size handed to a backend's embed_frames at once by
 * hyrsm_model_embed_rgb_frames() (the engine's batches are smaller). */
#define EMBED_RUN 64

/* Frames larger than this per side are refused rather than risking size
 * overflows (the largest video frames are 16K). */
#define MAX_FRAME_SIDE 65536

static gboolean
check_can_embed (HyrsmModel *self, guint n, GError **error)
{
  if (!hyrsm_model_has_backbone (self)) {
    g_set_error (error, HYRSM_ERROR, HYRSM_ERROR_NO_BACKBONE,
        "model %s has no backbone: it cannot embed frames, only match "
        "precomputed features", self->path);
    return FALSE;
  }
  if (n == 0) {
    g_set_error (error, HYRSM_ERROR, HYRSM_ERROR_INVALID_ARGUMENT,
        "embedding needs at least one frame (n = 0)");
    return FALSE;
  }
  return TRUE;
}

static gboolean
check_frame_size (guint width, guint height, GError **error)
{
  if (width == 0 || height == 0 || width > MAX_FRAME_SIDE
      || height > MAX_FRAME_SIDE) {
    g_set_error (error, HYRSM_ERROR, HYRSM_ERROR_INVALID_ARGUMENT,
        "frame size %ux%u is out of range (1x1 to %dx%d)", width, height,
        MAX_FRAME_SIDE, MAX_FRAME_SIDE);
    return FALSE;
  }
  return TRUE;
}

/* The bytes of @n packed RGB8 frames of @width x @height, or NULL with
 * @error set when @rgb holds another amount. */
static const guint8 *
rgb_frames_data (GBytes *rgb, guint n, guint width, guint height,
    GError **error)
{
  gsize size;
  const guint8 *data = g_bytes_get_data (rgb, &size);
  guint64 expected = (guint64) width * height * 3 * n;
  if (size != expected) {
    g_set_error (error, HYRSM_ERROR, HYRSM_ERROR_SHAPE_MISMATCH,
        "expected %" G_GUINT64_FORMAT " bytes for n=%u frames of %ux%u RGB, "
        "got %" G_GSIZE_FORMAT, expected, n, width, height, size);
    return NULL;
  }
  return data;
}

/**
 * hyrsm_model_preprocess_frames:
 * @self: a #HyrsmModel
 * @rgb: @n packed RGB8 frames of @width x @height, one after the other
 * @n: number of frames
 * @width: frame width in pixels
 * @height: frame height in pixels
 * @error: return location for a #GError
 *
 * What the backbone sees: each frame resized to #HyrsmModel:resize square
 * (bilinear, half-pixel centres), centre-cropped to #HyrsmModel:crop and
 * normalized with the model's mean and std (docs/model.md section 2). Useful to
 * check a pipeline's input; hyrsm_model_embed_frames() does this itself.
 *
 * Returns: (transfer full): @n x 3 x crop x crop float32 values (planar
 *   RGB) in native byte order, or %NULL with @error set
 */
GBytes *
hyrsm_model_preprocess_frames (HyrsmModel *self, GBytes *rgb, guint n,
    guint width, guint height, GError **error)
{
  g_return_val_if_fail (HYRSM_IS_MODEL (self), NULL);
  g_return_val_if_fail (rgb != NULL, NULL);
  if (n == 0) {
    g_set_error (error, HYRSM_ERROR, HYRSM_ERROR_INVALID_ARGUMENT,
        "pre-processing needs at least one frame (n = 0)");
    return NULL;
  }
  if (!check_frame_size (width, height, error))
    return NULL;
  const guint8 *data = rgb_frames_data (rgb, n, width, height, error);
  if (data == NULL)
    return NULL;
  gsize per_frame = (gsize) 3 * self->crop * self->crop;
  float *out = g_try_new (float, per_frame * n);
  if (out == NULL) {
    g_set_error (error, HYRSM_ERROR, HYRSM_ERROR_BACKEND,
        "out of memory for %u pre-processed frames", n);
    return NULL;
  }
  for (guint i = 0; i < n; i++)
    hyrsm_preprocess_rgb (data + (gsize) i * width * height * 3, width,
        height, width * 3, self->resize, self->crop, self->mean, self->std,
        out + i * per_frame);
  return g_bytes_new_take (out, per_frame * n * sizeof (float));
}

/* embed_frames of the backend on @n RGB frames of one size. */
static gboolean
embed_rgb_on_device (HyrsmModel *self, const guint8 *const *frames,
    const int *strides, guint n, guint width, guint height, float *features,
    GError **error)
{
  HyrsmFramePlanes *planes = g_try_new0 (HyrsmFramePlanes, n);
  if (planes == NULL) {
    g_set_error (error, HYRSM_ERROR, HYRSM_ERROR_BACKEND,
        "out of memory for the descriptions of %u frames", n);
    return FALSE;
  }
  for (guint i = 0; i < n; i++) {
    planes[i].plane[0] = frames[i];
    planes[i].stride[0] = strides ? strides[i] : (int) width * 3;
  }
  gboolean ok = self->backend->ops->embed_frames (self->backend,
      HYRSM_PIXEL_RGB, HYRSM_YUV_BT601, planes, (int) n, (int) width,
      (int) height, (int) self->resize, self->mean, self->std, features,
      error);
  g_free (planes);
  return ok;
}

gboolean
hyrsm_model_embed_rgb_frames (HyrsmModel *self, const HyrsmRgbFrame *frames,
    guint n, float *scratch, float *features, GError **error)
{
  if (!check_can_embed (self, n, error))
    return FALSE;
  guint D = self->backbone.feature_dim;
  if (self->backend->ops->embed_frames) {
    gboolean ok = TRUE;
    for (guint start = 0, end; ok && start < n; start = end) {
      const guint8 *rgb[EMBED_RUN];
      int strides[EMBED_RUN];
      for (end = start; end < n && end - start < EMBED_RUN
          && frames[end].width == frames[start].width
          && frames[end].height == frames[start].height; end++) {
        rgb[end - start] = frames[end].rgb;
        strides[end - start] = frames[end].stride;
      }
      ok = check_frame_size (frames[start].width, frames[start].height,
          error)
          && embed_rgb_on_device (self, rgb, strides, end - start,
          frames[start].width, frames[start].height,
          features + (gsize) start * D, error);
    }
    return ok;
  }
  gsize frame_floats = (gsize) 3 * self->crop * self->crop;
  for (guint i = 0; i < n; i++) {
    if (!check_frame_size (frames[i].width, frames[i].height, error))
      return FALSE;
    hyrsm_preprocess_rgb (frames[i].rgb, frames[i].width, frames[i].height,
        frames[i].stride, self->resize, self->crop, self->mean, self->std,
        scratch + i * frame_floats);
  }
  return self->backend->ops->embed (self->backend, scratch, (int) n,
      features, error);
}

/**
 * hyrsm_model_embed_rgb_raw: (skip)
 * @self: a #HyrsmModel with a backbone
 * @frames: (array length=n): @n pointers to packed RGB8 frames
 * @strides: (array length=n) (nullable): bytes per row of each frame, at
 *   least @width * 3; %NULL for rows of exactly @width * 3 bytes
 * @n: number of frames
 * @width: frame width in pixels
 * @height: frame height in pixels
 * @features: (out caller-allocates): room for @n x #HyrsmModel:feature-dim
 *   floats
 * @error: return location for a #GError
 *
 * The C variant of hyrsm_model_embed_frames() for frames that already sit
 * in memory (video frames mapped by the caller): pre-processes each frame
 * (docs/model.md section 2) and runs the backbone, a few frames at a time.
 * Thread-safe.
 *
 * Returns: %TRUE on success, %FALSE with @error set
 */
gboolean
hyrsm_model_embed_rgb_raw (HyrsmModel *self, const guint8 *const *frames,
    const int *strides, guint n, guint width, guint height, float *features,
    GError **error)
{
  g_return_val_if_fail (HYRSM_IS_MODEL (self), FALSE);
  g_return_val_if_fail (n == 0 || (frames != NULL && features != NULL),
      FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);
  if (!check_can_embed (self, n, error)
      || !check_frame_size (width, height, error))
    return FALSE;
  for (guint i = 0; i < n; i++) {
    if (strides && strides[i] < (int) width * 3) {
      g_set_error (error, HYRSM_ERROR, HYRSM_ERROR_INVALID_ARGUMENT,
          "frame %u: stride %d is smaller than %u (width %u x 3 bytes)", i,
          strides[i], width * 3, width);
      return FALSE;
    }
  }

  /* A device backend pre-processes itself: the raw frames go up once. */
  if (self->backend->ops->embed_frames)
    return embed_rgb_on_device (self, frames, strides, n, width, height,
        features, error);

  guint D = self->backbone.feature_dim;
  gsize frame_floats = (gsize) 3 * self->crop * self->crop;
  guint chunk_max = MIN (n, EMBED_CHUNK);
  float *normalized = g_try_malloc (chunk_max * frame_floats * sizeof (float));
  if (normalized == NULL) {
    g_set_error (error, HYRSM_ERROR, HYRSM_ERROR_BACKEND,
        "out of memory for %u pre-processed %ux%u frames", chunk_max,
        self->crop, self->crop);
    return FALSE;
  }
  gboolean ok = TRUE;
  for (guint done = 0; ok && done < n;) {
    guint chunk = MIN (n - done, EMBED_CHUNK);
    for (guint i = 0; i < chunk; i++)
      hyrsm_preprocess_rgb (frames[done + i], width, height,
          strides ? strides[done + i] : (int) width * 3, self->resize,
          self->crop, self->mean, self->std, normalized + i * frame_floats);
    ok = self->backend->ops->embed (self->backend, normalized, chunk,
        features + (gsize) done * D, error);
    done += chunk;
  }
  g_free (normalized);
  return ok;
}

/**
 * hyrsm_model_embed_frames:
 * @self: a #HyrsmModel with a backbone
 * @rgb: @n frames of packed RGB8 (3 bytes per pixel, rows of exactly
 *   @width * 3 bytes, no padding), one after the other
 * @n: number of frames
 * @width: frame width in pixels (any size; frames are resized)
 * @height: frame height in pixels
 * @error: return location for a #GError
 *
 * Computes the backbone features of @n frames: each is resized, centre
 * cropped and normalized as the model's metadata says (docs/model.md section 2),
 * then run through the backbone. Thread-safe.
 *
 * Returns: (transfer full): @n x #HyrsmModel:feature-dim float32 values in
 *   native byte order, row by row, or %NULL with @error set
 */
GBytes *
hyrsm_model_embed_frames (HyrsmModel *self, GBytes *rgb, guint n,
    guint width, guint height, GError **error)
{
  g_return_val_if_fail (HYRSM_IS_MODEL (self), NULL);
  g_return_val_if_fail (rgb != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);
  if (!check_can_embed (self, n, error)
      || !check_frame_size (width, height, error))
    return NULL;

  const guint8 *data = rgb_frames_data (rgb, n, width, height, error);
  if (data == NULL)
    return NULL;
  guint64 frame_bytes = (guint64) width * height * 3;

  guint D = self->backbone.feature_dim;
  gsize out_size = (gsize) n * D * sizeof (float);
  float *features = g_try_malloc (out_size);
  const guint8 **frames = g_try_new (const guint8 *, n);
  if (features == NULL || frames == NULL) {
    g_free (features);
    g_free (frames);
    g_set_error (error, HYRSM_ERROR, HYRSM_ERROR_BACKEND,
        "out of memory for the features of %u frames", n);
    return NULL;
  }
  for (guint i = 0; i < n; i++)
    frames[i] = data + i * frame_bytes;
  gboolean ok = hyrsm_model_embed_rgb_raw (self, frames, NULL, n, width,
      height, features, error);
  g_free (frames);
  if (!ok) {
    g_free (features);
    return NULL;
  }
  return g_bytes_new_take (features, out_size);
}

/**
 * hyrsm_model_embed_normalized:
 * @self: a #HyrsmModel with a backbone
 * @frames: @n pre-processed frames, each 3 x crop x crop float32 in native
 *   byte order (planar RGB, rows of #HyrsmModel:crop values), one after the
 *   other
 * @n: number of frames
 * @error: return location for a #GError
 *
 * Runs the backbone on frames that are already resized, cropped and
 * normalized (docs/model.md section 2), e.g. by the caller's own pipeline.
 * Thread-safe.
 *
 * Returns: (transfer full): @n x #HyrsmModel:feature-dim float32 values in
 *   native byte order, row by row, or %NULL with @error set
 */
GBytes *
hyrsm_model_embed_normalized (HyrsmModel *self, GBytes *frames, guint n,
    GError **error)
{
  g_return_val_if_fail (HYRSM_IS_MODEL (self), NULL);
  g_return_val_if_fail (frames != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);
  if (!check_can_embed (self, n, error))
    return NULL;

  gsize size;
  const guint8 *data = g_bytes_get_data (frames, &size);
  guint64 expected = (guint64) n * 3 * self->crop * self->crop * sizeof (float);
  if (size != expected) {
    g_set_error (error, HYRSM_ERROR, HYRSM_ERROR_SHAPE_MISMATCH,
        "expected %" G_GUINT64_FORMAT " bytes for n=%u frames of 3 x %u x %u "
        "float32, got %" G_GSIZE_FORMAT, expected, n, self->crop, self->crop,
        size);
    return NULL;
  }
  if (n > G_MAXINT) {
    g_set_error (error, HYRSM_ERROR, HYRSM_ERROR_INVALID_ARGUMENT,
        "too many frames at once (%u)", n);
    return NULL;
  }

  /* GBytes made by bindings need not be float-aligned. */
  float *aligned = NULL;
  const float *input = (const float *) data;
  if ((guintptr) data % G_ALIGNOF (float) != 0) {
    aligned = g_try_malloc (size);
    if (aligned == NULL) {
      g_set_error (error, HYRSM_ERROR, HYRSM_ERROR_BACKEND,
          "out of memory copying %u frames", n);
      return NULL;
    }
    memcpy (aligned, data, size);
    input = aligned;
  }
  guint D = self->backbone.feature_dim;
  gsize out_size = (gsize) n * D * sizeof (float);
  float *features = g_try_malloc (out_size);
  gboolean ok = features != NULL;
  if (!ok)
    g_set_error (error, HYRSM_ERROR, HYRSM_ERROR_BACKEND,
        "out of memory for the features of %u frames", n);
  else
    ok = self->backend->ops->embed (self->backend, input, (int) n, features,
        error);
  g_free (aligned);
  if (!ok) {
    g_free (features);
    return NULL;
  }
  return g_bytes_new_take (features, out_size);
}
