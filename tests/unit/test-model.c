/* test-model.c: the safetensors parser and the model loader, on generated
 * files: every supported architecture and naming scheme, and the malformed
 * inputs a user may hand us (each must fail with a specific HyrsmError and
 * a message naming the file and the tensor or key at fault). */
#include "hyrsm.h"
#include "hyrsm-model-private.h"
#include "hyrsm-safetensors.h"
#include "test-model-writer.h"

#include <glib/gstdio.h>
#include <math.h>
#include <string.h>

static char *tmpdir;

static char *
tmp_path (const char *name)
{
  return g_build_filename (tmpdir, name, NULL);
}

/* ---- raw container files ---- */

static char *
write_raw (const char *name, const char *header, gsize header_len_field,
    gsize data_len)
{
  char *path = tmp_path (name);
  gsize hlen = strlen (header);
  gsize size = 8 + hlen + data_len;
  guint8 *buf = g_malloc0 (size);
  for (int i = 0; i < 8; i++)
    buf[i] = (guint8) ((guint64) header_len_field >> (8 * i));
  memcpy (buf + 8, header, hlen);
  g_assert_true (g_file_set_contents (path, (char *) buf, size, NULL));
  g_free (buf);
  return path;
}

static char *
write_container (const char *name, const char *header, gsize data_len)
{
  return write_raw (name, header, strlen (header), data_len);
}

static void
assert_open_fails (const char *path, int code, const char *needle)
{
  g_autoptr (GError) error = NULL;
  HyrsmSafetensors *st = hyrsm_safetensors_open (path, &error);
  g_assert_null (st);
  g_assert_error (error, HYRSM_ERROR, code);
  g_assert_nonnull (strstr (error->message, path));
  if (needle && !strstr (error->message, needle))
    g_error ("message \"%s\" does not mention \"%s\"", error->message, needle);
}

static void
test_container_valid (void)
{
  g_autofree char *path = write_container ("valid.safetensors",
      "{\"__metadata__\":{\"k\":\"v\"},"
      "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,16]},"
      "\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
      "\"e\":{\"dtype\":\"F32\",\"shape\":[0,3],\"data_offsets\":[16,16]}}",
      16);
  g_autoptr (GError) error = NULL;
  HyrsmSafetensors *st = hyrsm_safetensors_open (path, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (hyrsm_safetensors_get_n_tensors (st), ==, 3);
  g_assert_cmpstr (hyrsm_safetensors_get_tensor (st, 0)->name, ==, "a");
  g_assert_cmpstr (hyrsm_safetensors_get_metadata (st, "k"), ==, "v");
  g_assert_cmpint (hyrsm_safetensors_lookup (st, "b")->n_elements, ==, 2);
  g_assert_cmpint (hyrsm_safetensors_lookup (st, "e")->n_elements, ==, 0);
  hyrsm_safetensors_free (st);
}

static void
test_container_truncated (void)
{
  g_autofree char *path = tmp_path ("short.safetensors");
  g_assert_true (g_file_set_contents (path, "\x10\x00\x00", 3, NULL));
  assert_open_fails (path, HYRSM_ERROR_BAD_FORMAT, "truncated");
  g_autofree char *empty = tmp_path ("empty.safetensors");
  g_assert_true (g_file_set_contents (empty, "", 0, NULL));
  assert_open_fails (empty, HYRSM_ERROR_BAD_FORMAT, "truncated");
}

static void
test_container_header_past_end (void)
{
  g_autofree char *path = write_raw ("past.safetensors", "{}", 4096, 0);
  assert_open_fails (path, HYRSM_ERROR_BAD_FORMAT, "past the end");
  /* A length near 2^64 must not wrap around. */
  g_autofree char *huge = write_raw ("huge-header.safetensors", "{}",
      G_MAXUINT64 - 4, 0);
  assert_open_fails (huge, HYRSM_ERROR_BAD_FORMAT, "past the end");
}

static void
test_container_not_json (void)
{
  g_autofree char *a = write_container ("notjson.safetensors",
      "{\"a\": [1, 2", 0);
  assert_open_fails (a, HYRSM_ERROR_BAD_FORMAT, "not JSON");
  g_autofree char *b = write_container ("array.safetensors", "[1, 2, 3]", 0);
  assert_open_fails (b, HYRSM_ERROR_BAD_FORMAT, "not a JSON object");
  g_autofree char *c = write_container ("binary.safetensors",
      "{\"\xff\xfe\":1}", 0);
  assert_open_fails (c, HYRSM_ERROR_BAD_FORMAT, "UTF-8");
  g_autofree char *d = write_container ("meta.safetensors",
      "{\"__metadata__\":{\"k\":3}}", 0);
  assert_open_fails (d, HYRSM_ERROR_BAD_FORMAT, "__metadata__");
}

/* The header is UTF-8, but a lone surrogate escape decodes to bytes that
 * are not: the file is refused and the message stays UTF-8. json-glib 1.6
 * (Debian 12) decodes the escape and our check of every string refuses it;
 * json-glib 1.10 (Debian 13) refuses it while parsing ("malformed
 * surrogate pair"). */
static void
test_container_lone_surrogate (void)
{
  static const char *headers[] = {
    "{\"__metadata__\":{\"k\":\"\\ud800x\"}}",
    "{\"__metadata__\":{\"\\ud800x\":\"v\"}}",
    "{\"\\ud800x\":{\"dtype\":\"F32\",\"shape\":[1],"
        "\"data_offsets\":[0,4]}}",
    "{\"w\":{\"dtype\":\"\\ud800x\",\"shape\":[1],"
        "\"data_offsets\":[0,4]}}",
  };
  for (guint i = 0; i < G_N_ELEMENTS (headers); i++) {
    g_autofree char *name = g_strdup_printf ("surrogate-%u.safetensors", i);
    g_autofree char *path = write_container (name, headers[i], 4);
    g_autoptr (GError) error = NULL;
    g_assert_null (hyrsm_safetensors_open (path, &error));
    g_assert_error (error, HYRSM_ERROR, HYRSM_ERROR_BAD_FORMAT);
    g_assert_true (g_utf8_validate (error->message, -1, NULL));
    g_assert_true (strstr (error->message, "not UTF-8") != NULL
        || strstr (error->message, "surrogate") != NULL);
  }
}

static void
test_container_offsets_outside (void)
{
  g_autofree char *path = write_container ("outside.safetensors",
      "{\"w\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}", 8);
  assert_open_fails (path, HYRSM_ERROR_BAD_FORMAT, "\"w\"");
}

static void
test_container_overlap (void)
{
  g_autofree char *path = write_container ("overlap.safetensors",
      "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
      "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}", 12);
  assert_open_fails (path, HYRSM_ERROR_BAD_FORMAT, "overlaps");
}

static void
test_container_unsorted (void)
{
  g_autofree char *backwards = write_container ("backwards.safetensors",
      "{\"a\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[8,0]}}", 8);
  assert_open_fails (backwards, HYRSM_ERROR_BAD_FORMAT, "backwards");
  g_autofree char *gap = write_container ("gap.safetensors",
      "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", 8);
  assert_open_fails (gap, HYRSM_ERROR_BAD_FORMAT, "gap");
  g_autofree char *tail = write_container ("tail.safetensors",
      "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 8);
  assert_open_fails (tail, HYRSM_ERROR_BAD_FORMAT, "after the last tensor");
}

static void
test_container_bad_dtype (void)
{
  g_autofree char *path = write_container ("dtype.safetensors",
      "{\"a\":{\"dtype\":\"F128\",\"shape\":[1],\"data_offsets\":[0,16]}}",
      16);
  assert_open_fails (path, HYRSM_ERROR_BAD_FORMAT, "F128");
  g_autofree char *size = write_container ("dtype-size.safetensors",
      "{\"a\":{\"dtype\":\"F64\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4);
  assert_open_fails (size, HYRSM_ERROR_BAD_FORMAT, "bytes of data");
}

static void
test_container_bad_shape (void)
{
  g_autofree char *neg = write_container ("neg.safetensors",
      "{\"a\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,4]}}", 4);
  assert_open_fails (neg, HYRSM_ERROR_BAD_FORMAT, "dimension 0");
  g_autofree char *str = write_container ("strshape.safetensors",
      "{\"a\":{\"dtype\":\"F32\",\"shape\":\"4\",\"data_offsets\":[0,4]}}", 4);
  assert_open_fails (str, HYRSM_ERROR_BAD_FORMAT, "shape");
  g_autofree char *rank = write_container ("rank.safetensors",
      "{\"a\":{\"dtype\":\"F32\",\"shape\":[1,1,1,1,1,1,1,1,1],"
      "\"data_offsets\":[0,4]}}", 4);
  assert_open_fails (rank, HYRSM_ERROR_BAD_FORMAT, "rank");
}

static void
test_container_huge_sizes (void)
{
  /* Declared sizes far beyond the file: must fail on the checks, with no
   * allocation of the declared size (ASan/valgrind runs would see one). */
  g_autofree char *a = write_container ("huge1.safetensors",
      "{\"a\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296],"
      "\"data_offsets\":[0,4]}}", 4);
  assert_open_fails (a, HYRSM_ERROR_BAD_FORMAT, "overflows");
  g_autofree char *b = write_container ("huge2.safetensors",
      "{\"a\":{\"dtype\":\"F32\",\"shape\":[1000000000000],"
      "\"data_offsets\":[0,4000000000000]}}", 4);
  assert_open_fails (b, HYRSM_ERROR_BAD_FORMAT, "past the data");
  g_autofree char *c = write_container ("huge3.safetensors",
      "{\"a\":{\"dtype\":\"F32\",\"shape\":[99999999999999999999],"
      "\"data_offsets\":[0,4]}}", 4);
  assert_open_fails (c, HYRSM_ERROR_BAD_FORMAT, NULL);
}

static void
test_container_from_bytes (void)
{
  g_autoptr (GBytes) empty = g_bytes_new (NULL, 0);
  g_autoptr (GError) error = NULL;
  g_assert_null (hyrsm_safetensors_new_from_bytes (empty, "mem", &error));
  g_assert_error (error, HYRSM_ERROR, HYRSM_ERROR_BAD_FORMAT);
}

static void
test_container_roundtrip (void)
{
  g_autofree char *path = tmp_path ("written.safetensors");
  float data[6] = { 1, 2, 3, 4, 5, 6 };
  HyrsmTensorWrite t = {.name = "features",.rank = 2,.shape = {3, 2},
    .data = data
  };
  g_autoptr (GHashTable) meta = g_hash_table_new (g_str_hash, g_str_equal);
  g_hash_table_insert (meta, "source", "clip.mp4");
  g_autoptr (GError) error = NULL;
  g_assert_true (hyrsm_safetensors_write (path, &t, 1, meta, &error));
  HyrsmSafetensors *st = hyrsm_safetensors_open (path, &error);
  g_assert_no_error (error);
  const HyrsmTensorInfo *info = hyrsm_safetensors_lookup (st, "features");
  g_assert_nonnull (info);
  g_assert_cmpint (info->shape[0], ==, 3);
  float back[6];
  hyrsm_tensor_copy_f32 (info, back);
  g_assert_cmpmem (back, sizeof back, data, sizeof data);
  g_assert_cmpstr (hyrsm_safetensors_get_metadata (st, "source"), ==,
      "clip.mp4");
  hyrsm_safetensors_free (st);
}

/* ---- models ---- */

static HyrsmModel *
load_spec (const char *name, const TestModelSpec *spec, GError **error)
{
  g_autofree char *path = tmp_path (name);
  g_assert_true (test_model_write (path, spec, NULL));
  return hyrsm_model_new_from_file (path, error);
}

static void
assert_load_fails (const char *name, const TestModelSpec *spec, int code,
    const char *needle)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *path = tmp_path (name);
  HyrsmModel *model = load_spec (name, spec, &error);
  g_assert_null (model);
  g_assert_error (error, HYRSM_ERROR, code);
  if (!strstr (error->message, path))
    g_error ("message \"%s\" does not name the file", error->message);
  if (needle && !strstr (error->message, needle))
    g_error ("message \"%s\" does not mention \"%s\"", error->message, needle);
}

typedef struct
{
  const char *backbone;
  gboolean authors;
  const char *head;
  guint64 backbone_params;      /* torchvision's count without fc */
} ValidCase;

static void
test_model_valid (gconstpointer data)
{
  const ValidCase *c = data;
  TestModelSpec spec = {.backbone = c->backbone,.authors_names = c->authors,
    .head = c->head,.head_dim = c->backbone ? 0 : 512,.seed = 7
  };
  if (c->authors)
    spec.name_prefix = "module.head.";
  g_autoptr (GError) error = NULL;
  g_autoptr (HyrsmModel) model = load_spec ("valid-model.safetensors", &spec,
      &error);
  g_assert_no_error (error);
  g_assert_cmpstr (hyrsm_model_get_backbone (model), ==,
      c->backbone ? c->backbone : "none");
  g_assert_cmpint (hyrsm_model_has_backbone (model), ==, c->backbone != NULL);
  const char *want_head = c->head == NULL ? "none" :
      g_str_equal (c->head, "unnamed") ? "auto" : c->head;
  g_assert_cmpstr (hyrsm_model_get_head (model), ==, want_head);
  g_assert_cmpuint (hyrsm_model_get_frames (model), ==, 8);
  guint dim = c->backbone ? test_model_feature_dim (c->backbone) : 512;
  g_assert_cmpuint (hyrsm_model_get_feature_dim (model), ==, dim);
  /* qkv 3D², out D², w_qs/ks/vs 3D², fc D², fuse 2D²; 7 vectors of D. */
  guint64 head_params = c->head ? (guint64) 10 * dim * dim + 7 * dim : 0;
  g_assert_cmpuint (hyrsm_model_get_parameter_count (model), ==,
      c->backbone_params + head_params);
  g_assert_cmpuint (hyrsm_model_get_crop (model), ==, 224);
  g_assert_cmpuint (strlen (hyrsm_model_get_fingerprint (model)), ==, 16);
  if (c->backbone) {
    const HyrsmBackboneWeights *w = hyrsm_model_get_backbone_weights (model);
    g_assert_nonnull (w);
    g_assert_cmpint (w->feature_dim, ==, dim);
  }
}

static void
test_model_inferred_metadata (void)
{
  TestModelSpec plain = {.backbone = "resnet18",.no_metadata = TRUE };
  g_autoptr (GError) error = NULL;
  g_autoptr (HyrsmModel) tv = load_spec ("plain.safetensors", &plain, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (hyrsm_model_get_backbone (tv), ==, "resnet18");
  g_assert_cmpstr (hyrsm_model_get_head (tv), ==, "none");
  double r, g, b;
  hyrsm_model_get_mean (tv, &r, &g, &b);
  g_assert_cmpfloat_with_epsilon (r, 0.485, 1e-6);      /* ImageNet's */
  g_assert_cmpuint (hyrsm_model_get_resize (tv), ==, 256);

  TestModelSpec authors = {.backbone = "resnet50",.authors_names = TRUE,
    .head = "unnamed",.no_metadata = TRUE
  };
  g_autoptr (HyrsmModel) au = load_spec ("authors.safetensors", &authors,
      &error);
  g_assert_no_error (error);
  g_assert_cmpstr (hyrsm_model_get_backbone (au), ==, "resnet50");
  g_assert_cmpstr (hyrsm_model_get_head (au), ==, "auto");
  g_assert_cmpuint (hyrsm_model_get_feature_dim (au), ==, 2048);
  hyrsm_model_get_std (au, &r, &g, &b);
  g_assert_cmpfloat_with_epsilon (b, 0.225, 1e-6);      /* the authors' */
  g_assert_cmpfloat (hyrsm_model_get_position_a (au), ==, 10);
}

static void
test_model_explicit_metadata (void)
{
  const char *const meta[] = { "hyrsm.crop", "112", "hyrsm.resize", "128",
    "hyrsm.mean", "0.5, 0.4,0.3", "hyrsm.position_a", "4", NULL
  };
  TestModelSpec spec = {.backbone = "resnet18",.extra_metadata = meta,
    .head = "5shot",.store_pe = TRUE
  };
  g_autoptr (GError) error = NULL;
  g_autoptr (HyrsmModel) model = load_spec ("meta.safetensors", &spec, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (hyrsm_model_get_crop (model), ==, 112);
  g_assert_cmpuint (hyrsm_model_get_resize (model), ==, 128);
  double r, g, b;
  hyrsm_model_get_mean (model, &r, &g, &b);
  g_assert_cmpfloat_with_epsilon (g, 0.4, 1e-6);
  g_assert_cmpfloat (hyrsm_model_get_position_a (model), ==, 4);
  g_assert_cmpint (hyrsm_model_get_head_weights (model)->pe_rows, ==, 20);
  g_auto (GStrv) keys = hyrsm_model_list_metadata (model);
  g_assert_true (g_strv_contains ((const char *const *) keys, "hyrsm.crop"));
}

static void
test_model_positional_table (void)
{
  TestModelSpec spec = {.head = "1shot",.head_dim = 64 };
  g_autoptr (GError) error = NULL;
  g_autoptr (HyrsmModel) model = load_spec ("pe.safetensors", &spec, &error);
  g_assert_no_error (error);
  const HyrsmHeadWeights *h = hyrsm_model_get_head_weights (model);
  /* docs/model.md: the exponent uses j itself (2j/D), not 2*floor(j/2)/D. */
  int t = 3, j = 5, D = 64;
  double want = cos (t / pow (10000.0, 2.0 * j / D));
  g_assert_cmpfloat_with_epsilon (h->pe[t * D + j], want, 1e-6);
  g_assert_cmpfloat_with_epsilon (h->pe[t * D + 4],
      sin (t / pow (10000.0, 8.0 / D)), 1e-6);
}

static void
test_model_wrong_dtype (void)
{
  TestModelSpec spec = {.backbone = "resnet18",.f64_tensor = "layer3.1.bn2.running_var" };
  assert_load_fails ("f64.safetensors", &spec, HYRSM_ERROR_BAD_DTYPE,
      "layer3.1.bn2.running_var");
  TestModelSpec head = {.head = "1shot",.head_dim = 64,
    .f64_tensor = "temporal_atte.w_ks.weight"
  };
  assert_load_fails ("f64-head.safetensors", &head, HYRSM_ERROR_BAD_DTYPE,
      "temporal_atte.w_ks.weight");
}

static void
test_model_wrong_shape (void)
{
  TestModelSpec spec = {.backbone = "resnet50",.authors_names = TRUE,
    .reshape_tensor = "layer2.0.conv2.weight"
  };
  /* The message names the tensor as the file does. */
  assert_load_fails ("shape.safetensors", &spec, HYRSM_ERROR_SHAPE_MISMATCH,
      "backbone.5.0.conv2.weight");
  TestModelSpec head = {.head = "5shot",.head_dim = 64,
    .reshape_tensor = "temporal_atte_before.fn.to_qkv.weight"
  };
  assert_load_fails ("shape-head.safetensors", &head,
      HYRSM_ERROR_SHAPE_MISMATCH, "to_qkv");
  TestModelSpec fuse = {.head = "5shot",.head_dim = 64,
    .reshape_tensor = "layer2.0.weight"
  };
  assert_load_fails ("shape-fuse.safetensors", &fuse,
      HYRSM_ERROR_SHAPE_MISMATCH, "layer2.0.weight");
  TestModelSpec narrow = {.backbone = "resnet50",.head = "1shot",
    .head_dim = 512
  };
  assert_load_fails ("narrow-head.safetensors", &narrow,
      HYRSM_ERROR_SHAPE_MISMATCH, "does not match the backbone's 2048");
}

static void
test_model_missing_tensor (void)
{
  TestModelSpec spec = {.backbone = "resnet34",
    .drop_tensor = "layer3.0.downsample.1.running_mean"
  };
  assert_load_fails ("missing.safetensors", &spec,
      HYRSM_ERROR_MISSING_TENSOR, "layer3.0.downsample.1.running_mean");
  TestModelSpec head = {.backbone = "resnet18",.head = "1shot",
    .drop_tensor = "temporal_atte.layer_norm.bias"
  };
  assert_load_fails ("missing-head.safetensors", &head,
      HYRSM_ERROR_MISSING_TENSOR, "temporal_atte.layer_norm.bias");
  TestModelSpec declared = {.backbone = "resnet18",.drop_tensor = "conv1.weight" };
  assert_load_fails ("missing-conv1.safetensors", &declared,
      HYRSM_ERROR_MISSING_TENSOR, "conv1.weight");
}

static void
test_model_unknown_architecture (void)
{
  /* ResNet-50 with one block of layer4 removed: 3,4,6,2. */
  TestModelSpec spec = {.backbone = "resnet50",.no_metadata = TRUE,
    .drop_tensor = "layer4.2.conv1.weight"
  };
  assert_load_fails ("arch.safetensors", &spec,
      HYRSM_ERROR_UNSUPPORTED_ARCHITECTURE, "3, 4, 6, 2");
  const char *const r101[] = { "hyrsm.backbone", "resnet101", NULL };
  TestModelSpec named = {.extra_metadata = r101,.head = "1shot",
    .head_dim = 64
  };
  assert_load_fails ("r101.safetensors", &named,
      HYRSM_ERROR_UNSUPPORTED_ARCHITECTURE, "resnet101");
  /* resnet18 tensors declared as resnet34 (JSON keeps the last key, so
   * the extra metadata overrides the writer's own hyrsm.backbone). */
  const char *const meta34[] = { "hyrsm.backbone", "resnet34", NULL };
  TestModelSpec lie = {.backbone = "resnet18",.extra_metadata = meta34 };
  assert_load_fails ("lie.safetensors", &lie,
      HYRSM_ERROR_UNSUPPORTED_ARCHITECTURE, "resnet34");
  const char *const head7[] = { "hyrsm.head", "7shot", NULL };
  TestModelSpec head = {.head = "unnamed",.head_dim = 64,
    .extra_metadata = head7
  };
  assert_load_fails ("head7.safetensors", &head,
      HYRSM_ERROR_UNSUPPORTED_ARCHITECTURE, "7shot");
  TestModelSpec nothing = {.no_metadata = TRUE };
  assert_load_fails ("nothing.safetensors", &nothing,
      HYRSM_ERROR_UNSUPPORTED_ARCHITECTURE, "neither");
}

static void
test_model_bad_metadata (void)
{
  static const char *const cases[][3] = {
    {"hyrsm.frames", "eight", "hyrsm.frames"},
    {"hyrsm.frames", "0", "hyrsm.frames"},
    {"hyrsm.mean", "0.4,0.4", "hyrsm.mean"},
    {"hyrsm.std", "0.2,0,0.2", "hyrsm.std"},
    {"hyrsm.crop", "300", "hyrsm.crop"},
    {"hyrsm.position_a", "nan", "hyrsm.position_a"},
  };
  for (guint i = 0; i < G_N_ELEMENTS (cases); i++) {
    const char *const meta[] = { cases[i][0], cases[i][1], NULL };
    TestModelSpec spec = {.head = "1shot",.head_dim = 64,
      .extra_metadata = meta
    };
    assert_load_fails ("badmeta.safetensors", &spec,
        HYRSM_ERROR_BAD_METADATA, cases[i][2]);
  }
  /* Fewer positional rows stored than frames. */
  const char *const frames[] = { "hyrsm.frames", "32", NULL };
  TestModelSpec pe = {.head = "1shot",.head_dim = 64,.store_pe = TRUE,
    .extra_metadata = frames
  };
  assert_load_fails ("pe-short.safetensors", &pe, HYRSM_ERROR_SHAPE_MISMATCH,
      "pe.pe");
}

static void
test_model_truncated_file (void)
{
  TestModelSpec spec = {.backbone = "resnet18" };
  g_autofree char *path = tmp_path ("trunc.safetensors");
  g_assert_true (test_model_write (path, &spec, NULL));
  g_autofree char *contents = NULL;
  gsize len;
  g_assert_true (g_file_get_contents (path, &contents, &len, NULL));
  g_assert_true (g_file_set_contents (path, contents, len / 2, NULL));
  g_autoptr (GError) error = NULL;
  g_assert_null (hyrsm_model_new_from_file (path, &error));
  g_assert_error (error, HYRSM_ERROR, HYRSM_ERROR_BAD_FORMAT);
  g_assert_nonnull (strstr (error->message, path));
}

static void
test_model_not_found (void)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *path = tmp_path ("does-not-exist.safetensors");
  g_assert_null (hyrsm_model_new_from_file (path, &error));
  g_assert_error (error, HYRSM_ERROR, HYRSM_ERROR_FILE_NOT_FOUND);
  g_assert_nonnull (strstr (error->message, path));
  g_clear_error (&error);
  g_assert_null (hyrsm_model_new_from_file (tmpdir, &error));
  g_assert_error (error, HYRSM_ERROR, HYRSM_ERROR_BAD_FORMAT);
}

static void
test_model_bad_device (void)
{
  TestModelSpec spec = {.head = "1shot",.head_dim = 64 };
  g_autofree char *path = tmp_path ("device.safetensors");
  g_assert_true (test_model_write (path, &spec, NULL));
  g_autoptr (GError) error = NULL;
  g_assert_null (hyrsm_model_new_from_file_full (path, "tpu", &error));
  g_assert_error (error, HYRSM_ERROR, HYRSM_ERROR_INVALID_ARGUMENT);
  g_assert_nonnull (strstr (error->message, "tpu"));
  /* The backends' names with what the registry says of them: the CPU's
   * devices are not numbered, CUDA's are, and a device that is not there
   * (no GPU here, or a build without CUDA) is NO_DEVICE, named. */
  const char *invalid[] = { "cpu:0", "cuda:x", "cuda:", "cudax", "cpu0" };
  for (guint i = 0; i < G_N_ELEMENTS (invalid); i++) {
    g_clear_error (&error);
    g_assert_null (hyrsm_model_new_from_file_full (path, invalid[i], &error));
    g_assert_error (error, HYRSM_ERROR, HYRSM_ERROR_INVALID_ARGUMENT);
    g_assert_nonnull (strstr (error->message, invalid[i]));
  }
  g_clear_error (&error);
  g_assert_null (hyrsm_model_new_from_file_full (path, "cuda:7", &error));
  g_assert_error (error, HYRSM_ERROR, HYRSM_ERROR_NO_DEVICE);
  g_assert_nonnull (strstr (error->message, "cuda:7"));
  g_clear_error (&error);
  g_autoptr (HyrsmModel) cpu = hyrsm_model_new_from_file_full (path, "cpu",
      &error);
  g_assert_no_error (error);
  g_assert_cmpstr (hyrsm_model_get_device (cpu), ==, "cpu");
  g_autoptr (HyrsmModel) any = hyrsm_model_new_from_file_full (path, "auto",
      &error);
  g_assert_no_error (error);
  g_assert_nonnull (hyrsm_model_get_device (any));
}

static void
test_model_fingerprint (void)
{
  TestModelSpec a = {.head = "1shot",.head_dim = 64,.seed = 1 };
  TestModelSpec b = {.head = "1shot",.head_dim = 64,.seed = 2 };
  g_autoptr (GError) error = NULL;
  g_autoptr (HyrsmModel) ma = load_spec ("fa.safetensors", &a, &error);
  g_autoptr (HyrsmModel) ma2 = load_spec ("fa2.safetensors", &a, &error);
  g_autoptr (HyrsmModel) mb = load_spec ("fb.safetensors", &b, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (hyrsm_model_get_fingerprint (ma), ==,
      hyrsm_model_get_fingerprint (ma2));
  g_assert_cmpstr (hyrsm_model_get_fingerprint (ma), !=,
      hyrsm_model_get_fingerprint (mb));
}

static void
test_model_folded_batchnorm (void)
{
  /* The stem's folded bias must equal beta - mean * gamma / sqrt(var+eps),
   * read back from the file independently. */
  TestModelSpec spec = {.backbone = "resnet18",.seed = 3 };
  g_autofree char *path = tmp_path ("fold.safetensors");
  g_assert_true (test_model_write (path, &spec, NULL));
  g_autoptr (GError) error = NULL;
  g_autoptr (HyrsmModel) model = hyrsm_model_new_from_file (path, &error);
  g_assert_no_error (error);
  HyrsmSafetensors *st = hyrsm_safetensors_open (path, &error);
  g_assert_no_error (error);
  float gamma[64], beta[64], mean[64], var[64];
  hyrsm_tensor_copy_f32 (hyrsm_safetensors_lookup (st, "bn1.weight"), gamma);
  hyrsm_tensor_copy_f32 (hyrsm_safetensors_lookup (st, "bn1.bias"), beta);
  hyrsm_tensor_copy_f32 (hyrsm_safetensors_lookup (st, "bn1.running_mean"),
      mean);
  hyrsm_tensor_copy_f32 (hyrsm_safetensors_lookup (st, "bn1.running_var"),
      var);
  /* The data may be unaligned for floats (UBSan): read it with memcpy. */
  const guint8 *w0 = hyrsm_safetensors_lookup (st, "conv1.weight")->data;
  const HyrsmBackboneWeights *w = hyrsm_model_get_backbone_weights (model);
  for (int o = 0; o < 64; o++) {
    double scale = gamma[o] / sqrt (var[o] + 1e-5);
    g_assert_cmpfloat_with_epsilon (w->stem.bias[o],
        beta[o] - mean[o] * scale, 1e-6);
    float w0_o;
    memcpy (&w0_o, w0 + (gsize) o * 147 * sizeof (float), sizeof w0_o);
    g_assert_cmpfloat_with_epsilon (w->stem.weight[o * 147], w0_o * scale,
        1e-6);
  }
  g_assert_cmpint (w->blocks[2].has_downsample, ==, TRUE);      /* layer2.0 */
  g_assert_cmpint (w->blocks[2].conv1.stride, ==, 2);
  hyrsm_safetensors_free (st);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  tmpdir = g_dir_make_tmp ("hyrsm-test-model-XXXXXX", NULL);

  g_test_add_func ("/safetensors/valid", test_container_valid);
  g_test_add_func ("/safetensors/truncated", test_container_truncated);
  g_test_add_func ("/safetensors/header-past-end",
      test_container_header_past_end);
  g_test_add_func ("/safetensors/not-json", test_container_not_json);
  g_test_add_func ("/safetensors/lone-surrogate",
      test_container_lone_surrogate);
  g_test_add_func ("/safetensors/offsets-outside",
      test_container_offsets_outside);
  g_test_add_func ("/safetensors/overlap", test_container_overlap);
  g_test_add_func ("/safetensors/unsorted", test_container_unsorted);
  g_test_add_func ("/safetensors/bad-dtype", test_container_bad_dtype);
  g_test_add_func ("/safetensors/bad-shape", test_container_bad_shape);
  g_test_add_func ("/safetensors/huge-sizes", test_container_huge_sizes);
  g_test_add_func ("/safetensors/from-bytes", test_container_from_bytes);
  g_test_add_func ("/safetensors/roundtrip", test_container_roundtrip);

  /* Parameter counts are torchvision's, without fc. */
  static const ValidCase valid[] = {
    {"resnet18", FALSE, NULL, 11176512},
    {"resnet18", TRUE, "1shot", 11176512},
    {"resnet34", FALSE, "5shot", 21284672},
    {"resnet34", TRUE, NULL, 21284672},
    {"resnet50", FALSE, "unnamed", 23508032},
    {"resnet50", TRUE, "1shot", 23508032},
    {NULL, FALSE, "5shot", 0},
    {NULL, TRUE, "unnamed", 0},
  };
  for (guint i = 0; i < G_N_ELEMENTS (valid); i++) {
    g_autofree char *name = g_strdup_printf ("/model/valid/%s-%s-%s",
        valid[i].backbone ? valid[i].backbone : "headonly",
        valid[i].authors ? "authors" : "torchvision",
        valid[i].head ? valid[i].head : "nohead");
    g_test_add_data_func (name, &valid[i], test_model_valid);
  }
  g_test_add_func ("/model/inferred-metadata", test_model_inferred_metadata);
  g_test_add_func ("/model/explicit-metadata", test_model_explicit_metadata);
  g_test_add_func ("/model/positional-table", test_model_positional_table);
  g_test_add_func ("/model/folded-batchnorm", test_model_folded_batchnorm);
  g_test_add_func ("/model/wrong-dtype", test_model_wrong_dtype);
  g_test_add_func ("/model/wrong-shape", test_model_wrong_shape);
  g_test_add_func ("/model/missing-tensor", test_model_missing_tensor);
  g_test_add_func ("/model/unknown-architecture",
      test_model_unknown_architecture);
  g_test_add_func ("/model/bad-metadata", test_model_bad_metadata);
  g_test_add_func ("/model/truncated-file", test_model_truncated_file);
  g_test_add_func ("/model/not-found", test_model_not_found);
  g_test_add_func ("/model/bad-device", test_model_bad_device);
  g_test_add_func ("/model/fingerprint", test_model_fingerprint);

  int ret = g_test_run ();
  GDir *dir = g_dir_open (tmpdir, 0, NULL);
  const char *name;
  while (dir && (name = g_dir_read_name (dir))) {
    g_autofree char *p = g_build_filename (tmpdir, name, NULL);
    g_unlink (p);
  }
  g_clear_pointer (&dir, g_dir_close);
  g_rmdir (tmpdir);
  g_free (tmpdir);
  return ret;
}
