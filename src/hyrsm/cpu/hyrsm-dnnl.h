/* hyrsm-dnnl.h: the few oneDNN C calls whose shape changed between
 * oneDNN 2.x (Debian 12: 2.7) and 3.x (Debian 13: 3.7), as one API, so
 * that the CPU backend has one code path for both (private).
 *
 * What changed in 3.0, and is wrapped here:
 * - memory descriptors are opaque handles made by
 *   dnnl_memory_desc_create_with_tag() and freed with
 *   dnnl_memory_desc_destroy(), where 2.x had plain structs filled by
 *   dnnl_memory_desc_init_by_tag(); their dimensions and data type are
 *   read through dnnl_memory_desc_query() instead of struct fields;
 * - primitive descriptors are made in one call per primitive
 *   (dnnl_convolution_forward_primitive_desc_create()) instead of an
 *   operation descriptor (dnnl_*_desc_init()) then
 *   dnnl_primitive_desc_create();
 * - the sum post-op takes a zero point and a data type, the eltwise
 *   post-op lost its scale.
 *
 * Everything else the backend calls (memories, reorders, queries, streams,
 * sgemm) takes a descriptor by const pointer in 2.x and by const handle in
 * 3.x: HyrsmDnnlConstMd is whichever the installed version wants, so those
 * calls are written once. The version is the installed header's
 * DNNL_VERSION_MAJOR, read at build time.
 */
#pragma once

#include <oneapi/dnnl/dnnl.h>
#include <oneapi/dnnl/dnnl_debug.h>
#include <glib.h>

#if DNNL_VERSION_MAJOR >= 3
/* An owned descriptor: free it with hyrsm_dnnl_md_destroy(). */
typedef dnnl_memory_desc_t HyrsmDnnlMd;
/* A borrowed one: what the oneDNN calls take and queries return. */
typedef const_dnnl_memory_desc_t HyrsmDnnlConstMd;
#else
typedef dnnl_memory_desc_t *HyrsmDnnlMd;
typedef const dnnl_memory_desc_t *HyrsmDnnlConstMd;
#endif

dnnl_status_t hyrsm_dnnl_md_create (HyrsmDnnlMd * md, int ndims,
    const dnnl_dims_t dims, dnnl_data_type_t data_type,
    dnnl_format_tag_t tag);
dnnl_status_t hyrsm_dnnl_md_clone (HyrsmDnnlMd * md, HyrsmDnnlConstMd from);
void hyrsm_dnnl_md_destroy (HyrsmDnnlMd md);

/* Dimension @i (0 = batch) of @md. */
dnnl_dim_t hyrsm_dnnl_md_dim (HyrsmDnnlConstMd md, int i);
dnnl_data_type_t hyrsm_dnnl_md_data_type (HyrsmDnnlConstMd md);

/* A forward-inference convolution, no dilation; @alg:
 * dnnl_convolution_direct, or dnnl_convolution_winograd (oneDNN has it
 * for some ISAs and versions only: dnnl_unimplemented elsewhere). */
dnnl_status_t hyrsm_dnnl_convolution_create (dnnl_primitive_desc_t * pd,
    dnnl_engine_t engine, HyrsmDnnlConstMd src, HyrsmDnnlConstMd weights,
    HyrsmDnnlConstMd bias, HyrsmDnnlConstMd dst, const dnnl_dims_t strides,
    const dnnl_dims_t padding_l, const dnnl_dims_t padding_r,
    dnnl_alg_kind_t alg, const_dnnl_primitive_attr_t attr);

/* A forward-inference pooling (@alg: max or average), no dilation. */
dnnl_status_t hyrsm_dnnl_pooling_create (dnnl_primitive_desc_t * pd,
    dnnl_engine_t engine, dnnl_alg_kind_t alg, HyrsmDnnlConstMd src,
    HyrsmDnnlConstMd dst, const dnnl_dims_t strides, const dnnl_dims_t kernel,
    const dnnl_dims_t padding_l, const dnnl_dims_t padding_r,
    const_dnnl_primitive_attr_t attr);

/* dst += 1.0 * (what dst held before), in dst's data type. */
dnnl_status_t hyrsm_dnnl_post_ops_append_sum (dnnl_post_ops_t post_ops);
/* dst = max (dst, 0). */
dnnl_status_t hyrsm_dnnl_post_ops_append_relu (dnnl_post_ops_t post_ops);

/* TRUE on dnnl_success; else FALSE, with @error set to "cpu backend:
 * oneDNN <what> failed: <status>" (what: @format's text). */
gboolean hyrsm_dnnl_check (dnnl_status_t status, GError ** error,
    const char *format, ...) G_GNUC_PRINTF (3, 4);

/* The channel block of a 4-d @md in one of the layouts nChw8c, nChw16c
 * or nhwc (which is nChw<C>c): 8, 16 or C; 0 for any other layout. */
int hyrsm_dnnl_md_channel_block (HyrsmDnnlConstMd md);

/* The layout of a 4-d @md in words (dims, strides, inner blocks), for
 * messages. Newly allocated. */
char *hyrsm_dnnl_md_layout (HyrsmDnnlConstMd md);

/* Sets every byte @mem holds to 0. */
gboolean hyrsm_dnnl_memory_zero (dnnl_memory_t mem, GError ** error);

/* Calls that are the same in both versions, here because they are what
 * oneDNN says about itself rather than the backbone: */

/* The implementation a primitive descriptor chose ("brg:avx512_core",
 * "jit:avx2"...), "?" when it does not say. */
const char *hyrsm_dnnl_impl_name (const_dnnl_primitive_desc_t pd);

/* oneDNN's ISA on this CPU ("avx2", "avx512_core_amx"...), for messages.
 * (hyrsm_backend_cpu_has_bf16(), hyrsm-backend.h, is here too.) */
const char *hyrsm_dnnl_isa_name (void);
