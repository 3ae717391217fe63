/* gsthyrsmreuse.h: what a stopped hyrsmfilter loaded, kept a few seconds
 * for the next start.
 *
 * Cameras reconnect and applications restart pipelines: a restart with
 * the same model file and an unchanged support directory must not load
 * them again. A stopping element hands its model and support set here;
 * they stay for GST_HYRSM_REUSE_SECONDS (then a helper thread lets them
 * go), and the next start that names the same model, device and support
 * directory takes them back, provided the directory's files are still
 * those it was loaded from (names, sizes and modification times). The
 * model itself is checked by hyrsm_model_new_shared() (file size and
 * modification time).
 */
#pragma once

#include <hyrsm.h>
#include <gst/gst.h>

G_BEGIN_DECLS

#define GST_HYRSM_REUSE_SECONDS 10

/* A support set as loaded, and what it was loaded from. */
typedef struct
{
  HyrsmModel *model;            /* a reference */
  gchar *support_path;
  HyrsmSupportSet *set;         /* a reference */
  gchar **labels;
  GstClockTime median;
  gchar *signature;             /* of the directory's files at load time */
} GstHyrsmLoaded;

void gst_hyrsm_loaded_free (GstHyrsmLoaded *loaded);

/* The files of support directory @path as a string that changes when any
 * of them is added, removed or changed (the feature cache excluded). */
gchar *gst_hyrsm_support_signature (const gchar *path);

/* Keeps @loaded (taken) for a while. */
void gst_hyrsm_reuse_keep (GstHyrsmLoaded *loaded);

/* Takes back what was kept for @model and @support_path, if the directory
 * still has @signature; else NULL. */
GstHyrsmLoaded *gst_hyrsm_reuse_take (HyrsmModel *model,
    const gchar *support_path, const gchar *signature);

G_END_DECLS
