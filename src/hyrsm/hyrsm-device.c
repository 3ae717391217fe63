/* hyrsm-device.c: picks a model's device and precision and creates its
 * backend (CPU, or CUDA when built with it) with the loaded weights. */
#include "hyrsm-model-private.h"
#include "hyrsm-backend.h"
#include "hyrsm-error.h"

#include <string.h>

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

/* The backends of this build, in the order device "auto" tries them: a
 * GPU when built with one, the CPU last (always there). Adding a backend is
 * adding its vtable here; nothing else names one. */
const HyrsmBackendOps *const hyrsm_backends[] = {
#ifdef HYRSM_HAVE_CUDA
  &hyrsm_backend_cuda_ops,
#endif
  &hyrsm_backend_cpu_ops,
  NULL
};

const HyrsmBackendOps *
hyrsm_backend_find (const char *name, gsize len)
{
  for (guint i = 0; hyrsm_backends[i]; i++)
    if (strlen (hyrsm_backends[i]->name) == len
        && strncmp (hyrsm_backends[i]->name, name, len) == 0)
      return hyrsm_backends[i];
  return NULL;
}

/* Creates @ops's backend on device @index and records the device and the
 * precision it chose in @self. */
static gboolean
create_on (HyrsmModel *self, const HyrsmBackendOps *ops, int index,
    const char *precision, GError **error)
{
  const char *chosen = NULL;
  self->backend = ops->create (hyrsm_model_get_backbone_weights (self),
      self->crop, index, precision, &chosen, error);
  if (self->backend == NULL)
    return FALSE;
  g_free (self->precision);
  self->precision = g_strdup (chosen);
  g_free (self->device);
  self->device = (ops->caps & HYRSM_BACKEND_NUMBERED_DEVICES) ?
      g_strdup_printf ("%s:%d", ops->name, index) : g_strdup (ops->name);
  if (ops->describe)
    g_info ("%s: device %s: using %s", self->path, self->device,
        ops->describe (self->backend));
  return TRUE;
}

/* Picks the backend for self->device and hands it the weights once:
 * "cpu"; "cuda" / "cuda:N" (HYRSM_ERROR_NO_DEVICE without such a device,
 * or in a build without that backend); "auto": each backend that may be
 * absent (a GPU), device 0, then the CPU, with one log line saying which
 * (a message when a GPU backend exists but failed, info else). */
gboolean
hyrsm_model_create_backend (HyrsmModel *self, GError **error)
{
  const char *device = self->device;
  const char *precision = hyrsm_precision_request (self->precision, error);
  if (precision == NULL)
    return FALSE;

  if (g_str_equal (device, "auto")) {
    const HyrsmBackendOps *fallback = NULL;
    for (guint i = 0; hyrsm_backends[i]; i++) {
      const HyrsmBackendOps *ops = hyrsm_backends[i];
      if (ops->caps & HYRSM_BACKEND_ALWAYS_AVAILABLE) {
        fallback = fallback ? fallback : ops;
        continue;
      }
      g_autoptr (GError) gpu_error = NULL;
      if (create_on (self, ops, 0, precision, &gpu_error))
        return TRUE;
      if (g_error_matches (gpu_error, HYRSM_ERROR, HYRSM_ERROR_NO_DEVICE))
        g_info ("%s: device auto: using the CPU (%s)", self->path,
            gpu_error->message);
      else
        g_message ("%s: device auto: using the CPU, as the %s backend "
            "failed: %s", self->path, ops->name, gpu_error->message);
    }
    if (hyrsm_backends[1] == NULL)
      g_info ("%s: device auto: using the CPU (built without CUDA)",
          self->path);
    return create_on (self, fallback, 0, precision, error);
  }

  /* NAME or NAME:N, NAME a backend this build has (or cuda, which a build
   * without it names in its error). */
  const char *colon = strchr (device, ':');
  gsize name_len = colon ? (gsize) (colon - device) : strlen (device);
  const HyrsmBackendOps *ops = hyrsm_backend_find (device, name_len);
  guint64 index = 0;
  gboolean known = ops != NULL || (name_len == 4
      && strncmp (device, "cuda", 4) == 0);
  gboolean numbered = ops ? (ops->caps & HYRSM_BACKEND_NUMBERED_DEVICES) != 0
      : known;
  if (!known || (colon && (!numbered || !g_ascii_string_to_unsigned (colon
                  + 1, 10, 0, G_MAXINT, &index, NULL)))) {
    g_set_error (error, HYRSM_ERROR, HYRSM_ERROR_INVALID_ARGUMENT,
        "device \"%s\" is not one of auto, cpu, cuda, cuda:N", device);
    return FALSE;
  }
  if (ops == NULL) {
    g_set_error (error, HYRSM_ERROR, HYRSM_ERROR_NO_DEVICE,
        "%s: device \"%s\" is not available: this build has no CUDA backend",
        self->path, device);
    return FALSE;
  }
  if (ops->caps & HYRSM_BACKEND_ALWAYS_AVAILABLE)
    return create_on (self, ops, (int) index, precision, error);
  g_autoptr (GError) backend_error = NULL;
  if (create_on (self, ops, (int) index, precision, &backend_error))
    return TRUE;
  g_set_error (error, backend_error->domain, backend_error->code,
      "%s: device \"%s\" is not available: %s", self->path, device,
      backend_error->message);
  return FALSE;
}
