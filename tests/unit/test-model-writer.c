/* test-model-writer.c: synthetic model files for the tests (see the header).
 * Weights are small pseudo-random numbers: the loader tests care about
 * names, shapes and dtypes, not values. */
#include "test-model-writer.h"
#include "hyrsm-resnet.h"

#include <string.h>

typedef struct
{
  char *name;                   /* as written to the file */
  char *canonical;              /* torchvision / head name */
  int rank;
  gint64 shape[4];
  gboolean f64;
} Entry;

typedef struct
{
  GPtrArray *entries;
  const TestModelSpec *spec;
} Writer;

static void
entry_free (gpointer p)
{
  Entry *e = p;
  g_free (e->name);
  g_free (e->canonical);
  g_free (e);
}

static const char *
authors_name (const char *canonical, char **owned)
{
  for (int i = 0; i < HYRSM_RESNET_N_SEQUENTIAL; i++) {
    const char *module = hyrsm_resnet_sequential_names[i];
    gsize len = module ? strlen (module) : 0;
    if (module && g_str_has_prefix (canonical, module)
        && canonical[len] == '.') {
      *owned = g_strdup_printf ("backbone.%d%s", i, canonical + len);
      return *owned;
    }
  }
  return canonical;
}

static void
add (Writer *w, gboolean backbone, const char *canonical, int rank,
    gint64 d0, gint64 d1, gint64 d2, gint64 d3)
{
  const TestModelSpec *spec = w->spec;
  if (g_strcmp0 (spec->drop_tensor, canonical) == 0)
    return;
  Entry *e = g_new0 (Entry, 1);
  char *owned = NULL;
  const char *name = (backbone && spec->authors_names) ?
      authors_name (canonical, &owned) : canonical;
  e->name = g_strconcat (spec->name_prefix ? spec->name_prefix : "", name,
      NULL);
  g_free (owned);
  e->canonical = g_strdup (canonical);
  e->rank = rank;
  gint64 dims[4] = { d0, d1, d2, d3 };
  memcpy (e->shape, dims, sizeof dims);
  if (g_strcmp0 (spec->reshape_tensor, canonical) == 0)
    e->shape[0] += 1;
  e->f64 = g_strcmp0 (spec->f64_tensor, canonical) == 0;
  g_ptr_array_add (w->entries, e);
}

/* Convolution @slot of block @index of @layer (0: the stem) and its
 * BatchNorm. */
static void
add_conv_bn (Writer *w, int layer, int index, HyrsmResnetConvSlot slot,
    const HyrsmResnetConvShape *shape)
{
  g_autofree char *conv = hyrsm_resnet_name (layer, index, slot,
      HYRSM_RESNET_NAME_CONV);
  g_autofree char *bn = hyrsm_resnet_name (layer, index, slot,
      HYRSM_RESNET_NAME_BN);
  g_autofree char *wn = g_strconcat (conv, ".weight", NULL);
  int out = shape->out_channels, k = shape->kernel;
  add (w, TRUE, wn, 4, out, shape->in_channels, k, k);
  static const char *const suffixes[] = { ".weight", ".bias", ".running_mean",
    ".running_var"
  };
  for (int i = 0; i < 4; i++) {
    g_autofree char *n = g_strconcat (bn, suffixes[i], NULL);
    add (w, TRUE, n, 1, out, 0, 0, 0);
  }
}

int
test_model_feature_dim (const char *backbone)
{
  const HyrsmResnetArch *arch = hyrsm_resnet_arch_from_name (backbone);
  return arch ? arch->feature_dim : 0;
}

static void
add_backbone (Writer *w, const char *kind)
{
  const HyrsmResnetArch *arch = hyrsm_resnet_arch_from_name (kind);
  HyrsmResnetConvShape stem;
  hyrsm_resnet_stem_shape (HYRSM_RESNET_BASE_WIDTH, &stem);
  add_conv_bn (w, 0, 0, HYRSM_RESNET_CONV1, &stem);
  int in = stem.out_channels;
  for (int layer = 1; layer <= 4; layer++) {
    for (int b = 0; b < arch->blocks_per_layer[layer - 1]; b++) {
      HyrsmResnetBlockShape block;
      hyrsm_resnet_block_shape (arch->bottleneck, HYRSM_RESNET_BASE_WIDTH,
          layer, b, in, &block);
      for (int slot = 0; slot < HYRSM_RESNET_N_CONVS; slot++)
        if (block.conv[slot].kernel > 0)
          add_conv_bn (w, layer, b, slot, &block.conv[slot]);
      in = block.out_channels;
    }
  }
}

static void
add_head (Writer *w, int D)
{
  add (w, FALSE, "temporal_atte_before.norm.weight", 1, D, 0, 0, 0);
  add (w, FALSE, "temporal_atte_before.norm.bias", 1, D, 0, 0, 0);
  add (w, FALSE, "temporal_atte_before.fn.to_qkv.weight", 2, 3 * D, D, 0, 0);
  add (w, FALSE, "temporal_atte_before.fn.to_out.0.weight", 2, D, D, 0, 0);
  add (w, FALSE, "temporal_atte_before.fn.to_out.0.bias", 1, D, 0, 0, 0);
  add (w, FALSE, "temporal_atte.w_qs.weight", 2, D, D, 0, 0);
  add (w, FALSE, "temporal_atte.w_ks.weight", 2, D, D, 0, 0);
  add (w, FALSE, "temporal_atte.w_vs.weight", 2, D, D, 0, 0);
  add (w, FALSE, "temporal_atte.fc.weight", 2, D, D, 0, 0);
  add (w, FALSE, "temporal_atte.fc.bias", 1, D, 0, 0, 0);
  add (w, FALSE, "temporal_atte.layer_norm.weight", 1, D, 0, 0, 0);
  add (w, FALSE, "temporal_atte.layer_norm.bias", 1, D, 0, 0, 0);
  add (w, FALSE, "layer2.0.weight", 3, D, 2 * D, 1, 0);
  add (w, FALSE, "layer2.0.bias", 1, D, 0, 0, 0);
  if (w->spec->store_pe)
    add (w, FALSE, "pe.pe", 3, 1, 20, D, 0);
}

static gint64
entry_elements (const Entry *e)
{
  gint64 n = 1;
  for (int i = 0; i < e->rank; i++)
    n *= e->shape[i];
  return n;
}

static gboolean
is_variance (const Entry *e)
{
  return g_str_has_suffix (e->canonical, "running_var");
}

gboolean
test_model_write (const char *path, const TestModelSpec *spec, GError **error)
{
  Writer w = { g_ptr_array_new_with_free_func (entry_free), spec };
  if (spec->backbone)
    add_backbone (&w, spec->backbone);
  if (spec->head) {
    int D = spec->head_dim ? spec->head_dim :
        test_model_feature_dim (spec->backbone);
    add_head (&w, D);
  }

  GString *header = g_string_new ("{");
  if (!spec->no_metadata) {
    g_string_append (header, "\"__metadata__\":{\"hyrsm.frames\":\"8\"");
    if (spec->backbone)
      g_string_append_printf (header, ",\"hyrsm.backbone\":\"%s\"",
          spec->backbone);
    if (spec->head && !g_str_equal (spec->head, "unnamed"))
      g_string_append_printf (header, ",\"hyrsm.head\":\"%s\"", spec->head);
    for (int i = 0; spec->extra_metadata && spec->extra_metadata[i]; i += 2)
      g_string_append_printf (header, ",\"%s\":\"%s\"",
          spec->extra_metadata[i], spec->extra_metadata[i + 1]);
    g_string_append (header, "}");
  }
  gint64 offset = 0;
  for (guint i = 0; i < w.entries->len; i++) {
    Entry *e = w.entries->pdata[i];
    gint64 bytes = entry_elements (e) * (e->f64 ? 8 : 4);
    g_string_append_printf (header, "%s\"%s\":{\"dtype\":\"%s\",\"shape\":[",
        (i > 0 || !spec->no_metadata) ? "," : "", e->name,
        e->f64 ? "F64" : "F32");
    for (int d = 0; d < e->rank; d++)
      g_string_append_printf (header, "%s%" G_GINT64_FORMAT, d ? "," : "",
          e->shape[d]);
    g_string_append_printf (header, "],\"data_offsets\":[%" G_GINT64_FORMAT
        ",%" G_GINT64_FORMAT "]}", offset, offset + bytes);
    offset += bytes;
  }
  g_string_append (header, "}");

  GByteArray *out = g_byte_array_new ();
  guint8 len[8];
  for (int i = 0; i < 8; i++)
    len[i] = (guint8) ((guint64) header->len >> (8 * i));
  g_byte_array_append (out, len, 8);
  g_byte_array_append (out, (guint8 *) header->str, header->len);
  /* A xorshift generator: fast enough for ResNet-50's 25 M values. */
  guint32 state = spec->seed * 2654435761u + 1;
  for (guint i = 0; i < w.entries->len; i++) {
    Entry *e = w.entries->pdata[i];
    gint64 n = entry_elements (e);
    gsize at = out->len;
    g_byte_array_set_size (out, at + n * (e->f64 ? 8 : 4));
    for (gint64 k = 0; k < n; k++) {
      state ^= state << 13;
      state ^= state >> 17;
      state ^= state << 5;
      double u = state / 4294967296.0;
      double v = is_variance (e) ? 0.5 + 1.5 * u : 0.2 * u - 0.1;
      if (e->f64) {
        memcpy (out->data + at + 8 * k, &v, 8);
      } else {
        float f = v;
        memcpy (out->data + at + 4 * k, &f, 4);
      }
    }
  }
  gboolean ok = g_file_set_contents (path, (char *) out->data, out->len, error);
  g_byte_array_unref (out);
  g_string_free (header, TRUE);
  g_ptr_array_unref (w.entries);
  return ok;
}
