/* hyrsm-device.c: picks a model's device and precision and creates its
 * backend (CPU, or CUDA when built with it) with the loaded weights. */
#include "hyrsm-model-private.h"
#include "hyrsm-backend.h"
#include "hyrsm-error.h"

static const char *const precisions[] = { "auto", "fp32", "bf16", "fp16" };

const char *
hyrsm_precision_request (const char *precision, GError **error)
{
  const char *env = g_getenv ("HYRSM_PRECISION");
  const char *asked = precision ? precision : "auto";
  gboolean from_env = FALSE;
  if (g_str_equal (asked, "auto") && env && *env) {
    asked = env;
    from_env = TRUE;
    if (g_ascii_strcasecmp (env, "float32") == 0)  /* its old spelling */
      return "fp32";
  }
  for (guint i = 0; i < G_N_ELEMENTS (precisions); i++)
    if (g_ascii_strcasecmp (asked, precisions[i]) == 0)
      return precisions[i];
  g_set_error (error, HYRSM_ERROR, HYRSM_ERROR_INVALID_ARGUMENT,
      "%sprecision \"%s\" is not one of auto, fp32, bf16, fp16",
      from_env ? "HYRSM_PRECISION: " : "", asked);
  return NULL;
}

/* The CPU backend in the precision asked: "auto" is bf16 where the CPU has
 * AVX512-BF16, else fp32 (also for a head-only model, whose bf16 would run
 * on AVX2 too: auto stays exact where a backbone could not follow);
 * "fp16" does not exist on the CPU, and bf16 (fewer mantissa bits) is no
 * substitute for it. */
static gboolean
create_cpu_backend (HyrsmModel *self, const HyrsmBackboneWeights *w,
    const char *precision, GError **error)
{
  gboolean bf16;
  if (g_str_equal (precision, "fp16")) {
    g_set_error (error, HYRSM_ERROR, HYRSM_ERROR_INVALID_ARGUMENT,
        "precision \"fp16\" is not available on the CPU (its 16-bit "
        "precision is bf16)");
    return FALSE;
  }
  if (g_str_equal (precision, "auto"))
    bf16 = hyrsm_backend_cpu_has_bf16 ();
  else
    bf16 = g_str_equal (precision, "bf16");
  self->backend = hyrsm_backend_cpu_new (w, self->crop, bf16, error);
  if (self->backend == NULL)
    return FALSE;
  g_free (self->precision);
  self->precision = g_strdup (bf16 ? "bf16" : "fp32");
  g_free (self->device);
  self->device = g_strdup (hyrsm_backend_cpu_ops.name);
  return TRUE;
}

/* Picks the backend for self->device and hands it the weights once:
 * "cpu"; "cuda" / "cuda:N" (HYRSM_ERROR_NO_DEVICE without such a device);
 * "auto": CUDA device 0 when it can be used, else the CPU, with one log
 * line saying which (a message when CUDA exists but failed, info else). */
gboolean
hyrsm_model_create_backend (HyrsmModel *self, GError **error)
{
  const HyrsmBackboneWeights *w = hyrsm_model_get_backbone_weights (self);
  const char *device = self->device;
  gboolean is_auto = g_str_equal (device, "auto");
  gboolean is_cuda = g_str_equal (device, "cuda")
      || g_str_has_prefix (device, "cuda:");
  guint64 index = 0;
  const char *precision = hyrsm_precision_request (self->precision, error);

  if (precision == NULL)
    return FALSE;
  if ((!is_auto && !is_cuda && !g_str_equal (device, "cpu"))
      || (g_str_has_prefix (device, "cuda:")
          && !g_ascii_string_to_unsigned (device + 5, 10, 0, G_MAXINT,
              &index, NULL))) {
    g_set_error (error, HYRSM_ERROR, HYRSM_ERROR_INVALID_ARGUMENT,
        "device \"%s\" is not one of auto, cpu, cuda, cuda:N", device);
    return FALSE;
  }
#ifdef HYRSM_HAVE_CUDA
  if (is_auto || is_cuda) {
    /* CUDA's 16-bit precision is fp16: it stands for "auto" and for "bf16"
     * too (fp16 keeps more mantissa bits than bf16). */
    g_autoptr (GError) cuda_error = NULL;
    gboolean fp32 = g_str_equal (precision, "fp32");
    self->backend = hyrsm_backend_cuda_new (w, self->crop, (int) index,
        fp32 ? HYRSM_PRECISION_FP32 : HYRSM_PRECISION_FP16, &cuda_error);
    if (self->backend) {
      g_free (self->precision);
      self->precision = g_strdup (fp32 ? "fp32" : "fp16");
      g_info ("%s: device %s: using %s", self->path, device,
          hyrsm_backend_cuda_describe (self->backend));
      g_free (self->device);
      self->device = g_strdup_printf ("cuda:%d", (int) index);
      return TRUE;
    }
    if (is_cuda) {
      g_set_error (error, cuda_error->domain, cuda_error->code,
          "%s: device \"%s\" is not available: %s", self->path, device,
          cuda_error->message);
      return FALSE;
    }
    if (g_error_matches (cuda_error, HYRSM_ERROR, HYRSM_ERROR_NO_DEVICE))
      g_info ("%s: device auto: using the CPU (%s)", self->path,
          cuda_error->message);
    else
      g_message ("%s: device auto: using the CPU, as the CUDA backend "
          "failed: %s", self->path, cuda_error->message);
  }
#else
  if (is_cuda) {
    g_set_error (error, HYRSM_ERROR, HYRSM_ERROR_NO_DEVICE,
        "%s: device \"%s\" is not available: this build has no CUDA backend",
        self->path, device);
    return FALSE;
  }
  if (is_auto)
    g_info ("%s: device auto: using the CPU (built without CUDA)",
        self->path);
#endif
  return create_cpu_backend (self, w, precision, error);
}
