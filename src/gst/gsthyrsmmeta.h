/* gsthyrsmmeta.h: the HyrsmMeta custom meta carrying one decision. */
#pragma once

#include <gst/gst.h>

G_BEGIN_DECLS

#ifdef GST_HYRSM_COMPILATION
#define GST_HYRSM_API __attribute__ ((visibility ("default"))) extern
#else
#define GST_HYRSM_API extern
#endif

/**
 * GST_HYRSM_META_NAME:
 *
 * Name of the #GstCustomMeta that hyrsmfilter attaches to buffers. Its
 * structure (named `HyrsmMeta`, as GStreamer names a custom meta's
 * structure after the meta) holds the fields of the `hyrsm` bus message:
 * `label` (string), `unknown` (boolean), `confidence`, `distance`
 * (double), `labels`, `distances` (#GstValueArray of strings, of doubles,
 * in the support set's order), `window-start`, `window-end` (guint64,
 * stream time), `running-time-start`, `running-time` (guint64, the window
 * in running time), `wallclock-end` (gint64, microseconds since the Unix
 * epoch: when the frame completing the window arrived), `latency`
 * (guint64, ns), `stream-id`, `model-fingerprint`, `support-path`
 * (strings); a region's decision (`roi=true`) also `roi-id`, `roi-x`,
 * `roi-y`, `roi-width`, `roi-height` (ints: its box in the frame, pixels)
 * and `roi-type` (string) when the region has one. The one writer and
 * reader of these fields, with a constant per name and what each defaults
 * to when a meta made elsewhere leaves it out, is gsthyrsmdecision.h
 * (C, not installed); docs/publish.md says what each means. A buffer
 * carries one HyrsmMeta per decision: the whole frame's and each region's
 * (gst_buffer_iterate_hyrsm_meta()).
 */
#define GST_HYRSM_META_NAME "HyrsmMeta"

GST_HYRSM_API
void gst_hyrsm_meta_register (void);

GST_HYRSM_API
GstStructure *gst_buffer_add_hyrsm_meta (GstBuffer *buffer,
    const GstStructure *decision);

GST_HYRSM_API
const GstStructure *gst_buffer_get_hyrsm_meta (GstBuffer *buffer);

GST_HYRSM_API
const GstStructure *gst_buffer_iterate_hyrsm_meta (GstBuffer *buffer,
    gpointer *state);

GST_HYRSM_API
GPtrArray *gst_buffer_get_hyrsm_metas (GstBuffer *buffer);

G_END_DECLS
