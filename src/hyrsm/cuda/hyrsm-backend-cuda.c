/* hyrsm-backend-cuda.c: the CUDA backend's vtable, creation and teardown.
 *
 * The CUDA backend: cuDNN backbone, cuBLAS GEMMs, kernels/ for
 * pre-processing and the small fused operations, and the relation head's
 * attention blocks (docs/model.md sections 4 and 5). Its files:
 * hyrsm-cuda-device.c (devices, runtime handles, the lock),
 * hyrsm-cuda-memory.c (buffers, uploads, weight copies),
 * hyrsm-cuda-weights.c (the backbone's convolutions on the device),
 * hyrsm-cuda-plan.c (backbone plans, their runs and graphs),
 * hyrsm-cuda-embed.c (embed, embed_frames), hyrsm-cuda-gemm.c and
 * hyrsm-cuda-relation.c; they share hyrsm-cuda-private.h.
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
#include "hyrsm-cuda-private.h"

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
  hyrsm_cuda_backbone_clear (self);
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
  self->use_find = hyrsm_cuda_env_flag ("HYRSM_CUDNN_FIND", TRUE);
  self->use_graphs = hyrsm_cuda_env_flag ("HYRSM_CUDA_GRAPHS", TRUE);
  self->description = g_strdup_printf ("cuda:%d (%s, sm_%d%d, %s)", device,
      prop.name, prop.major, prop.minor, half ? "fp16" : "fp32");
  self->plans = g_hash_table_new_full (NULL, NULL, NULL, hyrsm_cuda_plan_free);
  self->algos = g_hash_table_new_full (g_str_hash, g_str_equal, g_free,
      g_free);
  self->weights = g_hash_table_new_full (NULL, NULL, NULL,
      hyrsm_cuda_device_copy_free);

  if (!hyrsm_cuda_init_runtime (self, error)
      || (backbone && (!hyrsm_cuda_load_backbone (self, backbone, error)
              || !hyrsm_cuda_warm_up (self, error)))) {
    cuda_destroy (&self->parent);
    return NULL;
  }
  return &self->parent;
}

/* CUDA's 16-bit precision is fp16: it stands for "auto" and for "bf16"
 * too (fp16 keeps more mantissa bits than bf16). */
static HyrsmBackend *
cuda_create (const HyrsmBackboneWeights *backbone, int crop, int index,
    const char *precision, const char **chosen, GError **error)
{
  gboolean fp32 = g_str_equal (precision, "fp32");
  HyrsmBackend *backend = hyrsm_backend_cuda_new (backbone, crop, index,
      fp32 ? HYRSM_PRECISION_FP32 : HYRSM_PRECISION_FP16, error);
  if (backend)
    *chosen = fp32 ? "fp32" : "fp16";
  return backend;
}

const char *
hyrsm_backend_cuda_describe (HyrsmBackend *backend)
{
  return ((HyrsmBackendCuda *) backend)->description;
}

const HyrsmBackendOps hyrsm_backend_cuda_ops = {
  .name = "cuda",
  .caps = HYRSM_BACKEND_NUMBERED_DEVICES,
  .create = cuda_create,
  .describe = hyrsm_backend_cuda_describe,
  .embed = hyrsm_cuda_embed,
  .gemm_nt = hyrsm_cuda_gemm_nt,
  .destroy = cuda_destroy,
  .embed_frames = hyrsm_cuda_embed_frames,
  .gemm_nt_weight = hyrsm_cuda_gemm_nt_weight,
  .relation_intra = hyrsm_cuda_relation_intra,
  .relation_inter = hyrsm_cuda_relation_inter,
};
