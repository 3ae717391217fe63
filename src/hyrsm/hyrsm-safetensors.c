/* hyrsm-safetensors.c: strict reader and writer of safetensors files.
 *
 * Layout, byte by byte:
 *   [0, 8)        N, the header length: unsigned 64-bit little-endian
 *   [8, 8+N)      the header: a UTF-8 JSON object. Each key is a tensor name
 *                 mapping to {"dtype": "F32", "shape": [d0, ...],
 *                 "data_offsets": [begin, end]}, except the optional key
 *                 "__metadata__", which maps to an object of string values.
 *   [8+N, size)   the data section. Offsets are relative to its start; the
 *                 tensors, sorted by begin, tile it exactly: no gaps, no
 *                 overlaps, nothing left over.
 *
 * Every length and offset read from the file is checked against the file
 * size before use, and element counts are checked for overflow, so a file
 * that declares huge sizes fails cleanly without allocating for them.
 */
#include "hyrsm-safetensors.h"
#include "hyrsm-error.h"

#include <errno.h>
#include <fcntl.h>
#include <glib/gstdio.h>
#include <json-glib/json-glib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* A header larger than this is not a model file; it also bounds what
 * json-glib is asked to parse. */
#define MAX_HEADER_BYTES (100 * 1024 * 1024)

struct _HyrsmSafetensors
{
  char *name;
  GBytes *bytes;                /* everything parsed points into these */
  GPtrArray *tensors;           /* HyrsmTensorInfo*, sorted by data offset */
  GHashTable *by_name;          /* name -> HyrsmTensorInfo* */
  GHashTable *metadata;         /* string -> string, or NULL */
};

static const struct
{
  const char *name;
  HyrsmDType dtype;
  gsize size;
} dtype_table[] = {
  {"BOOL", HYRSM_DTYPE_BOOL, 1}, {"U8", HYRSM_DTYPE_U8, 1},
  {"I8", HYRSM_DTYPE_I8, 1}, {"I16", HYRSM_DTYPE_I16, 2},
  {"U16", HYRSM_DTYPE_U16, 2}, {"F16", HYRSM_DTYPE_F16, 2},
  {"BF16", HYRSM_DTYPE_BF16, 2}, {"I32", HYRSM_DTYPE_I32, 4},
  {"U32", HYRSM_DTYPE_U32, 4}, {"F32", HYRSM_DTYPE_F32, 4},
  {"F64", HYRSM_DTYPE_F64, 8}, {"I64", HYRSM_DTYPE_I64, 8},
  {"U64", HYRSM_DTYPE_U64, 8},
};

const char *
hyrsm_dtype_to_string (HyrsmDType dtype)
{
  for (guint i = 0; i < G_N_ELEMENTS (dtype_table); i++)
    if (dtype_table[i].dtype == dtype)
      return dtype_table[i].name;
  return "?";
}

gsize
hyrsm_dtype_size (HyrsmDType dtype)
{
  for (guint i = 0; i < G_N_ELEMENTS (dtype_table); i++)
    if (dtype_table[i].dtype == dtype)
      return dtype_table[i].size;
  return 0;
}

static gboolean
dtype_from_string (const char *s, HyrsmDType * dtype)
{
  for (guint i = 0; i < G_N_ELEMENTS (dtype_table); i++)
    if (g_strcmp0 (dtype_table[i].name, s) == 0) {
      *dtype = dtype_table[i].dtype;
      return TRUE;
    }
  return FALSE;
}

static void
tensor_info_free (gpointer p)
{
  HyrsmTensorInfo *t = p;
  g_free (t->name);
  g_free (t);
}

void
hyrsm_safetensors_free (HyrsmSafetensors *st)
{
  if (st == NULL)
    return;
  g_clear_pointer (&st->by_name, g_hash_table_unref);
  g_clear_pointer (&st->tensors, g_ptr_array_unref);
  g_clear_pointer (&st->metadata, g_hash_table_unref);
  g_clear_pointer (&st->bytes, g_bytes_unref);
  g_free (st->name);
  g_free (st);
}

static gboolean
bad_format (GError **error, const char *file, const char *fmt, ...)
    G_GNUC_PRINTF (3, 4);

static gboolean
bad_format (GError **error, const char *file, const char *fmt, ...)
{
  va_list args;
  va_start (args, fmt);
  g_autofree char *what = g_strdup_vprintf (fmt, args);
  va_end (args);
  g_set_error (error, HYRSM_ERROR, HYRSM_ERROR_BAD_FORMAT, "%s: %s", file,
      what);
  return FALSE;
}

/* Reads a JSON integer member that must be a non-negative whole number. */
static gboolean
read_nonneg_int (JsonNode *node, gint64 *out)
{
  if (node == NULL || !JSON_NODE_HOLDS_VALUE (node)
      || json_node_get_value_type (node) != G_TYPE_INT64)
    return FALSE;
  *out = json_node_get_int (node);
  return *out >= 0;
}

/* json-glib decodes a lone surrogate escape ("\ud800x") into bytes that
 * are not UTF-8, although the header itself is: every string taken from
 * the header is checked, so that names, metadata and error messages stay
 * UTF-8 (the GI annotations promise it). */
static gboolean
check_string (HyrsmSafetensors *st, const char *what, const char *s,
    GError **error)
{
  if (s == NULL || g_utf8_validate (s, -1, NULL))
    return TRUE;
  g_autofree char *shown = g_utf8_make_valid (s, -1);
  return bad_format (error, st->name, "%s \"%s\" is not UTF-8 once "
      "unescaped (a lone surrogate escape)", what, shown);
}

static gboolean
parse_metadata (HyrsmSafetensors *st, JsonNode *node, GError **error)
{
  if (!JSON_NODE_HOLDS_OBJECT (node))
    return bad_format (error, st->name, "__metadata__ is not a JSON object");
  JsonObject *obj = json_node_get_object (node);
  st->metadata = g_hash_table_new_full (g_str_hash, g_str_equal, g_free,
      g_free);
  JsonObjectIter iter;
  const char *key;
  JsonNode *value;
  json_object_iter_init (&iter, obj);
  while (json_object_iter_next (&iter, &key, &value)) {
    if (!check_string (st, "__metadata__ key", key, error))
      return FALSE;
    if (!JSON_NODE_HOLDS_VALUE (value)
        || json_node_get_value_type (value) != G_TYPE_STRING)
      return bad_format (error, st->name,
          "__metadata__ value of \"%s\" is not a string", key);
    if (!check_string (st, "__metadata__ value", json_node_get_string (value),
            error))
      return FALSE;
    g_hash_table_insert (st->metadata, g_strdup (key),
        g_strdup (json_node_get_string (value)));
  }
  return TRUE;
}

static gboolean
parse_tensor_entry (HyrsmSafetensors *st, const char *name, JsonNode *node,
    const guint8 *data, guint64 data_len, GError **error)
{
  if (!check_string (st, "tensor name", name, error))
    return FALSE;
  if (!JSON_NODE_HOLDS_OBJECT (node))
    return bad_format (error, st->name, "tensor \"%s\": entry is not an object",
        name);
  JsonObject *obj = json_node_get_object (node);

  const char *dtype_name = json_object_has_member (obj, "dtype") ?
      json_object_get_string_member_with_default (obj, "dtype", NULL) : NULL;
  if (!check_string (st, "dtype", dtype_name, error))
    return FALSE;
  HyrsmDType dtype;
  if (dtype_name == NULL || !dtype_from_string (dtype_name, &dtype))
    return bad_format (error, st->name, "tensor \"%s\": unknown dtype \"%s\"",
        name, dtype_name ? dtype_name : "(none)");

  JsonNode *shape_node = json_object_get_member (obj, "shape");
  if (shape_node == NULL || !JSON_NODE_HOLDS_ARRAY (shape_node))
    return bad_format (error, st->name, "tensor \"%s\": shape is not an array",
        name);
  JsonArray *shape = json_node_get_array (shape_node);
  guint rank = json_array_get_length (shape);
  if (rank > HYRSM_TENSOR_MAX_RANK)
    return bad_format (error, st->name, "tensor \"%s\": rank %u is above %d",
        name, rank, HYRSM_TENSOR_MAX_RANK);

  HyrsmTensorInfo info = { 0 };
  info.dtype = dtype;
  info.rank = rank;
  /* Element count with overflow checks: a declared size that cannot fit
   * in the file is caught below, before anything is allocated for it. */
  guint64 count = 1;
  for (guint i = 0; i < rank; i++) {
    gint64 d;
    if (!read_nonneg_int (json_array_get_element (shape, i), &d))
      return bad_format (error, st->name,
          "tensor \"%s\": dimension %u is not a non-negative integer", name, i);
    info.shape[i] = d;
    if (d != 0 && count > G_MAXINT64 / (guint64) d)
      return bad_format (error, st->name,
          "tensor \"%s\": shape overflows 64 bits", name);
    count *= (guint64) d;
  }
  gsize elem = hyrsm_dtype_size (dtype);
  if (count > G_MAXINT64 / elem)
    return bad_format (error, st->name, "tensor \"%s\": size overflows 64 bits",
        name);
  info.n_elements = count;

  JsonNode *offs_node = json_object_get_member (obj, "data_offsets");
  gint64 begin, end;
  if (offs_node == NULL || !JSON_NODE_HOLDS_ARRAY (offs_node)
      || json_array_get_length (json_node_get_array (offs_node)) != 2
      || !read_nonneg_int (json_array_get_element (json_node_get_array
              (offs_node), 0), &begin)
      || !read_nonneg_int (json_array_get_element (json_node_get_array
              (offs_node), 1), &end))
    return bad_format (error, st->name,
        "tensor \"%s\": data_offsets is not a pair of non-negative integers",
        name);
  if (begin > end)
    return bad_format (error, st->name,
        "tensor \"%s\": data_offsets [%" G_GINT64_FORMAT ", %" G_GINT64_FORMAT
        "] run backwards", name, begin, end);
  if ((guint64) end > data_len)
    return bad_format (error, st->name,
        "tensor \"%s\": data_offsets end %" G_GINT64_FORMAT
        " is past the data section (%" G_GUINT64_FORMAT " bytes)", name, end,
        data_len);
  if ((guint64) (end - begin) != count * elem)
    return bad_format (error, st->name,
        "tensor \"%s\": %" G_GINT64_FORMAT " bytes of data for %"
        G_GUINT64_FORMAT " elements of %s", name, end - begin, count,
        dtype_name);

  HyrsmTensorInfo *t = g_new (HyrsmTensorInfo, 1);
  *t = info;
  t->name = g_strdup (name);
  t->data = data + begin;
  t->n_bytes = end - begin;
  g_ptr_array_add (st->tensors, t);
  g_hash_table_insert (st->by_name, t->name, t);
  return TRUE;
}

static gint
compare_by_offset (gconstpointer a, gconstpointer b)
{
  const HyrsmTensorInfo *ta = *(HyrsmTensorInfo * const *) a;
  const HyrsmTensorInfo *tb = *(HyrsmTensorInfo * const *) b;
  if (ta->data != tb->data)
    return ta->data < tb->data ? -1 : 1;
  /* Empty tensors may share an offset with the next one. */
  return (ta->n_bytes > tb->n_bytes) - (ta->n_bytes < tb->n_bytes);
}

/* The tensors must tile the data section exactly. */
static gboolean
check_tiling (HyrsmSafetensors *st, const guint8 *data, guint64 data_len,
    GError **error)
{
  g_ptr_array_sort (st->tensors, compare_by_offset);
  const guint8 *expected = data;
  const char *previous = NULL;
  for (guint i = 0; i < st->tensors->len; i++) {
    HyrsmTensorInfo *t = st->tensors->pdata[i];
    if (t->data < expected)
      return bad_format (error, st->name,
          "tensor \"%s\" overlaps tensor \"%s\"", t->name, previous);
    if (t->data > expected)
      return bad_format (error, st->name,
          "gap of %" G_GSIZE_FORMAT " bytes in the data before tensor \"%s\"",
          (gsize) (t->data - expected), t->name);
    expected = t->data + t->n_bytes;
    previous = t->name;
  }
  if ((guint64) (expected - data) != data_len)
    return bad_format (error, st->name,
        "%" G_GUINT64_FORMAT " bytes after the last tensor belong to none",
        data_len - (guint64) (expected - data));
  return TRUE;
}

static gboolean
parse (HyrsmSafetensors *st, const guint8 *contents, gsize size,
    GError **error)
{
  if (size < 8)
    return bad_format (error, st->name,
        "truncated: %" G_GSIZE_FORMAT " bytes, a safetensors file starts with "
        "an 8-byte header length", size);
  guint64 header_len = 0;
  for (int i = 7; i >= 0; i--)
    header_len = (header_len << 8) | contents[i];
  if (header_len > size - 8)
    return bad_format (error, st->name,
        "header length %" G_GUINT64_FORMAT " is past the end of the file (%"
        G_GSIZE_FORMAT " bytes)", header_len, size);
  if (header_len > MAX_HEADER_BYTES)
    return bad_format (error, st->name,
        "header length %" G_GUINT64_FORMAT " is above the %d-byte limit",
        header_len, MAX_HEADER_BYTES);
  if (header_len < 2)
    return bad_format (error, st->name, "header is empty");

  const char *header = (const char *) contents + 8;
  if (!g_utf8_validate (header, header_len, NULL))
    return bad_format (error, st->name, "header is not UTF-8");

  g_autoptr (JsonParser) parser = json_parser_new_immutable ();
  g_autoptr (GError) json_error = NULL;
  if (!json_parser_load_from_data (parser, header, header_len, &json_error)) {
    /* json-glib quotes the offending bytes, which need not be UTF-8 (an
     * invalid escape such as "\3" followed by anything). */
    g_autofree char *reason = g_utf8_make_valid (json_error->message, -1);
    return bad_format (error, st->name, "header is not JSON: %s", reason);
  }
  JsonNode *root = json_parser_get_root (parser);
  if (root == NULL || !JSON_NODE_HOLDS_OBJECT (root))
    return bad_format (error, st->name, "header is not a JSON object");

  const guint8 *data = contents + 8 + header_len;
  guint64 data_len = size - 8 - header_len;
  JsonObjectIter iter;
  const char *key;
  JsonNode *value;
  json_object_iter_init (&iter, json_node_get_object (root));
  while (json_object_iter_next (&iter, &key, &value)) {
    if (strcmp (key, "__metadata__") == 0) {
      if (!parse_metadata (st, value, error))
        return FALSE;
    } else if (!parse_tensor_entry (st, key, value, data, data_len, error)) {
      return FALSE;
    }
  }
  return check_tiling (st, data, data_len, error);
}

static HyrsmSafetensors *
safetensors_new (const char *name)
{
  HyrsmSafetensors *st = g_new0 (HyrsmSafetensors, 1);
  st->name = g_strdup (name);
  st->tensors = g_ptr_array_new_with_free_func (tensor_info_free);
  st->by_name = g_hash_table_new (g_str_hash, g_str_equal);
  return st;
}

/* The whole file, read with read(2) rather than mapped: a mapped file that
 * another process truncates while it is parsed kills the reader with
 * SIGBUS. A file that shrinks meanwhile is parsed as read, so the bounds
 * checks report it truncated. Only regular files: a named pipe would
 * block forever. */
static GBytes *
read_file (const char *path, GError **error)
{
  int fd = g_open (path, O_RDONLY | O_CLOEXEC | O_NONBLOCK, 0);
  if (fd < 0) {
    int e = errno;
    g_set_error (error, HYRSM_ERROR, HYRSM_ERROR_FILE_NOT_FOUND,
        "%s: cannot open: %s", path, g_strerror (e));
    return NULL;
  }
  struct stat info;
  guint8 *data = NULL;
  gsize got = 0;
  if (fstat (fd, &info) != 0 || !S_ISREG (info.st_mode)) {
    g_set_error (error, HYRSM_ERROR, HYRSM_ERROR_BAD_FORMAT,
        S_ISDIR (info.st_mode) ? "%s: is a directory, not a model file" :
        "%s: not a regular file", path);
    goto fail;
  }
  gsize size = info.st_size;
  data = g_try_malloc (MAX (size, 1));
  if (data == NULL) {
    g_set_error (error, HYRSM_ERROR, HYRSM_ERROR_BAD_FORMAT,
        "%s: %" G_GSIZE_FORMAT " bytes do not fit in memory", path, size);
    goto fail;
  }
  while (got < size) {
    gssize n = read (fd, data + got, size - got);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0) {
      int e = errno;
      g_set_error (error, HYRSM_ERROR, HYRSM_ERROR_FILE_NOT_FOUND,
          "%s: cannot read: %s", path, g_strerror (e));
      goto fail;
    }
    if (n == 0)
      break;
    got += n;
  }
  close (fd);
  return g_bytes_new_take (data, got);

fail:
  g_free (data);
  close (fd);
  return NULL;
}

HyrsmSafetensors *
hyrsm_safetensors_open (const char *path, GError **error)
{
  g_return_val_if_fail (path != NULL, NULL);
  GBytes *bytes = read_file (path, error);
  if (bytes == NULL)
    return NULL;
  HyrsmSafetensors *st = safetensors_new (path);
  st->bytes = bytes;
  gsize size;
  const guint8 *contents = g_bytes_get_data (bytes, &size);
  static const guint8 empty[1];
  if (!parse (st, contents ? contents : empty, size, error)) {
    hyrsm_safetensors_free (st);
    return NULL;
  }
  return st;
}

HyrsmSafetensors *
hyrsm_safetensors_new_from_bytes (GBytes *bytes, const char *display_name,
    GError **error)
{
  g_return_val_if_fail (bytes != NULL, NULL);
  HyrsmSafetensors *st = safetensors_new (display_name ? display_name :
      "(memory)");
  st->bytes = g_bytes_ref (bytes);
  gsize size;
  const guint8 *contents = g_bytes_get_data (bytes, &size);
  static const guint8 empty[1];
  if (!parse (st, contents ? contents : empty, size, error)) {
    hyrsm_safetensors_free (st);
    return NULL;
  }
  return st;
}

const char *
hyrsm_safetensors_get_name (const HyrsmSafetensors *st)
{
  return st->name;
}

GBytes *
hyrsm_safetensors_get_bytes (const HyrsmSafetensors *st)
{
  return st->bytes;
}

guint
hyrsm_safetensors_get_n_tensors (const HyrsmSafetensors *st)
{
  return st->tensors->len;
}

const HyrsmTensorInfo *
hyrsm_safetensors_get_tensor (const HyrsmSafetensors *st, guint index)
{
  g_return_val_if_fail (index < st->tensors->len, NULL);
  return st->tensors->pdata[index];
}

const HyrsmTensorInfo *
hyrsm_safetensors_lookup (const HyrsmSafetensors *st, const char *name)
{
  return g_hash_table_lookup (st->by_name, name);
}

const char *
hyrsm_safetensors_get_metadata (const HyrsmSafetensors *st, const char *key)
{
  return st->metadata ? g_hash_table_lookup (st->metadata, key) : NULL;
}

GHashTable *
hyrsm_safetensors_get_metadata_table (const HyrsmSafetensors *st)
{
  return st->metadata;
}

void
hyrsm_tensor_copy_f32 (const HyrsmTensorInfo *tensor, float *out)
{
  g_return_if_fail (tensor->dtype == HYRSM_DTYPE_F32);
  /* The file is little-endian, as is every machine this library targets. */
  G_STATIC_ASSERT (G_BYTE_ORDER == G_LITTLE_ENDIAN);
  memcpy (out, tensor->data, tensor->n_bytes);
}

/* ---- writer ---- */

gboolean
hyrsm_safetensors_write (const char *path, const HyrsmTensorWrite *tensors,
    guint n_tensors, GHashTable *metadata, GError **error)
{
  g_autoptr (JsonBuilder) b = json_builder_new ();
  json_builder_begin_object (b);
  if (metadata != NULL && g_hash_table_size (metadata) > 0) {
    json_builder_set_member_name (b, "__metadata__");
    json_builder_begin_object (b);
    GHashTableIter it;
    gpointer k, v;
    g_hash_table_iter_init (&it, metadata);
    while (g_hash_table_iter_next (&it, &k, &v)) {
      json_builder_set_member_name (b, k);
      json_builder_add_string_value (b, v);
    }
    json_builder_end_object (b);
  }
  guint64 offset = 0;
  for (guint i = 0; i < n_tensors; i++) {
    guint64 count = 1;
    json_builder_set_member_name (b, tensors[i].name);
    json_builder_begin_object (b);
    json_builder_set_member_name (b, "dtype");
    json_builder_add_string_value (b, "F32");
    json_builder_set_member_name (b, "shape");
    json_builder_begin_array (b);
    for (int d = 0; d < tensors[i].rank; d++) {
      json_builder_add_int_value (b, tensors[i].shape[d]);
      count *= tensors[i].shape[d];
    }
    json_builder_end_array (b);
    json_builder_set_member_name (b, "data_offsets");
    json_builder_begin_array (b);
    json_builder_add_int_value (b, offset);
    json_builder_add_int_value (b, offset + count * 4);
    json_builder_end_array (b);
    json_builder_end_object (b);
    offset += count * 4;
  }
  json_builder_end_object (b);

  g_autoptr (JsonGenerator) gen = json_generator_new ();
  g_autoptr (JsonNode) root = json_builder_get_root (b);
  json_generator_set_root (gen, root);
  gsize header_len;
  g_autofree char *header = json_generator_to_data (gen, &header_len);
  /* Pad the header with spaces so the data starts 8-byte aligned. */
  gsize padded = (header_len + 7) & ~(gsize) 7;

  GByteArray *out = g_byte_array_sized_new (8 + padded + offset);
  guint8 len_bytes[8];
  for (int i = 0; i < 8; i++)
    len_bytes[i] = (guint8) ((guint64) padded >> (8 * i));
  g_byte_array_append (out, len_bytes, 8);
  g_byte_array_append (out, (const guint8 *) header, header_len);
  for (gsize i = header_len; i < padded; i++)
    g_byte_array_append (out, (const guint8 *) " ", 1);
  for (guint i = 0; i < n_tensors; i++) {
    guint64 count = 1;
    for (int d = 0; d < tensors[i].rank; d++)
      count *= tensors[i].shape[d];
    g_byte_array_append (out, (const guint8 *) tensors[i].data, count * 4);
  }
  g_autoptr (GError) local = NULL;
  gboolean ok = g_file_set_contents (path, (const char *) out->data, out->len,
      &local);
  g_byte_array_unref (out);
  if (!ok)
    g_set_error (error, HYRSM_ERROR, HYRSM_ERROR_FILE_NOT_FOUND,
        "%s: cannot write: %s", path, local->message);
  return ok;
}
