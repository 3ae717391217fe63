/* hyrsm-cuda-weights.c: uploads the backbone's convolutions (KRSC, with
 * their cuDNN filter and bias descriptors) and frees them. */
#include "hyrsm-cuda-private.h"

#include <string.h>

static void
conv_clear (CudaConv *c)
{
  if (c->weight)
    cudaFree (c->weight);
  if (c->bias)
    cudaFree (c->bias);
  if (c->wdesc)
    cudnnDestroyFilterDescriptor (c->wdesc);
  if (c->bdesc)
    cudnnDestroyTensorDescriptor (c->bdesc);
  g_free (c->name);
  memset (c, 0, sizeof *c);
}

/* Uploads @w as KRSC with @ic input channels (>= w's, zero padded). The
 * bias is w's plus @extra_bias (the folded downsample bias) when @with_bias;
 * takes @name. */
static gboolean
conv_init (HyrsmBackendCuda *self, CudaConv *c, const HyrsmConv *w, int ic,
    gboolean with_bias, const float *extra_bias, char *name, GError **error)
{
  int K = w->kernel, wic = w->in_channels;
  size_t count = (size_t) w->out_channels * K * K * ic;
  c->name = name;
  c->ic = ic;
  c->oc = w->out_channels;
  c->kernel = K;
  c->stride = w->stride;
  c->padding = w->padding;

  float *krsc = g_new0 (float, count);
  for (int o = 0; o < c->oc; o++)
    for (int i = 0; i < wic; i++)
      for (int r = 0; r < K; r++)
        for (int s = 0; s < K; s++)
          krsc[(((size_t) o * K + r) * K + s) * ic + i] =
              w->weight[(((size_t) o * wic + i) * K + r) * K + s];
  g_autofree char *what = g_strdup_printf ("the weights of %s", name);
  gboolean ok = hyrsm_cuda_upload (self, krsc, count, &c->weight, what, error);
  g_free (krsc);
  if (ok && with_bias) {
    float *bias = g_new (float, c->oc);
    for (int o = 0; o < c->oc; o++)
      bias[o] = w->bias[o] + (extra_bias ? extra_bias[o] : 0.0f);
    g_autofree char *bwhat = g_strdup_printf ("the bias of %s", name);
    ok = hyrsm_cuda_upload (self, bias, c->oc, &c->bias, bwhat, error);
    g_free (bias);
  }
  return ok
      && HYRSM_CUDNN_CHECK (cudnnCreateFilterDescriptor (&c->wdesc), error,
      "filter descriptor of %s", name)
      && HYRSM_CUDNN_CHECK (cudnnSetFilter4dDescriptor (c->wdesc, self->dtype,
          CUDNN_TENSOR_NHWC, c->oc, ic, K, K), error,
      "filter descriptor of %s", name)
      && HYRSM_CUDNN_CHECK (cudnnCreateTensorDescriptor (&c->bdesc), error,
      "bias descriptor of %s", name)
      && HYRSM_CUDNN_CHECK (cudnnSetTensor4dDescriptor (c->bdesc,
          CUDNN_TENSOR_NHWC, self->dtype, 1, c->oc, 1, 1), error,
      "bias descriptor of %s", name);
}

gboolean
hyrsm_cuda_load_backbone (HyrsmBackendCuda *self, const HyrsmBackboneWeights *w,
    GError **error)
{
  self->has_backbone = TRUE;
  self->feature_dim = w->feature_dim;
  self->stem_channels = self->precision == HYRSM_PRECISION_FP16 ? 8 : 4;
  self->n_blocks = w->n_blocks;
  self->blocks = g_new0 (CudaBlock, w->n_blocks);
  if (!conv_init (self, &self->stem, &w->stem, self->stem_channels, TRUE,
          NULL, hyrsm_resnet_module_name (0, 0, HYRSM_RESNET_CONV1), error))
    return FALSE;
  int k = 0;
  for (int layer = 1; layer <= 4; layer++) {
    for (int i = 0; i < w->blocks_per_layer[layer - 1]; i++, k++) {
      const HyrsmBlock *src = &w->blocks[k];
      CudaBlock *dst = &self->blocks[k];
      const float *ds_bias = src->has_downsample ? src->downsample.bias : NULL;
      dst->bottleneck = src->bottleneck;
      dst->has_downsample = src->has_downsample;
      if (!conv_init (self, &dst->conv1, &src->conv1,
              src->conv1.in_channels, TRUE, NULL,
              hyrsm_resnet_module_name (layer, i, HYRSM_RESNET_CONV1), error)
          || !conv_init (self, &dst->conv2, &src->conv2,
              src->conv2.in_channels, TRUE, src->bottleneck ? NULL : ds_bias,
              hyrsm_resnet_module_name (layer, i, HYRSM_RESNET_CONV2), error)
          || (src->bottleneck && !conv_init (self, &dst->conv3, &src->conv3,
                  src->conv3.in_channels, TRUE, ds_bias,
                  hyrsm_resnet_module_name (layer, i, HYRSM_RESNET_CONV3),
                  error))
          || (src->has_downsample && !conv_init (self, &dst->downsample,
                  &src->downsample, src->downsample.in_channels, FALSE, NULL,
                  hyrsm_resnet_module_name (layer, i,
                      HYRSM_RESNET_DOWNSAMPLE), error)))
        return FALSE;
    }
  }
  return TRUE;
}

void
hyrsm_cuda_backbone_clear (HyrsmBackendCuda *self)
{
  conv_clear (&self->stem);
  for (int i = 0; self->blocks && i < self->n_blocks; i++) {
    conv_clear (&self->blocks[i].conv1);
    conv_clear (&self->blocks[i].conv2);
    conv_clear (&self->blocks[i].conv3);
    conv_clear (&self->blocks[i].downsample);
  }
  g_clear_pointer (&self->blocks, g_free);
}
