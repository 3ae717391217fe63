/* test-model-writer.h: writes synthetic model files for the tests: every
 * supported architecture under both naming schemes, and deliberately
 * broken variants (a tensor dropped, misshapen or of the wrong dtype). */
#pragma once

#include <glib.h>

typedef struct
{
  const char *backbone;         /* "resnet18" | "resnet34" | "resnet50" | NULL */
  gboolean authors_names;       /* backbone.N... instead of conv1/layer1... */
  const char *name_prefix;      /* e.g. "module.head." or NULL */
  const char *head;             /* NULL (none) | "1shot" | "5shot" | "unnamed" */
  int head_dim;                 /* D for head-only files; else the backbone's */
  gboolean no_metadata;
  gboolean store_pe;
  const char *const *extra_metadata;    /* key, value, ..., NULL */
  /* Faults to inject, by canonical (torchvision) name: */
  const char *drop_tensor;
  const char *reshape_tensor;   /* first dimension + 1 */
  const char *f64_tensor;       /* written as F64 */
  guint32 seed;
} TestModelSpec;

gboolean test_model_write (const char *path, const TestModelSpec *spec,
    GError **error);

/* The feature width of a backbone name, 0 for NULL. */
int test_model_feature_dim (const char *backbone);
