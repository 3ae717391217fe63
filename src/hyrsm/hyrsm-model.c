/* hyrsm-model.c: the HyrsmModel object: constructors, properties, getters.
 *
 * What the object does is in the files beside it: hyrsm-model-load.c reads
 * and validates the file, hyrsm-device.c creates the backend for the
 * device asked, hyrsm-embed.c embeds frames; hyrsm-model-cache.c shares
 * loaded models. They share the object's fields through
 * hyrsm-model-private.h.
 */
#include "hyrsm-model-private.h"
#include "hyrsm-backend.h"

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
  if (!hyrsm_model_load (self, path, error)
      || !hyrsm_model_create_backend (self, error)) {
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
  hyrsm_backbone_weights_clear (&self->backbone);
  hyrsm_head_weights_clear (&self->head);
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
  return hyrsm_backbone_kind_to_string (self->backbone_kind);
}

const char *
hyrsm_model_get_head (HyrsmModel *self)
{
  g_return_val_if_fail (HYRSM_IS_MODEL (self), NULL);
  return hyrsm_head_kind_to_string (self->head_kind);
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
