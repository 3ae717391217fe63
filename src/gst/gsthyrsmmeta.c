/* gsthyrsmmeta.c: registration and helpers of the HyrsmMeta custom meta. */
#include "gsthyrsmmeta.h"

/**
 * gst_hyrsm_meta_register:
 *
 * Registers the `HyrsmMeta` custom meta (idempotent). hyrsmfilter calls it
 * in plugin_init; applications may call it before reading the meta.
 */
void
gst_hyrsm_meta_register (void)
{
  static gsize registered = 0;
  if (g_once_init_enter (&registered)) {
    static const gchar *tags[] = { NULL };
    gst_meta_register_custom (GST_HYRSM_META_NAME, tags, NULL, NULL, NULL);
    g_once_init_leave (&registered, 1);
  }
}

/**
 * gst_buffer_add_hyrsm_meta:
 * @buffer: a writable #GstBuffer
 * @decision: the decision's fields (copied)
 *
 * Returns: (transfer none): the meta's structure, owned by the buffer
 */
GstStructure *
gst_buffer_add_hyrsm_meta (GstBuffer *buffer, const GstStructure *decision)
{
  g_return_val_if_fail (gst_buffer_is_writable (buffer), NULL);
  gst_hyrsm_meta_register ();
  GstCustomMeta *meta = gst_buffer_add_custom_meta (buffer,
      GST_HYRSM_META_NAME);
  GstStructure *s = gst_custom_meta_get_structure (meta);
  gint n = gst_structure_n_fields (decision);
  for (gint i = 0; i < n; i++) {
    const gchar *name = gst_structure_nth_field_name (decision, i);
    gst_structure_set_value (s, name, gst_structure_get_value (decision,
            name));
  }
  return s;
}

/**
 * gst_buffer_get_hyrsm_meta:
 * @buffer: a #GstBuffer
 *
 * Returns: (transfer none) (nullable): the decision attached to @buffer
 */
const GstStructure *
gst_buffer_get_hyrsm_meta (GstBuffer *buffer)
{
  gst_hyrsm_meta_register ();
  GstCustomMeta *meta = gst_buffer_get_custom_meta (buffer,
      GST_HYRSM_META_NAME);
  return meta ? gst_custom_meta_get_structure (meta) : NULL;
}

/**
 * gst_buffer_iterate_hyrsm_meta: (skip)
 * @buffer: a #GstBuffer
 * @state: (inout): NULL to start; the iteration's state
 *
 * Each decision attached to @buffer in turn: with `roi=true` a buffer may
 * carry the whole frame's and every region's.
 *
 *     gpointer state = NULL;
 *     const GstStructure *d;
 *     while ((d = gst_buffer_iterate_hyrsm_meta (buf, &state)))
 *       ...
 *
 * Returns: (transfer none) (nullable): the next decision, NULL at the end
 */
const GstStructure *
gst_buffer_iterate_hyrsm_meta (GstBuffer *buffer, gpointer *state)
{
  gst_hyrsm_meta_register ();
  const GstMetaInfo *info = gst_meta_get_info (GST_HYRSM_META_NAME);
  GstMeta *meta;
  /* Custom metas share one API type: filter on ours by name. */
  while (info && (meta = gst_buffer_iterate_meta_filtered (buffer, state,
              info->api))) {
    GstCustomMeta *custom = (GstCustomMeta *) meta;
    if (gst_custom_meta_has_name (custom, GST_HYRSM_META_NAME))
      return gst_custom_meta_get_structure (custom);
  }
  return NULL;
}

/**
 * gst_buffer_get_hyrsm_metas:
 * @buffer: a #GstBuffer
 *
 * Every decision attached to @buffer, in the order they were attached (for
 * bindings; C code may use gst_buffer_iterate_hyrsm_meta()).
 *
 * Returns: (transfer container) (element-type Gst.Structure): the
 *   decisions, owned by the buffer
 */
GPtrArray *
gst_buffer_get_hyrsm_metas (GstBuffer *buffer)
{
  GPtrArray *all = g_ptr_array_new ();
  gpointer state = NULL;
  const GstStructure *d;
  while ((d = gst_buffer_iterate_hyrsm_meta (buffer, &state)))
    g_ptr_array_add (all, (gpointer) d);
  return all;
}
