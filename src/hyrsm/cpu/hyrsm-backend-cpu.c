/* hyrsm-backend-cpu.c: the CPU backend, on oneDNN's C API (2.x or 3.x,
 * whichever is installed: the calls that differ are hyrsm-dnnl.h's).
 *
 * The backbone (docs/model.md section 3) runs as a "plan": a list of oneDNN
 * primitives with their arguments, built once per batch size (batches run
 * as chunks of 1, 2, 4 or 8 frames) and reused.
 * Every convolution is created with format_tag_any for its source, weights
 * and destination, so oneDNN picks its own blocked layouts (nChw16c with
 * AVX-512) and the activations stay in them from the stem to the global
 * average pool; a reorder is inserted only where two neighbours disagree
 * (in practice: the NCHW input, if the stem wants another layout, and the
 * pooled output, which goes back to plain n x D).
 *
 * Fusions: the folded BatchNorm is the convolution's bias, ReLU is an
 * eltwise post-op, and the residual add of each block is a sum post-op of
 * the block's last convolution, which accumulates into the buffer holding
 * the shortcut (the block input itself when there is no downsample).
 * In fp32 a 3x3 stride-1 layer may run by hyrsm-winograd.c instead, on the
 * same memories and fusions: choose() times both once per layer.
 *
 * Precision: fp32, or bf16 where the CPU has AVX512-BF16 (oneDNN's
 * avx512_core_bf16 ISA). In bf16 the convolutions read bf16 activations
 * and weights, accumulate in f32 (oneDNN's rule for bf16), add the f32 bias
 * and write bf16; the frames are converted by the reorder in front of the
 * stem. The network's last convolution writes f32 instead (its residual
 * add then runs on an f32 copy of the shortcut), so the global average
 * pool and the features the caller gets are f32. (The relation head's
 * bf16 weights are hyrsm-relation.c's: a model without a backbone can be
 * bf16 on any CPU with AVX2 and FMA.)
 *
 * Weights are reordered once into the layout a convolution asks for and
 * shared by every plan that asks for the same layout. Activations live in a
 * few scratch buffers owned by the backend and shared by all plans (embed
 * is serialized), grown when a larger batch needs more.
 */
#include "hyrsm-backend.h"
#include "hyrsm-batch.h"
#include "hyrsm-gemm-thin.h"
#include "hyrsm-error.h"

#include "hyrsm-cpu-conv.h"
#include "hyrsm-dnnl.h"
#include <omp.h>

/* every oneDNN call of this file goes through it */
#define check hyrsm_dnnl_check
#include <stdlib.h>
#include <string.h>

/* A batch of n frames runs as chunks of powers of two up to
 * HYRSM_CPU_BATCH (hyrsm-batch.h). */
#define MAX_BATCH HYRSM_CPU_BATCH
#define MAX_BUFFERS 8
#define SCRATCH_BUFFER 0        /* shared oneDNN scratchpad */
#define INPUT_BUFFER 100        /* the caller's frames (plan->input) */
#define OUTPUT_BUFFER 101       /* the caller's features (plan->output) */
#define BUFFER_ALIGN 64

typedef struct
{
  CpuConv conv1, conv2, conv3, downsample;
  gboolean bottleneck;
  gboolean has_downsample;
} CpuBlock;

typedef struct
{
  dnnl_primitive_t prim;
  char *what;
  int n_args;
  dnnl_exec_arg_t args[6];      /* SRC, WEIGHTS, BIAS, DST first for a conv */
  /* A layer hyrsm-winograd.c can run instead: its convolution (else
   * NULL), whether it does, and the shapes it takes. */
  CpuConv *conv;
  gboolean use_winograd;
  int h, w, src_block, dst_block;
  gboolean sum, relu;
} Step;

typedef struct
{
  dnnl_memory_t mem;
  int buffer;
} Binding;

typedef struct
{
  int n;
  GArray *steps;                /* Step */
  GArray *bindings;             /* Binding: memories over shared buffers */
  GPtrArray *memories;          /* every dnnl_memory_t the plan made */
  dnnl_memory_t input;          /* n x 3 x crop x crop, plain NCHW */
  dnnl_memory_t output;         /* n x D, plain */
  gsize need[MAX_BUFFERS];      /* bytes this plan needs in each buffer */
} Plan;

typedef struct
{
  HyrsmBackend parent;

  GMutex lock;                  /* serializes embed: plans, buffers, stream */
  dnnl_engine_t engine;
  dnnl_data_type_t dt;          /* activations and weights: f32 or bf16 */
  dnnl_stream_t stream;
  HyrsmConvAlgorithm algorithm; /* of the 3x3 stride-1 layers (fp32) */
  int threads;                  /* OpenMP's, for hyrsm_winograd_run() */

  gboolean has_backbone;
  int crop;
  int feature_dim;
  CpuConv stem;
  int n_blocks;
  CpuBlock *blocks;

  Plan *plans[MAX_BATCH + 1];   /* by batch size */
  void *buffers[MAX_BUFFERS];
  gsize buffer_sizes[MAX_BUFFERS];
} HyrsmBackendCpu;

/* ---- plans ---- */

typedef struct
{
  HyrsmDnnlConstMd md;          /* owned by the Builder */
  int buffer;
} Tensor;

typedef struct
{
  HyrsmBackendCpu *self;
  Plan *plan;
  GError **error;
  GHashTable *impls;            /* oneDNN implementation name -> count */
  GPtrArray *mds;               /* HyrsmDnnlMd: the descriptors made */
} Builder;

static void
md_free (gpointer md)
{
  hyrsm_dnnl_md_destroy (md);
}

/* A descriptor that lives as long as the plan is being built: Tensors
 * point at them, and oneDNN copies what it keeps. NULL (and the error
 * set) on failure. */
static HyrsmDnnlConstMd
builder_md (Builder *b, int ndims, const dnnl_dims_t dims,
    dnnl_data_type_t dt, dnnl_format_tag_t tag, const char *what)
{
  HyrsmDnnlMd md = NULL;
  if (!check (hyrsm_dnnl_md_create (&md, ndims, dims, dt, tag), b->error,
          "%s descriptor", what))
    return NULL;
  g_ptr_array_add (b->mds, md);
  return md;
}

/* A copy of @md that lives as long as the builder (a primitive
 * descriptor's answers go with it). */
static HyrsmDnnlConstMd
builder_keep (Builder *b, HyrsmDnnlConstMd md, const char *what)
{
  HyrsmDnnlMd copy = NULL;
  if (!check (hyrsm_dnnl_md_clone (&copy, md), b->error, "%s descriptor",
          what))
    return NULL;
  g_ptr_array_add (b->mds, copy);
  return copy;
}

static void
plan_free (Plan *plan)
{
  if (plan == NULL)
    return;
  for (guint i = 0; i < plan->steps->len; i++) {
    Step *s = &g_array_index (plan->steps, Step, i);
    dnnl_primitive_destroy (s->prim);
    g_free (s->what);
  }
  for (guint i = 0; i < plan->memories->len; i++)
    dnnl_memory_destroy (g_ptr_array_index (plan->memories, i));
  g_array_unref (plan->steps);
  g_array_unref (plan->bindings);
  g_ptr_array_unref (plan->memories);
  g_free (plan);
}

/* A memory of layout @md over @buffer (a shared buffer, or the caller's
 * input/output, whose pointers are set at each call). */
static dnnl_memory_t
plan_memory (Builder *b, HyrsmDnnlConstMd md, int buffer,
    const char *what)
{
  dnnl_memory_t mem;
  if (!check (dnnl_memory_create (&mem, md, b->self->engine,
              DNNL_MEMORY_NONE), b->error, "memory for %s", what))
    return NULL;
  g_ptr_array_add (b->plan->memories, mem);
  if (buffer == INPUT_BUFFER)
    b->plan->input = mem;
  else if (buffer == OUTPUT_BUFFER)
    b->plan->output = mem;
  else {
    Binding bind = { mem, buffer };
    g_array_append_val (b->plan->bindings, bind);
    b->plan->need[buffer] = MAX (b->plan->need[buffer],
        dnnl_memory_desc_get_size (md));
  }
  return mem;
}

/* The lowest-numbered activation buffer not in @busy (-1 terminated). */
static int
free_buffer (const int *busy)
{
  for (int i = SCRATCH_BUFFER + 1; i < MAX_BUFFERS; i++) {
    gboolean used = FALSE;
    for (const int *p = busy; *p != -1 && !used; p++)
      used = *p == i;
    if (!used)
      return i;
  }
  g_assert_not_reached ();      /* the network's structure needs at most 5 */
  return MAX_BUFFERS - 1;
}

/* Creates the primitive of @pd and appends it with @args (plus the
 * scratchpad, when it needs one). Takes @pd. */
static gboolean
plan_add (Builder *b, dnnl_primitive_desc_t pd, const char *what, int n_args,
    const dnnl_exec_arg_t *args)
{
  Step step = {.what = g_strdup (what),.n_args = n_args };
  memcpy (step.args, args, n_args * sizeof *args);
  HyrsmDnnlConstMd scratch_md =
      dnnl_primitive_desc_query_md (pd, dnnl_query_scratchpad_md, 0);
  if (scratch_md && dnnl_memory_desc_get_size (scratch_md) > 0) {
    dnnl_memory_t scratch = plan_memory (b, scratch_md, SCRATCH_BUFFER, what);
    if (scratch == NULL)
      goto fail;
    step.args[step.n_args++] = (dnnl_exec_arg_t) {
    DNNL_ARG_SCRATCHPAD, scratch};
  }
  const char *impl = hyrsm_dnnl_impl_name (pd);
  g_hash_table_insert (b->impls, g_strdup (impl),
      GINT_TO_POINTER (GPOINTER_TO_INT (g_hash_table_lookup (b->impls,
                  impl)) + 1));
  if (!check (dnnl_primitive_create (&step.prim, pd), b->error,
          "%s creation", what))
    goto fail;
  dnnl_primitive_desc_destroy (pd);
  g_array_append_val (b->plan->steps, step);
  return TRUE;

fail:
  dnnl_primitive_desc_destroy (pd);
  g_free (step.what);
  return FALSE;
}

static dnnl_primitive_attr_t
new_attr (Builder *b, const char *what)
{
  dnnl_primitive_attr_t attr;
  if (!check (dnnl_primitive_attr_create (&attr), b->error, "%s attributes",
          what))
    return NULL;
  if (!check (dnnl_primitive_attr_set_scratchpad_mode (attr,
              dnnl_scratchpad_mode_user), b->error, "%s attributes", what)) {
    dnnl_primitive_attr_destroy (attr);
    return NULL;
  }
  return attr;
}

/* Appends a reorder of @src into @buffer in layout @md; @out describes the
 * result. */
static gboolean
plan_reorder (Builder *b, const Tensor *src, HyrsmDnnlConstMd md,
    int buffer, Tensor *out, const char *what)
{
  g_autofree char *name = g_strdup_printf ("%s reorder", what);
  dnnl_primitive_attr_t attr = new_attr (b, name);
  dnnl_primitive_desc_t pd = NULL;
  if (attr == NULL)
    return FALSE;
  gboolean ok = check (dnnl_reorder_primitive_desc_create (&pd, src->md,
          b->self->engine, md, b->self->engine, attr), b->error,
      "%s descriptor", name);
  dnnl_primitive_attr_destroy (attr);
  if (!ok)
    return FALSE;
  dnnl_memory_t from = plan_memory (b, src->md, src->buffer, name);
  dnnl_memory_t to = from ? plan_memory (b, md, buffer, name) : NULL;
  out->md = to ? builder_keep (b, md, name) : NULL;
  if (out->md == NULL) {
    dnnl_primitive_desc_destroy (pd);
    return FALSE;
  }
  dnnl_exec_arg_t args[2] = { {DNNL_ARG_FROM, from}, {DNNL_ARG_TO, to} };
  out->buffer = buffer;
  return plan_add (b, pd, name, 2, args);
}

static int
out_size (int in, int kernel, int stride, int padding)
{
  return (in + 2 * padding - kernel) / stride + 1;
}

/* Right/bottom padding that gives PyTorch's (floor) output size. */
static int
pad_right (int in, int out, int kernel, int stride, int padding)
{
  return (out - 1) * stride + kernel - in - padding;
}

/* Offers hyrsm-winograd.c for the convolution just appended (choose()
 * decides), when oneDNN's layouts for it are ones it takes. */
static void
offer_winograd (Builder *b, CpuConv *c, HyrsmDnnlConstMd src,
    HyrsmDnnlConstMd dst, gboolean sum, gboolean relu)
{
  Plan *plan = b->plan;
  Step *s = &g_array_index (plan->steps, Step, plan->steps->len - 1);
  s->src_block = hyrsm_dnnl_md_channel_block (src);
  s->dst_block = hyrsm_dnnl_md_channel_block (dst);
  if (s->src_block == 0 || s->dst_block == 0) {
    g_autofree char *from = hyrsm_dnnl_md_layout (src);
    g_autofree char *to = hyrsm_dnnl_md_layout (dst);
    g_debug ("cpu backend: batch %d: %s stays on oneDNN: Winograd does not "
        "take its layouts (%s -> %s)", plan->n, c->name, from, to);
    return;
  }
  s->conv = c;
  s->h = hyrsm_dnnl_md_dim (src, 2);
  s->w = hyrsm_dnnl_md_dim (src, 3);
  s->sum = sum;
  s->relu = relu;
  plan->need[SCRATCH_BUFFER] = MAX (plan->need[SCRATCH_BUFFER],
      hyrsm_winograd_scratch_size (c->winograd, plan->n, s->h, s->w,
          b->self->threads));
}

/* Appends convolution @c of @src (+ bias, + @sum when given, then ReLU
 * when @relu), writing @dst_dt into a buffer outside @busy (or into
 * @sum's). @busy: -1 terminated buffers still needed after this step. */
static gboolean
plan_conv (Builder *b, CpuConv *c, const Tensor *src, gboolean relu,
    const Tensor *sum, const int *busy, dnnl_data_type_t dst_dt, Tensor *out)
{
  const char *what = c->name;
  int n = b->plan->n;
  int ih = hyrsm_dnnl_md_dim (src->md, 2), iw = hyrsm_dnnl_md_dim (src->md, 3);
  int oh = out_size (ih, c->kernel, c->stride, c->padding);
  int ow = out_size (iw, c->kernel, c->stride, c->padding);
  HyrsmDnnlConstMd src_md = NULL, weights_md = NULL, bias_md = NULL;
  HyrsmDnnlConstMd dst_md = NULL;
  dnnl_dims_t src_dims = { n, c->ic, ih, iw };
  dnnl_dims_t weights_dims = { c->oc, c->ic, c->kernel, c->kernel };
  dnnl_dims_t bias_dims = { c->oc };
  dnnl_dims_t dst_dims = { n, c->oc, oh, ow };
  dnnl_dims_t strides = { c->stride, c->stride };
  dnnl_dims_t padding_l = { c->padding, c->padding };
  dnnl_dims_t padding_r = {
    pad_right (ih, oh, c->kernel, c->stride, c->padding),
    pad_right (iw, ow, c->kernel, c->stride, c->padding)
  };
  dnnl_primitive_desc_t pd = NULL;
  dnnl_primitive_attr_t attr = NULL;
  dnnl_post_ops_t post_ops = NULL;
  gboolean ok;

  dnnl_data_type_t dt = b->self->dt;
  ok = (src_md = builder_md (b, 4, src_dims, dt, dnnl_format_tag_any,
          what)) != NULL
      && (weights_md = builder_md (b, 4, weights_dims, dt,
          dnnl_format_tag_any, what)) != NULL
      && (bias_md = builder_md (b, 1, bias_dims, dnnl_f32, dnnl_x,
          what)) != NULL
      && (dst_md = builder_md (b, 4, dst_dims, dst_dt, dnnl_format_tag_any,
          what)) != NULL
      && (attr = new_attr (b, what)) != NULL
      && check (dnnl_post_ops_create (&post_ops), b->error, "%s post-ops",
      what)
      && (sum == NULL || check (hyrsm_dnnl_post_ops_append_sum (post_ops),
          b->error, "%s sum post-op", what))
      && (!relu || check (hyrsm_dnnl_post_ops_append_relu (post_ops),
          b->error, "%s ReLU post-op", what))
      && check (dnnl_primitive_attr_set_post_ops (attr, post_ops), b->error,
      "%s post-ops", what)
      && check (hyrsm_dnnl_convolution_create (&pd, b->self->engine, src_md,
          weights_md, bias_md, dst_md, strides, padding_l, padding_r,
          dnnl_convolution_direct, attr),
      b->error, "%s convolution (%d -> %d channels, %dx%d/%d, "
      "input %dx%d, batch %d)", what, c->ic, c->oc, c->kernel, c->kernel,
      c->stride, ih, iw, n);
  if (post_ops)
    dnnl_post_ops_destroy (post_ops);
  if (attr)
    dnnl_primitive_attr_destroy (attr);
  if (!ok)
    return FALSE;

  HyrsmDnnlConstMd want_src =
      dnnl_primitive_desc_query_md (pd, dnnl_query_src_md, 0);
  HyrsmDnnlConstMd want_weights =
      dnnl_primitive_desc_query_md (pd, dnnl_query_weights_md, 0);
  HyrsmDnnlConstMd want_dst =
      dnnl_primitive_desc_query_md (pd, dnnl_query_dst_md, 0);

  /* Buffers not to write: the caller's, the source's and the shortcut's. */
  int avoid[MAX_BUFFERS + 4], n_avoid = 0;
  for (const int *p = busy; *p != -1; p++)
    avoid[n_avoid++] = *p;
  avoid[n_avoid++] = src->buffer;
  if (sum)
    avoid[n_avoid++] = sum->buffer;
  avoid[n_avoid] = -1;

  Tensor in = *src;
  if (!dnnl_memory_desc_equal (want_src, src->md)) {
    int buffer = free_buffer (avoid);
    if (!plan_reorder (b, src, want_src, buffer, &in, what))
      goto fail;
    avoid[n_avoid++] = buffer;
    avoid[n_avoid] = -1;
  }

  int dst_buffer;
  if (sum == NULL)
    dst_buffer = free_buffer (avoid);
  else if (dnnl_memory_desc_equal (want_dst, sum->md))
    dst_buffer = sum->buffer;   /* accumulate in place */
  else {
    Tensor moved;
    dst_buffer = free_buffer (avoid);
    if (!plan_reorder (b, sum, want_dst, dst_buffer, &moved, what))
      goto fail;
  }

  dnnl_memory_t weights = hyrsm_cpu_conv_weights (c,
      b->self->engine, b->self->stream, want_weights, b->error);
  dnnl_memory_t src_mem = weights ? plan_memory (b, want_src, in.buffer,
      what) : NULL;
  dnnl_memory_t dst_mem = src_mem ? plan_memory (b, want_dst, dst_buffer,
      what) : NULL;
  out->md = dst_mem ? builder_keep (b, want_dst, what) : NULL;
  if (out->md == NULL)
    goto fail;
  out->buffer = dst_buffer;
  dnnl_exec_arg_t args[4] = {
    {DNNL_ARG_SRC, src_mem}, {DNNL_ARG_WEIGHTS, weights},
    {DNNL_ARG_BIAS, c->bias}, {DNNL_ARG_DST, dst_mem},
  };
  if (!plan_add (b, pd, what, 4, args))
    return FALSE;
  if (c->winograd && b->self->dt == dnnl_f32 && dst_dt == dnnl_f32)
    offer_winograd (b, c, in.md, out->md, sum != NULL, relu);
  return TRUE;

fail:
  dnnl_primitive_desc_destroy (pd);
  return FALSE;
}

/* Appends a pooling of @src (@alg, square @kernel) into a free buffer. */
static gboolean
plan_pool (Builder *b, const Tensor *src, dnnl_alg_kind_t alg, int kernel_h,
    int kernel_w, int stride, int padding, Tensor *out, const char *what)
{
  int n = hyrsm_dnnl_md_dim (src->md, 0), ch = hyrsm_dnnl_md_dim (src->md, 1);
  int ih = hyrsm_dnnl_md_dim (src->md, 2), iw = hyrsm_dnnl_md_dim (src->md, 3);
  int oh = out_size (ih, kernel_h, stride, padding);
  int ow = out_size (iw, kernel_w, stride, padding);
  dnnl_dims_t dst_dims = { n, ch, oh, ow };
  dnnl_dims_t strides = { stride, stride };
  dnnl_dims_t kernel = { kernel_h, kernel_w };
  dnnl_dims_t padding_l = { padding, padding };
  dnnl_dims_t padding_r = {
    pad_right (ih, oh, kernel_h, stride, padding),
    pad_right (iw, ow, kernel_w, stride, padding)
  };
  HyrsmDnnlConstMd dst_md = NULL;
  dnnl_primitive_desc_t pd = NULL;
  dnnl_primitive_attr_t attr = NULL;

  gboolean ok = (dst_md = builder_md (b, 4, dst_dims,
          hyrsm_dnnl_md_data_type (src->md), dnnl_format_tag_any,
          what)) != NULL
      && (attr = new_attr (b, what)) != NULL
      && check (hyrsm_dnnl_pooling_create (&pd, b->self->engine, alg,
          src->md, dst_md, strides, kernel, padding_l, padding_r, attr),
      b->error, "%s (%d channels, input %dx%d, batch %d)", what, ch, ih, iw,
      n);
  if (attr)
    dnnl_primitive_attr_destroy (attr);
  if (!ok)
    return FALSE;

  HyrsmDnnlConstMd want_dst =
      dnnl_primitive_desc_query_md (pd, dnnl_query_dst_md, 0);
  int avoid[2] = { src->buffer, -1 };
  int buffer = free_buffer (avoid);
  dnnl_memory_t src_mem = plan_memory (b, src->md, src->buffer, what);
  dnnl_memory_t dst_mem = src_mem ? plan_memory (b, want_dst, buffer, what) :
      NULL;
  out->md = dst_mem ? builder_keep (b, want_dst, what) : NULL;
  if (out->md == NULL) {
    dnnl_primitive_desc_destroy (pd);
    return FALSE;
  }
  out->buffer = buffer;
  dnnl_exec_arg_t args[2] = { {DNNL_ARG_SRC, src_mem}, {DNNL_ARG_DST,
          dst_mem}
  };
  return plan_add (b, pd, what, 2, args);
}

/* One residual block: the output (of type @out_dt) lands in the
 * shortcut's buffer, or in a copy of the shortcut converted to @out_dt. */
static gboolean
plan_block (Builder *b, CpuBlock *blk, const Tensor *x,
    dnnl_data_type_t out_dt, Tensor *out)
{
  dnnl_data_type_t dt = b->self->dt;
  Tensor shortcut = *x, h1, h2;
  int none[1] = { -1 };
  int keep_x[2] = { x->buffer, -1 };

  if (blk->has_downsample
      && !plan_conv (b, &blk->downsample, x, FALSE, NULL, keep_x, dt,
          &shortcut))
    return FALSE;
  int keep_shortcut[2] = { shortcut.buffer, -1 };
  if (!plan_conv (b, &blk->conv1, x, TRUE, NULL, keep_shortcut, dt, &h1))
    return FALSE;
  if (!blk->bottleneck)
    return plan_conv (b, &blk->conv2, &h1, TRUE, &shortcut, none, out_dt,
        out);
  return plan_conv (b, &blk->conv2, &h1, TRUE, NULL, keep_shortcut, dt, &h2)
      && plan_conv (b, &blk->conv3, &h2, TRUE, &shortcut, none, out_dt, out);
}

static gboolean
plan_build (Builder *b)
{
  HyrsmBackendCpu *self = b->self;
  int n = b->plan->n;
  dnnl_dims_t in_dims = { n, 3, self->crop, self->crop };
  dnnl_dims_t out_dims = { n, self->feature_dim, 1, 1 };
  Tensor x = {.buffer = INPUT_BUFFER }, y;
  HyrsmDnnlConstMd out_md = NULL;
  int none[1] = { -1 };

  if ((x.md = builder_md (b, 4, in_dims, dnnl_f32, dnnl_nchw,
              "input")) == NULL
      || (out_md = builder_md (b, 4, out_dims, dnnl_f32, dnnl_nchw,
              "output")) == NULL)
    return FALSE;
  if (!plan_conv (b, &self->stem, &x, TRUE, NULL, none, self->dt, &y)
      || !plan_pool (b, &y, dnnl_pooling_max, 3, 3, 2, 1, &x, "maxpool"))
    return FALSE;
  for (int i = 0; i < self->n_blocks; i++) {
    gboolean last = i == self->n_blocks - 1;
    if (!plan_block (b, &self->blocks[i], &x, last ? dnnl_f32 : self->dt,
            &y))
      return FALSE;
    x = y;
  }
  if (!plan_pool (b, &x, dnnl_pooling_avg_exclude_padding,
          hyrsm_dnnl_md_dim (x.md, 2), hyrsm_dnnl_md_dim (x.md, 3), 1, 0, &y,
          "avgpool"))
    return FALSE;
  /* The stem (or a reorder before it) reads the caller's frames through
   * plan->input; this last reorder writes the caller's features. */
  Tensor pooled;
  return plan_reorder (b, &y, out_md, OUTPUT_BUFFER, &pooled, "output");
}

/* Grows the shared buffers to what @plan needs, then points every plan's
 * memories (@plan's included) at the current buffers. A failed allocation
 * leaves the old buffer, and the plans bound to it, as they were. */
static gboolean
ensure_buffers (HyrsmBackendCpu *self, Plan *plan, GError **error)
{
  gboolean ok = TRUE;
  for (int i = 0; ok && i < MAX_BUFFERS; i++) {
    void *grown;
    if (plan->need[i] <= self->buffer_sizes[i])
      continue;
    if (posix_memalign (&grown, BUFFER_ALIGN, plan->need[i]) != 0) {
      g_set_error (error, HYRSM_ERROR, HYRSM_ERROR_BACKEND,
          "cpu backend: out of memory allocating %" G_GSIZE_FORMAT
          " bytes of activations for a batch of %d frames", plan->need[i],
          plan->n);
      ok = FALSE;
      break;
    }
    free (self->buffers[i]);
    self->buffers[i] = grown;
    self->buffer_sizes[i] = plan->need[i];
  }
  for (int n = 1; n <= MAX_BATCH; n++) {
    Plan *p = self->plans[n] ? self->plans[n] : (n == plan->n && ok ? plan :
        NULL);
    for (guint i = 0; p && i < p->bindings->len; i++) {
      Binding *bind = &g_array_index (p->bindings, Binding, i);
      dnnl_status_t status = dnnl_memory_set_data_handle (bind->mem,
          self->buffers[bind->buffer]);
      if (ok)
        ok = check (status, error, "buffer binding (batch %d)", p->n);
    }
  }
  return ok;
}

/* Says which oneDNN implementations the plan uses: with AVX-512 they
 * should all be jit / brgconv ones, never "ref" or "gemm". */
static void
log_plan (Builder *b)
{
  GString *s = g_string_new (NULL);
  GHashTableIter it;
  gpointer name, count;
  gsize bytes = 0;
  g_hash_table_iter_init (&it, b->impls);
  while (g_hash_table_iter_next (&it, &name, &count))
    g_string_append_printf (s, "%s%s x%d", s->len ? ", " : "",
        (const char *) name, GPOINTER_TO_INT (count));
  for (int i = 0; i < MAX_BUFFERS; i++)
    bytes += b->plan->need[i];
  g_debug ("cpu backend: batch %d: %u primitives (%s), %.1f MB of buffers",
      b->plan->n, b->plan->steps->len, s->str, bytes / 1e6);
  g_string_free (s, TRUE);
}

static gboolean choose (HyrsmBackendCpu *self, Plan *plan, GError **error);

/* The plan for batch @n, built on first use. Called with the lock held. */
static Plan *
get_plan (HyrsmBackendCpu *self, int n, GError **error)
{
  if (self->plans[n])
    return self->plans[n];
  Plan *plan = g_new0 (Plan, 1);
  plan->n = n;
  plan->steps = g_array_new (FALSE, FALSE, sizeof (Step));
  plan->bindings = g_array_new (FALSE, FALSE, sizeof (Binding));
  plan->memories = g_ptr_array_new ();
  Builder b = { self, plan, error,
    g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL),
    g_ptr_array_new_with_free_func (md_free)
  };
  gboolean ok = plan_build (&b) && ensure_buffers (self, plan, error)
      && choose (self, plan, error);
  if (ok)
    log_plan (&b);
  g_hash_table_unref (b.impls);
  g_ptr_array_unref (b.mds);
  if (!ok) {
    plan_free (plan);
    return NULL;
  }
  self->plans[n] = plan;
  return plan;
}

/* Runs step @s of @plan: its oneDNN primitive, or hyrsm-winograd.c on
 * the same memories. */
static gboolean
run_step (HyrsmBackendCpu *self, Plan *plan, Step *s, GError **error)
{
  if (!s->use_winograd)
    return check (dnnl_primitive_execute (s->prim, self->stream,
            s->n_args, s->args), error, "%s (batch %d)", s->what, plan->n);
  void *src, *dst;
  if (!check (dnnl_memory_get_data_handle (s->args[0].memory,
              &src), error, "%s source", s->what)
      || !check (dnnl_memory_get_data_handle (s->args[3].memory,
              &dst), error, "%s destination", s->what))
    return FALSE;
  hyrsm_winograd_run (s->conv->winograd, plan->n, s->h, s->w, s->src_block,
      s->dst_block, src, dst, s->sum, s->relu,
      self->buffers[SCRATCH_BUFFER], self->threads);
  return TRUE;
}

static gboolean
plan_run (HyrsmBackendCpu *self, Plan *plan, const float *frames,
    float *features, GError **error)
{
  if (!check (dnnl_memory_set_data_handle (plan->input, (void *) frames),
          error, "input binding")
      || !check (dnnl_memory_set_data_handle (plan->output, features), error,
          "output binding"))
    return FALSE;
  for (guint i = 0; i < plan->steps->len; i++)
    if (!run_step (self, plan, &g_array_index (plan->steps, Step, i), error))
      return FALSE;
  return check (dnnl_stream_wait (self->stream), error, "stream wait");
}

/* Decides, for each layer of @plan that hyrsm-winograd.c can run, which
 * algorithm does, once per layer (later plans follow the first): with
 * HYRSM_CONV_FASTEST, both run 3 times on the plan's own buffers (after a
 * first run each, alternating, so that neither always finds the caches
 * warm) and the faster minimum wins. The machine decides, not a rule:
 * oneDNN's kernels differ by CPU (with AVX-512 some are faster per FMA
 * than with AVX2, and it may have a Winograd of its own). */
static gboolean
choose (HyrsmBackendCpu *self, Plan *plan, GError **error)
{
  int offered = 0, taken = 0;
  for (guint i = 0; i < plan->steps->len; i++) {
    Step *s = &g_array_index (plan->steps, Step, i);
    if (s->conv == NULL)
      continue;
    offered++;
    if (s->conv->use_winograd < 0 && self->algorithm == HYRSM_CONV_WINOGRAD)
      s->conv->use_winograd = TRUE;
    if (s->conv->use_winograd >= 0) {
      s->use_winograd = s->conv->use_winograd;
      taken += s->use_winograd;
      continue;
    }
    /* nothing real is in the buffers yet: zeros, not stale bits */
    if (!hyrsm_dnnl_memory_zero (s->args[0].memory, error)
        || !hyrsm_dnnl_memory_zero (s->args[3].memory, error))
      return FALSE;
    double best[2] = { G_MAXDOUBLE, G_MAXDOUBLE };
    for (int round = 0; round < 4; round++)
      for (int winograd = 0; winograd < 2; winograd++) {
        s->use_winograd = winograd;
        gint64 start = g_get_monotonic_time ();
        if (!run_step (self, plan, s, error)
            || !check (dnnl_stream_wait (self->stream), error,
                "stream wait"))
          return FALSE;
        if (round > 0)
          best[winograd] = MIN (best[winograd],
              (g_get_monotonic_time () - start) / 1e3);
      }
    s->use_winograd = s->conv->use_winograd = best[1] < best[0];
    taken += s->use_winograd;
    /* kept on oneDNN in every plan: its transformed weights (16/9 of the
     * layer's, 16 MB at 512 channels) are not needed again */
    if (!s->use_winograd)
      g_clear_pointer (&s->conv->winograd, hyrsm_winograd_free);
    g_debug ("cpu backend: batch %d: %s: oneDNN %.3f ms, Winograd %.3f ms: "
        "%s", plan->n, s->what, best[0], best[1],
        s->use_winograd ? "Winograd" : "oneDNN");
  }
  if (offered > 0)
    g_debug ("cpu backend: batch %d: Winograd runs %d of the %d 3x3 "
        "stride-1 layers still offered to it", plan->n, taken, offered);
  return TRUE;
}

/* ---- vtable ---- */

static void cpu_destroy (HyrsmBackend *backend);

/* Convolution @c from @w, named by its place in the network. */
static gboolean
conv_init (HyrsmBackendCpu *self, CpuConv *c, const HyrsmConv *w, int layer,
    int block, HyrsmResnetConvSlot which, GError **error)
{
  return hyrsm_cpu_conv_init (c, self->engine, w,
      hyrsm_resnet_module_name (layer, block, which),
      self->algorithm != HYRSM_CONV_DIRECT, error);
}

static gboolean
load_backbone (HyrsmBackendCpu *self, const HyrsmBackboneWeights *w,
    GError **error)
{
  self->has_backbone = TRUE;
  self->feature_dim = w->feature_dim;
  self->n_blocks = w->n_blocks;
  self->blocks = g_new0 (CpuBlock, w->n_blocks);
  if (!conv_init (self, &self->stem, &w->stem, 0, 0, HYRSM_RESNET_CONV1,
          error))
    return FALSE;
  int k = 0;
  for (int layer = 1; layer <= 4; layer++) {
    for (int i = 0; i < w->blocks_per_layer[layer - 1]; i++, k++) {
      const HyrsmBlock *src = &w->blocks[k];
      CpuBlock *dst = &self->blocks[k];
      dst->bottleneck = src->bottleneck;
      dst->has_downsample = src->has_downsample;
      if (!conv_init (self, &dst->conv1, &src->conv1, layer, i,
              HYRSM_RESNET_CONV1, error)
          || !conv_init (self, &dst->conv2, &src->conv2, layer, i,
              HYRSM_RESNET_CONV2, error)
          || (src->bottleneck && !conv_init (self, &dst->conv3, &src->conv3,
                  layer, i, HYRSM_RESNET_CONV3, error))
          || (src->has_downsample && !conv_init (self, &dst->downsample,
                  &src->downsample, layer, i, HYRSM_RESNET_DOWNSAMPLE,
                  error)))
        return FALSE;
    }
  }
  g_return_val_if_fail (k == w->n_blocks, FALSE);
  return TRUE;
}

static void
forget_plain_weights (HyrsmBackendCpu *self)
{
  self->stem.plain = NULL;
  for (int i = 0; i < self->n_blocks; i++) {
    self->blocks[i].conv1.plain = NULL;
    self->blocks[i].conv2.plain = NULL;
    self->blocks[i].conv3.plain = NULL;
    self->blocks[i].downsample.plain = NULL;
  }
}

HyrsmBackend *
hyrsm_backend_cpu_new (const HyrsmBackboneWeights *backbone, int crop,
    gboolean bf16, GError **error)
{
  /* A backbone in bf16 needs oneDNN's bf16 kernels; a relation head alone
   * only widens its bf16 weights to floats (hyrsm-gemm-thin.c), which any
   * CPU with AVX2 and FMA does. */
  if (bf16 && backbone && !hyrsm_backend_cpu_has_bf16 ()) {
    g_set_error (error, HYRSM_ERROR, HYRSM_ERROR_INVALID_ARGUMENT,
        "precision \"bf16\" is not available: this CPU has no AVX512-BF16 "
        "(oneDNN's ISA here: %s)", hyrsm_dnnl_isa_name ());
    return NULL;
  }
  if (bf16 && !backbone && !hyrsm_gemm_packed_supported ()) {
    g_set_error (error, HYRSM_ERROR, HYRSM_ERROR_INVALID_ARGUMENT,
        "precision \"bf16\" is not available: the relation head's bf16 "
        "weights need a CPU with AVX2 and FMA");
    return NULL;
  }
  HyrsmBackendCpu *self = g_new0 (HyrsmBackendCpu, 1);
  self->parent.ops = &hyrsm_backend_cpu_ops;
  g_mutex_init (&self->lock);
  self->crop = crop;
  self->dt = bf16 ? dnnl_bf16 : dnnl_f32;
  self->threads = omp_get_max_threads ();
  if (!hyrsm_conv_algorithm_from_env (&self->algorithm, error))
    goto fail;
  if (self->dt != dnnl_f32 || !hyrsm_winograd_supported ())
    self->algorithm = HYRSM_CONV_DIRECT;       /* bf16: oneDNN's only */

  if (!check (dnnl_engine_create (&self->engine, dnnl_cpu, 0), error,
          "CPU engine creation")
      || !check (dnnl_stream_create (&self->stream, self->engine,
              dnnl_stream_default_flags), error, "stream creation"))
    goto fail;
  if (backbone) {
    /* The batch-1 plan is built now: it reorders every weight tensor once
     * (later plans reorder from those copies, not from @backbone, which
     * need not outlive this call) and reports unusable shapes at load. */
    gboolean ok = load_backbone (self, backbone, error)
        && get_plan (self, 1, error) != NULL;
    forget_plain_weights (self);
    if (!ok)
      goto fail;
  }
  return &self->parent;

fail:
  cpu_destroy (&self->parent);
  return NULL;
}

/* "auto" is bf16 where the CPU has AVX512-BF16, else fp32 (also for a
 * head-only model, whose bf16 would run on AVX2 too: auto stays exact
 * where a backbone could not follow); "fp16" does not exist on the CPU,
 * and bf16 (fewer mantissa bits) is no substitute for it. */
static HyrsmBackend *
cpu_create (const HyrsmBackboneWeights *backbone, int crop, int index,
    const char *precision, const char **chosen, GError **error)
{
  if (g_str_equal (precision, "fp16")) {
    g_set_error (error, HYRSM_ERROR, HYRSM_ERROR_INVALID_ARGUMENT,
        "precision \"fp16\" is not available on the CPU (its 16-bit "
        "precision is bf16)");
    return NULL;
  }
  gboolean bf16 = g_str_equal (precision, "auto") ?
      hyrsm_backend_cpu_has_bf16 () : g_str_equal (precision, "bf16");
  HyrsmBackend *backend = hyrsm_backend_cpu_new (backbone, crop, bf16,
      error);
  if (backend)
    *chosen = bf16 ? "bf16" : "fp32";
  return backend;
}

static gboolean
cpu_embed (HyrsmBackend *backend, const float *frames, int n, float *features,
    GError **error)
{
  HyrsmBackendCpu *self = (HyrsmBackendCpu *) backend;
  if (!self->has_backbone) {
    g_set_error (error, HYRSM_ERROR, HYRSM_ERROR_NO_BACKBONE,
        "cpu backend: the model has no backbone to embed frames with");
    return FALSE;
  }
  if (n <= 0) {
    g_set_error (error, HYRSM_ERROR, HYRSM_ERROR_INVALID_ARGUMENT,
        "cpu backend: embed needs at least one frame, got %d", n);
    return FALSE;
  }
  gsize frame_size = (gsize) 3 * self->crop * self->crop;
  gboolean ok = TRUE;
  g_mutex_lock (&self->lock);
  for (int done = 0; ok && done < n;) {
    int chunk = MAX_BATCH;
    while (chunk > n - done)
      chunk /= 2;
    Plan *plan = get_plan (self, chunk, error);
    ok = plan != NULL && plan_run (self, plan, frames + done * frame_size,
        features + (gsize) done * self->feature_dim, error);
    done += chunk;
  }
  g_mutex_unlock (&self->lock);
  return ok;
}

static gboolean
cpu_gemm_nt (HyrsmBackend *backend, int m, int n, int k, const float *a,
    const float *b, float *c, GError **error)
{
  /* Row-major C = A B^T; a few rows against a weight matrix stream the
   * weights once through the thin kernel. */
  if (hyrsm_gemm_thin_nt (m, n, k, a, b, c))
    return TRUE;
  dnnl_status_t status = dnnl_sgemm ('N', 'T', m, n, k, 1.0f, a, k, b, k,
      0.0f, c, n);
  if (status != dnnl_success) {
    g_set_error (error, HYRSM_ERROR, HYRSM_ERROR_BACKEND,
        "cpu backend: oneDNN sgemm (%d x %d x %d) failed with status %d", m, n,
        k, (int) status);
    return FALSE;
  }
  return TRUE;
}

static void
cpu_destroy (HyrsmBackend *backend)
{
  HyrsmBackendCpu *self = (HyrsmBackendCpu *) backend;
  for (int n = 0; n <= MAX_BATCH; n++)
    plan_free (self->plans[n]);
  hyrsm_cpu_conv_clear (&self->stem);
  for (int i = 0; i < self->n_blocks && self->blocks; i++) {
    hyrsm_cpu_conv_clear (&self->blocks[i].conv1);
    hyrsm_cpu_conv_clear (&self->blocks[i].conv2);
    hyrsm_cpu_conv_clear (&self->blocks[i].conv3);
    hyrsm_cpu_conv_clear (&self->blocks[i].downsample);
  }
  g_free (self->blocks);
  for (int i = 0; i < MAX_BUFFERS; i++)
    free (self->buffers[i]);
  if (self->stream)
    dnnl_stream_destroy (self->stream);
  if (self->engine)
    dnnl_engine_destroy (self->engine);
  g_mutex_clear (&self->lock);
  g_free (self);
}

const HyrsmBackendOps hyrsm_backend_cpu_ops = {
  .name = "cpu",
  .caps = HYRSM_BACKEND_ALWAYS_AVAILABLE | HYRSM_BACKEND_HOST_RELATION,
  .create = cpu_create,
  .embed = cpu_embed,
  .gemm_nt = cpu_gemm_nt,
  .destroy = cpu_destroy,
};
