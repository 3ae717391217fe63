/* hyrsm-backend-cuda.c: the CUDA backend: cuDNN backbone, cuBLAS GEMMs,
 * kernels/ for pre-processing and the small fused operations, and the
 * relation head's attention blocks (docs/model.md sections 4 and 5).
 *
 * Backbone (docs/model.md section 3). Activations are NHWC, float16 by default
 * (tensor cores, float accumulation) or float32 (precision fp32; FMA
 * math only, no TF32, for 1e-4 parity with the CPU). Weights are uploaded
 * once at create(), in KRSC (the NHWC filter layout), with BatchNorm
 * already folded by the loader. The stem's 3 input channels are padded with
 * zeros to 8 (fp16) or 4 (fp32) so that tensor-core kernels apply.
 *
 * Each convolution with a ReLU is one cudnnConvolutionBiasActivationForward:
 * y = ReLU (conv (x) + bias + z), z being the block's shortcut for the last
 * convolution of a residual block. A downsample convolution has no bias of
 * its own: its bias is added to the bias of the block's last convolution,
 * which sums the two branches anyway, so it is a plain
 * cudnnConvolutionForward (the fused call's identity activation would
 * restrict the algorithm). Where cuDNN refuses the fused call for a
 * configuration, that step falls back to the plain convolution followed by
 * hyrsm_cuda_bias_act, once and for good.
 *
 * A "plan" per batch size holds the descriptors and chosen algorithms of
 * every step. Algorithms are chosen once per convolution shape, with the
 * batch rounded up to a power of two so that live batches of varying size
 * share them, by cudnnFindConvolutionForwardAlgorithm (or cuDNN's
 * heuristics with HYRSM_CUDNN_FIND=0). Activations use four device buffers
 * and one workspace shared by all plans, grown when a larger batch needs
 * more. After its first (eager) run, a plan is captured into a CUDA graph
 * and replayed (HYRSM_CUDA_GRAPHS=0 disables); growing a buffer drops the
 * graphs, which are captured again.
 *
 * Host data moves through pinned staging buffers with asynchronous copies
 * on the backend's one stream (weights too, with copy_up: never on the
 * legacy default stream, which our non-blocking stream does not wait
 * for); every entry point holds the backend's lock
 * and makes the backend's device current, so any thread may call it.
 * Every CUDA, cuDNN and cuBLAS status is checked and becomes a GError
 * naming the operation (hyrsm-cuda-check.h); nothing aborts.
 */
#include "hyrsm-backend-cuda.h"
#include "hyrsm-error.h"

#define HYRSM_CUDA_ERROR_DOMAIN HYRSM_ERROR
#define HYRSM_CUDA_ERROR_CODE HYRSM_ERROR_BACKEND
#include "hyrsm-cuda-check.h"
#include "hyrsm-kernels.h"

#include <string.h>

#define MAX_BATCH 256           /* frames per backbone run; more are split */
#define N_BUFFERS 4             /* activation buffers (a block needs 3 + 1) */
#define INPUT_BUFFER N_BUFFERS  /* buffer id of the network input */
#define WORKSPACE_LIMIT ((size_t) 1 << 30)
#define STAGING_LIMIT ((size_t) 256 << 20)      /* raw frames per chunk */

G_STATIC_ASSERT ((int) HYRSM_PIXEL_NV12 == (int) HYRSM_KERNEL_PIXEL_NV12);
G_STATIC_ASSERT ((int) HYRSM_PIXEL_BGRA == (int) HYRSM_KERNEL_PIXEL_BGRA);
G_STATIC_ASSERT ((int) HYRSM_YUV_BT709 == (int) HYRSM_KERNEL_YUV_BT709);

typedef struct
{
  char *name;                   /* torchvision name, for messages */
  int ic;                       /* input channels on the device (padded) */
  int oc, kernel, stride, padding;
  void *weight;                 /* oc x kernel x kernel x ic, element type */
  void *bias;                   /* oc; NULL for a downsample */
  cudnnFilterDescriptor_t wdesc;
  cudnnTensorDescriptor_t bdesc;
} CudaConv;

typedef struct
{
  CudaConv conv1, conv2, conv3, downsample;
  gboolean bottleneck;
  gboolean has_downsample;
} CudaBlock;

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

typedef struct
{
  int n;
  GArray *steps;                /* Step */
  size_t buffer_bytes;          /* largest activation */
  size_t workspace;
  gboolean ran;                 /* one eager run done: fused flags settled */
  gboolean graph_tried;
  cudaGraphExec_t graph;
} Plan;

typedef struct
{
  void *data;
  size_t bytes;
} DeviceCopy;

typedef struct
{
  HyrsmBackend parent;

  GMutex lock;
  int device;
  char *description;
  HyrsmPrecision precision;
  cudnnDataType_t dtype;
  int kdtype;                   /* HyrsmKernelDtype */
  size_t elem;                  /* bytes per activation element */
  gboolean use_find, use_graphs;

  cudaStream_t stream;
  cudnnHandle_t cudnn;
  cublasHandle_t cublas;
  cudnnActivationDescriptor_t relu;
  cudnnPoolingDescriptor_t maxpool;

  gboolean has_backbone;
  int crop;
  int feature_dim;
  int stem_channels;            /* padded input channels */
  CudaConv stem;
  int n_blocks;
  CudaBlock *blocks;

  GHashTable *plans;            /* batch size -> Plan */
  GHashTable *algos;            /* shape key -> AlgoChoice */
  GHashTable *weights;          /* host pointer -> DeviceCopy (gemm_nt_weight) */

  void *buffers[N_BUFFERS];
  size_t buffer_bytes;
  void *input;                  /* n x crop x crop x stem_channels */
  size_t input_bytes;
  float *features;              /* n x D */
  size_t features_bytes;
  void *workspace;
  size_t workspace_bytes;
  void *staging;                /* device: raw frames, NCHW input, GEMM operands */
  size_t staging_bytes;
  void *pinned_in, *pinned_out; /* host staging */
  size_t pinned_in_bytes, pinned_out_bytes;
  float *relation;              /* the relation head's activations */
  size_t relation_bytes;
} HyrsmBackendCuda;

static void cuda_destroy (HyrsmBackend *backend);

/* ---- devices ---- */

int
hyrsm_cuda_device_count (char **reason)
{
  int count = 0;
  cudaError_t status = cudaGetDeviceCount (&count);
  if (status != cudaSuccess) {
    /* No driver, an old driver (error 35 on machines without a GPU), ...:
     * all mean "no usable device" here. */
    (void) cudaGetLastError ();
    if (reason)
      *reason = g_strdup_printf ("%s (%s)", cudaGetErrorName (status),
          cudaGetErrorString (status));
    return 0;
  }
  if (count <= 0 && reason)
    *reason = g_strdup ("the CUDA driver reports no device");
  return MAX (count, 0);
}

HyrsmPrecision
hyrsm_cuda_default_precision (void)
{
  const char *p = g_getenv ("HYRSM_PRECISION");
  if (p && (g_ascii_strcasecmp (p, "fp32") == 0
          || g_ascii_strcasecmp (p, "float32") == 0))
    return HYRSM_PRECISION_FP32;
  return HYRSM_PRECISION_FP16;
}

static gboolean
env_flag (const char *name, gboolean fallback)
{
  const char *v = g_getenv (name);
  if (v == NULL || *v == '\0')
    return fallback;
  return !(g_str_equal (v, "0") || g_ascii_strcasecmp (v, "false") == 0
      || g_ascii_strcasecmp (v, "no") == 0);
}

/* ---- memory ---- */

/* Makes *@ptr a device buffer of at least @need bytes (contents lost when
 * it grows). Sets *@grown when it did. */
static gboolean
ensure_device (void **ptr, size_t *have, size_t need, gboolean *grown,
    const char *what, GError **error)
{
  if (need <= *have)
    return TRUE;
  if (*ptr)
    cudaFree (*ptr);
  *ptr = NULL;
  *have = 0;
  if (!HYRSM_CUDA_CHECK (cudaMalloc (ptr, need), error,
          "allocating %" G_GSIZE_FORMAT " bytes of device memory for %s",
          need, what)) {
    *ptr = NULL;
    return FALSE;
  }
  *have = need;
  if (grown)
    *grown = TRUE;
  return TRUE;
}

static gboolean
ensure_pinned (void **ptr, size_t *have, size_t need, const char *what,
    GError **error)
{
  if (need <= *have)
    return TRUE;
  if (*ptr)
    cudaFreeHost (*ptr);
  *ptr = NULL;
  *have = 0;
  if (!HYRSM_CUDA_CHECK (cudaHostAlloc (ptr, need, cudaHostAllocDefault),
          error, "allocating %" G_GSIZE_FORMAT " bytes of pinned memory for %s",
          need, what)) {
    *ptr = NULL;
    return FALSE;
  }
  *have = need;
  return TRUE;
}

/* Copies @bytes of host memory (pageable) to device memory @dev on the
 * backend's stream and waits for it. Every weight goes up this way: a plain
 * cudaMemcpy runs on the legacy default stream, which the backend's
 * non-blocking stream does not wait for, so a kernel or cuBLAS call on our
 * stream could read the weight before it has arrived. */
static gboolean
copy_up (HyrsmBackendCuda *self, void *dev, const void *host, size_t bytes,
    const char *what, GError **error)
{
  return HYRSM_CUDA_CHECK (cudaMemcpyAsync (dev, host, bytes,
          cudaMemcpyHostToDevice, self->stream), error, "uploading %s", what)
      && HYRSM_CUDA_CHECK (cudaStreamSynchronize (self->stream), error,
      "uploading %s", what);
}

/* Copies @count floats to a new device array of the backend's element
 * type: float32 as is, float16 converted on the device. */
static gboolean
upload (HyrsmBackendCuda *self, const float *host, size_t count, void **out,
    const char *what, GError **error)
{
  float *tmp = NULL;
  *out = NULL;
  if (!HYRSM_CUDA_CHECK (cudaMalloc ((void **) &tmp, count * sizeof (float)),
          error, "allocating %s", what))
    return FALSE;
  gboolean ok = copy_up (self, tmp, host, count * sizeof (float), what,
      error);
  if (ok && self->precision == HYRSM_PRECISION_FP32) {
    *out = tmp;
    return TRUE;
  }
  ok = ok && HYRSM_CUDA_CHECK (cudaMalloc (out, count * 2), error,
      "allocating %s", what)
      && HYRSM_CUDA_CHECK (hyrsm_cuda_f32_to_f16 (tmp, count, *out,
          self->stream), error, "converting %s to float16", what)
      && HYRSM_CUDA_CHECK (cudaStreamSynchronize (self->stream), error,
      "converting %s to float16", what);
  cudaFree (tmp);
  if (!ok && *out) {
    cudaFree (*out);
    *out = NULL;
  }
  return ok;
}

/* ---- weights ---- */

static void
conv_clear (CudaConv *c)
{
  if (c->weight)
    cudaFree (c->weight);
  if (c->bias)
    cudaFree (c->bias);
  if (c->wdesc)
    cudnnDestroyFilterDescriptor (c->wdesc);
  if (c->bdesc)
    cudnnDestroyTensorDescriptor (c->bdesc);
  g_free (c->name);
  memset (c, 0, sizeof *c);
}

/* Uploads @w as KRSC with @ic input channels (>= w's, zero padded). The
 * bias is w's plus @extra_bias (the folded downsample bias) when @with_bias;
 * takes @name. */
static gboolean
conv_init (HyrsmBackendCuda *self, CudaConv *c, const HyrsmConv *w, int ic,
    gboolean with_bias, const float *extra_bias, char *name, GError **error)
{
  int K = w->kernel, wic = w->in_channels;
  size_t count = (size_t) w->out_channels * K * K * ic;
  c->name = name;
  c->ic = ic;
  c->oc = w->out_channels;
  c->kernel = K;
  c->stride = w->stride;
  c->padding = w->padding;

  float *krsc = g_new0 (float, count);
  for (int o = 0; o < c->oc; o++)
    for (int i = 0; i < wic; i++)
      for (int r = 0; r < K; r++)
        for (int s = 0; s < K; s++)
          krsc[(((size_t) o * K + r) * K + s) * ic + i] =
              w->weight[(((size_t) o * wic + i) * K + r) * K + s];
  g_autofree char *what = g_strdup_printf ("the weights of %s", name);
  gboolean ok = upload (self, krsc, count, &c->weight, what, error);
  g_free (krsc);
  if (ok && with_bias) {
    float *bias = g_new (float, c->oc);
    for (int o = 0; o < c->oc; o++)
      bias[o] = w->bias[o] + (extra_bias ? extra_bias[o] : 0.0f);
    g_autofree char *bwhat = g_strdup_printf ("the bias of %s", name);
    ok = upload (self, bias, c->oc, &c->bias, bwhat, error);
    g_free (bias);
  }
  return ok
      && HYRSM_CUDNN_CHECK (cudnnCreateFilterDescriptor (&c->wdesc), error,
      "filter descriptor of %s", name)
      && HYRSM_CUDNN_CHECK (cudnnSetFilter4dDescriptor (c->wdesc, self->dtype,
          CUDNN_TENSOR_NHWC, c->oc, ic, K, K), error,
      "filter descriptor of %s", name)
      && HYRSM_CUDNN_CHECK (cudnnCreateTensorDescriptor (&c->bdesc), error,
      "bias descriptor of %s", name)
      && HYRSM_CUDNN_CHECK (cudnnSetTensor4dDescriptor (c->bdesc,
          CUDNN_TENSOR_NHWC, self->dtype, 1, c->oc, 1, 1), error,
      "bias descriptor of %s", name);
}

static gboolean
load_backbone (HyrsmBackendCuda *self, const HyrsmBackboneWeights *w,
    GError **error)
{
  self->has_backbone = TRUE;
  self->feature_dim = w->feature_dim;
  self->stem_channels = self->precision == HYRSM_PRECISION_FP16 ? 8 : 4;
  self->n_blocks = w->n_blocks;
  self->blocks = g_new0 (CudaBlock, w->n_blocks);
  if (!conv_init (self, &self->stem, &w->stem, self->stem_channels, TRUE,
          NULL, hyrsm_resnet_module_name (0, 0, HYRSM_RESNET_CONV1), error))
    return FALSE;
  int k = 0;
  for (int layer = 1; layer <= 4; layer++) {
    for (int i = 0; i < w->blocks_per_layer[layer - 1]; i++, k++) {
      const HyrsmBlock *src = &w->blocks[k];
      CudaBlock *dst = &self->blocks[k];
      const float *ds_bias = src->has_downsample ? src->downsample.bias : NULL;
      dst->bottleneck = src->bottleneck;
      dst->has_downsample = src->has_downsample;
      if (!conv_init (self, &dst->conv1, &src->conv1,
              src->conv1.in_channels, TRUE, NULL,
              hyrsm_resnet_module_name (layer, i, HYRSM_RESNET_CONV1), error)
          || !conv_init (self, &dst->conv2, &src->conv2,
              src->conv2.in_channels, TRUE, src->bottleneck ? NULL : ds_bias,
              hyrsm_resnet_module_name (layer, i, HYRSM_RESNET_CONV2), error)
          || (src->bottleneck && !conv_init (self, &dst->conv3, &src->conv3,
                  src->conv3.in_channels, TRUE, ds_bias,
                  hyrsm_resnet_module_name (layer, i, HYRSM_RESNET_CONV3),
                  error))
          || (src->has_downsample && !conv_init (self, &dst->downsample,
                  &src->downsample, src->downsample.in_channels, FALSE, NULL,
                  hyrsm_resnet_module_name (layer, i,
                      HYRSM_RESNET_DOWNSAMPLE), error)))
        return FALSE;
    }
  }
  return TRUE;
}

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

static void
plan_free (gpointer data)
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
    plan_free (plan);
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
static Plan *
get_plan (HyrsmBackendCuda *self, int n, GError **error)
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
    ok = ensure_device (&self->buffers[i], &have, plan->buffer_bytes, &grown,
        "activations", error);
  }
  if (ok && plan->buffer_bytes > self->buffer_bytes)
    self->buffer_bytes = plan->buffer_bytes;
  ok = ok && ensure_device (&self->input, &self->input_bytes,
      (size_t) n * self->crop * self->crop * self->stem_channels * self->elem,
      &grown, "the network input", error)
      && ensure_device ((void **) &self->features, &self->features_bytes,
      (size_t) n * self->feature_dim * sizeof (float), &grown, "features",
      error)
      && ensure_device (&self->workspace, &self->workspace_bytes,
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
static gboolean
plan_run (HyrsmBackendCuda *self, Plan *plan, GError **error)
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
static gboolean
download_features (HyrsmBackendCuda *self, int n, float *out, GError **error)
{
  size_t bytes = (size_t) n * self->feature_dim * sizeof (float);
  if (!ensure_pinned (&self->pinned_out, &self->pinned_out_bytes, bytes,
          "features", error)
      || !HYRSM_CUDA_CHECK (cudaMemcpyAsync (self->pinned_out,
              self->features, bytes, cudaMemcpyDeviceToHost, self->stream),
          error, "copying features to the host")
      || !HYRSM_CUDA_CHECK (cudaStreamSynchronize (self->stream), error,
          "running the backbone on %d frames", n))
    return FALSE;
  memcpy (out, self->pinned_out, bytes);
  return TRUE;
}

static gboolean
lock_device (HyrsmBackendCuda *self, GError **error)
{
  g_mutex_lock (&self->lock);
  if (HYRSM_CUDA_CHECK (cudaSetDevice (self->device), error,
          "selecting device cuda:%d", self->device))
    return TRUE;
  g_mutex_unlock (&self->lock);
  return FALSE;
}

static gboolean
check_embed_args (HyrsmBackendCuda *self, int n, GError **error)
{
  if (!self->has_backbone) {
    g_set_error (error, HYRSM_ERROR, HYRSM_ERROR_NO_BACKBONE,
        "cuda backend: the model has no backbone to embed frames with");
    return FALSE;
  }
  if (n <= 0) {
    g_set_error (error, HYRSM_ERROR, HYRSM_ERROR_INVALID_ARGUMENT,
        "cuda backend: embed needs at least one frame, got %d", n);
    return FALSE;
  }
  return TRUE;
}

/* ---- vtable ---- */

static gboolean
cuda_embed (HyrsmBackend *backend, const float *frames, int n,
    float *features, GError **error)
{
  HyrsmBackendCuda *self = (HyrsmBackendCuda *) backend;
  if (!check_embed_args (self, n, error) || !lock_device (self, error))
    return FALSE;
  size_t frame_floats = (size_t) 3 * self->crop * self->crop;
  gboolean ok = TRUE;
  for (int done = 0; ok && done < n;) {
    int chunk = MIN (n - done, MAX_BATCH);
    size_t bytes = chunk * frame_floats * sizeof (float);
    Plan *plan = get_plan (self, chunk, error);
    ok = plan != NULL
        && ensure_pinned (&self->pinned_in, &self->pinned_in_bytes, bytes,
        "frames", error)
        && ensure_device (&self->staging, &self->staging_bytes, bytes, NULL,
        "frames", error);
    if (!ok)
      break;
    memcpy (self->pinned_in, frames + done * frame_floats, bytes);
    ok = HYRSM_CUDA_CHECK (cudaMemcpyAsync (self->staging, self->pinned_in,
            bytes, cudaMemcpyHostToDevice, self->stream), error,
        "copying %d frames to the device", chunk)
        && HYRSM_CUDA_CHECK (hyrsm_cuda_nchw_to_nhwc (self->staging, chunk, 3,
            self->crop, self->crop, self->stem_channels, self->kdtype,
            self->input, self->stream), error, "NCHW -> NHWC (batch %d)",
        chunk)
        && plan_run (self, plan, error)
        && download_features (self, chunk,
        features + (size_t) done * self->feature_dim, error);
    done += chunk;
  }
  g_mutex_unlock (&self->lock);
  return ok;
}

/* Rows and bytes per row of each plane of a @width x @height frame. */
static int
frame_planes (HyrsmPixelFormat format, int width, int height, int rows[3],
    int row_bytes[3])
{
  int cw = (width + 1) / 2, ch = (height + 1) / 2;
  rows[0] = height;
  switch (format) {
    case HYRSM_PIXEL_I420:
      row_bytes[0] = width;
      rows[1] = rows[2] = ch;
      row_bytes[1] = row_bytes[2] = cw;
      return 3;
    case HYRSM_PIXEL_NV12:
      row_bytes[0] = width;
      rows[1] = ch;
      row_bytes[1] = 2 * cw;
      return 2;
    default:
      row_bytes[0] = width * hyrsm_kernel_pixel_bytes (format);
      return 1;
  }
}

static gboolean
cuda_embed_frames (HyrsmBackend *backend, HyrsmPixelFormat format,
    HyrsmYuvMatrix matrix, const HyrsmFramePlanes *frames, int n, int width,
    int height, int resize, const float mean[3], const float std[3],
    float *features, GError **error)
{
  HyrsmBackendCuda *self = (HyrsmBackendCuda *) backend;
  int rows[3] = { 0 }, row_bytes[3] = { 0 };
  if (!check_embed_args (self, n, error))
    return FALSE;
  if ((int) format < 0 || (int) format >= HYRSM_KERNEL_PIXEL_N_FORMATS
      || width < 1 || height < 1 || resize < self->crop) {
    g_set_error (error, HYRSM_ERROR, HYRSM_ERROR_INVALID_ARGUMENT,
        "cuda backend: cannot pre-process %dx%d frames of format %d to "
        "%d -> %d", width, height, (int) format, resize, self->crop);
    return FALSE;
  }
  int n_planes = frame_planes (format, width, height, rows, row_bytes);
  size_t frame_bytes = 0;
  for (int p = 0; p < n_planes; p++)
    frame_bytes += (size_t) rows[p] * row_bytes[p];
  for (int f = 0; f < n; f++)
    for (int p = 0; p < n_planes; p++)
      if (frames[f].plane[p] == NULL || frames[f].stride[p] < row_bytes[p]) {
        g_set_error (error, HYRSM_ERROR, HYRSM_ERROR_INVALID_ARGUMENT,
            "cuda backend: frame %d: plane %d is missing or its stride %d is "
            "below %d bytes", f, p, frames[f].stride[p], row_bytes[p]);
        return FALSE;
      }

  HyrsmPreprocessParams params = {
    .format = format,.yuv_matrix = matrix,.width = width,.height = height,
    .resize = resize,.crop = self->crop,.layout = HYRSM_KERNEL_NHWC,
    .dtype = self->kdtype,.channels = self->stem_channels
  };
  memcpy (params.mean, mean, sizeof params.mean);
  memcpy (params.std, std, sizeof params.std);
  int per_chunk = (int) CLAMP (STAGING_LIMIT / frame_bytes, 1, MAX_BATCH);

  if (!lock_device (self, error))
    return FALSE;
  gboolean ok = TRUE;
  for (int done = 0; ok && done < n;) {
    int chunk = MIN (n - done, per_chunk);
    size_t data_bytes = (chunk * frame_bytes + 15) & ~(size_t) 15;
    size_t bytes = data_bytes + chunk * sizeof (HyrsmKernelFrame);
    Plan *plan = get_plan (self, chunk, error);
    ok = plan != NULL
        && ensure_pinned (&self->pinned_in, &self->pinned_in_bytes, bytes,
        "frames", error)
        && ensure_device (&self->staging, &self->staging_bytes, bytes, NULL,
        "frames", error);
    if (!ok)
      break;
    /* Pack the planes tightly, then describe them at their device
     * addresses after the pixel data: one upload for everything. */
    guint8 *host = self->pinned_in, *dev = self->staging;
    HyrsmKernelFrame *desc = (HyrsmKernelFrame *) (host + data_bytes);
    size_t at = 0;
    for (int f = 0; f < chunk; f++) {
      const HyrsmFramePlanes *src = &frames[done + f];
      memset (&desc[f], 0, sizeof desc[f]);
      for (int p = 0; p < n_planes; p++) {
        desc[f].plane[p] = dev + at;
        desc[f].stride[p] = row_bytes[p];
        for (int r = 0; r < rows[p]; r++, at += row_bytes[p])
          memcpy (host + at, src->plane[p] + (size_t) r * src->stride[p],
              row_bytes[p]);
      }
    }
    ok = HYRSM_CUDA_CHECK (cudaMemcpyAsync (self->staging, self->pinned_in,
            bytes, cudaMemcpyHostToDevice, self->stream), error,
        "copying %d frames to the device", chunk)
        && HYRSM_CUDA_CHECK (hyrsm_cuda_preprocess ((HyrsmKernelFrame *) (dev
                + data_bytes), chunk, &params, self->input, self->stream),
        error, "pre-processing %d frames", chunk)
        && plan_run (self, plan, error)
        && download_features (self, chunk,
        features + (size_t) done * self->feature_dim, error);
    done += chunk;
  }
  g_mutex_unlock (&self->lock);
  return ok;
}

/* The device copy of weight @b (n x k), uploaded at first use. */
static const float *
weight_on_device (HyrsmBackendCuda *self, const float *b, size_t bytes,
    GError **error)
{
  DeviceCopy *copy = g_hash_table_lookup (self->weights, b);
  if (copy && copy->bytes == bytes)
    return copy->data;
  copy = g_new0 (DeviceCopy, 1);
  copy->bytes = bytes;
  if (!HYRSM_CUDA_CHECK (cudaMalloc (&copy->data, bytes), error,
          "allocating a %" G_GSIZE_FORMAT "-byte weight", bytes)
      || !copy_up (self, copy->data, b, bytes, "a weight", error)) {
    if (copy->data)
      cudaFree (copy->data);
    g_free (copy);
    return NULL;
  }
  g_hash_table_replace (self->weights, (gpointer) b, copy);
  return copy->data;
}

static gboolean
gemm (HyrsmBackendCuda *self, int m, int n, int k, const float *a,
    const float *b, float *c, gboolean b_is_weight, GError **error)
{
  if (m <= 0 || n <= 0 || k <= 0) {
    g_set_error (error, HYRSM_ERROR, HYRSM_ERROR_INVALID_ARGUMENT,
        "cuda backend: gemm of %d x %d x %d", m, n, k);
    return FALSE;
  }
  size_t a_bytes = (size_t) m * k * sizeof (float);
  size_t b_bytes = (size_t) n * k * sizeof (float);
  size_t c_bytes = (size_t) m * n * sizeof (float);
  size_t in_bytes = a_bytes + (b_is_weight ? 0 : b_bytes);
  if (!lock_device (self, error))
    return FALSE;
  const float *db = NULL;
  gboolean ok = (!b_is_weight
      || (db = weight_on_device (self, b, b_bytes, error)) != NULL)
      && ensure_pinned (&self->pinned_in, &self->pinned_in_bytes, in_bytes,
      "gemm operands", error)
      && ensure_pinned (&self->pinned_out, &self->pinned_out_bytes, c_bytes,
      "gemm result", error)
      && ensure_device (&self->staging, &self->staging_bytes,
      in_bytes + c_bytes, NULL, "gemm operands", error);
  if (ok) {
    guint8 *dev = self->staging;
    float *da = (float *) dev, *dc = (float *) (dev + in_bytes);
    memcpy (self->pinned_in, a, a_bytes);
    if (!b_is_weight) {
      memcpy ((guint8 *) self->pinned_in + a_bytes, b, b_bytes);
      db = (const float *) (dev + a_bytes);
    }
    const float one = 1.0f, zero = 0.0f;
    /* Row-major C = A B^T is column-major C^T = B A^T: B is k x n
     * column-major (transposed), A^T is k x m column-major. */
    ok = HYRSM_CUDA_CHECK (cudaMemcpyAsync (dev, self->pinned_in, in_bytes,
            cudaMemcpyHostToDevice, self->stream), error,
        "copying gemm operands to the device")
        && HYRSM_CUBLAS_CHECK (cublasSgemm (self->cublas, CUBLAS_OP_T,
            CUBLAS_OP_N, n, m, k, &one, db, k, da, k, &zero, dc, n), error,
        "gemm %d x %d x %d", m, n, k)
        && HYRSM_CUDA_CHECK (cudaMemcpyAsync (self->pinned_out, dc, c_bytes,
            cudaMemcpyDeviceToHost, self->stream), error,
        "copying a gemm result to the host")
        && HYRSM_CUDA_CHECK (cudaStreamSynchronize (self->stream), error,
        "gemm %d x %d x %d", m, n, k);
    if (ok)
      memcpy (c, self->pinned_out, c_bytes);
  }
  g_mutex_unlock (&self->lock);
  return ok;
}

static gboolean
cuda_gemm_nt (HyrsmBackend *backend, int m, int n, int k, const float *a,
    const float *b, float *c, GError **error)
{
  return gemm ((HyrsmBackendCuda *) backend, m, n, k, a, b, c, FALSE, error);
}

static gboolean
cuda_gemm_nt_weight (HyrsmBackend *backend, int m, int n, int k,
    const float *a, const float *b, float *c, GError **error)
{
  return gemm ((HyrsmBackendCuda *) backend, m, n, k, a, b, c, TRUE, error);
}

/* ---- relation head (docs/model.md sections 4 and 5) ---- */

/* Device copies of the head's weights, uploaded at first use and kept
 * (weight_on_device, keyed by the model's arrays). Always float32: the
 * head is small, and float32 keeps its 1e-4 parity in both precisions. */
typedef struct
{
  const float *pe, *pre_w, *pre_b, *qkv, *out_w, *out_b;
  const float *wq, *wk, *wv, *fc_w, *fc_b, *ln_w, *ln_b;
} DeviceHead;

static gboolean
head_on_device (HyrsmBackendCuda *self, const HyrsmHeadWeights *w,
    DeviceHead *d, GError **error)
{
  size_t v = (size_t) w->dim * sizeof (float), m = v * w->dim;
#define UP(field, src, bytes) \
  ((d->field = weight_on_device (self, (src), (bytes), error)) != NULL)
  return UP (pe, w->pe, v * w->pe_rows) && UP (pre_w, w->pre_norm_weight, v)
      && UP (pre_b, w->pre_norm_bias, v) && UP (qkv, w->qkv_weight, 3 * m)
      && UP (out_w, w->out_weight, m) && UP (out_b, w->out_bias, v)
      && UP (wq, w->wq, m) && UP (wk, w->wk, m) && UP (wv, w->wv, m)
      && UP (fc_w, w->fc_weight, m) && UP (fc_b, w->fc_bias, v)
      && UP (ln_w, w->ln_weight, v) && UP (ln_b, w->ln_bias, v);
#undef UP
}

/* C (m x n) = A (m x k) W^T on the device, W a weight (n x k), row-major:
 * column-major C^T = W A^T. */
static gboolean
device_gemm_nt (HyrsmBackendCuda *self, int m, int n, int k, const float *a,
    const float *w, float *c, GError **error)
{
  const float one = 1.0f, zero = 0.0f;
  return HYRSM_CUBLAS_CHECK (cublasSgemm (self->cublas, CUBLAS_OP_T,
          CUBLAS_OP_N, n, m, k, &one, w, k, a, k, &zero, c, n), error,
      "relation gemm %d x %d x %d", m, n, k);
}

/* Locks the device and prepares @floats of relation activations, @in
 * floats of pinned input (filled from @host) and @out floats of pinned
 * output; on success the lock is held and the input is on its way to
 * self->relation. */
static gboolean
relation_begin (HyrsmBackendCuda *self, const HyrsmHeadWeights *w,
    DeviceHead *d, size_t floats, const float *host, size_t in,
    size_t out, GError **error)
{
  if (!lock_device (self, error))
    return FALSE;
  if (head_on_device (self, w, d, error)
      && ensure_device ((void **) &self->relation, &self->relation_bytes,
          floats * sizeof (float), NULL, "the relation head", error)
      && ensure_pinned (&self->pinned_in, &self->pinned_in_bytes,
          in * sizeof (float), "relation input", error)
      && ensure_pinned (&self->pinned_out, &self->pinned_out_bytes,
          out * sizeof (float), "relation output", error)) {
    memcpy (self->pinned_in, host, in * sizeof (float));
    if (HYRSM_CUDA_CHECK (cudaMemcpyAsync (self->relation, self->pinned_in,
                in * sizeof (float), cudaMemcpyHostToDevice, self->stream),
            error, "copying relation input to the device"))
      return TRUE;
  }
  g_mutex_unlock (&self->lock);
  return FALSE;
}

/* Copies @count floats from @dev to @host once the stream has run, and
 * releases the lock relation_begin() took. */
static gboolean
relation_end (HyrsmBackendCuda *self, gboolean ok, const float *dev,
    size_t count, float *host, const char *what, GError **error)
{
  ok = ok && HYRSM_CUDA_CHECK (cudaMemcpyAsync (self->pinned_out, dev,
          count * sizeof (float), cudaMemcpyDeviceToHost, self->stream),
      error, "copying %s to the host", what)
      && HYRSM_CUDA_CHECK (cudaStreamSynchronize (self->stream), error,
      "%s", what);
  if (ok)
    memcpy (host, self->pinned_out, count * sizeof (float));
  g_mutex_unlock (&self->lock);
  return ok;
}

static gboolean
check_relation_args (const HyrsmHeadWeights *w, int rows, int max_rows,
    const char *what, GError **error)
{
  if (w->n_heads < 1 || w->dim % w->n_heads != 0 || rows < 1
      || rows > max_rows) {
    g_set_error (error, HYRSM_ERROR, HYRSM_ERROR_INVALID_ARGUMENT,
        "cuda backend: %s of %d rows (1 to %d) with %d heads over %d "
        "channels", what, rows, max_rows, w->n_heads, w->dim);
    return FALSE;
  }
  return TRUE;
}

static gboolean
cuda_relation_intra (HyrsmBackend *backend, const HyrsmHeadWeights *w,
    int frames, double input_scale, double position_b,
    const float *features, float *s, GError **error)
{
  HyrsmBackendCuda *self = (HyrsmBackendCuda *) backend;
  int T = frames, D = w->dim, heads = w->n_heads;
  size_t td = (size_t) T * D;
  DeviceHead d;
  if (!check_relation_args (w, T, MIN (w->pe_rows,
              HYRSM_RELATION_MAX_TOKENS), "intra-video relation", error)
      || !relation_begin (self, w, &d, 7 * td, features, td, td, error))
    return FALSE;
  /* f | x | z | q k v | y */
  float *f = self->relation, *x = f + td, *z = x + td, *qkv = z + td;
  float *y = qkv + 3 * td;
  gboolean ok =
      /* X = F sqrt (D / A) + B P; Z = LayerNorm (X) */
      HYRSM_CUDA_CHECK (hyrsm_cuda_scale_add (f, (float) input_scale, d.pe,
          (float) position_b, td, x, self->stream), error, "relation input")
      && HYRSM_CUDA_CHECK (hyrsm_cuda_layernorm (x, T, D, d.pre_w, d.pre_b,
          1e-5f, z, self->stream), error, "relation pre-norm")
      /* [Q K V] = Z Wqkv^T; O (into z) = attention; Y = O Wo^T */
      && device_gemm_nt (self, T, 3 * D, D, z, d.qkv, qkv, error)
      && HYRSM_CUDA_CHECK (hyrsm_cuda_attention (qkv, qkv + D, qkv + 2 * D,
          3 * D, T, heads, D / heads, z, D, self->stream), error,
      "intra-video attention")
      && device_gemm_nt (self, T, D, D, z, d.out_w, y, error)
      /* S = ReLU (Y + bo + X) */
      && HYRSM_CUDA_CHECK (hyrsm_cuda_bias_act (y, HYRSM_KERNEL_F32, d.out_b,
          x, T, D, TRUE, self->stream), error, "relation residual");
  return relation_end (self, ok, y, td, s, "the intra-video relation",
      error);
}

static gboolean
cuda_relation_inter (HyrsmBackend *backend, const HyrsmHeadWeights *w,
    const float *u, int n_tokens, float *g, GError **error)
{
  HyrsmBackendCuda *self = (HyrsmBackendCuda *) backend;
  int D = w->dim, heads = w->n_heads;
  size_t nd = (size_t) n_tokens * D;
  DeviceHead d;
  if (!check_relation_args (w, n_tokens, HYRSM_RELATION_MAX_TOKENS,
          "inter-video relation", error)
      || !relation_begin (self, w, &d, 5 * nd, u, nd, nd, error))
    return FALSE;
  /* u | q | k | v | o */
  float *du = self->relation, *q = du + nd, *k = q + nd, *v = k + nd;
  float *o = v + nd;
  gboolean ok = device_gemm_nt (self, n_tokens, D, D, du, d.wq, q, error)
      && device_gemm_nt (self, n_tokens, D, D, du, d.wk, k, error)
      && device_gemm_nt (self, n_tokens, D, D, du, d.wv, v, error)
      && HYRSM_CUDA_CHECK (hyrsm_cuda_attention (q, k, v, D, n_tokens, heads,
          D / heads, o, D, self->stream), error, "inter-video attention")
      /* G = LayerNorm (O Wf^T + bf + U) (into q); g = ReLU (G), the
       * LayerNorm's bias added with the ReLU */
      && device_gemm_nt (self, n_tokens, D, D, o, d.fc_w, k, error)
      && HYRSM_CUDA_CHECK (hyrsm_cuda_bias_act (k, HYRSM_KERNEL_F32, d.fc_b,
          du, n_tokens, D, FALSE, self->stream), error, "relation residual")
      && HYRSM_CUDA_CHECK (hyrsm_cuda_layernorm (k, n_tokens, D, d.ln_w,
          NULL, 1e-5f, q, self->stream), error, "relation LayerNorm")
      && HYRSM_CUDA_CHECK (hyrsm_cuda_bias_act (q, HYRSM_KERNEL_F32, d.ln_b,
          NULL, n_tokens, D, TRUE, self->stream), error, "relation ReLU");
  return relation_end (self, ok, q, nd, g, "the inter-video relation",
      error);
}

static void
device_copy_free (gpointer data)
{
  DeviceCopy *copy = data;
  cudaFree (copy->data);
  g_free (copy);
}

static void
cuda_destroy (HyrsmBackend *backend)
{
  HyrsmBackendCuda *self = (HyrsmBackendCuda *) backend;
  (void) cudaSetDevice (self->device);
  if (self->stream)
    cudaStreamSynchronize (self->stream);
  if (self->plans)
    g_hash_table_unref (self->plans);
  if (self->algos)
    g_hash_table_unref (self->algos);
  if (self->weights)
    g_hash_table_unref (self->weights);
  conv_clear (&self->stem);
  for (int i = 0; self->blocks && i < self->n_blocks; i++) {
    conv_clear (&self->blocks[i].conv1);
    conv_clear (&self->blocks[i].conv2);
    conv_clear (&self->blocks[i].conv3);
    conv_clear (&self->blocks[i].downsample);
  }
  g_free (self->blocks);
  for (int i = 0; i < N_BUFFERS; i++)
    if (self->buffers[i])
      cudaFree (self->buffers[i]);
  void *device[] = { self->input, self->features, self->workspace,
    self->staging, self->relation
  };
  for (guint i = 0; i < G_N_ELEMENTS (device); i++)
    if (device[i])
      cudaFree (device[i]);
  if (self->pinned_in)
    cudaFreeHost (self->pinned_in);
  if (self->pinned_out)
    cudaFreeHost (self->pinned_out);
  if (self->relu)
    cudnnDestroyActivationDescriptor (self->relu);
  if (self->maxpool)
    cudnnDestroyPoolingDescriptor (self->maxpool);
  if (self->cublas)
    cublasDestroy (self->cublas);
  if (self->cudnn)
    cudnnDestroy (self->cudnn);
  if (self->stream)
    cudaStreamDestroy (self->stream);
  (void) cudaGetLastError ();
  g_free (self->description);
  g_mutex_clear (&self->lock);
  g_free (self);
}

/* Handles, stream and descriptors; the device is current. */
static gboolean
init_runtime (HyrsmBackendCuda *self, GError **error)
{
  return HYRSM_CUDA_CHECK (cudaStreamCreateWithFlags (&self->stream,
          cudaStreamNonBlocking), error, "creating a stream")
      && HYRSM_CUDNN_CHECK (cudnnCreate (&self->cudnn), error,
      "creating the cuDNN handle")
      && HYRSM_CUDNN_CHECK (cudnnSetStream (self->cudnn, self->stream), error,
      "cudnnSetStream")
      && HYRSM_CUBLAS_CHECK (cublasCreate (&self->cublas), error,
      "creating the cuBLAS handle")
      && HYRSM_CUBLAS_CHECK (cublasSetStream (self->cublas, self->stream),
      error, "cublasSetStream")
      /* float32: no TF32 anywhere; float16 mode: TF32 GEMMs. */
      && HYRSM_CUBLAS_CHECK (cublasSetMathMode (self->cublas,
          self->precision == HYRSM_PRECISION_FP16 ? CUBLAS_TF32_TENSOR_OP_MATH
          : CUBLAS_PEDANTIC_MATH), error, "cublasSetMathMode")
      && HYRSM_CUDNN_CHECK (cudnnCreateActivationDescriptor (&self->relu),
      error, "ReLU descriptor")
      && HYRSM_CUDNN_CHECK (cudnnSetActivationDescriptor (self->relu,
          CUDNN_ACTIVATION_RELU, CUDNN_NOT_PROPAGATE_NAN, 0.0), error,
      "ReLU descriptor")
      && HYRSM_CUDNN_CHECK (cudnnCreatePoolingDescriptor (&self->maxpool),
      error, "maxpool descriptor")
      && HYRSM_CUDNN_CHECK (cudnnSetPooling2dDescriptor (self->maxpool,
          CUDNN_POOLING_MAX, CUDNN_NOT_PROPAGATE_NAN, 3, 3, 1, 1, 2, 2),
      error, "maxpool descriptor");
}

/* Builds the batch-1 plan and runs it once on zeros, so that a
 * configuration cuDNN cannot run, or a device without the memory, is an
 * error at load time (and `auto` can fall back to the CPU). */
static gboolean
warm_up (HyrsmBackendCuda *self, GError **error)
{
  Plan *plan = get_plan (self, 1, error);
  return plan != NULL
      && HYRSM_CUDA_CHECK (cudaMemsetAsync (self->input, 0,
          self->input_bytes, self->stream), error, "clearing the input")
      && plan_run (self, plan, error)
      && HYRSM_CUDA_CHECK (cudaStreamSynchronize (self->stream), error,
      "the first backbone run");
}

HyrsmBackend *
hyrsm_backend_cuda_new (const HyrsmBackboneWeights *backbone, int crop,
    int device, HyrsmPrecision precision, GError **error)
{
  g_autofree char *reason = NULL;
  int count = hyrsm_cuda_device_count (&reason);
  if (count == 0) {
    g_set_error (error, HYRSM_ERROR, HYRSM_ERROR_NO_DEVICE,
        "cuda backend: no CUDA device: %s", reason);
    return NULL;
  }
  if (device < 0 || device >= count) {
    g_set_error (error, HYRSM_ERROR, HYRSM_ERROR_NO_DEVICE,
        "cuda backend: there is no device cuda:%d (this machine has %d)",
        device, count);
    return NULL;
  }
  if (!HYRSM_CUDA_CHECK (cudaSetDevice (device), error,
          "selecting device cuda:%d", device))
    return NULL;
  struct cudaDeviceProp prop;
  if (!HYRSM_CUDA_CHECK (cudaGetDeviceProperties (&prop, device), error,
          "reading the properties of cuda:%d", device))
    return NULL;
  cudaError_t probe = hyrsm_cuda_kernels_probe ();
  if (probe != cudaSuccess) {
    (void) cudaGetLastError ();
    g_set_error (error, HYRSM_ERROR, HYRSM_ERROR_NO_DEVICE,
        "cuda backend: cuda:%d (%s, sm_%d%d) cannot run this build's "
        "kernels (%s): rebuild with -Dgpu_sms=... including it", device,
        prop.name, prop.major, prop.minor, cudaGetErrorString (probe));
    return NULL;
  }

  HyrsmBackendCuda *self = g_new0 (HyrsmBackendCuda, 1);
  self->parent.ops = &hyrsm_backend_cuda_ops;
  g_mutex_init (&self->lock);
  self->device = device;
  self->crop = crop;
  self->precision = precision;
  gboolean half = precision == HYRSM_PRECISION_FP16;
  self->dtype = half ? CUDNN_DATA_HALF : CUDNN_DATA_FLOAT;
  self->kdtype = half ? HYRSM_KERNEL_F16 : HYRSM_KERNEL_F32;
  self->elem = half ? 2 : 4;
  self->use_find = env_flag ("HYRSM_CUDNN_FIND", TRUE);
  self->use_graphs = env_flag ("HYRSM_CUDA_GRAPHS", TRUE);
  self->description = g_strdup_printf ("cuda:%d (%s, sm_%d%d, %s)", device,
      prop.name, prop.major, prop.minor, half ? "fp16" : "fp32");
  self->plans = g_hash_table_new_full (NULL, NULL, NULL, plan_free);
  self->algos = g_hash_table_new_full (g_str_hash, g_str_equal, g_free,
      g_free);
  self->weights = g_hash_table_new_full (NULL, NULL, NULL, device_copy_free);

  if (!init_runtime (self, error)
      || (backbone && (!load_backbone (self, backbone, error)
              || !warm_up (self, error)))) {
    cuda_destroy (&self->parent);
    return NULL;
  }
  return &self->parent;
}

static HyrsmBackend *
cuda_create (const HyrsmBackboneWeights *backbone, int crop, GError **error)
{
  return hyrsm_backend_cuda_new (backbone, crop, 0,
      hyrsm_cuda_default_precision (), error);
}

const char *
hyrsm_backend_cuda_describe (HyrsmBackend *backend)
{
  return ((HyrsmBackendCuda *) backend)->description;
}

gboolean
hyrsm_backend_cuda_time_backbone (HyrsmBackend *backend, int n, int warmup,
    int iters, double *seconds_per_run, GError **error)
{
  HyrsmBackendCuda *self = (HyrsmBackendCuda *) backend;
  g_return_val_if_fail (backend->ops == &hyrsm_backend_cuda_ops, FALSE);
  if (!check_embed_args (self, n, error))
    return FALSE;
  if (n > MAX_BATCH || iters < 1) {
    g_set_error (error, HYRSM_ERROR, HYRSM_ERROR_INVALID_ARGUMENT,
        "cuda backend: timing needs 1 <= batch <= %d and iters >= 1",
        MAX_BATCH);
    return FALSE;
  }
  if (!lock_device (self, error))
    return FALSE;
  cudaEvent_t start = NULL, stop = NULL;
  float ms = 0.0f;
  Plan *plan = get_plan (self, n, error);
  /* Any finite input will do: bytes 0x30 are 0.13 in float16 and 6e-10 in
   * float32. */
  gboolean ok = plan != NULL
      && HYRSM_CUDA_CHECK (cudaMemsetAsync (self->input, 0x30,
          self->input_bytes, self->stream), error, "filling the input")
      && HYRSM_CUDA_CHECK (cudaEventCreate (&start), error, "event")
      && HYRSM_CUDA_CHECK (cudaEventCreate (&stop), error, "event");
  for (int i = 0; ok && i < warmup; i++)
    ok = plan_run (self, plan, error);
  ok = ok && HYRSM_CUDA_CHECK (cudaEventRecord (start, self->stream), error,
      "event");
  for (int i = 0; ok && i < iters; i++)
    ok = plan_run (self, plan, error);
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

const HyrsmBackendOps hyrsm_backend_cuda_ops = {
  .name = "cuda",
  .create = cuda_create,
  .embed = cuda_embed,
  .gemm_nt = cuda_gemm_nt,
  .destroy = cuda_destroy,
  .embed_frames = cuda_embed_frames,
  .gemm_nt_weight = cuda_gemm_nt_weight,
  .relation_intra = cuda_relation_intra,
  .relation_inter = cuda_relation_inter,
};
