/* hyrsm-cuda-private.h: what the files of the CUDA backend share: the
 * backend's struct, its uploaded convolutions, and the functions each file
 * gives the others (private; only built with CUDA). The backend's design
 * is described at the top of hyrsm-backend-cuda.c. */
#pragma once

#include "hyrsm-backend-cuda.h"
#include "hyrsm-error.h"

#define HYRSM_CUDA_ERROR_DOMAIN HYRSM_ERROR
#define HYRSM_CUDA_ERROR_CODE HYRSM_ERROR_BACKEND
#include "hyrsm-cuda-check.h"
#include "hyrsm-kernels.h"
#include "hyrsm-batch.h"

G_BEGIN_DECLS

#define MAX_BATCH HYRSM_CUDA_BATCH       /* hyrsm-batch.h */
#define N_BUFFERS 4             /* activation buffers (a block needs 3 + 1) */
#define INPUT_BUFFER N_BUFFERS  /* buffer id of the network input */

/* A backbone plan for one batch size (hyrsm-cuda-plan.c). */
typedef struct _HyrsmCudaPlan Plan;

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

/* hyrsm-cuda-device.c */
/* The boolean environment variable @name ("0", "false", "no": FALSE);
 * @fallback when unset or empty. */
gboolean hyrsm_cuda_env_flag (const char *name, gboolean fallback);
/* Takes the backend's lock and makes its device current; on failure the
 * lock is not held. */
gboolean hyrsm_cuda_lock (HyrsmBackendCuda *self, GError **error);
gboolean hyrsm_cuda_init_runtime (HyrsmBackendCuda *self, GError **error);

/* hyrsm-cuda-memory.c */
gboolean hyrsm_cuda_ensure_device (void **ptr, size_t *have, size_t need,
    gboolean *grown, const char *what, GError **error);
gboolean hyrsm_cuda_ensure_pinned (void **ptr, size_t *have, size_t need,
    const char *what, GError **error);
gboolean hyrsm_cuda_upload (HyrsmBackendCuda *self, const float *host,
    size_t count, void **out, const char *what, GError **error);
const float *hyrsm_cuda_weight_on_device (HyrsmBackendCuda *self,
    const float *b, size_t bytes, GError **error);
/* Frees a value of self->weights. */
void hyrsm_cuda_device_copy_free (gpointer data);

/* hyrsm-cuda-weights.c */
gboolean hyrsm_cuda_load_backbone (HyrsmBackendCuda *self,
    const HyrsmBackboneWeights *w, GError **error);
void hyrsm_cuda_backbone_clear (HyrsmBackendCuda *self);

/* hyrsm-cuda-plan.c */
void hyrsm_cuda_plan_free (gpointer data);     /* Plan */
Plan *hyrsm_cuda_get_plan (HyrsmBackendCuda *self, int n, GError **error);
gboolean hyrsm_cuda_plan_run (HyrsmBackendCuda *self, Plan *plan,
    GError **error);
gboolean hyrsm_cuda_download_features (HyrsmBackendCuda *self, int n,
    float *out, GError **error);
gboolean hyrsm_cuda_warm_up (HyrsmBackendCuda *self, GError **error);

/* hyrsm-cuda-embed.c */
gboolean hyrsm_cuda_check_embed_args (HyrsmBackendCuda *self, int n,
    GError **error);
gboolean hyrsm_cuda_embed (HyrsmBackend *backend, const float *frames, int n,
    float *features, GError **error);
gboolean hyrsm_cuda_embed_frames (HyrsmBackend *backend,
    HyrsmPixelFormat format, HyrsmYuvMatrix matrix,
    const HyrsmFramePlanes *frames, int n, int width, int height, int resize,
    const float mean[3], const float std[3], float *features, GError **error);

/* hyrsm-cuda-gemm.c */
gboolean hyrsm_cuda_gemm_nt (HyrsmBackend *backend, int m, int n, int k,
    const float *a, const float *b, float *c, GError **error);
gboolean hyrsm_cuda_gemm_nt_weight (HyrsmBackend *backend, int m, int n,
    int k, const float *a, const float *b, float *c, GError **error);
gboolean hyrsm_cuda_gemm_nt_device (HyrsmBackendCuda *self, int m, int n,
    int k, const float *a, const float *w, float *c, GError **error);

/* hyrsm-cuda-relation.c */
gboolean hyrsm_cuda_relation_intra (HyrsmBackend *backend,
    const HyrsmHeadWeights *w, int frames, double input_scale,
    double position_b, const float *features, float *s, GError **error);
gboolean hyrsm_cuda_relation_inter (HyrsmBackend *backend,
    const HyrsmHeadWeights *w, const float *u, int n_tokens, float *g,
    GError **error);

G_END_DECLS
