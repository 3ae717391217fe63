/* element-fixtures.h: what the GstHarness tests of hyrsmfilter share: a
 * small model made by make-test-model, random support sets of .hyrsm files
 * for it, a harness around the element, frames and bus counting. */
#pragma once

#include <gst/check/gstcheck.h>
#include <gst/check/gstharness.h>
#include <gsthyrsmdecision.h>

/* The model the tests use: ResNet-18 at crop 32, T = 8, D = 512. */
#define T 8
#define D 512
#define CAPS "video/x-raw,format=RGB,width=64,height=48,framerate=30/1"
#define RGB_SIZE (64 * 48 * 3)

extern char *tmpdir;
extern char *model_path;
extern char *support_dir;       /* labels "left" and "right" */
extern char *other_support_dir; /* labels "up", "down", "still" */

/* Makes tmpdir (@prefix-XXXXXX), the model and both support sets, for
 * main(); fixtures_teardown() removes them. */
void fixtures_setup (const char *prefix);
void fixtures_teardown (void);

/* Runs a command line, aborting the test program when it fails. */
void run_or_die (const char *cmd);

/* A support set of .hyrsm feature files under tmpdir/@name: the labels,
 * 2 examples each, random non-negative features from @seed, for the model
 * whose fingerprint is @fingerprint. */
char *make_support_set (const char *name, const char *const *labels,
    const char *fingerprint, guint32 seed);

/* The model's fingerprint as hyrsm_model_get_fingerprint() gives it, read
 * from the file (check forks per test, and oneDNN's threads do not survive
 * a fork: the tests' main() must not load the model). */
char *model_fingerprint (void);

GstElement *make_filter (const char *model, const char *device);

typedef struct
{
  GstHarness *h;
  GstBus *bus;
} Fixture;

/* A harness around hyrsmfilter with @props ("name value ..."); CAPS. */
Fixture start_filter (const char *model, const char *props, gboolean live);
void stop_filter (Fixture *f);

/* Frame @i (30 fps timestamps; content repeats every 24 frames). */
GstBuffer *make_frame (GstHarness *h, int i, gsize size);

/* Pushes frames [@from, @to) and pulls each back, checking it passed
 * through unchanged; returns how many carried HyrsmMeta. */
guint push_frames (GstHarness *h, int from, int to, gsize size);

/* The "hyrsm" element messages on @bus (popped); the last one in @last. */
guint count_decisions (GstBus *bus, GstStructure **last);

/* @s read by gst_hyrsm_decision_from_structure() (the tests read decisions
 * as every consumer does), failing the test when it is not a decision;
 * gst_hyrsm_decision_clear() @d after. */
void read_decision (const GstStructure *s, GstHyrsmDecision *d);

/* The messages of @type on @bus (popped) whose text holds @containing. */
guint count_messages (GstBus *bus, GstMessageType type,
    const char *containing);

guint64 get_stat (GstElement *e, const char *field);
