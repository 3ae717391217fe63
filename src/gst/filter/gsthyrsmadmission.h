/* gsthyrsmadmission.h: which live streams may start windows, when one
 * engine cannot embed every stream's frames.
 *
 * Live hyrsmfilter elements sharing a model share its engine. When their
 * frames come faster than the engine embeds them, dropping windows after
 * their frames were embedded wastes the machine exactly when it is
 * busiest. Instead each element asks here, at the start of every window,
 * whether it may start one: the answer is decided before any of the
 * window's frames is embedded, so every embedded frame serves a decision.
 *
 * The engine's capacity (frames per second of its busy time) is measured
 * from its counters; streams are admitted while their sampling rates fit
 * in it. Streams left out wait their turn: admission rotates in slices of
 * several windows (a stream's first window costs T frames, each next one
 * only a stride's worth, so long runs keep the useful work high), oldest
 * waiting first, so that no stream starves.
 */
#pragma once

#include <hyrsm-engine.h>
#include <gst/gst.h>

G_BEGIN_DECLS

typedef struct _GstHyrsmAdmissionClient GstHyrsmAdmissionClient;

/* A live stream sampling @frames_per_second frames on @engine, whose turns
 * last at least @slice. */
GstHyrsmAdmissionClient *gst_hyrsm_admission_join (HyrsmEngine *engine,
    gdouble frames_per_second, GstClockTime slice);

void gst_hyrsm_admission_leave (GstHyrsmAdmissionClient *client);

/* Whether @client may start a window now; @continuing: its previous
 * window was admitted (this one shares most of its frames). */
gboolean gst_hyrsm_admission_admit (GstHyrsmAdmissionClient *client,
    gboolean continuing);

G_END_DECLS
