/* hyrsm-dnnl.c: oneDNN 2.x and 3.x behind one API (hyrsm-dnnl.h): first
 * what is the same in both, then, per version, the one call of the
 * installed version for each function; nothing here computes. */
#include "hyrsm-dnnl.h"
#include "hyrsm-backend.h"
#include "hyrsm-error.h"

#include <glib.h>
#include <stdarg.h>
#include <string.h>

gboolean
hyrsm_dnnl_check (dnnl_status_t status, GError **error, const char *format,
    ...)
{
  if (status == dnnl_success)
    return TRUE;
  va_list ap;
  va_start (ap, format);
  g_autofree char *what = g_strdup_vprintf (format, ap);
  va_end (ap);
  g_set_error (error, HYRSM_ERROR, HYRSM_ERROR_BACKEND,
      "cpu backend: oneDNN %s failed: %s", what, dnnl_status2str (status));
  return FALSE;
}

/* What a blocked descriptor says of its layout (md_blocking(), per
 * version, below). */
typedef struct
{
  int ndims, inner_nblks;
  dnnl_dims_t dims, padded, strides, inner_blks, inner_idxs;
  dnnl_dim_t offset0;
} Blocking;

static gboolean md_blocking (HyrsmDnnlConstMd md, Blocking * b);

/* Whether @stride is what a dimension of size @size must have (any, for a
 * dimension of 1: oneDNN writes one of several). */
static gboolean
stride_is (dnnl_dim_t size, dnnl_dim_t stride, dnnl_dim_t want)
{
  return size == 1 || stride == want;
}

int
hyrsm_dnnl_md_channel_block (HyrsmDnnlConstMd md)
{
  Blocking b;
  if (!md_blocking (md, &b) || b.ndims != 4 || b.offset0 != 0)
    return 0;
  for (int i = 0; i < 4; i++)
    if (b.padded[i] != b.dims[i])
      return 0;
  dnnl_dim_t n = b.dims[0], c = b.dims[1], h = b.dims[2], w = b.dims[3];
  if (b.inner_nblks == 0)       /* plain: nhwc is nChw<C>c */
    return stride_is (c, b.strides[1], 1) && stride_is (w, b.strides[3], c)
        && stride_is (h, b.strides[2], w * c)
        && stride_is (n, b.strides[0], h * w * c) ? (int) c : 0;
  if (b.inner_nblks != 1 || b.inner_idxs[0] != 1)
    return 0;
  dnnl_dim_t block = b.inner_blks[0];
  if (block <= 0 || c % block != 0)
    return 0;
  return stride_is (c / block, b.strides[1], h * w * block)
      && stride_is (h, b.strides[2], w * block)
      && stride_is (w, b.strides[3], block)
      && stride_is (n, b.strides[0], c * h * w) ? (int) block : 0;
}

char *
hyrsm_dnnl_md_layout (HyrsmDnnlConstMd md)
{
  Blocking b;
  if (!md_blocking (md, &b) || b.ndims != 4)
    return g_strdup ("not a blocked 4-d layout");
  GString *s = g_string_new (NULL);
  g_string_printf (s, "dims %ld,%ld,%ld,%ld padded %ld,%ld,%ld,%ld strides "
      "%ld,%ld,%ld,%ld offset %ld", (long) b.dims[0], (long) b.dims[1],
      (long) b.dims[2], (long) b.dims[3], (long) b.padded[0],
      (long) b.padded[1], (long) b.padded[2], (long) b.padded[3],
      (long) b.strides[0], (long) b.strides[1], (long) b.strides[2],
      (long) b.strides[3], (long) b.offset0);
  for (int i = 0; i < b.inner_nblks; i++)
    g_string_append_printf (s, ", inner block %ld of dim %ld",
        (long) b.inner_blks[i], (long) b.inner_idxs[i]);
  return g_string_free (s, FALSE);
}

gboolean
hyrsm_dnnl_memory_zero (dnnl_memory_t mem, GError **error)
{
  HyrsmDnnlConstMd md;
  void *data;
  if (!hyrsm_dnnl_check (dnnl_memory_get_memory_desc (mem, &md), error,
          "memory descriptor")
      || !hyrsm_dnnl_check (dnnl_memory_get_data_handle (mem, &data), error,
          "memory buffer"))
    return FALSE;
  memset (data, 0, dnnl_memory_desc_get_size (md));
  return TRUE;
}

const char *
hyrsm_dnnl_impl_name (const_dnnl_primitive_desc_t pd)
{
  const char *name = NULL;
  if (dnnl_primitive_desc_query (pd, dnnl_query_impl_info_str, 0, &name)
      != dnnl_success || name == NULL)
    return "?";
  return name;
}

const char *
hyrsm_dnnl_isa_name (void)
{
  const char *name = dnnl_cpu_isa2str (dnnl_get_effective_cpu_isa ());
  return g_str_has_prefix (name, "cpu_isa_") ? name + 8 : name;
}

gboolean
hyrsm_backend_cpu_has_bf16 (void)
{
  /* ISA values are nested bit sets: avx512_core_bf16's bits, all present. */
  dnnl_cpu_isa_t isa = dnnl_get_effective_cpu_isa ();
  return (isa & dnnl_cpu_isa_avx512_core_bf16) == dnnl_cpu_isa_avx512_core_bf16;
}

#if DNNL_VERSION_MAJOR >= 3

dnnl_status_t
hyrsm_dnnl_md_create (HyrsmDnnlMd *md, int ndims, const dnnl_dims_t dims,
    dnnl_data_type_t data_type, dnnl_format_tag_t tag)
{
  *md = NULL;
  return dnnl_memory_desc_create_with_tag (md, ndims, dims, data_type, tag);
}

dnnl_status_t
hyrsm_dnnl_md_clone (HyrsmDnnlMd *md, HyrsmDnnlConstMd from)
{
  *md = NULL;
  return dnnl_memory_desc_clone (md, from);
}

void
hyrsm_dnnl_md_destroy (HyrsmDnnlMd md)
{
  if (md)
    dnnl_memory_desc_destroy (md);
}

dnnl_dim_t
hyrsm_dnnl_md_dim (HyrsmDnnlConstMd md, int i)
{
  const dnnl_dims_t *dims = NULL;
  int ndims = 0;
  if (dnnl_memory_desc_query (md, dnnl_query_ndims_s32, &ndims)
      != dnnl_success || i >= ndims
      || dnnl_memory_desc_query (md, dnnl_query_dims, &dims) != dnnl_success)
    return 0;
  return (*dims)[i];
}

static gboolean
md_blocking (HyrsmDnnlConstMd md, Blocking *b)
{
  dnnl_format_kind_t kind;
  const dnnl_dims_t *dims, *padded, *strides, *blks, *idxs;
  if (dnnl_memory_desc_query (md, dnnl_query_format_kind, &kind)
      != dnnl_success || kind != dnnl_blocked
      || dnnl_memory_desc_query (md, dnnl_query_ndims_s32, &b->ndims)
      != dnnl_success || b->ndims > DNNL_MAX_NDIMS
      || dnnl_memory_desc_query (md, dnnl_query_dims, &dims) != dnnl_success
      || dnnl_memory_desc_query (md, dnnl_query_padded_dims, &padded)
      != dnnl_success
      || dnnl_memory_desc_query (md, dnnl_query_strides, &strides)
      != dnnl_success
      || dnnl_memory_desc_query (md, dnnl_query_inner_nblks_s32,
          &b->inner_nblks) != dnnl_success
      || dnnl_memory_desc_query (md, dnnl_query_inner_blks, &blks)
      != dnnl_success
      || dnnl_memory_desc_query (md, dnnl_query_inner_idxs, &idxs)
      != dnnl_success
      || dnnl_memory_desc_query (md, dnnl_query_submemory_offset_s64,
          &b->offset0) != dnnl_success)
    return FALSE;
  memcpy (b->dims, *dims, sizeof b->dims);
  memcpy (b->padded, *padded, sizeof b->padded);
  memcpy (b->strides, *strides, sizeof b->strides);
  memcpy (b->inner_blks, *blks, sizeof b->inner_blks);
  memcpy (b->inner_idxs, *idxs, sizeof b->inner_idxs);
  return TRUE;
}

dnnl_data_type_t
hyrsm_dnnl_md_data_type (HyrsmDnnlConstMd md)
{
  dnnl_data_type_t dt = dnnl_data_type_undef;
  dnnl_memory_desc_query (md, dnnl_query_data_type, &dt);
  return dt;
}

dnnl_status_t
hyrsm_dnnl_convolution_create (dnnl_primitive_desc_t *pd,
    dnnl_engine_t engine, HyrsmDnnlConstMd src, HyrsmDnnlConstMd weights,
    HyrsmDnnlConstMd bias, HyrsmDnnlConstMd dst, const dnnl_dims_t strides,
    const dnnl_dims_t padding_l, const dnnl_dims_t padding_r,
    dnnl_alg_kind_t alg, const_dnnl_primitive_attr_t attr)
{
  /* 3.x wants the dilations spelled out: 0 is none. */
  const dnnl_dims_t dilates = { 0, 0 };
  return dnnl_convolution_forward_primitive_desc_create (pd, engine,
      dnnl_forward_inference, alg, src, weights, bias,
      dst, strides, dilates, padding_l, padding_r, attr);
}

dnnl_status_t
hyrsm_dnnl_pooling_create (dnnl_primitive_desc_t *pd, dnnl_engine_t engine,
    dnnl_alg_kind_t alg, HyrsmDnnlConstMd src, HyrsmDnnlConstMd dst,
    const dnnl_dims_t strides, const dnnl_dims_t kernel,
    const dnnl_dims_t padding_l, const dnnl_dims_t padding_r,
    const_dnnl_primitive_attr_t attr)
{
  const dnnl_dims_t dilation = { 0, 0 };
  return dnnl_pooling_forward_primitive_desc_create (pd, engine,
      dnnl_forward_inference, alg, src, dst, strides, kernel, dilation,
      padding_l, padding_r, attr);
}

dnnl_status_t
hyrsm_dnnl_post_ops_append_sum (dnnl_post_ops_t post_ops)
{
  /* No zero point; data_type undef: the destination's own. */
  return dnnl_post_ops_append_sum (post_ops, 1.0f, 0, dnnl_data_type_undef);
}

dnnl_status_t
hyrsm_dnnl_post_ops_append_relu (dnnl_post_ops_t post_ops)
{
  return dnnl_post_ops_append_eltwise (post_ops, dnnl_eltwise_relu, 0.0f,
      0.0f);
}

#else /* oneDNN 2.x */

dnnl_status_t
hyrsm_dnnl_md_create (HyrsmDnnlMd *md, int ndims, const dnnl_dims_t dims,
    dnnl_data_type_t data_type, dnnl_format_tag_t tag)
{
  *md = g_new0 (dnnl_memory_desc_t, 1);
  dnnl_status_t status = dnnl_memory_desc_init_by_tag (*md, ndims, dims,
      data_type, tag);
  if (status != dnnl_success)
    g_clear_pointer (md, g_free);
  return status;
}

dnnl_status_t
hyrsm_dnnl_md_clone (HyrsmDnnlMd *md, HyrsmDnnlConstMd from)
{
  *md = g_memdup2 (from, sizeof *from);
  return dnnl_success;
}

void
hyrsm_dnnl_md_destroy (HyrsmDnnlMd md)
{
  g_free (md);
}

dnnl_dim_t
hyrsm_dnnl_md_dim (HyrsmDnnlConstMd md, int i)
{
  return i < md->ndims ? md->dims[i] : 0;
}

static gboolean
md_blocking (HyrsmDnnlConstMd md, Blocking *b)
{
  if (md->format_kind != dnnl_blocked)
    return FALSE;
  const dnnl_blocking_desc_t *blk = &md->format_desc.blocking;
  b->ndims = md->ndims;
  b->inner_nblks = blk->inner_nblks;
  b->offset0 = md->offset0;
  memcpy (b->dims, md->dims, sizeof b->dims);
  memcpy (b->padded, md->padded_dims, sizeof b->padded);
  memcpy (b->strides, blk->strides, sizeof b->strides);
  memcpy (b->inner_blks, blk->inner_blks, sizeof b->inner_blks);
  memcpy (b->inner_idxs, blk->inner_idxs, sizeof b->inner_idxs);
  return TRUE;
}

dnnl_data_type_t
hyrsm_dnnl_md_data_type (HyrsmDnnlConstMd md)
{
  return md->data_type;
}

dnnl_status_t
hyrsm_dnnl_convolution_create (dnnl_primitive_desc_t *pd,
    dnnl_engine_t engine, HyrsmDnnlConstMd src, HyrsmDnnlConstMd weights,
    HyrsmDnnlConstMd bias, HyrsmDnnlConstMd dst, const dnnl_dims_t strides,
    const dnnl_dims_t padding_l, const dnnl_dims_t padding_r,
    dnnl_alg_kind_t alg, const_dnnl_primitive_attr_t attr)
{
  dnnl_convolution_desc_t desc;
  dnnl_status_t status = dnnl_convolution_forward_desc_init (&desc,
      dnnl_forward_inference, alg, src, weights, bias,
      dst, strides, padding_l, padding_r);
  if (status != dnnl_success)
    return status;
  return dnnl_primitive_desc_create (pd, &desc, attr, engine, NULL);
}

dnnl_status_t
hyrsm_dnnl_pooling_create (dnnl_primitive_desc_t *pd, dnnl_engine_t engine,
    dnnl_alg_kind_t alg, HyrsmDnnlConstMd src, HyrsmDnnlConstMd dst,
    const dnnl_dims_t strides, const dnnl_dims_t kernel,
    const dnnl_dims_t padding_l, const dnnl_dims_t padding_r,
    const_dnnl_primitive_attr_t attr)
{
  dnnl_pooling_desc_t desc;
  dnnl_status_t status = dnnl_pooling_forward_desc_init (&desc,
      dnnl_forward_inference, alg, src, dst, strides, kernel, padding_l,
      padding_r);
  if (status != dnnl_success)
    return status;
  return dnnl_primitive_desc_create (pd, &desc, attr, engine, NULL);
}

dnnl_status_t
hyrsm_dnnl_post_ops_append_sum (dnnl_post_ops_t post_ops)
{
  return dnnl_post_ops_append_sum (post_ops, 1.0f);
}

dnnl_status_t
hyrsm_dnnl_post_ops_append_relu (dnnl_post_ops_t post_ops)
{
  return dnnl_post_ops_append_eltwise (post_ops, 1.0f, dnnl_eltwise_relu,
      0.0f, 0.0f);
}

#endif
