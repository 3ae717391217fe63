/* gsthyrsmjson.h: one decision as a JSON document, the schema of
 * docs/publish.md. It takes the decision as gsthyrsmdecision.h reads it,
 * so that the JSON and every other consumer agree on the fields. */
#pragma once

#include <gst/gst.h>
#include "gsthyrsmdecision.h"

G_BEGIN_DECLS

/* The "schema" member of every document; bumped when a member changes
 * meaning or disappears (adding members keeps it). */
#define GST_HYRSM_JSON_SCHEMA "hyrsm-decision/1"

gchar *gst_hyrsm_decision_to_json (const GstHyrsmDecision *d,
    const gchar *source);

G_END_DECLS
