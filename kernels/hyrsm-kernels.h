/* hyrsm-kernels.h: the C interface of the CUDA kernels in kernels/.
 *
 * Every launcher is plain C: it takes device pointers (or pinned host
 * pointers, which kernels can read directly under unified addressing), a
 * stream, and returns the cudaError_t of its launch without synchronizing
 * or aborting. The CUDA backend (src/hyrsm/hyrsm-cuda-*.c) turns a
 * failure into a GError with hyrsm-cuda-check.h.
 *
 * One small .cu per operation, each with the small header included below. */
#pragma once

#include "hyrsm-kernels-types.h"
#include "preprocess.h"
#include "layernorm.h"
#include "softmax.h"
#include "elementwise.h"
