/* gsthyrsmbundle.c: support-set bundles (gsthyrsmbundle.h; the layout is
 * in docs/formats.md "The support-set bundle"). The parser is the part
 * that faces the network: it reads the fixed header, checks the HMAC
 * before looking at anything else when a key is given (an unauthenticated
 * sender then cannot reach the rest of the parser), and checks every
 * length and count against the bytes left before allocating for it, so a
 * hostile bundle costs at most its own size in memory. */
#include "gsthyrsmbundle.h"

#include <glib/gstdio.h>
#include <math.h>
#include <string.h>

struct _GstHyrsmBundle
{
  gint ref_count;
  char *fingerprint;
  char *origin;
  guint64 version;
  gint64 created_us;
  guint frames, dim;
  gboolean is_signed;           /* parsed from a bundle with an HMAC */
  GPtrArray *labels;            /* char*, in first-seen order */
  GHashTable *label_index;      /* label -> GUINT_TO_POINTER (index + 1) */
  GArray *examples;             /* Example */
};

typedef struct
{
  guint label;
  char *source;                 /* NULL: not known */
  float *features;              /* frames x dim, native order */
} Example;

G_DEFINE_QUARK (gst-hyrsm-bundle-error-quark, gst_hyrsm_bundle_error)

static void
example_clear (Example *e)
{
  g_free (e->source);
  g_free (e->features);
}

/* ---- field rules, shared by the writer and the parser ---- */

/* A label becomes a folder name when a bundle is pulled into a directory,
 * so it must be one path component the support-set loader reads back:
 * no '/', not starting with '.' (hidden, "..": ignored or escaping), no
 * control characters. */
static const char *
label_problem (const char *s, gsize len)
{
  if (len == 0)
    return "is empty";
  if (len > GST_HYRSM_BUNDLE_MAX_LABEL_LEN)
    return "is longer than 255 bytes";
  if (!g_utf8_validate_len (s, len, NULL))
    return "is not valid UTF-8";
  if (s[0] == '.')
    return "starts with '.'";
  for (gsize i = 0; i < len; i++) {
    if (s[i] == '/')
      return "contains '/'";
    if ((guchar) s[i] < 0x20 || s[i] == 0x7f)
      return "contains a control character";
  }
  return NULL;
}

static const char *
text_problem (const char *s, gsize len)
{
  if (len > GST_HYRSM_BUNDLE_MAX_STRING_LEN)
    return "is longer than 1024 bytes";
  if (!g_utf8_validate_len (s, len, NULL))
    return "is not valid UTF-8";
  for (gsize i = 0; i < len; i++)
    if ((guchar) s[i] < 0x20 || s[i] == 0x7f)
      return "contains a control character";
  return NULL;
}

/* Fingerprints are hex today (docs/formats.md); the format allows the
 * characters of a file name so that it can name a cache folder. */
static const char *
fingerprint_problem (const char *s, gsize len)
{
  if (len == 0)
    return "is empty";
  if (len > GST_HYRSM_BUNDLE_MAX_FINGERPRINT_LEN)
    return "is longer than 64 bytes";
  for (gsize i = 0; i < len; i++)
    if (!g_ascii_isalnum (s[i]) && s[i] != '-' && s[i] != '_' && s[i] != '.')
      return "has a character other than [0-9A-Za-z._-]";
  return NULL;
}

static const char *
shape_problem (guint frames, guint dim)
{
  if (frames == 0 || frames > GST_HYRSM_BUNDLE_MAX_FRAMES)
    return "frames (T) must be 1 to 1024";
  if (dim == 0 || dim > GST_HYRSM_BUNDLE_MAX_DIM)
    return "feature width (D) must be 1 to 65536";
  return NULL;
}

/* ---- building ---- */

/**
 * gst_hyrsm_bundle_new:
 * @fingerprint: the model's fingerprint (hyrsm_model_get_fingerprint())
 * @frames: T
 * @dim: D
 * @version: the set's version, at least 1
 * @origin: (nullable): who made it (a host or camera name)
 * @created_us: when, microseconds since 1970 (g_get_real_time())
 * @error: return location for a #GError
 *
 * Returns: (transfer full): an empty bundle, or %NULL with @error set
 *   (%GST_HYRSM_BUNDLE_ERROR_INVALID naming the bad argument)
 */
GstHyrsmBundle *
gst_hyrsm_bundle_new (const gchar *fingerprint, guint frames, guint dim,
    guint64 version, const gchar *origin, gint64 created_us, GError **error)
{
  g_return_val_if_fail (fingerprint != NULL, NULL);
  const char *why;
  if ((why = fingerprint_problem (fingerprint, strlen (fingerprint)))) {
    g_set_error (error, GST_HYRSM_BUNDLE_ERROR, GST_HYRSM_BUNDLE_ERROR_INVALID,
        "bundle: the fingerprint \"%s\" %s", fingerprint, why);
    return NULL;
  }
  if ((why = shape_problem (frames, dim))) {
    g_set_error (error, GST_HYRSM_BUNDLE_ERROR, GST_HYRSM_BUNDLE_ERROR_INVALID,
        "bundle: %s (got %u x %u)", why, frames, dim);
    return NULL;
  }
  if (version == 0) {
    g_set_error (error, GST_HYRSM_BUNDLE_ERROR, GST_HYRSM_BUNDLE_ERROR_INVALID,
        "bundle: the version must be at least 1");
    return NULL;
  }
  if (origin && (why = text_problem (origin, strlen (origin)))) {
    g_set_error (error, GST_HYRSM_BUNDLE_ERROR, GST_HYRSM_BUNDLE_ERROR_INVALID,
        "bundle: the origin %s", why);
    return NULL;
  }
  GstHyrsmBundle *self = g_new0 (GstHyrsmBundle, 1);
  self->ref_count = 1;
  self->fingerprint = g_strdup (fingerprint);
  self->origin = g_strdup (origin ? origin : "");
  self->version = version;
  self->created_us = created_us;
  self->frames = frames;
  self->dim = dim;
  self->labels = g_ptr_array_new_with_free_func (g_free);
  self->label_index = g_hash_table_new (g_str_hash, g_str_equal);
  self->examples = g_array_new (FALSE, TRUE, sizeof (Example));
  g_array_set_clear_func (self->examples, (GDestroyNotify) example_clear);
  return self;
}

GstHyrsmBundle *
gst_hyrsm_bundle_ref (GstHyrsmBundle *self)
{
  g_return_val_if_fail (self != NULL, NULL);
  g_atomic_int_inc (&self->ref_count);
  return self;
}

void
gst_hyrsm_bundle_unref (GstHyrsmBundle *self)
{
  if (self == NULL || !g_atomic_int_dec_and_test (&self->ref_count))
    return;
  g_free (self->fingerprint);
  g_free (self->origin);
  g_hash_table_unref (self->label_index);
  g_ptr_array_unref (self->labels);
  g_array_unref (self->examples);
  g_free (self);
}

/* The index of @label, added when new. */
static guint
intern_label (GstHyrsmBundle *self, const char *label)
{
  gpointer v = g_hash_table_lookup (self->label_index, label);
  if (v)
    return GPOINTER_TO_UINT (v) - 1;
  char *copy = g_strdup (label);
  g_ptr_array_add (self->labels, copy);
  g_hash_table_insert (self->label_index, copy,
      GUINT_TO_POINTER (self->labels->len));
  return self->labels->len - 1;
}

static const char *
features_problem (const float *f, gsize n, gsize *at)
{
  for (gsize i = 0; i < n; i++)
    if (!isfinite (f[i])) {
      *at = i;
      return isnan (f[i]) ? "NaN" : "infinite";
    }
  return NULL;
}

/**
 * gst_hyrsm_bundle_add:
 * @self: a bundle
 * @label: the example's label (one path component: see docs/formats.md)
 * @source: (nullable): where the example comes from
 * @features: T x D finite float32 values, frame-major (copied)
 * @error: return location for a #GError
 *
 * Returns: %TRUE, or %FALSE with @error set (%GST_HYRSM_BUNDLE_ERROR_INVALID)
 */
gboolean
gst_hyrsm_bundle_add (GstHyrsmBundle *self, const gchar *label,
    const gchar *source, const float *features, GError **error)
{
  g_return_val_if_fail (self != NULL && label != NULL, FALSE);
  g_return_val_if_fail (features != NULL, FALSE);
  const char *why;
  gsize n = (gsize) self->frames * self->dim, at;
  if ((why = label_problem (label, strlen (label)))) {
    g_set_error (error, GST_HYRSM_BUNDLE_ERROR, GST_HYRSM_BUNDLE_ERROR_INVALID,
        "bundle: the label \"%s\" %s", label, why);
    return FALSE;
  }
  if (!g_hash_table_contains (self->label_index, label)
      && self->labels->len >= GST_HYRSM_BUNDLE_MAX_LABELS) {
    g_set_error (error, GST_HYRSM_BUNDLE_ERROR, GST_HYRSM_BUNDLE_ERROR_INVALID,
        "bundle: more than %u labels", GST_HYRSM_BUNDLE_MAX_LABELS);
    return FALSE;
  }
  if (source && (why = text_problem (source, strlen (source)))) {
    g_set_error (error, GST_HYRSM_BUNDLE_ERROR, GST_HYRSM_BUNDLE_ERROR_INVALID,
        "bundle: the source of an example of \"%s\" %s", label, why);
    return FALSE;
  }
  if ((why = features_problem (features, n, &at))) {
    g_set_error (error, GST_HYRSM_BUNDLE_ERROR, GST_HYRSM_BUNDLE_ERROR_INVALID,
        "bundle: an example of \"%s\"%s%s has a %s value (frame %u, "
        "column %u)", label, source ? " from " : "", source ? source : "",
        why, (guint) (at / self->dim), (guint) (at % self->dim));
    return FALSE;
  }
  Example e = {
    .label = intern_label (self, label),
    .source = source && *source ? g_strdup (source) : NULL,
    .features = g_memdup2 (features, n * sizeof (float)),
  };
  g_array_append_val (self->examples, e);
  return TRUE;
}

/* ---- writing ---- */

static void
put_u16 (GByteArray *b, guint16 v)
{
  guint16 le = GUINT16_TO_LE (v);
  g_byte_array_append (b, (const guint8 *) &le, 2);
}

static void
put_u32 (GByteArray *b, guint32 v)
{
  guint32 le = GUINT32_TO_LE (v);
  g_byte_array_append (b, (const guint8 *) &le, 4);
}

static void
put_u64 (GByteArray *b, guint64 v)
{
  guint64 le = GUINT64_TO_LE (v);
  g_byte_array_append (b, (const guint8 *) &le, 8);
}

static void
put_str (GByteArray *b, const char *s)
{
  gsize len = s ? strlen (s) : 0;
  put_u16 (b, (guint16) len);
  if (len)
    g_byte_array_append (b, (const guint8 *) s, len);
}

static GBytes *
hmac_of (GBytes *key, const guint8 *data, gsize size)
{
  gsize klen;
  const guint8 *k = g_bytes_get_data (key, &klen);
  GHmac *h = g_hmac_new (G_CHECKSUM_SHA256, k, klen);
  g_hmac_update (h, data, size);
  guint8 digest[GST_HYRSM_BUNDLE_HMAC_SIZE];
  gsize dlen = sizeof digest;
  g_hmac_get_digest (h, digest, &dlen);
  g_hmac_unref (h);
  return g_bytes_new (digest, dlen);
}

/**
 * gst_hyrsm_bundle_serialize:
 * @self: a bundle with at least one example
 * @key: (nullable): the shared key; when given, an HMAC-SHA-256 of
 *   everything before it ends the bundle
 * @error: return location for a #GError
 *
 * Returns: (transfer full): the bundle's bytes, or %NULL with @error set
 *   (an empty bundle, an empty key)
 */
GBytes *
gst_hyrsm_bundle_serialize (GstHyrsmBundle *self, GBytes *key, GError **error)
{
  g_return_val_if_fail (self != NULL, NULL);
  if (self->examples->len == 0) {
    g_set_error (error, GST_HYRSM_BUNDLE_ERROR, GST_HYRSM_BUNDLE_ERROR_INVALID,
        "bundle: no examples to write");
    return NULL;
  }
  if (key && g_bytes_get_size (key) == 0) {
    g_set_error (error, GST_HYRSM_BUNDLE_ERROR, GST_HYRSM_BUNDLE_ERROR_INVALID,
        "bundle: the key is empty");
    return NULL;
  }
  gsize n = (gsize) self->frames * self->dim;
  GByteArray *b = g_byte_array_sized_new (GST_HYRSM_BUNDLE_HEADER_SIZE
      + self->examples->len * (n * 4 + 8));
  g_byte_array_append (b, (const guint8 *) GST_HYRSM_BUNDLE_MAGIC, 8);
  put_u32 (b, GST_HYRSM_BUNDLE_FORMAT);
  put_u32 (b, key ? 1 : 0);
  put_u64 (b, self->version);
  put_u64 (b, (guint64) self->created_us);
  put_u32 (b, self->frames);
  put_u32 (b, self->dim);
  put_u32 (b, self->labels->len);
  put_u32 (b, self->examples->len);
  put_str (b, self->fingerprint);
  put_str (b, self->origin);
  for (guint i = 0; i < self->labels->len; i++)
    put_str (b, self->labels->pdata[i]);
  for (guint i = 0; i < self->examples->len; i++) {
    Example *e = &g_array_index (self->examples, Example, i);
    put_u32 (b, e->label);
    put_str (b, e->source);
    for (gsize j = 0; j < n; j++) {
      guint32 bits;
      memcpy (&bits, &e->features[j], 4);
      put_u32 (b, bits);
    }
  }
  if (key) {
    g_autoptr (GBytes) mac = hmac_of (key, b->data, b->len);
    g_byte_array_append (b, g_bytes_get_data (mac, NULL),
        GST_HYRSM_BUNDLE_HMAC_SIZE);
  }
  return g_byte_array_free_to_bytes (b);
}

/* ---- parsing ---- */

typedef struct
{
  const guint8 *data;
  gsize size, pos;
  GError **error;
} Reader;

static gboolean
truncated (Reader *r, const char *what, gsize need)
{
  g_set_error (r->error, GST_HYRSM_BUNDLE_ERROR,
      GST_HYRSM_BUNDLE_ERROR_BAD_FORMAT,
      "bundle: truncated: %s at offset %" G_GSIZE_FORMAT " needs %"
      G_GSIZE_FORMAT " bytes, %" G_GSIZE_FORMAT " left", what, r->pos, need,
      r->size - r->pos);
  return FALSE;
}

static gboolean
get_u16 (Reader *r, const char *what, guint16 *v)
{
  if (r->size - r->pos < 2)
    return truncated (r, what, 2);
  memcpy (v, r->data + r->pos, 2);
  *v = GUINT16_FROM_LE (*v);
  r->pos += 2;
  return TRUE;
}

static gboolean
get_u32 (Reader *r, const char *what, guint32 *v)
{
  if (r->size - r->pos < 4)
    return truncated (r, what, 4);
  memcpy (v, r->data + r->pos, 4);
  *v = GUINT32_FROM_LE (*v);
  r->pos += 4;
  return TRUE;
}

static guint64
u64_at (const guint8 *p)
{
  guint64 v;
  memcpy (&v, p, 8);
  return GUINT64_FROM_LE (v);
}

static guint32
u32_at (const guint8 *p)
{
  guint32 v;
  memcpy (&v, p, 4);
  return GUINT32_FROM_LE (v);
}

/* A length-prefixed string, checked by @rule; %NULL with the error set
 * naming @what and the offset. */
static char *
get_str (Reader *r, const char *what,
    const char *(*rule) (const char *, gsize))
{
  gsize at = r->pos;
  guint16 len;
  if (!get_u16 (r, what, &len))
    return NULL;
  if (r->size - r->pos < len) {
    truncated (r, what, len);
    return NULL;
  }
  const char *s = (const char *) r->data + r->pos;
  const char *why = memchr (s, 0, len) ? "contains a NUL byte" : rule (s, len);
  if (why) {
    g_set_error (r->error, GST_HYRSM_BUNDLE_ERROR,
        GST_HYRSM_BUNDLE_ERROR_BAD_FORMAT, "bundle: %s at offset %"
        G_GSIZE_FORMAT " %s", what, at, why);
    return NULL;
  }
  r->pos += len;
  return g_strndup (s, len);
}

static gboolean
bad (GError **error, const char *fmt, ...) G_GNUC_PRINTF (2, 3);

static gboolean
bad (GError **error, const char *fmt, ...)
{
  va_list ap;
  va_start (ap, fmt);
  g_autofree char *msg = g_strdup_vprintf (fmt, ap);
  va_end (ap);
  g_set_error (error, GST_HYRSM_BUNDLE_ERROR,
      GST_HYRSM_BUNDLE_ERROR_BAD_FORMAT, "bundle: %s", msg);
  return FALSE;
}

/* Constant time, so that a sender cannot find a valid HMAC byte by byte
 * from how long refusals take. */
static gboolean
equal_ct (const guint8 *a, const guint8 *b, gsize n)
{
  guint8 d = 0;
  for (gsize i = 0; i < n; i++)
    d |= a[i] ^ b[i];
  return d == 0;
}

/**
 * gst_hyrsm_bundle_peek_version:
 * @data: (array length=size): bundle bytes
 * @size: their size
 * @version: (out): the version in the header
 *
 * Reads the version from the header without checking anything else (not
 * even the HMAC): only for logging and for skipping work early; decide
 * with gst_hyrsm_bundle_parse().
 *
 * Returns: %TRUE when @data starts with a bundle header
 */
gboolean
gst_hyrsm_bundle_peek_version (const guint8 *data, gsize size,
    guint64 *version)
{
  if (size < GST_HYRSM_BUNDLE_HEADER_SIZE
      || memcmp (data, GST_HYRSM_BUNDLE_MAGIC, 8) != 0)
    return FALSE;
  *version = u64_at (data + 16);
  return TRUE;
}

static gboolean
parse_body (GstHyrsmBundle *self, Reader *r, guint n_labels,
    guint n_examples)
{
  GError **error = r->error;
  for (guint i = 0; i < n_labels; i++) {
    g_autofree char *what = g_strdup_printf ("label %u", i);
    char *label = get_str (r, what, label_problem);
    if (label == NULL)
      return FALSE;
    if (g_hash_table_contains (self->label_index, label)) {
      bad (error, "label %u \"%s\" appears twice", i, label);
      g_free (label);
      return FALSE;
    }
    g_ptr_array_add (self->labels, label);
    g_hash_table_insert (self->label_index, label, GUINT_TO_POINTER (i + 1));
  }
  /* Every example is at least its label index, an empty source and its
   * features: refuse a count the remaining bytes cannot hold before
   * reserving anything for it. */
  gsize n = (gsize) self->frames * self->dim;
  gsize min_example = 6 + n * 4;
  if (n_examples > (r->size - r->pos) / min_example)
    return bad (error, "%u examples of %" G_GSIZE_FORMAT " bytes or more "
        "cannot fit in the %" G_GSIZE_FORMAT " bytes left at offset %"
        G_GSIZE_FORMAT, n_examples, min_example, r->size - r->pos, r->pos);
  g_array_set_size (self->examples, n_examples);
  g_autofree guint *per_label = g_new0 (guint, n_labels);
  for (guint i = 0; i < n_examples; i++) {
    Example *e = &g_array_index (self->examples, Example, i);
    guint32 label;
    g_autofree char *what = g_strdup_printf ("example %u's label index", i);
    if (!get_u32 (r, what, &label))
      return FALSE;
    if (label >= n_labels)
      return bad (error, "example %u names label %u, but there are %u",
          i, label, n_labels);
    e->label = label;
    per_label[label]++;
    g_free (what);
    what = g_strdup_printf ("example %u's source", i);
    char *source = get_str (r, what, text_problem);
    if (source == NULL)
      return FALSE;
    if (*source)
      e->source = source;
    else
      g_free (source);
    if (r->size - r->pos < n * 4) {
      g_free (what);
      what = g_strdup_printf ("example %u's features", i);
      return truncated (r, what, n * 4);
    }
    e->features = g_new (float, n);
    for (gsize j = 0; j < n; j++) {
      guint32 bits = u32_at (r->data + r->pos + 4 * j);
      memcpy (&e->features[j], &bits, 4);
    }
    gsize at;
    const char *why = features_problem (e->features, n, &at);
    if (why)
      return bad (error, "example %u (\"%s\") has a %s value at frame %u, "
          "column %u (offset %" G_GSIZE_FORMAT ")", i,
          (char *) self->labels->pdata[label], why, (guint) (at / self->dim),
          (guint) (at % self->dim), r->pos + 4 * at);
    r->pos += n * 4;
  }
  for (guint i = 0; i < n_labels; i++)
    if (per_label[i] == 0)
      return bad (error, "label \"%s\" has no examples",
          (char *) self->labels->pdata[i]);
  if (r->pos != r->size)
    return bad (error, "%" G_GSIZE_FORMAT " bytes after the last example "
        "(offset %" G_GSIZE_FORMAT ")", r->size - r->pos, r->pos);
  return TRUE;
}

/**
 * gst_hyrsm_bundle_parse:
 * @data: (array length=size): bundle bytes, from anyone
 * @size: their size
 * @key: (nullable): the shared key: when given, the bundle must carry an
 *   HMAC made with it; when %NULL an HMAC is not checked
 * @max_size: the largest bundle accepted (0: no limit)
 * @error: return location for a #GError
 *
 * Parses and checks a bundle: sizes, counts, UTF-8 path-safe labels, each
 * label used, finite features, no trailing bytes.
 *
 * Returns: (transfer full): the bundle, or %NULL with @error set in
 *   %GST_HYRSM_BUNDLE_ERROR naming what is wrong
 */
GstHyrsmBundle *
gst_hyrsm_bundle_parse (const guint8 *data, gsize size, GBytes *key,
    gsize max_size, GError **error)
{
  g_return_val_if_fail (data != NULL || size == 0, NULL);
  if (max_size && size > max_size) {
    g_set_error (error, GST_HYRSM_BUNDLE_ERROR,
        GST_HYRSM_BUNDLE_ERROR_TOO_LARGE, "bundle: %" G_GSIZE_FORMAT
        " bytes, over the limit of %" G_GSIZE_FORMAT, size, max_size);
    return NULL;
  }
  if (size < 8 || memcmp (data, GST_HYRSM_BUNDLE_MAGIC, 8) != 0) {
    bad (error, "not a support-set bundle (%" G_GSIZE_FORMAT " bytes not "
        "starting with \"" GST_HYRSM_BUNDLE_MAGIC "\")", size);
    return NULL;
  }
  if (size < GST_HYRSM_BUNDLE_HEADER_SIZE) {
    bad (error, "truncated: %" G_GSIZE_FORMAT " bytes, shorter than the %d "
        "byte header", size, GST_HYRSM_BUNDLE_HEADER_SIZE);
    return NULL;
  }
  guint32 format = u32_at (data + 8), flags = u32_at (data + 12);
  if (format != GST_HYRSM_BUNDLE_FORMAT) {
    bad (error, "format %u; this reader knows format %d", format,
        GST_HYRSM_BUNDLE_FORMAT);
    return NULL;
  }
  if (flags & ~1u) {
    bad (error, "unknown flags 0x%x", flags);
    return NULL;
  }
  gboolean has_hmac = flags & 1;
  if (key && !has_hmac) {
    g_set_error (error, GST_HYRSM_BUNDLE_ERROR, GST_HYRSM_BUNDLE_ERROR_NO_HMAC,
        "bundle: no HMAC, but a key is set: refusing an unsigned bundle");
    return NULL;
  }
  gsize body = size;
  if (has_hmac) {
    if (size < GST_HYRSM_BUNDLE_HEADER_SIZE + GST_HYRSM_BUNDLE_HMAC_SIZE) {
      bad (error, "truncated: the flags announce an HMAC, but %"
          G_GSIZE_FORMAT " bytes cannot hold it after the header", size);
      return NULL;
    }
    body = size - GST_HYRSM_BUNDLE_HMAC_SIZE;
    if (key) {
      g_autoptr (GBytes) mac = hmac_of (key, data, body);
      if (!equal_ct (g_bytes_get_data (mac, NULL), data + body,
              GST_HYRSM_BUNDLE_HMAC_SIZE)) {
        g_set_error (error, GST_HYRSM_BUNDLE_ERROR,
            GST_HYRSM_BUNDLE_ERROR_BAD_HMAC, "bundle: the HMAC does not "
            "match the key (signed with another key, or altered)");
        return NULL;
      }
    }
  }
  guint64 version = u64_at (data + 16);
  gint64 created = (gint64) u64_at (data + 24);
  guint32 frames = u32_at (data + 32), dim = u32_at (data + 36);
  guint32 n_labels = u32_at (data + 40), n_examples = u32_at (data + 44);
  const char *why;
  if (version == 0) {
    bad (error, "version 0 (versions start at 1)");
    return NULL;
  }
  if ((why = shape_problem (frames, dim))) {
    bad (error, "%s (got %u x %u)", why, frames, dim);
    return NULL;
  }
  if (n_labels == 0 || n_labels > GST_HYRSM_BUNDLE_MAX_LABELS
      || n_examples == 0) {
    bad (error, "%u labels and %u examples (need 1 to %d labels and at "
        "least one example)", n_labels, n_examples,
        GST_HYRSM_BUNDLE_MAX_LABELS);
    return NULL;
  }
  Reader r = {.data = data,.size = body,.pos = GST_HYRSM_BUNDLE_HEADER_SIZE,
    .error = error
  };
  g_autofree char *fp = get_str (&r, "the fingerprint", fingerprint_problem);
  if (fp == NULL)
    return NULL;
  g_autofree char *origin = get_str (&r, "the origin", text_problem);
  if (origin == NULL)
    return NULL;
  GstHyrsmBundle *self = gst_hyrsm_bundle_new (fp, frames, dim, version,
      origin, created, error);
  if (self == NULL)
    return NULL;
  self->is_signed = has_hmac;
  if (!parse_body (self, &r, n_labels, n_examples)) {
    gst_hyrsm_bundle_unref (self);
    return NULL;
  }
  return self;
}

/* ---- accessors ---- */

const gchar *
gst_hyrsm_bundle_get_fingerprint (GstHyrsmBundle *self)
{
  return self->fingerprint;
}

/* Returns: the origin, "" when the publisher gave none. */
const gchar *
gst_hyrsm_bundle_get_origin (GstHyrsmBundle *self)
{
  return self->origin;
}

guint64
gst_hyrsm_bundle_get_version (GstHyrsmBundle *self)
{
  return self->version;
}

gint64
gst_hyrsm_bundle_get_created (GstHyrsmBundle *self)
{
  return self->created_us;
}

guint
gst_hyrsm_bundle_get_frames (GstHyrsmBundle *self)
{
  return self->frames;
}

guint
gst_hyrsm_bundle_get_dim (GstHyrsmBundle *self)
{
  return self->dim;
}

/* Returns: whether the parsed bundle carried an HMAC (checked only when
 * a key was given). */
gboolean
gst_hyrsm_bundle_is_signed (GstHyrsmBundle *self)
{
  return self->is_signed;
}

/* Returns: (transfer full): the labels in the bundle's order. */
gchar **
gst_hyrsm_bundle_get_labels (GstHyrsmBundle *self)
{
  gchar **out = g_new0 (gchar *, self->labels->len + 1);
  for (guint i = 0; i < self->labels->len; i++)
    out[i] = g_strdup (self->labels->pdata[i]);
  return out;
}

guint
gst_hyrsm_bundle_get_n_examples (GstHyrsmBundle *self)
{
  return self->examples->len;
}

/* Returns: FALSE when @index is out of range; the out values belong to
 * @self (@source may be NULL: not known). */
gboolean
gst_hyrsm_bundle_get_example (GstHyrsmBundle *self, guint index,
    const gchar **label, const gchar **source, const float **features)
{
  if (index >= self->examples->len)
    return FALSE;
  Example *e = &g_array_index (self->examples, Example, index);
  if (label)
    *label = self->labels->pdata[e->label];
  if (source)
    *source = e->source;
  if (features)
    *features = e->features;
  return TRUE;
}
