/* hyrsm-cuda-plan.c: the backbone on the GPU: one plan per batch size
 * (cuDNN descriptors and algorithms for every step, the buffers it needs),
 * run eagerly or as a CUDA graph, and timed for the benchmark. */
#include "hyrsm-cuda-private.h"

#include <string.h>

#define WORKSPACE_LIMIT ((size_t) 1 << 30)

typedef enum
{
  STEP_CONV,
  STEP_MAXPOOL,
  STEP_AVGPOOL,
} StepKind;

typedef struct
{
  cudnnConvolutionFwdAlgo_t algo;
  cudnnMathType_t math;
  gboolean unfused;             /* cuDNN refused the fused call for this shape */
} AlgoChoice;

typedef struct
{
  StepKind kind;
  CudaConv *conv;
  AlgoChoice *choice;           /* in self->algos; NULL when the step's own */
  int src, dst, residual;       /* buffer ids; residual -1 when none */
  int n, ih, iw, ic, oh, ow, oc;
  cudnnTensorDescriptor_t x, y;
  cudnnConvolutionDescriptor_t cdesc;
  cudnnConvolutionFwdAlgo_t algo;
  size_t workspace;
  gboolean fused;
} Step;

struct _HyrsmCudaPlan
{
  int n;
  GArray *steps;                /* Step */
  size_t buffer_bytes;          /* largest activation */
  size_t workspace;
  gboolean ran;                 /* one eager run done: fused flags settled */
  gboolean graph_tried;
  cudaGraphExec_t graph;
};

/* ---- plans ---- */

static void
step_clear (Step *s)
{
  if (s->x)
    cudnnDestroyTensorDescriptor (s->x);
  if (s->y)
    cudnnDestroyTensorDescriptor (s->y);
  if (s->cdesc)
    cudnnDestroyConvolutionDescriptor (s->cdesc);
}

static void
plan_drop_graph (Plan *plan)
{
  if (plan->graph)
    cudaGraphExecDestroy (plan->graph);
  plan->graph = NULL;
  plan->graph_tried = FALSE;
}

void
hyrsm_cuda_plan_free (gpointer data)
{
  Plan *plan = data;
  if (plan == NULL)
    return;
  plan_drop_graph (plan);
  for (guint i = 0; i < plan->steps->len; i++)
    step_clear (&g_array_index (plan->steps, Step, i));
  g_array_unref (plan->steps);
  g_free (plan);
}

typedef struct
{
  int buffer;
  int h, w, c;
} Tensor;

typedef struct
{
  HyrsmBackendCuda *self;
  Plan *plan;
  GError **error;
} Builder;

/* The lowest-numbered activation buffer not in @avoid (-1 terminated). */
static int
free_buffer (const int *avoid)
{
  for (int i = 0; i < N_BUFFERS; i++) {
    gboolean used = FALSE;
    for (const int *p = avoid; *p != -1 && !used; p++)
      used = *p == i;
    if (!used)
      return i;
  }
  g_assert_not_reached ();      /* a block holds at most 3 at once */
  return N_BUFFERS - 1;
}

static gboolean
tensor_desc (Builder *b, cudnnTensorDescriptor_t *desc, int n, int c, int h,
    int w, const char *what)
{
  return HYRSM_CUDNN_CHECK (cudnnCreateTensorDescriptor (desc), b->error,
      "tensor descriptor of %s", what)
      && HYRSM_CUDNN_CHECK (cudnnSetTensor4dDescriptor (*desc,
          CUDNN_TENSOR_NHWC, b->self->dtype, n, c, h, w), b->error,
      "tensor descriptor of %s (%d x %d x %d x %d)", what, n, h, w, c);
}

static void
account (Builder *b, int n, int h, int w, int c)
{
  size_t bytes = (size_t) n * h * w * c * b->self->elem;
  b->plan->buffer_bytes = MAX (b->plan->buffer_bytes, bytes);
}

static int
batch_bucket (int n)
{
  int bucket = 1;
  while (bucket < n)
    bucket <<= 1;
  return MIN (bucket, MAX_BATCH);
}

/* Whether @algo computes the convolution as a sum of products in the
 * input's own order, like oneDNN: the (implicit) GEMM family. FFT and
 * Winograd transform the operands first and differ from the CPU by more
 * than float32's 1e-4 parity allows. */
static gboolean
algo_is_gemm (cudnnConvolutionFwdAlgo_t algo)
{
  return algo == CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_GEMM
      || algo == CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_PRECOMP_GEMM
      || algo == CUDNN_CONVOLUTION_FWD_ALGO_GEMM;
}

/* Picks from cuDNN's ranked results: successful and within the workspace
 * limit. float32 keeps to the GEMM family (algo_is_gemm), excludes
 * tensor-core results (TF32) and always runs with CUDNN_FMA_MATH (the
 * descriptor asked for it; a result reported as "default" math then runs
 * without TF32); float16 takes the fastest and keeps the math type that
 * cuDNN measured. */
static gboolean
pick_algo (HyrsmBackendCuda *self, const cudnnConvolutionFwdAlgoPerf_t *perf,
    int count, AlgoChoice *choice)
{
  gboolean fp32 = self->precision == HYRSM_PRECISION_FP32;
  for (int i = 0; i < count; i++) {
    if (perf[i].status != CUDNN_STATUS_SUCCESS
        || perf[i].memory > WORKSPACE_LIMIT)
      continue;
    if (fp32 && (!algo_is_gemm (perf[i].algo)
            || perf[i].mathType == CUDNN_TENSOR_OP_MATH
            || perf[i].mathType == CUDNN_TENSOR_OP_MATH_ALLOW_CONVERSION))
      continue;
    choice->algo = perf[i].algo;
    choice->math = fp32 ? CUDNN_FMA_MATH : perf[i].mathType;
    return TRUE;
  }
  return FALSE;
}

static gboolean
heuristic_algo (Builder *b, Step *s, AlgoChoice *choice)
{
  cudnnConvolutionFwdAlgoPerf_t perf[CUDNN_CONVOLUTION_FWD_ALGO_COUNT];
  int returned = 0;
  if (!HYRSM_CUDNN_CHECK (cudnnGetConvolutionForwardAlgorithm_v7
          (b->self->cudnn, s->x, s->conv->wdesc, s->cdesc, s->y,
              CUDNN_CONVOLUTION_FWD_ALGO_COUNT, &returned, perf), b->error,
          "choosing an algorithm for %s (batch %d)", s->conv->name, s->n))
    return FALSE;
  if (!pick_algo (b->self, perf, returned, choice)) {
    g_set_error (b->error, HYRSM_ERROR, HYRSM_ERROR_BACKEND,
        "cuda backend: cuDNN has no usable algorithm for %s (batch %d, "
        "%dx%d, %d -> %d channels)", s->conv->name, s->n, s->ih, s->iw, s->ic,
        s->oc);
    return FALSE;
  }
  return TRUE;
}

/* Benchmarks the algorithms for the shape of @s at the bucketed batch size
 * (cuDNN allocates what it needs itself). */
static gboolean
find_algo (Builder *b, Step *s, AlgoChoice *choice)
{
  HyrsmBackendCuda *self = b->self;
  int bucket = batch_bucket (s->n);
  cudnnTensorDescriptor_t x = NULL, y = NULL;
  cudnnConvolutionFwdAlgoPerf_t perf[CUDNN_CONVOLUTION_FWD_ALGO_COUNT];
  int returned = 0;
  gboolean ok = tensor_desc (b, &x, bucket, s->ic, s->ih, s->iw, s->conv->name)
      && tensor_desc (b, &y, bucket, s->oc, s->oh, s->ow, s->conv->name)
      && HYRSM_CUDNN_CHECK (cudnnFindConvolutionForwardAlgorithm (self->cudnn,
          x, s->conv->wdesc, s->cdesc, y, CUDNN_CONVOLUTION_FWD_ALGO_COUNT,
          &returned, perf), b->error,
      "benchmarking algorithms for %s (batch %d)", s->conv->name, bucket);
  if (x)
    cudnnDestroyTensorDescriptor (x);
  if (y)
    cudnnDestroyTensorDescriptor (y);
  if (ok && pick_algo (self, perf, returned, choice))
    return TRUE;
  /* Out of memory at the bucket size, or nothing usable: heuristics at the
   * real size. */
  g_clear_error (b->error);
  return heuristic_algo (b, s, choice);
}

static gboolean
choose_algo (Builder *b, Step *s)
{
  HyrsmBackendCuda *self = b->self;
  char *key = g_strdup_printf ("%d %d %dx%d %d %d/%d/%d", batch_bucket (s->n),
      s->ic, s->ih, s->iw, s->oc, s->conv->kernel, s->conv->stride,
      s->conv->padding);
  AlgoChoice *choice = g_hash_table_lookup (self->algos, key);
  if (choice == NULL) {
    AlgoChoice found;
    if (!(self->use_find ? find_algo (b, s, &found)
            : heuristic_algo (b, s, &found))) {
      g_free (key);
      return FALSE;
    }
    choice = g_memdup2 (&found, sizeof found);
    g_hash_table_insert (self->algos, key, choice);
    g_debug ("cuda backend: %s at batch %d: algorithm %d, math %d",
        s->conv->name, batch_bucket (s->n), (int) found.algo,
        (int) found.math);
  } else {
    g_free (key);
  }
  s->algo = choice->algo;
  s->choice = choice;
  if (HYRSM_CUDNN_CHECK (cudnnSetConvolutionMathType (s->cdesc, choice->math),
          b->error, "math type of %s", s->conv->name)
      && cudnnGetConvolutionForwardWorkspaceSize (self->cudnn, s->x,
          s->conv->wdesc, s->cdesc, s->y, s->algo, &s->workspace)
      == CUDNN_STATUS_SUCCESS)
    return TRUE;
  /* The bucket's algorithm does not take this batch size: ask again. */
  g_clear_error (b->error);
  AlgoChoice own = { 0 };
  s->choice = NULL;
  return heuristic_algo (b, s, &own)
      && HYRSM_CUDNN_CHECK (cudnnSetConvolutionMathType (s->cdesc, own.math),
      b->error, "math type of %s", s->conv->name)
      && (s->algo = own.algo, TRUE)
      && HYRSM_CUDNN_CHECK (cudnnGetConvolutionForwardWorkspaceSize
      (self->cudnn, s->x, s->conv->wdesc, s->cdesc, s->y, s->algo,
          &s->workspace), b->error, "workspace size of %s", s->conv->name);
}

/* Appends convolution @c of @src (+ bias, + @residual, ReLU when @c has a
 * bias) into a buffer outside @busy (-1 terminated), @src and @residual. */
static gboolean
plan_conv (Builder *b, CudaConv *c, const Tensor *src,
    const Tensor *residual, const int *busy, Tensor *out)
{
  Step s = {.kind = STEP_CONV,.conv = c,.src = src->buffer,
    .residual = residual ? residual->buffer : -1,.n = b->plan->n,
    .ih = src->h,.iw = src->w,.ic = src->c,.oc = c->oc,.fused = TRUE
  };
  int avoid[N_BUFFERS + 4], n_avoid = 0;
  for (const int *p = busy; *p != -1; p++)
    avoid[n_avoid++] = *p;
  avoid[n_avoid++] = src->buffer;
  if (residual)
    avoid[n_avoid++] = residual->buffer;
  avoid[n_avoid] = -1;
  s.dst = free_buffer (avoid);
  s.oh = (s.ih + 2 * c->padding - c->kernel) / c->stride + 1;
  s.ow = (s.iw + 2 * c->padding - c->kernel) / c->stride + 1;
  if (src->c != c->ic || s.oh < 1 || s.ow < 1) {
    g_set_error (b->error, HYRSM_ERROR, HYRSM_ERROR_SHAPE_MISMATCH,
        "cuda backend: %s takes %d channels of at least %dx%d pixels, got %d "
        "channels of %dx%d", c->name, c->ic, c->kernel, c->kernel, src->c,
        src->h, src->w);
    return FALSE;
  }

  int n = 0, oc = 0, oh = 0, ow = 0;
  gboolean ok = tensor_desc (b, &s.x, s.n, s.ic, s.ih, s.iw, c->name)
      && tensor_desc (b, &s.y, s.n, s.oc, s.oh, s.ow, c->name)
      && HYRSM_CUDNN_CHECK (cudnnCreateConvolutionDescriptor (&s.cdesc),
      b->error, "convolution descriptor of %s", c->name)
      && HYRSM_CUDNN_CHECK (cudnnSetConvolution2dDescriptor (s.cdesc,
          c->padding, c->padding, c->stride, c->stride, 1, 1,
          CUDNN_CROSS_CORRELATION, CUDNN_DATA_FLOAT), b->error,
      "convolution descriptor of %s", c->name)
      && HYRSM_CUDNN_CHECK (cudnnSetConvolutionMathType (s.cdesc,
          b->self->precision == HYRSM_PRECISION_FP16 ? CUDNN_TENSOR_OP_MATH
          : CUDNN_FMA_MATH), b->error, "math type of %s", c->name)
      && HYRSM_CUDNN_CHECK (cudnnGetConvolution2dForwardOutputDim (s.cdesc,
          s.x, c->wdesc, &n, &oc, &oh, &ow), b->error,
      "output size of %s", c->name);
  if (ok && (n != s.n || oc != s.oc || oh != s.oh || ow != s.ow)) {
    g_set_error (b->error, HYRSM_ERROR, HYRSM_ERROR_BACKEND,
        "cuda backend: cuDNN gives %s an output of %dx%dx%dx%d, expected "
        "%dx%dx%dx%d", c->name, n, oc, oh, ow, s.n, s.oc, s.oh, s.ow);
    ok = FALSE;
  }
  ok = ok && choose_algo (b, &s);
  /* A shape whose fused call cuDNN refused in another plan (or batch size
   * of the same bucket) is not tried, nor logged, again. */
  s.fused = !(s.choice && s.choice->unfused);
  if (!ok) {
    step_clear (&s);
    return FALSE;
  }
  b->plan->workspace = MAX (b->plan->workspace, s.workspace);
  account (b, s.n, s.oh, s.ow, s.oc);
  g_array_append_val (b->plan->steps, s);
  *out = (Tensor) {
  s.dst, s.oh, s.ow, s.oc};
  return TRUE;
}

static gboolean
plan_maxpool (Builder *b, const Tensor *src, Tensor *out)
{
  Step s = {.kind = STEP_MAXPOOL,.src = src->buffer,.residual = -1,
    .n = b->plan->n,.ih = src->h,.iw = src->w,.ic = src->c,.oc = src->c
  };
  int avoid[2] = { src->buffer, -1 };
  s.dst = free_buffer (avoid);
  s.oh = (s.ih + 2 - 3) / 2 + 1;
  s.ow = (s.iw + 2 - 3) / 2 + 1;
  if (!tensor_desc (b, &s.x, s.n, s.ic, s.ih, s.iw, "maxpool")
      || !tensor_desc (b, &s.y, s.n, s.oc, s.oh, s.ow, "maxpool")) {
    step_clear (&s);
    return FALSE;
  }
  account (b, s.n, s.oh, s.ow, s.oc);
  g_array_append_val (b->plan->steps, s);
  *out = (Tensor) {
  s.dst, s.oh, s.ow, s.oc};
  return TRUE;
}

static gboolean
plan_block (Builder *b, CudaBlock *blk, const Tensor *x, Tensor *out)
{
  Tensor shortcut = *x, h1, h2;
  int none[1] = { -1 };
  int keep_x[2] = { x->buffer, -1 };

  if (blk->has_downsample
      && !plan_conv (b, &blk->downsample, x, NULL, keep_x, &shortcut))
    return FALSE;
  int keep_shortcut[2] = { shortcut.buffer, -1 };
  if (!plan_conv (b, &blk->conv1, x, NULL, keep_shortcut, &h1))
    return FALSE;
  if (!blk->bottleneck)
    return plan_conv (b, &blk->conv2, &h1, &shortcut, none, out);
  return plan_conv (b, &blk->conv2, &h1, NULL, keep_shortcut, &h2)
      && plan_conv (b, &blk->conv3, &h2, &shortcut, none, out);
}

static Plan *
plan_new (HyrsmBackendCuda *self, int n, GError **error)
{
  Plan *plan = g_new0 (Plan, 1);
  plan->n = n;
  plan->steps = g_array_new (FALSE, TRUE, sizeof (Step));
  Builder b = { self, plan, error };
  Tensor x = { INPUT_BUFFER, self->crop, self->crop, self->stem_channels }, y;
  int none[1] = { -1 };

  gboolean ok = plan_conv (&b, &self->stem, &x, NULL, none, &y)
      && plan_maxpool (&b, &y, &x);
  for (int i = 0; ok && i < self->n_blocks; i++) {
    ok = plan_block (&b, &self->blocks[i], &x, &y);
    x = y;
  }
  if (!ok) {
    hyrsm_cuda_plan_free (plan);
    return NULL;
  }
  Step pool = {.kind = STEP_AVGPOOL,.src = x.buffer,.dst = -1,.residual = -1,
    .n = n,.ih = x.h,.iw = x.w,.ic = x.c,.oc = x.c
  };
  g_array_append_val (plan->steps, pool);
  return plan;
}

static void
forget_graphs (HyrsmBackendCuda *self)
{
  GHashTableIter iter;
  gpointer plan;
  g_hash_table_iter_init (&iter, self->plans);
  while (g_hash_table_iter_next (&iter, NULL, &plan))
    plan_drop_graph (plan);
}

/* The plan for batch @n (built on first use) with every buffer it needs.
 * Called with the lock held. */
Plan *
hyrsm_cuda_get_plan (HyrsmBackendCuda *self, int n, GError **error)
{
  Plan *plan = g_hash_table_lookup (self->plans, GINT_TO_POINTER (n));
  if (plan == NULL) {
    plan = plan_new (self, n, error);
    if (plan == NULL)
      return NULL;
    g_hash_table_insert (self->plans, GINT_TO_POINTER (n), plan);
  }
  gboolean grown = FALSE, ok = TRUE;
  /* All activation buffers share one size: grow each to the plan's need. */
  for (int i = 0; ok && i < N_BUFFERS; i++) {
    size_t have = self->buffer_bytes;
    ok = hyrsm_cuda_ensure_device (&self->buffers[i], &have,
        plan->buffer_bytes, &grown, "activations", error);
  }
  if (ok && plan->buffer_bytes > self->buffer_bytes)
    self->buffer_bytes = plan->buffer_bytes;
  ok = ok && hyrsm_cuda_ensure_device (&self->input, &self->input_bytes,
      (size_t) n * self->crop * self->crop * self->stem_channels * self->elem,
      &grown, "the network input", error)
      && hyrsm_cuda_ensure_device ((void **) &self->features,
      &self->features_bytes, (size_t) n * self->feature_dim * sizeof (float),
      &grown, "features", error)
      && hyrsm_cuda_ensure_device (&self->workspace, &self->workspace_bytes,
      MAX (plan->workspace, 1), &grown, "the cuDNN workspace", error);
  if (grown)
    forget_graphs (self);
  /* New memory holds whatever was there. A convolution without a residual
   * passes its output as the fused call's z with alpha2 = 0, and 0 times a
   * NaN left in memory is still NaN: start every grown buffer at zero. */
  for (int i = 0; ok && grown && i < N_BUFFERS; i++)
    ok = HYRSM_CUDA_CHECK (cudaMemsetAsync (self->buffers[i], 0,
            self->buffer_bytes, self->stream), error,
        "clearing the activations");
  ok = ok && (!grown || HYRSM_CUDA_CHECK (cudaMemsetAsync (self->input, 0,
              self->input_bytes, self->stream), error, "clearing the input"));
  if (!ok) {
    /* A buffer may now be smaller than another plan recorded: start over
     * from nothing at the next call. */
    for (int i = 0; i < N_BUFFERS; i++) {
      if (self->buffers[i])
        cudaFree (self->buffers[i]);
      self->buffers[i] = NULL;
    }
    self->buffer_bytes = 0;
    forget_graphs (self);
    return NULL;
  }
  return plan;
}

/* ---- running ---- */

static void *
buffer (HyrsmBackendCuda *self, int id)
{
  return id == INPUT_BUFFER ? self->input : self->buffers[id];
}

static gboolean
run_conv (HyrsmBackendCuda *self, Step *s, GError **error)
{
  const float one = 1.0f, zero = 0.0f;
  CudaConv *c = s->conv;
  void *x = buffer (self, s->src), *y = buffer (self, s->dst);

  if (c->bias == NULL)          /* downsample: its bias went to the block's end */
    return HYRSM_CUDNN_CHECK (cudnnConvolutionForward (self->cudnn, &one,
            s->x, x, c->wdesc, c->weight, s->cdesc, s->algo, self->workspace,
            s->workspace, &zero, s->y, y), error, "%s (batch %d)", c->name,
        s->n);

  void *z = s->residual >= 0 ? buffer (self, s->residual) : y;
  const float alpha2 = s->residual >= 0 ? 1.0f : 0.0f;
  if (s->fused) {
    cudnnStatus_t status = cudnnConvolutionBiasActivationForward (self->cudnn,
        &one, s->x, x, c->wdesc, c->weight, s->cdesc, s->algo,
        self->workspace, s->workspace, &alpha2, s->y, z, c->bdesc, c->bias,
        self->relu, s->y, y);
    int category = CUDNN_STATUS_CATEGORY (status);
    if (status == CUDNN_STATUS_SUCCESS)
      return TRUE;
    if (category != CUDNN_STATUS_NOT_SUPPORTED
        && category != CUDNN_STATUS_BAD_PARAM)
      return HYRSM_CUDNN_CHECK (status, error, "%s (batch %d)", c->name, s->n);
    g_info ("cuda backend: %s (batch %d): fused convolution + bias + ReLU "
        "refused (%s): running the convolution and the epilogue apart",
        c->name, s->n, cudnnGetErrorString (status));
    s->fused = FALSE;
    if (s->choice)
      s->choice->unfused = TRUE;
  }
  return HYRSM_CUDNN_CHECK (cudnnConvolutionForward (self->cudnn, &one, s->x,
          x, c->wdesc, c->weight, s->cdesc, s->algo, self->workspace,
          s->workspace, &zero, s->y, y), error, "%s (batch %d)", c->name, s->n)
      && HYRSM_CUDA_CHECK (hyrsm_cuda_bias_act (y, self->kdtype, c->bias,
          s->residual >= 0 ? z : NULL, (size_t) s->n * s->oh * s->ow, s->oc,
          TRUE, self->stream), error, "%s epilogue (batch %d)", c->name,
      s->n);
}

/* Enqueues every step of @plan: input (self->input) -> self->features. */
static gboolean
plan_enqueue (HyrsmBackendCuda *self, Plan *plan, GError **error)
{
  const float one = 1.0f, zero = 0.0f;
  for (guint i = 0; i < plan->steps->len; i++) {
    Step *s = &g_array_index (plan->steps, Step, i);
    gboolean ok = TRUE;
    switch (s->kind) {
      case STEP_CONV:
        ok = run_conv (self, s, error);
        break;
      case STEP_MAXPOOL:
        ok = HYRSM_CUDNN_CHECK (cudnnPoolingForward (self->cudnn,
                self->maxpool, &one, s->x, buffer (self, s->src), &zero, s->y,
                buffer (self, s->dst)), error, "maxpool (batch %d)", s->n);
        break;
      case STEP_AVGPOOL:
        ok = HYRSM_CUDA_CHECK (hyrsm_cuda_avgpool_nhwc (buffer (self, s->src),
                self->kdtype, s->n, s->ih * s->iw, s->ic, self->features,
                self->stream), error, "global average pool (batch %d)", s->n);
        break;
    }
    if (!ok)
      return FALSE;
  }
  return TRUE;
}

/* Records @plan into a CUDA graph; on any failure the plan keeps running
 * eagerly (graphs are an optimization, never a requirement). */
static void
plan_capture (HyrsmBackendCuda *self, Plan *plan)
{
  cudaGraph_t graph = NULL;
  GError *error = NULL;
  plan->graph_tried = TRUE;
  if (cudaStreamBeginCapture (self->stream,
          cudaStreamCaptureModeThreadLocal) != cudaSuccess) {
    (void) cudaGetLastError ();
    return;
  }
  gboolean ok = plan_enqueue (self, plan, &error);
  cudaError_t status = cudaStreamEndCapture (self->stream, &graph);
  if (ok && status == cudaSuccess && graph)
    status = cudaGraphInstantiate (&plan->graph, graph, 0);
  if (graph)
    cudaGraphDestroy (graph);
  if (!ok || status != cudaSuccess) {
    g_info ("cuda backend: batch %d runs without a CUDA graph: %s",
        plan->n, error ? error->message : cudaGetErrorString (status));
    (void) cudaGetLastError ();
    plan->graph = NULL;
  }
  g_clear_error (&error);
}

/* Runs @plan on what self->input holds; the features land in
 * self->features (asynchronously). */
gboolean
hyrsm_cuda_plan_run (HyrsmBackendCuda *self, Plan *plan, GError **error)
{
  if (plan->ran && !plan->graph_tried && self->use_graphs)
    plan_capture (self, plan);
  if (plan->graph)
    return HYRSM_CUDA_CHECK (cudaGraphLaunch (plan->graph, self->stream),
        error, "backbone graph (batch %d)", plan->n);
  if (!plan_enqueue (self, plan, error))
    return FALSE;
  plan->ran = TRUE;
  return TRUE;
}

/* Copies @n feature rows to @out and waits for the stream: the point where
 * an asynchronous fault of any earlier step surfaces. */
gboolean
hyrsm_cuda_download_features (HyrsmBackendCuda *self, int n, float *out,
    GError **error)
{
  size_t bytes = (size_t) n * self->feature_dim * sizeof (float);
  if (!hyrsm_cuda_ensure_pinned (&self->pinned_out, &self->pinned_out_bytes,
          bytes, "features", error)
      || !HYRSM_CUDA_CHECK (cudaMemcpyAsync (self->pinned_out,
              self->features, bytes, cudaMemcpyDeviceToHost, self->stream),
          error, "copying features to the host")
      || !HYRSM_CUDA_CHECK (cudaStreamSynchronize (self->stream), error,
          "running the backbone on %d frames", n))
    return FALSE;
  memcpy (out, self->pinned_out, bytes);
  return TRUE;
}

/* Builds the batch-1 plan and runs it once on zeros, so that a
 * configuration cuDNN cannot run, or a device without the memory, is an
 * error at load time (and `auto` can fall back to the CPU). */
gboolean
hyrsm_cuda_warm_up (HyrsmBackendCuda *self, GError **error)
{
  Plan *plan = hyrsm_cuda_get_plan (self, 1, error);
  return plan != NULL
      && HYRSM_CUDA_CHECK (cudaMemsetAsync (self->input, 0,
          self->input_bytes, self->stream), error, "clearing the input")
      && hyrsm_cuda_plan_run (self, plan, error)
      && HYRSM_CUDA_CHECK (cudaStreamSynchronize (self->stream), error,
      "the first backbone run");
}

gboolean
hyrsm_backend_cuda_time_backbone (HyrsmBackend *backend, int n, int warmup,
    int iters, double *seconds_per_run, GError **error)
{
  HyrsmBackendCuda *self = (HyrsmBackendCuda *) backend;
  g_return_val_if_fail (backend->ops == &hyrsm_backend_cuda_ops, FALSE);
  if (!hyrsm_cuda_check_embed_args (self, n, error))
    return FALSE;
  if (n > MAX_BATCH || iters < 1) {
    g_set_error (error, HYRSM_ERROR, HYRSM_ERROR_INVALID_ARGUMENT,
        "cuda backend: timing needs 1 <= batch <= %d and iters >= 1",
        MAX_BATCH);
    return FALSE;
  }
  if (!hyrsm_cuda_lock (self, error))
    return FALSE;
  cudaEvent_t start = NULL, stop = NULL;
  float ms = 0.0f;
  Plan *plan = hyrsm_cuda_get_plan (self, n, error);
  /* Any finite input will do: bytes 0x30 are 0.13 in float16 and 6e-10 in
   * float32. */
  gboolean ok = plan != NULL
      && HYRSM_CUDA_CHECK (cudaMemsetAsync (self->input, 0x30,
          self->input_bytes, self->stream), error, "filling the input")
      && HYRSM_CUDA_CHECK (cudaEventCreate (&start), error, "event")
      && HYRSM_CUDA_CHECK (cudaEventCreate (&stop), error, "event");
  for (int i = 0; ok && i < warmup; i++)
    ok = hyrsm_cuda_plan_run (self, plan, error);
  ok = ok && HYRSM_CUDA_CHECK (cudaEventRecord (start, self->stream), error,
      "event");
  for (int i = 0; ok && i < iters; i++)
    ok = hyrsm_cuda_plan_run (self, plan, error);
  ok = ok && HYRSM_CUDA_CHECK (cudaEventRecord (stop, self->stream), error,
      "event")
      && HYRSM_CUDA_CHECK (cudaEventSynchronize (stop), error,
      "timing the backbone at batch %d", n)
      && HYRSM_CUDA_CHECK (cudaEventElapsedTime (&ms, start, stop), error,
      "event time");
  if (ok)
    *seconds_per_run = ms / 1000.0 / iters;
  if (start)
    cudaEventDestroy (start);
  if (stop)
    cudaEventDestroy (stop);
  g_mutex_unlock (&self->lock);
  return ok;
}
