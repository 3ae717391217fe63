/* hyrsm-kernels-types.h: types shared by the launchers of hyrsm-kernels.h. */
#pragma once

#include <cuda_runtime_api.h>
#include <stddef.h>

#ifdef __cplusplus
#define HYRSM_KERNELS_BEGIN_DECLS extern "C" {
#define HYRSM_KERNELS_END_DECLS }
#else
#define HYRSM_KERNELS_BEGIN_DECLS
#define HYRSM_KERNELS_END_DECLS
#endif

HYRSM_KERNELS_BEGIN_DECLS

/* Element type of an activation tensor. */
typedef enum
{
  HYRSM_KERNEL_F32 = 0,
  HYRSM_KERNEL_F16 = 1,
} HyrsmKernelDtype;

/* Layout of an image tensor of n frames. */
typedef enum
{
  HYRSM_KERNEL_NCHW = 0,
  HYRSM_KERNEL_NHWC = 1,
} HyrsmKernelLayout;

HYRSM_KERNELS_END_DECLS
