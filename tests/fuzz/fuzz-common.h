/* fuzz-common.h: what the fuzz targets share: a private temporary folder,
 * the small models they load, and the standalone driver (fuzz-main.c) that
 * replays inputs when the build has no libFuzzer.
 *
 * Every target defines LLVMFuzzerTestOneInput(); targets that need a model
 * or GStreamer set them up once, lazily, from their first input (so the
 * same code runs under libFuzzer and under fuzz-main.c). */
#pragma once

#include <glib.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "hyrsm.h"

G_BEGIN_DECLS

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

/* Aborts (a crash libFuzzer reports and saves the input of) when @cond is
 * false: the targets check the library's promises, not only that it does
 * not crash. Not g_error(): its SIGTRAP is not a signal libFuzzer catches. */
#define FUZZ_CHECK(cond) \
  do { \
    if (G_UNLIKELY (!(cond))) { \
      fprintf (stderr, "%s:%d: fuzz check failed: %s\n", __FILE__, \
          __LINE__, #cond); \
      abort (); \
    } \
  } while (0)

/* A folder private to this process, removed at exit. */
const char *fuzz_tmpdir (void);

/* Writes @size bytes to fuzz_tmpdir()/@name (plain write, no rename) and
 * returns the path (owned by the caller). */
char *fuzz_write_file (const char *name, const guint8 *data, gsize size);

/* Removes @path recursively without following symbolic links. */
void fuzz_rm_rf (const char *path);

/* The head-only model the parsers are checked against: D = 8, T = 8,
 * deterministic bytes (so its fingerprint is fixed). */
gboolean fuzz_write_head_model (const char *path, GError **error);
HyrsmModel *fuzz_head_model (void);

/* ResNet-18 at crop 32 (resize 36), T = 8, D = 512: small enough to embed
 * the support-set fuzzer's clips quickly. */
gboolean fuzz_write_backbone_model (const char *path, GError **error);
HyrsmModel *fuzz_backbone_model (void);

/* GError sanity: set, with a non-empty message. */
void fuzz_check_error (const GError *error);

G_END_DECLS
