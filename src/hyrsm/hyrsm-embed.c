/* hyrsm-embed.c: embedding frames with a model's backbone: checks,
 * pre-processing (on the CPU or the backend's device), batching. */
#include "hyrsm-model-private.h"
#include "hyrsm-backend.h"
#include "hyrsm-error.h"
#include "hyrsm-preprocess.h"
#include "hyrsm-batch.h"

#include <string.h>

/* Frames larger than this per side are refused rather than risking size
 * overflows (the largest video frames are 16K). */
#define MAX_FRAME_SIDE 65536

static gboolean
check_can_embed (HyrsmModel *self, guint n, GError **error)
{
  if (!hyrsm_model_has_backbone (self)) {
    g_set_error (error, HYRSM_ERROR, HYRSM_ERROR_NO_BACKBONE,
        "model %s has no backbone: it cannot embed frames, only match "
        "precomputed features", self->path);
    return FALSE;
  }
  if (n == 0) {
    g_set_error (error, HYRSM_ERROR, HYRSM_ERROR_INVALID_ARGUMENT,
        "embedding needs at least one frame (n = 0)");
    return FALSE;
  }
  return TRUE;
}

static gboolean
check_frame_size (guint width, guint height, GError **error)
{
  if (width == 0 || height == 0 || width > MAX_FRAME_SIDE
      || height > MAX_FRAME_SIDE) {
    g_set_error (error, HYRSM_ERROR, HYRSM_ERROR_INVALID_ARGUMENT,
        "frame size %ux%u is out of range (1x1 to %dx%d)", width, height,
        MAX_FRAME_SIDE, MAX_FRAME_SIDE);
    return FALSE;
  }
  return TRUE;
}

/* The bytes of @n packed RGB8 frames of @width x @height, or NULL with
 * @error set when @rgb holds another amount. */
static const guint8 *
rgb_frames_data (GBytes *rgb, guint n, guint width, guint height,
    GError **error)
{
  gsize size;
  const guint8 *data = g_bytes_get_data (rgb, &size);
  guint64 expected = (guint64) width * height * 3 * n;
  if (size != expected) {
    g_set_error (error, HYRSM_ERROR, HYRSM_ERROR_SHAPE_MISMATCH,
        "expected %" G_GUINT64_FORMAT " bytes for n=%u frames of %ux%u RGB, "
        "got %" G_GSIZE_FORMAT, expected, n, width, height, size);
    return NULL;
  }
  return data;
}

/**
 * hyrsm_model_preprocess_frames:
 * @self: a #HyrsmModel
 * @rgb: @n packed RGB8 frames of @width x @height, one after the other
 * @n: number of frames
 * @width: frame width in pixels
 * @height: frame height in pixels
 * @error: return location for a #GError
 *
 * What the backbone sees: each frame resized to #HyrsmModel:resize square
 * (bilinear, half-pixel centres), centre-cropped to #HyrsmModel:crop and
 * normalized with the model's mean and std (docs/model.md section 2). Useful to
 * check a pipeline's input; hyrsm_model_embed_frames() does this itself.
 *
 * Returns: (transfer full): @n x 3 x crop x crop float32 values (planar
 *   RGB) in native byte order, or %NULL with @error set
 */
GBytes *
hyrsm_model_preprocess_frames (HyrsmModel *self, GBytes *rgb, guint n,
    guint width, guint height, GError **error)
{
  g_return_val_if_fail (HYRSM_IS_MODEL (self), NULL);
  g_return_val_if_fail (rgb != NULL, NULL);
  if (n == 0) {
    g_set_error (error, HYRSM_ERROR, HYRSM_ERROR_INVALID_ARGUMENT,
        "pre-processing needs at least one frame (n = 0)");
    return NULL;
  }
  if (!check_frame_size (width, height, error))
    return NULL;
  const guint8 *data = rgb_frames_data (rgb, n, width, height, error);
  if (data == NULL)
    return NULL;
  gsize per_frame = (gsize) 3 * self->crop * self->crop;
  float *out = g_try_new (float, per_frame * n);
  if (out == NULL) {
    g_set_error (error, HYRSM_ERROR, HYRSM_ERROR_BACKEND,
        "out of memory for %u pre-processed frames", n);
    return NULL;
  }
  for (guint i = 0; i < n; i++)
    hyrsm_preprocess_rgb (data + (gsize) i * width * height * 3, width,
        height, width * 3, self->resize, self->crop, self->mean, self->std,
        out + i * per_frame);
  return g_bytes_new_take (out, per_frame * n * sizeof (float));
}

/* embed_frames of the backend on @n RGB frames of one size. */
static gboolean
embed_rgb_on_device (HyrsmModel *self, const guint8 *const *frames,
    const int *strides, guint n, guint width, guint height, float *features,
    GError **error)
{
  HyrsmFramePlanes *planes = g_try_new0 (HyrsmFramePlanes, n);
  if (planes == NULL) {
    g_set_error (error, HYRSM_ERROR, HYRSM_ERROR_BACKEND,
        "out of memory for the descriptions of %u frames", n);
    return FALSE;
  }
  for (guint i = 0; i < n; i++) {
    planes[i].plane[0] = frames[i];
    planes[i].stride[0] = strides ? strides[i] : (int) width * 3;
  }
  gboolean ok = self->backend->ops->embed_frames (self->backend,
      HYRSM_PIXEL_RGB, HYRSM_YUV_BT601, planes, (int) n, (int) width,
      (int) height, (int) self->resize, self->mean, self->std, features,
      error);
  g_free (planes);
  return ok;
}

/* The one embedding loop: @n frames of any sizes into @features. A
 * backend that pre-processes on its device gets each run of equally sized
 * frames (up to HYRSM_DEVICE_RUN) in one call; otherwise frames are
 * pre-processed on the CPU into @scratch, HYRSM_CPU_BATCH at a time (room
 * for that many x 3 x crop x crop floats; NULL: allocated here), and the
 * backend's embed runs on each chunk. */
static gboolean
embed_rgb (HyrsmModel *self, const HyrsmRgbFrame *frames, guint n,
    float *scratch, float *features, GError **error)
{
  guint D = self->backbone.feature_dim;
  for (guint i = 0; i < n; i++)
    if (!check_frame_size (frames[i].width, frames[i].height, error))
      return FALSE;
  if (self->backend->ops->embed_frames) {
    gboolean ok = TRUE;
    for (guint start = 0, end; ok && start < n; start = end) {
      const guint8 *rgb[HYRSM_DEVICE_RUN];
      int strides[HYRSM_DEVICE_RUN];
      for (end = start; end < n && end - start < HYRSM_DEVICE_RUN
          && frames[end].width == frames[start].width
          && frames[end].height == frames[start].height; end++) {
        rgb[end - start] = frames[end].rgb;
        strides[end - start] = frames[end].stride;
      }
      ok = embed_rgb_on_device (self, rgb, strides, end - start,
          frames[start].width, frames[start].height,
          features + (gsize) start * D, error);
    }
    return ok;
  }
  gsize frame_floats = (gsize) 3 * self->crop * self->crop;
  float *own = NULL;
  if (scratch == NULL) {
    guint most = MIN (n, HYRSM_CPU_BATCH);
    scratch = own = g_try_malloc (most * frame_floats * sizeof (float));
    if (own == NULL) {
      g_set_error (error, HYRSM_ERROR, HYRSM_ERROR_BACKEND,
          "out of memory for %u pre-processed %ux%u frames", most,
          self->crop, self->crop);
      return FALSE;
    }
  }
  gboolean ok = TRUE;
  for (guint done = 0; ok && done < n;) {
    guint chunk = MIN (n - done, HYRSM_CPU_BATCH);
    for (guint i = 0; i < chunk; i++) {
      const HyrsmRgbFrame *f = &frames[done + i];
      hyrsm_preprocess_rgb (f->rgb, f->width, f->height, f->stride,
          self->resize, self->crop, self->mean, self->std,
          scratch + i * frame_floats);
    }
    ok = self->backend->ops->embed (self->backend, scratch, (int) chunk,
        features + (gsize) done * D, error);
    done += chunk;
  }
  g_free (own);
  return ok;
}

gboolean
hyrsm_model_embed_rgb_frames (HyrsmModel *self, const HyrsmRgbFrame *frames,
    guint n, float *scratch, float *features, GError **error)
{
  return check_can_embed (self, n, error)
      && embed_rgb (self, frames, n, scratch, features, error);
}

/**
 * hyrsm_model_embed_rgb_raw: (skip)
 * @self: a #HyrsmModel with a backbone
 * @frames: (array length=n): @n pointers to packed RGB8 frames
 * @strides: (array length=n) (nullable): bytes per row of each frame, at
 *   least @width * 3; %NULL for rows of exactly @width * 3 bytes
 * @n: number of frames
 * @width: frame width in pixels
 * @height: frame height in pixels
 * @features: (out caller-allocates): room for @n x #HyrsmModel:feature-dim
 *   floats
 * @error: return location for a #GError
 *
 * The C variant of hyrsm_model_embed_frames() for frames that already sit
 * in memory (video frames mapped by the caller): pre-processes each frame
 * (docs/model.md section 2) and runs the backbone, a few frames at a time.
 * Thread-safe.
 *
 * Returns: %TRUE on success, %FALSE with @error set
 */
gboolean
hyrsm_model_embed_rgb_raw (HyrsmModel *self, const guint8 *const *frames,
    const int *strides, guint n, guint width, guint height, float *features,
    GError **error)
{
  g_return_val_if_fail (HYRSM_IS_MODEL (self), FALSE);
  g_return_val_if_fail (n == 0 || (frames != NULL && features != NULL),
      FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);
  if (!check_can_embed (self, n, error)
      || !check_frame_size (width, height, error))
    return FALSE;
  for (guint i = 0; i < n; i++) {
    if (strides && strides[i] < (int) width * 3) {
      g_set_error (error, HYRSM_ERROR, HYRSM_ERROR_INVALID_ARGUMENT,
          "frame %u: stride %d is smaller than %u (width %u x 3 bytes)", i,
          strides[i], width * 3, width);
      return FALSE;
    }
  }

  HyrsmRgbFrame *all = g_try_new (HyrsmRgbFrame, n);
  if (all == NULL) {
    g_set_error (error, HYRSM_ERROR, HYRSM_ERROR_BACKEND,
        "out of memory for the descriptions of %u frames", n);
    return FALSE;
  }
  for (guint i = 0; i < n; i++)
    all[i] = (HyrsmRgbFrame) {
    frames[i], (int) width, (int) height,
          strides ? strides[i] : (int) width * 3};
  gboolean ok = embed_rgb (self, all, n, NULL, features, error);
  g_free (all);
  return ok;
}

/**
 * hyrsm_model_embed_frames:
 * @self: a #HyrsmModel with a backbone
 * @rgb: @n frames of packed RGB8 (3 bytes per pixel, rows of exactly
 *   @width * 3 bytes, no padding), one after the other
 * @n: number of frames
 * @width: frame width in pixels (any size; frames are resized)
 * @height: frame height in pixels
 * @error: return location for a #GError
 *
 * Computes the backbone features of @n frames: each is resized, centre
 * cropped and normalized as the model's metadata says (docs/model.md section 2),
 * then run through the backbone. Thread-safe.
 *
 * Returns: (transfer full): @n x #HyrsmModel:feature-dim float32 values in
 *   native byte order, row by row, or %NULL with @error set
 */
GBytes *
hyrsm_model_embed_frames (HyrsmModel *self, GBytes *rgb, guint n,
    guint width, guint height, GError **error)
{
  g_return_val_if_fail (HYRSM_IS_MODEL (self), NULL);
  g_return_val_if_fail (rgb != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);
  if (!check_can_embed (self, n, error)
      || !check_frame_size (width, height, error))
    return NULL;

  const guint8 *data = rgb_frames_data (rgb, n, width, height, error);
  if (data == NULL)
    return NULL;
  guint64 frame_bytes = (guint64) width * height * 3;

  guint D = self->backbone.feature_dim;
  gsize out_size = (gsize) n * D * sizeof (float);
  float *features = g_try_malloc (out_size);
  const guint8 **frames = g_try_new (const guint8 *, n);
  if (features == NULL || frames == NULL) {
    g_free (features);
    g_free (frames);
    g_set_error (error, HYRSM_ERROR, HYRSM_ERROR_BACKEND,
        "out of memory for the features of %u frames", n);
    return NULL;
  }
  for (guint i = 0; i < n; i++)
    frames[i] = data + i * frame_bytes;
  gboolean ok = hyrsm_model_embed_rgb_raw (self, frames, NULL, n, width,
      height, features, error);
  g_free (frames);
  if (!ok) {
    g_free (features);
    return NULL;
  }
  return g_bytes_new_take (features, out_size);
}

/**
 * hyrsm_model_embed_normalized:
 * @self: a #HyrsmModel with a backbone
 * @frames: @n pre-processed frames, each 3 x crop x crop float32 in native
 *   byte order (planar RGB, rows of #HyrsmModel:crop values), one after the
 *   other
 * @n: number of frames
 * @error: return location for a #GError
 *
 * Runs the backbone on frames that are already resized, cropped and
 * normalized (docs/model.md section 2), e.g. by the caller's own pipeline.
 * Thread-safe.
 *
 * Returns: (transfer full): @n x #HyrsmModel:feature-dim float32 values in
 *   native byte order, row by row, or %NULL with @error set
 */
GBytes *
hyrsm_model_embed_normalized (HyrsmModel *self, GBytes *frames, guint n,
    GError **error)
{
  g_return_val_if_fail (HYRSM_IS_MODEL (self), NULL);
  g_return_val_if_fail (frames != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);
  if (!check_can_embed (self, n, error))
    return NULL;

  gsize size;
  const guint8 *data = g_bytes_get_data (frames, &size);
  guint64 expected = (guint64) n * 3 * self->crop * self->crop * sizeof (float);
  if (size != expected) {
    g_set_error (error, HYRSM_ERROR, HYRSM_ERROR_SHAPE_MISMATCH,
        "expected %" G_GUINT64_FORMAT " bytes for n=%u frames of 3 x %u x %u "
        "float32, got %" G_GSIZE_FORMAT, expected, n, self->crop, self->crop,
        size);
    return NULL;
  }
  if (n > G_MAXINT) {
    g_set_error (error, HYRSM_ERROR, HYRSM_ERROR_INVALID_ARGUMENT,
        "too many frames at once (%u)", n);
    return NULL;
  }

  /* GBytes made by bindings need not be float-aligned. */
  float *aligned = NULL;
  const float *input = (const float *) data;
  if ((guintptr) data % G_ALIGNOF (float) != 0) {
    aligned = g_try_malloc (size);
    if (aligned == NULL) {
      g_set_error (error, HYRSM_ERROR, HYRSM_ERROR_BACKEND,
          "out of memory copying %u frames", n);
      return NULL;
    }
    memcpy (aligned, data, size);
    input = aligned;
  }
  guint D = self->backbone.feature_dim;
  gsize out_size = (gsize) n * D * sizeof (float);
  float *features = g_try_malloc (out_size);
  gboolean ok = features != NULL;
  if (!ok)
    g_set_error (error, HYRSM_ERROR, HYRSM_ERROR_BACKEND,
        "out of memory for the features of %u frames", n);
  else
    ok = self->backend->ops->embed (self->backend, input, (int) n, features,
        error);
  g_free (aligned);
  if (!ok) {
    g_free (features);
    return NULL;
  }
  return g_bytes_new_take (features, out_size);
}
