/* hyrsm-cpu-conv.c: one convolution of the CPU backbone, as the CPU
 * backend holds it (hyrsm-cpu-conv.h): its bias, its weights in each
 * layout oneDNN asked for, and its Winograd transform. */
#include "hyrsm-cpu-conv.h"
#include "hyrsm-error.h"

#include <string.h>

/* every oneDNN call of this file goes through it */
#define check hyrsm_dnnl_check

gboolean
hyrsm_conv_algorithm_from_env (HyrsmConvAlgorithm *algorithm,
    GError **error)
{
  const char *env = g_getenv ("HYRSM_CPU_CONV");
  if (env == NULL || *env == '\0' || g_str_equal (env, "auto"))
    *algorithm = HYRSM_CONV_FASTEST;
  else if (g_str_equal (env, "direct"))
    *algorithm = HYRSM_CONV_DIRECT;
  else if (g_str_equal (env, "winograd"))
    *algorithm = HYRSM_CONV_WINOGRAD;
  else {
    g_set_error (error, HYRSM_ERROR, HYRSM_ERROR_INVALID_ARGUMENT,
        "HYRSM_CPU_CONV=\"%s\" is not one of auto, direct, winograd", env);
    return FALSE;
  }
  return TRUE;
}

void
hyrsm_cpu_conv_clear (CpuConv *c)
{
  if (c->bias)
    dnnl_memory_destroy (c->bias);
  if (c->weights) {
    for (guint i = 0; i < c->weights->len; i++)
      dnnl_memory_destroy (g_ptr_array_index (c->weights, i));
    g_ptr_array_unref (c->weights);
  }
  hyrsm_winograd_free (c->winograd);
  g_free (c->name);
  memset (c, 0, sizeof *c);
}

gboolean
hyrsm_cpu_conv_init (CpuConv *c, dnnl_engine_t engine, const HyrsmConv *w,
    char *name, gboolean winograd, GError **error)
{
  c->name = name;
  c->ic = w->in_channels;
  c->oc = w->out_channels;
  c->kernel = w->kernel;
  c->stride = w->stride;
  c->padding = w->padding;
  c->plain = w->weight;
  c->weights = g_ptr_array_new ();
  c->use_winograd = -1;

  HyrsmDnnlMd md = NULL;
  dnnl_dims_t dims = { c->oc };
  void *data;
  gboolean ok = check (hyrsm_dnnl_md_create (&md, 1, dims, dnnl_f32, dnnl_x),
      error, "bias descriptor of %s", name)
      && check (dnnl_memory_create (&c->bias, md, engine,
          DNNL_MEMORY_ALLOCATE), error, "bias allocation of %s", name)
      && check (dnnl_memory_get_data_handle (c->bias, &data), error,
      "bias of %s", name);
  hyrsm_dnnl_md_destroy (md);
  if (ok)
    memcpy (data, w->bias, sizeof (float) * c->oc);
  /* NULL where the shape or the CPU does not fit */
  if (ok && winograd && hyrsm_winograd_fits (c->ic, c->oc, c->kernel,
          c->stride, c->padding))
    c->winograd = hyrsm_winograd_new (c->ic, c->oc, w->weight, w->bias);
  return ok;
}

/* Runs a one-off reorder between two memories (weights at build time). */
static gboolean
reorder_now (dnnl_engine_t engine, dnnl_stream_t stream, dnnl_memory_t from,
    dnnl_memory_t to, const char *what, GError **error)
{
  HyrsmDnnlConstMd from_md, to_md;
  dnnl_primitive_desc_t pd = NULL;
  dnnl_primitive_t prim = NULL;
  gboolean ok = check (dnnl_memory_get_memory_desc (from, &from_md), error,
      "%s reorder", what)
      && check (dnnl_memory_get_memory_desc (to, &to_md), error,
      "%s reorder", what)
      && check (dnnl_reorder_primitive_desc_create (&pd, from_md, engine,
          to_md, engine, NULL), error, "%s reorder descriptor", what)
      && check (dnnl_primitive_create (&prim, pd), error,
      "%s reorder creation", what);
  if (ok) {
    dnnl_exec_arg_t args[2] = { {DNNL_ARG_FROM, from}, {DNNL_ARG_TO, to} };
    ok = check (dnnl_primitive_execute (prim, stream, 2, args), error,
        "%s reorder", what)
        && check (dnnl_stream_wait (stream), error, "%s reorder", what);
  }
  if (prim)
    dnnl_primitive_destroy (prim);
  if (pd)
    dnnl_primitive_desc_destroy (pd);
  return ok;
}

dnnl_memory_t
hyrsm_cpu_conv_weights (CpuConv *c, dnnl_engine_t engine,
    dnnl_stream_t stream, HyrsmDnnlConstMd md, GError **error)
{
  for (guint i = 0; i < c->weights->len; i++) {
    dnnl_memory_t m = g_ptr_array_index (c->weights, i);
    HyrsmDnnlConstMd have;
    if (dnnl_memory_get_memory_desc (m, &have) == dnnl_success
        && dnnl_memory_desc_equal (have, md))
      return m;
  }

  dnnl_memory_t from = NULL, to = NULL;
  gboolean from_owned = FALSE;
  if (c->weights->len > 0) {
    from = g_ptr_array_index (c->weights, 0);
  } else {
    HyrsmDnnlMd plain_md = NULL;
    dnnl_dims_t dims = { c->oc, c->ic, c->kernel, c->kernel };
    g_return_val_if_fail (c->plain != NULL, NULL);
    gboolean made = check (hyrsm_dnnl_md_create (&plain_md, 4, dims, dnnl_f32,
            dnnl_oihw), error, "weights descriptor of %s", c->name)
        && check (dnnl_memory_create (&from, plain_md, engine,
            (void *) c->plain), error, "weights of %s", c->name);
    hyrsm_dnnl_md_destroy (plain_md);
    if (!made)
      return NULL;
    from_owned = TRUE;
  }
  gboolean ok = check (dnnl_memory_create (&to, md, engine,
          DNNL_MEMORY_ALLOCATE), error, "weights allocation of %s", c->name)
      && reorder_now (engine, stream, from, to, c->name, error);
  if (from_owned)
    dnnl_memory_destroy (from);
  if (!ok) {
    if (to)
      dnnl_memory_destroy (to);
    return NULL;
  }
  g_ptr_array_add (c->weights, to);
  return to;
}
