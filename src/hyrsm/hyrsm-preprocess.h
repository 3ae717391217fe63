/* hyrsm-preprocess.h: frame pre-processing (docs/model.md section 2), private to
 * libhyrsm. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* Turns one packed RGB8 frame (@width x @height, @stride bytes per row, any
 * size from 1 x 1) into the backbone's input: resized to @resize x @resize
 * with bilinear interpolation at half-pixel centres (PyTorch
 * `interpolate(mode="bilinear", align_corners=False)`, no antialiasing),
 * centre crop @crop x @crop (offset (resize - crop) / 2), then
 * (v / 255 - mean[c]) / std[c]. Only the cropped pixels are computed.
 * Writes 3 x @crop x @crop float32, planar (CHW), to @out.
 * Requires 1 <= crop <= resize. */
void hyrsm_preprocess_rgb (const guint8 *rgb, int width, int height,
    int stride, int resize, int crop, const float mean[3], const float std[3],
    float *out);

G_END_DECLS
