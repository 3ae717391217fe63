/* hyrsm-cpu-conv.h: one convolution of the CPU backbone, its weights as
 * the CPU backend (hyrsm-backend-cpu.c) runs them (private). */
#pragma once

#include "hyrsm-dnnl.h"
#include "hyrsm-model-private.h"
#include "hyrsm-winograd.h"

/* How the 3x3 stride-1 layers run in fp32: oneDNN's convolution only, the
 * faster of it and hyrsm-winograd.c's per layer (the default), or
 * hyrsm-winograd.c's wherever it can (for tests and benchmarks). */
typedef enum
{
  HYRSM_CONV_DIRECT,
  HYRSM_CONV_FASTEST,
  HYRSM_CONV_WINOGRAD,
} HyrsmConvAlgorithm;

/* From HYRSM_CPU_CONV: "auto" (or unset) HYRSM_CONV_FASTEST, "direct",
 * "winograd"; anything else is an error naming it. */
gboolean hyrsm_conv_algorithm_from_env (HyrsmConvAlgorithm * algorithm,
    GError ** error);

typedef struct
{
  char *name;                   /* torchvision name, for messages */
  int ic, oc, kernel, stride, padding;
  const float *plain;           /* OIHW source, only while create() runs */
  dnnl_memory_t bias;           /* x, owned */
  GPtrArray *weights;           /* dnnl_memory_t per layout in use; [0] first */
  HyrsmWinograd *winograd;      /* the transformed weights, or NULL */
  /* Whether the layer runs by Winograd: -1 until the first plan that can
   * offer it decides, then the same in every plan, so that a frame's
   * features do not depend on the batch it came in (a layer kept on
   * oneDNN drops @winograd then). */
  int use_winograd;
} CpuConv;

/* @c from the model's weights @w (kept as c->plain, not copied, until the
 * caller clears it), named @name (taken). With @winograd, a 3x3 stride-1
 * layer's weights are transformed for hyrsm-winograd.c too, where the CPU
 * and the shape allow it. */
gboolean hyrsm_cpu_conv_init (CpuConv * c, dnnl_engine_t engine,
    const HyrsmConv * w, char *name, gboolean winograd, GError ** error);
void hyrsm_cpu_conv_clear (CpuConv * c);

/* The convolution's weights in layout @md: reordered once, then shared by
 * every plan wanting that layout. The first layout is made from the plain
 * OIHW weights (create() time), later ones from the first. */
dnnl_memory_t hyrsm_cpu_conv_weights (CpuConv * c, dnnl_engine_t engine,
    dnnl_stream_t stream, HyrsmDnnlConstMd md, GError ** error);
