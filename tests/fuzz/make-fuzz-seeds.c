/* make-fuzz-seeds.c: writes the starting corpora of the fuzz targets from
 * valid files (nothing large is committed):
 *
 *   make-fuzz-seeds OUTDIR
 *     OUTDIR/safetensors/   the head-only model, a feature file, hand-made
 *                           containers (every dtype, empty and rank-8
 *                           tensors, metadata only)
 *     OUTDIR/model/         head-only models under every head kind and
 *                           naming scheme, with and without metadata and a
 *                           stored positional table; ResNet-18/50 skeletons
 *                           (every tensor name, one float each)
 *     OUTDIR/features/      feature files for the fuzzers' head-only model
 *     OUTDIR/support-dir/   programs for fuzz-support-dir (see its header)
 *     OUTDIR/bundle/        support-set bundles (fuzz-bundle-seeds.c)
 *
 * The models are the ones fuzz-common.c loads, so the feature files carry
 * the right fingerprint. */
#include "fuzz-common.h"
#include "hyrsm-safetensors.h"
#include "test-model-writer.h"

#include <glib/gstdio.h>
#include <stdio.h>
#include <string.h>

static char *outdir;

void fuzz_bundle_seeds (const char *outdir);

static void
put (const char *target, const char *name, const void *data, gsize size)
{
  g_autofree char *dir = g_build_filename (outdir, target, NULL);
  g_mkdir_with_parents (dir, 0755);
  g_autofree char *path = g_build_filename (dir, name, NULL);
  GError *error = NULL;
  if (!g_file_set_contents (path, data, size, &error))
    g_error ("%s", error->message);
}

static void
put_file (const char *target, const char *name, const char *src)
{
  gchar *data;
  gsize size;
  GError *error = NULL;
  if (!g_file_get_contents (src, &data, &size, &error))
    g_error ("%s", error->message);
  put (target, name, data, size);
  g_free (data);
}

/* A container from a JSON header and @data_len bytes of data. */
static void
put_container (const char *target, const char *name, const char *header,
    gsize data_len)
{
  gsize hlen = strlen (header);
  GByteArray *b = g_byte_array_new ();
  guint8 len[8];
  for (int i = 0; i < 8; i++)
    len[i] = (guint8) ((guint64) hlen >> (8 * i));
  g_byte_array_append (b, len, 8);
  g_byte_array_append (b, (const guint8 *) header, hlen);
  for (gsize i = 0; i < data_len; i++) {
    guint8 v = (guint8) (i * 37 + 11);
    g_byte_array_append (b, &v, 1);
  }
  put (target, name, b->data, b->len);
  g_byte_array_unref (b);
}

static void
write_model (const char *name, const TestModelSpec *spec)
{
  g_autofree char *tmp = g_build_filename (fuzz_tmpdir (), name, NULL);
  GError *error = NULL;
  if (!test_model_write (tmp, spec, &error))
    g_error ("%s", error->message);
  put_file ("model", name, tmp);
}

/* Every tensor name of a backbone, each holding one float: the loader gets
 * as far as the first shape check, the fuzzer can go on from there. */
static void
write_skeleton (const char *name, const char *backbone)
{
  g_autofree char *tmp = g_build_filename (fuzz_tmpdir (), "full.safetensors",
      NULL);
  TestModelSpec spec = {.backbone = backbone };
  GError *error = NULL;
  if (!test_model_write (tmp, &spec, &error))
    g_error ("%s", error->message);
  HyrsmSafetensors *st = hyrsm_safetensors_open (tmp, &error);
  if (st == NULL)
    g_error ("%s", error->message);
  guint n = hyrsm_safetensors_get_n_tensors (st);
  HyrsmTensorWrite *w = g_new0 (HyrsmTensorWrite, n);
  static const float one = 1.0f;
  for (guint i = 0; i < n; i++) {
    w[i].name = hyrsm_safetensors_get_tensor (st, i)->name;
    w[i].rank = 1;
    w[i].shape[0] = 1;
    w[i].data = &one;
  }
  g_autofree char *out = g_build_filename (fuzz_tmpdir (), name, NULL);
  GHashTable *meta = g_hash_table_new (g_str_hash, g_str_equal);
  g_hash_table_insert (meta, "hyrsm.backbone", (gpointer) backbone);
  if (!hyrsm_safetensors_write (out, w, n, meta, &error))
    g_error ("%s", error->message);
  g_hash_table_unref (meta);
  g_free (w);
  hyrsm_safetensors_free (st);
  g_unlink (tmp);
  put_file ("model", name, out);
}

static void
models (void)
{
  static const char *const meta[] = { "hyrsm.frames", "4", "hyrsm.resize",
    "40", "hyrsm.crop", "32", "hyrsm.mean", "0.5,0.5,0.5", "hyrsm.std",
    "0.25,0.25,0.25", "hyrsm.position_a", "3", "hyrsm.position_b", "0.5",
    NULL
  };
  g_autofree char *head = g_build_filename (fuzz_tmpdir (),
      "head.safetensors", NULL);
  GError *error = NULL;
  if (!fuzz_write_head_model (head, &error))
    g_error ("%s", error->message);
  put_file ("model", "head-1shot.safetensors", head);
  put_file ("safetensors", "head-1shot.safetensors", head);

  TestModelSpec specs[] = {
    {.head = "5shot",.head_dim = 8},
    {.head = "unnamed",.head_dim = 16,.store_pe = TRUE},
    {.head = "1shot",.head_dim = 8,.name_prefix = "module.head."},
    {.head = "1shot",.head_dim = 8,.no_metadata = TRUE},
    {.head = "5shot",.head_dim = 8,.extra_metadata = meta},
  };
  const char *names[] = { "head-5shot.safetensors",
    "head-unnamed-pe.safetensors", "head-prefixed.safetensors",
    "head-no-metadata.safetensors", "head-metadata.safetensors"
  };
  for (guint i = 0; i < G_N_ELEMENTS (specs); i++)
    write_model (names[i], &specs[i]);
  write_skeleton ("resnet18-skeleton.safetensors", "resnet18");
  write_skeleton ("resnet50-skeleton.safetensors", "resnet50");
}

static void
containers (void)
{
  put_container ("safetensors", "empty-header.safetensors", "{}", 0);
  put_container ("safetensors", "metadata-only.safetensors",
      "{\"__metadata__\":{\"a\":\"b\",\"hyrsm.frames\":\"8\"}}", 0);
  put_container ("safetensors", "dtypes.safetensors",
      "{\"b\":{\"dtype\":\"BOOL\",\"shape\":[2],\"data_offsets\":[0,2]},"
      "\"u\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[2,4]},"
      "\"h\":{\"dtype\":\"F16\",\"shape\":[2],\"data_offsets\":[4,8]},"
      "\"bf\":{\"dtype\":\"BF16\",\"shape\":[2],\"data_offsets\":[8,12]},"
      "\"i\":{\"dtype\":\"I32\",\"shape\":[1],\"data_offsets\":[12,16]},"
      "\"f\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[16,24]},"
      "\"d\":{\"dtype\":\"F64\",\"shape\":[1],\"data_offsets\":[24,32]},"
      "\"l\":{\"dtype\":\"I64\",\"shape\":[1],\"data_offsets\":[32,40]}}", 40);
  put_container ("safetensors", "empty-tensors.safetensors",
      "{\"z\":{\"dtype\":\"F32\",\"shape\":[0,3],\"data_offsets\":[0,0]},"
      "\"s\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[0,4]},"
      "\"y\":{\"dtype\":\"F32\",\"shape\":[3,0],\"data_offsets\":[4,4]}}", 4);
  put_container ("safetensors", "rank8.safetensors",
      "{\"r\":{\"dtype\":\"F32\",\"shape\":[1,1,1,1,1,1,2,1],"
      "\"data_offsets\":[0,8]}}", 8);
}

static void
features (void)
{
  HyrsmModel *model = fuzz_head_model ();
  guint T = hyrsm_model_get_frames (model);
  guint D = hyrsm_model_get_feature_dim (model);
  float *f = g_new (float, (gsize) T * D);
  for (gsize i = 0; i < (gsize) T * D; i++)
    f[i] = (float) i / 7.0f;
  g_autoptr (GHashTable) extra = g_hash_table_new (g_str_hash, g_str_equal);
  g_hash_table_insert (extra, HYRSM_FEATURES_KEY_SOURCE_SIZE, "1234");
  g_hash_table_insert (extra, HYRSM_FEATURES_KEY_SOURCE_MTIME, "5678");
  g_hash_table_insert (extra, HYRSM_FEATURES_KEY_DURATION, "1600000000");
  struct
  {
    const char *name;
    const char *fingerprint;
    GHashTable *extra;
    guint frames;
  } cases[] = {
    {"valid.hyrsm", hyrsm_model_get_fingerprint (model), extra, T},
    {"no-fingerprint.hyrsm", NULL, NULL, T},
    {"other-model.hyrsm", "0123456789abcdef", NULL, T},
    {"short.hyrsm", hyrsm_model_get_fingerprint (model), NULL, T - 1},
  };
  for (guint i = 0; i < G_N_ELEMENTS (cases); i++) {
    g_autofree char *tmp = g_build_filename (fuzz_tmpdir (), cases[i].name,
        NULL);
    GError *error = NULL;
    if (!hyrsm_features_save (tmp, f, cases[i].frames, D,
            cases[i].fingerprint, "clip.avi", cases[i].extra, &error))
      g_error ("%s", error->message);
    put_file ("features", cases[i].name, tmp);
    if (i == 0)
      put_file ("safetensors", "features.hyrsm", tmp);
  }
  g_free (f);
}

/* Programs for fuzz-support-dir: opcodes as in its header. */
static void
support_programs (void)
{
  enum
  { LABEL, RAW, CLIP, TRUNC, CORRUPT, FEATURES, FRAMES, LINK, EMPTY, POISON,
    CACHE_FILE, FIFO, NESTED
  };
  /* name: length byte (len - 1), then bytes; ext: index in extensions[] */
#define NAME1(c) 0, c
  const guint8 one_clip[] = { 0, LABEL, NAME1 ('a'), CLIP, NAME1 ('c'), 0 };
  const guint8 two_labels[] = { 0, LABEL, NAME1 ('a'), CLIP, NAME1 ('c'), 0,
    FEATURES, NAME1 ('f'), 0, LABEL, NAME1 ('b'), FEATURES, NAME1 ('g'), 1,
    10, 0, 0xff, TRUNC, NAME1 ('t'), 1, 0x00, 0x02, EMPTY, NAME1 ('e'), 1,
    RAW, NAME1 ('n'), 4, 5, 'h', 'e', 'l', 'l', 'o'
  };
  const guint8 frames[] = { 0, LABEL, NAME1 ('a'), FRAMES, NAME1 ('x'), 4,
    0, NAME1 ('1'), 1, NAME1 ('2'), 2, NAME1 ('3'), 20, 3, NAME1 ('4'),
    POISON, 1, 2, 100, 0, 0x41
  };
  const guint8 cache[] = { 0, CACHE_FILE, LABEL, NAME1 ('a'), CLIP,
    NAME1 ('c'), 2, CORRUPT, NAME1 ('d'), 0, 3, 0x10, 0x00, 0x00, 0x40,
    0x00, 0x7f, 0x80, 0x00, 0x12
  };
  const guint8 links[] = { 1, LABEL, NAME1 ('a'), LINK, NAME1 ('l'), 0,
    LINK, NAME1 ('m'), 1, LINK, NAME1 ('n'), 2, LINK, NAME1 ('o'), 3,
    NESTED, NAME1 ('s'), FEATURES, NAME1 ('f'), 0
  };
  const guint8 cancel[] = { 4 | (1 << 3), LABEL, NAME1 ('a'), CLIP,
    NAME1 ('c'), 0, CLIP, NAME1 ('d'), 2, LABEL, NAME1 ('b'), FEATURES,
    NAME1 ('f'), 0
  };
  const guint8 refresh[] = { 2, LABEL, NAME1 ('a'), CLIP, NAME1 ('c'), 0,
    POISON, 0, 3, 1, 2, 3
  };
  struct
  {
    const char *name;
    const guint8 *data;
    gsize size;
  } progs[] = {
    {"one-clip", one_clip, sizeof one_clip},
    {"two-labels", two_labels, sizeof two_labels},
    {"frames", frames, sizeof frames},
    {"cache-is-a-file", cache, sizeof cache},
    {"links", links, sizeof links},
    {"cancel", cancel, sizeof cancel},
    {"refresh-poisoned", refresh, sizeof refresh},
  };
  for (guint i = 0; i < G_N_ELEMENTS (progs); i++)
    put ("support-dir", progs[i].name, progs[i].data, progs[i].size);
}

int
main (int argc, char **argv)
{
  if (argc != 2) {
    fprintf (stderr, "usage: make-fuzz-seeds OUTDIR\n");
    return 2;
  }
  outdir = argv[1];
  models ();
  containers ();
  features ();
  support_programs ();
  fuzz_bundle_seeds (outdir);
  return 0;
}
