/* reliability-util.h: what the soak and fault tests share: a temporary
 * folder, the small model (ResNet-18 at crop 32), support sets of `.hyrsm`
 * feature files and tiny real clips, a GstHarness around hyrsmfilter, and
 * the process's resident memory. */
#pragma once

#include <gst/gst.h>
#include <gst/check/gstharness.h>

G_BEGIN_DECLS

#define REL_T 8
#define REL_D 512
#define REL_WIDTH 64
#define REL_HEIGHT 48
#define REL_RGB_SIZE (REL_WIDTH * REL_HEIGHT * 3)
#define REL_CAPS "video/x-raw,format=RGB,width=64,height=48,framerate=30/1"

/* Points XDG_CACHE_HOME and GStreamer's registry into a fresh temporary
 * folder, then gst_init(); call first. */
void rel_init (int *argc, char ***argv);
const char *rel_tmpdir (void);
/* Removes the temporary folder (at the end of main). */
void rel_cleanup (void);

/* The ResNet-18 (crop 32, resize 36, 1-shot head) model file, written on
 * first use, and its fingerprint. */
const char *rel_model_path (void);
const char *rel_model_fingerprint (void);

/* DIR/<label>/ex<i>.hyrsm for each label, @per_label examples of random
 * features for the model (deterministic per @seed). Returns DIR (owned). */
char *rel_make_feature_set (const char *name, const char *const *labels,
    guint per_label, guint32 seed);
/* A small MJPEG/AVI clip of @frames frames of @width x @height at 15 fps. */
void rel_make_clip (const char *path, guint frames, guint width,
    guint height);

/* A harness around a new hyrsmfilter with @model and @support, properties
 * from "name value name value ..." (@props may be NULL), RGB 64x48 at 30
 * fps, live or not. The element's bus is returned in @bus (owned). */
GstHarness *rel_harness_new (const char *model, const char *support,
    const char *props, gboolean live, GstBus ** bus);
void rel_harness_free (GstHarness * h, GstBus * bus);
/* Frame @i: PTS i/30 s, 1/30 s long, content repeating every 24 frames. */
GstBuffer *rel_make_frame (GstHarness * h, guint64 i);
/* A field of the element's `stats`. */
guint64 rel_stat (GstElement * e, const char *field);
/* Windows due once frames [0, @n_frames) of rel_make_frame went through an
 * element with @window and @stride (ns), counted from the sampling grid as
 * the element lays it (docs/decisions.md "Window timing, exactly"). */
guint64 rel_windows_due (guint64 n_frames, GstClockTime window,
    GstClockTime stride);

/* VmRSS of this process in KiB. */
guint64 rel_rss_kib (void);

/* Runs @cmd with /bin/sh; fails the test when it fails. */
void rel_sh (const char *fmt, ...) G_GNUC_PRINTF (1, 2);

G_END_DECLS
