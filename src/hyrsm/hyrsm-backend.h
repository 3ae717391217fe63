/* hyrsm-backend.h: the compute backend interface (private to libhyrsm).
 *
 * A backend runs the heavy operations of one model on one device: the
 * backbone over a batch of normalized frames, and the dense matrix products
 * of the relation head. The CPU backend (hyrsm-backend-cpu.c, oneDNN) always
 * exists; the CUDA backend (hyrsm-backend-cuda.c) when built with CUDA.
 * One backend instance serves one model; the model owns it.
 */
#pragma once

#include "hyrsm-model-private.h"

G_BEGIN_DECLS

typedef struct _HyrsmBackendOps HyrsmBackendOps;

/* Pixel formats a backend may pre-process itself (embed_frames). The order
 * is the kernels' HyrsmKernelPixelFormat (kernels/preprocess.h). */
typedef enum
{
  HYRSM_PIXEL_RGB,
  HYRSM_PIXEL_BGR,
  HYRSM_PIXEL_RGBX,
  HYRSM_PIXEL_BGRX,
  HYRSM_PIXEL_RGBA,
  HYRSM_PIXEL_BGRA,
  HYRSM_PIXEL_I420,             /* planes Y, U, V; chroma halved both ways */
  HYRSM_PIXEL_NV12,             /* planes Y, UV interleaved */
} HyrsmPixelFormat;

/* YUV -> RGB matrix for I420 / NV12 (limited range). */
typedef enum
{
  HYRSM_YUV_BT601,
  HYRSM_YUV_BT709,
} HyrsmYuvMatrix;

/* One frame in host memory: plane pointers and bytes per row. Packed RGB
 * formats use plane 0 only. */
typedef struct
{
  const guint8 *plane[3];
  int stride[3];
} HyrsmFramePlanes;

/* Every backend instance starts with this header; backends extend it. */
struct _HyrsmBackend
{
  const HyrsmBackendOps *ops;
};

/* What a backend can do, so that callers ask rather than compare names
 * (hyrsm-device.c picks by them, hyrsm-relation.c chooses its path). */
typedef enum
{
  /* Always present: the fallback of device "auto" (the CPU). A backend
   * without it may be absent at run time (no GPU, no driver). */
  HYRSM_BACKEND_ALWAYS_AVAILABLE = 1 << 0,
  /* Its devices are numbered: the `device` property says NAME:N. */
  HYRSM_BACKEND_NUMBERED_DEVICES = 1 << 1,
  /* Its memory is the host's, so the relation head runs on the packed
   * AVX2/FMA kernels of hyrsm-gemm-thin.c with weights packed once. */
  HYRSM_BACKEND_HOST_RELATION = 1 << 2,
} HyrsmBackendCaps;

struct _HyrsmBackendOps
{
  /* Short name for logs and the `device` property: "cpu", "cuda". */
  const char *name;
  HyrsmBackendCaps caps;

  /* Prepares @backbone (may be NULL for a head-only model) for frames of
   * @crop x @crop pixels on device @index (0 where devices are not
   * numbered): copies or uploads the weights once, creates what can be
   * created ahead. @precision is "auto", "fp32", "bf16" or "fp16"; the
   * backend resolves "auto" (and a 16-bit precision it does not have, where
   * another stands for it) and sets *@chosen to the precision it runs.
   * Returns NULL and sets @error on failure: HYRSM_ERROR_NO_DEVICE when the
   * device is absent. */
  HyrsmBackend *(*create) (const HyrsmBackboneWeights *backbone, int crop,
      int index, const char *precision, const char **chosen, GError **error);

  /* Optional: a line for logs ("cuda:0 (NVIDIA H100 ..., fp16)"). */
  const char *(*describe) (HyrsmBackend *self);

  /* Runs the backbone on @n normalized frames (@n x 3 x crop x crop float32,
   * NCHW) and writes @n x D float32 features (global average pool output).
   * Safe to call from several threads at once (the backend serializes or
   * keeps per-call state as it needs). */
  gboolean (*embed) (HyrsmBackend *self, const float *frames, int n,
      float *features, GError **error);

  /* C (m x n) = A (m x k) . B (n x k)^T, row-major float32: the relation
   * head's products with PyTorch Linear weights (out x in). Thread-safe. */
  gboolean (*gemm_nt) (HyrsmBackend *self, int m, int n, int k,
      const float *a, const float *b, float *c, GError **error);

  /* Releases everything create() made. */
  void (*destroy) (HyrsmBackend *self);

  /* Optional members: NULL where a backend does not have them; callers
   * then use the required members above. */

  /* Optional (NULL: pre-process on the CPU with hyrsm_preprocess_rgb and
   * call embed). Pre-processing (docs/model.md section 2: @resize x @resize,
   * centre crop, (v / 255 - @mean) / @std) fused with the backbone, for @n
   * frames of @format, @width x @height, in host memory; writes @n x D
   * float32 features. @matrix is used for I420 / NV12 only. Thread-safe. */
  gboolean (*embed_frames) (HyrsmBackend *self, HyrsmPixelFormat format,
      HyrsmYuvMatrix matrix, const HyrsmFramePlanes *frames, int n,
      int width, int height, int resize, const float mean[3],
      const float std[3], float *features, GError **error);

  /* Optional (NULL: use gemm_nt). gemm_nt where @b is a model weight that
   * stays allocated and unchanged while the backend lives, so a device
   * backend may keep its own copy, keyed by the pointer, instead of
   * uploading it at every call. Thread-safe. */
  gboolean (*gemm_nt_weight) (HyrsmBackend *self, int m, int n, int k,
      const float *a, const float *b, float *c, GError **error);

  /* Optional (NULL: hyrsm-relation.c computes it with gemm_nt_weight and
   * the CPU). The intra-video relation of one video on the backend's
   * device (docs/model.md section 4): @features (@frames x w->dim) -> @s (same
   * size), with X = F @input_scale + @position_b P. @w (the model's head)
   * stays allocated and unchanged while the backend lives, so its arrays
   * may be kept on the device, keyed by their pointers. 1 <= @frames <=
   * MIN (w->pe_rows, HYRSM_RELATION_MAX_TOKENS). Thread-safe. */
  gboolean (*relation_intra) (HyrsmBackend *self, const HyrsmHeadWeights *w,
      int frames, double input_scale, double position_b,
      const float *features, float *s, GError **error);

  /* Optional (NULL: on the CPU, as relation_intra). The inter-video
   * relation (docs/model.md section 5) of @n_tokens tokens @u (n_tokens x
   * w->dim) -> @g, after the ReLU. 1 <= @n_tokens <=
   * HYRSM_RELATION_MAX_TOKENS (callers compute larger sets themselves).
   * Thread-safe. */
  gboolean (*relation_inter) (HyrsmBackend *self, const HyrsmHeadWeights *w,
      const float *u, int n_tokens, float *g, GError **error);
};

/* The most tokens (frames, or support videos + 1) that relation_intra and
 * relation_inter take: the attention kernel's limit (kernels/softmax.h). */
#define HYRSM_RELATION_MAX_TOKENS 1024

extern const HyrsmBackendOps hyrsm_backend_cpu_ops;

/* The backends this build has, in the order device "auto" tries them
 * (the always-available CPU last), NULL-terminated (hyrsm-device.c). */
extern const HyrsmBackendOps *const hyrsm_backends[];

/* The backend called @name (the part of a `device` before ':'), or NULL
 * when this build has none. */
const HyrsmBackendOps *hyrsm_backend_find (const char *name, gsize len);

/* Whether this CPU runs oneDNN's bf16 kernels (AVX512-BF16, as oneDNN
 * detects it: DNNL_MAX_CPU_ISA / ONEDNN_MAX_CPU_ISA can lower it). */
gboolean hyrsm_backend_cpu_has_bf16 (void);

/* The CPU backend with its backbone in bf16 (@bf16) or fp32 (create()
 * resolves the precision, then calls this). bf16 on a CPU without it is
 * HYRSM_ERROR_INVALID_ARGUMENT, saying so. */
HyrsmBackend *hyrsm_backend_cpu_new (const HyrsmBackboneWeights *backbone,
    int crop, gboolean bf16, GError **error);
#ifdef HYRSM_HAVE_CUDA
extern const HyrsmBackendOps hyrsm_backend_cuda_ops;
#endif

G_END_DECLS

#ifdef HYRSM_HAVE_CUDA
#include "hyrsm-backend-cuda.h"        /* device selection, precision */
#endif
