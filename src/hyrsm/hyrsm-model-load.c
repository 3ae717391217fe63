/* hyrsm-model-load.c: reads a model file and validates it into the weights.
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
#include "hyrsm-error.h"
#include "hyrsm-safetensors.h"

#include <math.h>
#include <string.h>

#define BN_EPS 1e-5

/* ---- loading context ---- */

typedef struct
{
  const char *path;
  HyrsmSafetensors *st;
  GHashTable *canonical;        /* canonical name -> const HyrsmTensorInfo* */
  gboolean authors_names;
  guint64 parameter_count;
} Loader;

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
    if (end == rest || *end != '.' || index >= HYRSM_RESNET_N_SEQUENTIAL
        || hyrsm_resnet_sequential_names[index] == NULL)
      return g_strdup (name);   /* reported as unknown later */
    *authors = TRUE;
    return g_strconcat (hyrsm_resnet_sequential_names[index], end, NULL);
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
load_conv_bn (Loader *l, HyrsmConv *conv, int layer, int index,
    HyrsmResnetConvSlot slot, const HyrsmResnetConvShape *shape,
    GError **error)
{
  g_autofree char *conv_name = hyrsm_resnet_name (layer, index, slot,
      HYRSM_RESNET_NAME_CONV);
  g_autofree char *bn_name = hyrsm_resnet_name (layer, index, slot,
      HYRSM_RESNET_NAME_BN);
  g_autofree char *wname = g_strconcat (conv_name, ".weight", NULL);
  int in = shape->in_channels, out = shape->out_channels;
  int kernel = shape->kernel;
  gint64 wshape[4] = { out, in, kernel, kernel };
  conv->in_channels = in;
  conv->out_channels = out;
  conv->kernel = kernel;
  conv->stride = shape->stride;
  conv->padding = shape->padding;
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

/* Whether the file has the weight of convolution @slot of block @index of
 * @layer (0: the stem). */
static gboolean
has_conv (Loader *l, int layer, int index, HyrsmResnetConvSlot slot)
{
  g_autofree char *conv = hyrsm_resnet_name (layer, index, slot,
      HYRSM_RESNET_NAME_CONV);
  g_autofree char *name = g_strconcat (conv, ".weight", NULL);
  return has_tensor (l, name);
}

static int
count_blocks (Loader *l, int layer)
{
  int n = 0;
  while (has_conv (l, layer, n, HYRSM_RESNET_CONV1))
    n++;
  return n;
}

const char *
hyrsm_backbone_kind_to_string (HyrsmBackboneKind kind)
{
  const HyrsmResnetArch *arch = hyrsm_resnet_arch (kind);
  return arch ? arch->name : "none";
}

static gboolean
backbone_kind_from_string (const char *s, HyrsmBackboneKind *kind)
{
  const HyrsmResnetArch *arch = hyrsm_resnet_arch_from_name (s);
  if (arch == NULL && g_strcmp0 (s, "none") != 0)
    return FALSE;
  *kind = arch ? arch->kind : HYRSM_BACKBONE_NONE;
  return TRUE;
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
  gboolean present = has_conv (l, 0, 0, HYRSM_RESNET_CONV1);
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
  gboolean bottleneck = has_conv (l, 1, 0, HYRSM_RESNET_CONV3);
  const HyrsmResnetArch *arch = hyrsm_resnet_arch_from_blocks (blocks,
      bottleneck);
  if (arch == NULL) {
    g_set_error (error, HYRSM_ERROR, HYRSM_ERROR_UNSUPPORTED_ARCHITECTURE,
        "%s: a ResNet with %d, %d, %d, %d %s blocks is not supported "
        "(resnet18: 2,2,2,2 basic; resnet34: 3,4,6,3 basic; resnet50: "
        "3,4,6,3 bottleneck)", l->path, blocks[0], blocks[1], blocks[2],
        blocks[3], bottleneck ? "bottleneck" : "basic");
    return FALSE;
  }
  if (declared && named != arch->kind) {
    g_set_error (error, HYRSM_ERROR, HYRSM_ERROR_UNSUPPORTED_ARCHITECTURE,
        "%s: __metadata__ hyrsm.backbone says %s but the tensors are a %s",
        l->path, declared, arch->name);
    return FALSE;
  }
  *kind = arch->kind;
  return TRUE;
}

/* Block @index of @layer (1 to 4) taking @in channels. */
static gboolean
load_block (Loader *l, HyrsmBlock *b, gboolean bottleneck, int layer,
    int index, int in, int *out, GError **error)
{
  HyrsmResnetBlockShape shape;
  hyrsm_resnet_block_shape (bottleneck, HYRSM_RESNET_BASE_WIDTH, layer,
      index, in, &shape);
  HyrsmConv *convs[HYRSM_RESNET_N_CONVS] = { &b->conv1, &b->conv2,
    &b->conv3, &b->downsample
  };
  b->bottleneck = shape.bottleneck;
  b->has_downsample = shape.has_downsample;
  *out = shape.out_channels;
  for (int slot = 0; slot < HYRSM_RESNET_N_CONVS; slot++) {
    if ((slot == HYRSM_RESNET_CONV3 && !b->bottleneck)
        || (slot == HYRSM_RESNET_DOWNSAMPLE && !b->has_downsample))
      continue;
    if (!load_conv_bn (l, convs[slot], layer, index, slot, &shape.conv[slot],
            error))
      return FALSE;
  }
  return TRUE;
}

static gboolean
load_backbone (Loader *l, HyrsmBackboneWeights *w, HyrsmBackboneKind kind,
    GError **error)
{
  const HyrsmResnetArch *arch = hyrsm_resnet_arch (kind);
  HyrsmResnetConvShape stem;

  w->kind = kind;
  hyrsm_resnet_stem_shape (HYRSM_RESNET_BASE_WIDTH, &stem);
  if (!load_conv_bn (l, &w->stem, 0, 0, HYRSM_RESNET_CONV1, &stem, error))
    return FALSE;
  w->n_blocks = 0;
  for (int i = 0; i < 4; i++) {
    w->blocks_per_layer[i] = arch->blocks_per_layer[i];
    w->n_blocks += arch->blocks_per_layer[i];
  }
  w->blocks = g_new0 (HyrsmBlock, w->n_blocks);
  int in = stem.out_channels, k = 0;
  for (int layer = 1; layer <= 4; layer++)
    for (int i = 0; i < w->blocks_per_layer[layer - 1]; i++, k++)
      if (!load_block (l, &w->blocks[k], arch->bottleneck, layer, i, in, &in,
              error))
        return FALSE;
  w->feature_dim = in;
  return TRUE;
}

void
hyrsm_backbone_weights_clear (HyrsmBackboneWeights *w)
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

const char *
hyrsm_head_kind_to_string (HyrsmHeadKind kind)
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

void
hyrsm_head_weights_clear (HyrsmHeadWeights *h)
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

gboolean
hyrsm_model_load (HyrsmModel *self, const char *path, GError **error)
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
  ok = TRUE;

out:
  g_clear_pointer (&l.canonical, g_hash_table_unref);
  hyrsm_safetensors_free (l.st);
  return ok;
}
