/* faults-util.h: what the fault families of test-faults share: the sets and
 * clip main() makes, and the helpers more than one family uses. */
#pragma once

#include "reliability-util.h"

#include <gsthyrsm.h>
#include <hyrsm.h>

#define WINDOW_PROPS "window 800000000 stride 200000000"

/* Made by main() before the tests run. */
extern char *base_set;          /* labels left, right: 2 .hyrsm each */
extern char *other_set;         /* labels up, down, still */
extern char *clip_path;         /* 12 frames 64x48 MJPEG/AVI */

char *copy_set (const char *src, const char *name);
void push_range (GstHarness *h, guint64 from, guint64 to);
guint drain_decisions (GstBus *bus, guint *n_labels);
guint n_labels_of (GstElement *e);
HyrsmModel *shared_model (void);
char *clip_set (const char *name);

/* The families' tests, registered by main() in this order. */
void faults_add_support_tests (void);
void faults_add_clip_tests (void);
void faults_add_cache_tests (void);
void faults_add_model_tests (void);
void faults_add_element_tests (void);
