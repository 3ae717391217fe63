/* hyrsm-winograd.h: 3x3 stride-1 convolutions by Winograd F(2x2, 3x3) on
 * AVX2 and FMA, in oneDNN's blocked activation layouts (private).
 *
 * The CPU backend (hyrsm-backend-cpu.c) offers this for every 3x3 stride-1
 * padding-1 fp32 convolution of the backbone and keeps it, in every plan,
 * for the layers where it measured it faster than oneDNN's own convolution
 * when the model loaded; see hyrsm-winograd.c for the algorithm and its
 * error.
 */
#pragma once

#include <glib.h>

typedef struct _HyrsmWinograd HyrsmWinograd;

/* Whether this CPU runs the kernels (AVX2 and FMA). */
gboolean hyrsm_winograd_supported (void);

/* Whether a convolution of this shape can run here: 3x3, stride 1,
 * padding 1, @ic a multiple of 8 and @oc of 16. */
gboolean hyrsm_winograd_fits (int ic, int oc, int kernel, int stride,
    int padding);

/* Transforms @weights (@oc x @ic x 3 x 3, PyTorch's OIHW) once; @bias
 * (@oc floats) is copied. NULL where hyrsm_winograd_fits() is false or the
 * CPU is not supported. */
HyrsmWinograd *hyrsm_winograd_new (int ic, int oc, const float *weights,
    const float *bias);
void hyrsm_winograd_free (HyrsmWinograd *w);

/* Bytes of scratch hyrsm_winograd_run() needs for a batch of @n frames of
 * @h x @w pixels, when it runs on up to @threads threads. */
gsize hyrsm_winograd_scratch_size (const HyrsmWinograd *wg, int n, int h,
    int w, int threads);

/* Whether activations of @channels channels in layout nChw<@block>c can
 * be read or written: @block a multiple of 8 that divides @channels (8
 * and 16 are oneDNN's blocked layouts on AVX2 and AVX-512; @block =
 * @channels is nhwc). */
gboolean hyrsm_winograd_layout_fits (int channels, int block);

/* dst = relu? (conv (src) + bias (+ dst when @sum)), for @n frames of
 * @h x @w pixels (the output is as large: padding 1). @src is in layout
 * nChw<@src_block>c and @dst in nChw<@dst_block>c (see
 * hyrsm_winograd_layout_fits()); they must not overlap. @scratch: at
 * least hyrsm_winograd_scratch_size() bytes, 32-byte aligned. Runs on
 * OpenMP's threads (at most @threads). */
void hyrsm_winograd_run (const HyrsmWinograd *wg, int n, int h, int w,
    int src_block, int dst_block, const float *src, float *dst, gboolean sum,
    gboolean relu, void *scratch, int threads);
