/* hyrsm-safetensors.h: reader and writer of the safetensors container
 * (private to libhyrsm; the model and feature-file loaders build on it). */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef enum
{
  HYRSM_DTYPE_BOOL,
  HYRSM_DTYPE_U8,
  HYRSM_DTYPE_I8,
  HYRSM_DTYPE_I16,
  HYRSM_DTYPE_U16,
  HYRSM_DTYPE_F16,
  HYRSM_DTYPE_BF16,
  HYRSM_DTYPE_I32,
  HYRSM_DTYPE_U32,
  HYRSM_DTYPE_F32,
  HYRSM_DTYPE_F64,
  HYRSM_DTYPE_I64,
  HYRSM_DTYPE_U64,
} HyrsmDType;

#define HYRSM_TENSOR_MAX_RANK 8

typedef struct
{
  char *name;
  HyrsmDType dtype;
  int rank;
  gint64 shape[HYRSM_TENSOR_MAX_RANK];
  gint64 n_elements;
  const guint8 *data;           /* inside the mapped file; may be unaligned */
  gsize n_bytes;
} HyrsmTensorInfo;

typedef struct _HyrsmSafetensors HyrsmSafetensors;

HyrsmSafetensors *hyrsm_safetensors_open (const char *path, GError **error);
HyrsmSafetensors *hyrsm_safetensors_new_from_bytes (GBytes *bytes,
    const char *display_name, GError **error);
void hyrsm_safetensors_free (HyrsmSafetensors *st);

const char *hyrsm_safetensors_get_name (const HyrsmSafetensors *st);
/* The bytes that were parsed: the file as read (once) or the GBytes given. */
GBytes *hyrsm_safetensors_get_bytes (const HyrsmSafetensors *st);
guint hyrsm_safetensors_get_n_tensors (const HyrsmSafetensors *st);
/* Tensors in file order (sorted by data offset). */
const HyrsmTensorInfo *hyrsm_safetensors_get_tensor (const HyrsmSafetensors *st,
    guint index);
const HyrsmTensorInfo *hyrsm_safetensors_lookup (const HyrsmSafetensors *st,
    const char *name);
/* The `__metadata__` map (string -> string); NULL when absent. */
const char *hyrsm_safetensors_get_metadata (const HyrsmSafetensors *st,
    const char *key);
GHashTable *hyrsm_safetensors_get_metadata_table (const HyrsmSafetensors *st);

const char *hyrsm_dtype_to_string (HyrsmDType dtype);
gsize hyrsm_dtype_size (HyrsmDType dtype);

/* Copies a F32 tensor into @out (n_elements floats), whatever its alignment. */
void hyrsm_tensor_copy_f32 (const HyrsmTensorInfo *tensor, float *out);

/* One tensor to write: F32 data of @shape. */
typedef struct
{
  const char *name;
  int rank;
  gint64 shape[HYRSM_TENSOR_MAX_RANK];
  const float *data;
} HyrsmTensorWrite;

/* Writes a safetensors file atomically (temporary file + rename).
 * @metadata may be NULL; keys and values are strings. */
gboolean hyrsm_safetensors_write (const char *path,
    const HyrsmTensorWrite *tensors, guint n_tensors, GHashTable *metadata,
    GError **error);

G_END_DECLS
