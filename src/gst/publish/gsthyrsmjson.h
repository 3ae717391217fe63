/* gsthyrsmjson.h: one decision (the HyrsmMeta structure) as a JSON document,
 * the schema of docs/publish.md. */
#pragma once

#include <gst/gst.h>

G_BEGIN_DECLS

/* The "schema" member of every document; bumped when a member changes
 * meaning or disappears (adding members keeps it). */
#define GST_HYRSM_JSON_SCHEMA "hyrsm-decision/1"

gchar *gst_hyrsm_decision_to_json (const GstStructure *decision,
    const gchar *source, GError **error);

G_END_DECLS
