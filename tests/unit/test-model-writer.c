/* test-model-writer.c: synthetic model files for the tests (see the header).
 * Weights are small pseudo-random numbers: the loader tests care about
 * names, shapes and dtypes, not values. */
#include "test-model-writer.h"

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
  static const char *const map[][2] = {
    {"conv1.", "backbone.0."}, {"bn1.", "backbone.1."},
    {"layer1.", "backbone.4."}, {"layer2.", "backbone.5."},
    {"layer3.", "backbone.6."}, {"layer4.", "backbone.7."},
  };
  for (guint i = 0; i < G_N_ELEMENTS (map); i++)
    if (g_str_has_prefix (canonical, map[i][0])) {
      *owned = g_strconcat (map[i][1], canonical + strlen (map[i][0]), NULL);
      return *owned;
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

static void
add_conv_bn (Writer *w, const char *conv, const char *bn, int in, int out,
    int k)
{
  g_autofree char *wn = g_strconcat (conv, ".weight", NULL);
  add (w, TRUE, wn, 4, out, in, k, k);
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
  if (backbone == NULL)
    return 0;
  return g_str_equal (backbone, "resnet50") ? 2048 : 512;
}

static void
add_backbone (Writer *w, const char *kind)
{
  static const int basic18[4] = { 2, 2, 2, 2 }, deep[4] = { 3, 4, 6, 3 };
  gboolean bottleneck = g_str_equal (kind, "resnet50");
  const int *blocks = g_str_equal (kind, "resnet18") ? basic18 : deep;
  add_conv_bn (w, "conv1", "bn1", 3, 64, 7);
  int in = 64;
  for (int layer = 1; layer <= 4; layer++) {
    int width = 64 << (layer - 1), out = bottleneck ? width * 4 : width;
    for (int b = 0; b < blocks[layer - 1]; b++) {
      g_autofree char *p = g_strdup_printf ("layer%d.%d", layer, b);
      g_autofree char *c1 = g_strconcat (p, ".conv1", NULL);
      g_autofree char *b1 = g_strconcat (p, ".bn1", NULL);
      g_autofree char *c2 = g_strconcat (p, ".conv2", NULL);
      g_autofree char *b2 = g_strconcat (p, ".bn2", NULL);
      g_autofree char *c3 = g_strconcat (p, ".conv3", NULL);
      g_autofree char *b3 = g_strconcat (p, ".bn3", NULL);
      g_autofree char *ds = g_strconcat (p, ".downsample.0", NULL);
      g_autofree char *dsbn = g_strconcat (p, ".downsample.1", NULL);
      if (bottleneck) {
        add_conv_bn (w, c1, b1, in, width, 1);
        add_conv_bn (w, c2, b2, width, width, 3);
        add_conv_bn (w, c3, b3, width, out, 1);
      } else {
        add_conv_bn (w, c1, b1, in, width, 3);
        add_conv_bn (w, c2, b2, width, width, 3);
      }
      if (b == 0 && (layer > 1 || in != out))
        add_conv_bn (w, ds, dsbn, in, out, 1);
      in = out;
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
