/* hyrsm-cuda-embed.c: embedding on the GPU: normalized frames (embed) or
 * raw frames pre-processed on the device (embed_frames), in chunks. */
#include "hyrsm-cuda-private.h"

#include <string.h>

#define STAGING_LIMIT ((size_t) 256 << 20)      /* raw frames per chunk */

G_STATIC_ASSERT ((int) HYRSM_PIXEL_NV12 == (int) HYRSM_KERNEL_PIXEL_NV12);
G_STATIC_ASSERT ((int) HYRSM_PIXEL_BGRA == (int) HYRSM_KERNEL_PIXEL_BGRA);
G_STATIC_ASSERT ((int) HYRSM_YUV_BT709 == (int) HYRSM_KERNEL_YUV_BT709);

gboolean
hyrsm_cuda_check_embed_args (HyrsmBackendCuda *self, int n, GError **error)
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

gboolean
hyrsm_cuda_embed (HyrsmBackend *backend, const float *frames, int n,
    float *features, GError **error)
{
  HyrsmBackendCuda *self = (HyrsmBackendCuda *) backend;
  if (!hyrsm_cuda_check_embed_args (self, n, error)
      || !hyrsm_cuda_lock (self, error))
    return FALSE;
  size_t frame_floats = (size_t) 3 * self->crop * self->crop;
  gboolean ok = TRUE;
  for (int done = 0; ok && done < n;) {
    int chunk = MIN (n - done, MAX_BATCH);
    size_t bytes = chunk * frame_floats * sizeof (float);
    Plan *plan = hyrsm_cuda_get_plan (self, chunk, error);
    ok = plan != NULL
        && hyrsm_cuda_ensure_pinned (&self->pinned_in,
        &self->pinned_in_bytes, bytes, "frames", error)
        && hyrsm_cuda_ensure_device (&self->staging, &self->staging_bytes,
        bytes, NULL, "frames", error);
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
        && hyrsm_cuda_plan_run (self, plan, error)
        && hyrsm_cuda_download_features (self, chunk,
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

gboolean
hyrsm_cuda_embed_frames (HyrsmBackend *backend, HyrsmPixelFormat format,
    HyrsmYuvMatrix matrix, const HyrsmFramePlanes *frames, int n, int width,
    int height, int resize, const float mean[3], const float std[3],
    float *features, GError **error)
{
  HyrsmBackendCuda *self = (HyrsmBackendCuda *) backend;
  int rows[3] = { 0 }, row_bytes[3] = { 0 };
  if (!hyrsm_cuda_check_embed_args (self, n, error))
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

  if (!hyrsm_cuda_lock (self, error))
    return FALSE;
  gboolean ok = TRUE;
  for (int done = 0; ok && done < n;) {
    int chunk = MIN (n - done, per_chunk);
    size_t data_bytes = (chunk * frame_bytes + 15) & ~(size_t) 15;
    size_t bytes = data_bytes + chunk * sizeof (HyrsmKernelFrame);
    Plan *plan = hyrsm_cuda_get_plan (self, chunk, error);
    ok = plan != NULL
        && hyrsm_cuda_ensure_pinned (&self->pinned_in,
        &self->pinned_in_bytes, bytes, "frames", error)
        && hyrsm_cuda_ensure_device (&self->staging, &self->staging_bytes,
        bytes, NULL, "frames", error);
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
        && hyrsm_cuda_plan_run (self, plan, error)
        && hyrsm_cuda_download_features (self, chunk,
        features + (size_t) done * self->feature_dim, error);
    done += chunk;
  }
  g_mutex_unlock (&self->lock);
  return ok;
}
