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

int
hyrsm_dnnl_md_channel_block (HyrsmDnnlConstMd md)
{
  dnnl_dims_t dims;
  for (int i = 0; i < 4; i++)
    dims[i] = hyrsm_dnnl_md_dim (md, i);
  const struct
  {
    dnnl_format_tag_t tag;
    int block;
  } layouts[] = { {dnnl_nChw8c, 8}, {dnnl_nChw16c, 16}, {dnnl_nhwc,
  (int) dims[1]}
  };
  int block = 0;
  for (guint i = 0; i < G_N_ELEMENTS (layouts) && block == 0; i++) {
    HyrsmDnnlMd tagged = NULL;
    if (hyrsm_dnnl_md_create (&tagged, 4, dims, hyrsm_dnnl_md_data_type (md),
            layouts[i].tag) == dnnl_success
        && dnnl_memory_desc_equal (md, tagged))
      block = layouts[i].block;
    if (tagged)
      hyrsm_dnnl_md_destroy (tagged);
  }
  return block;
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
