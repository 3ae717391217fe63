/* hyrsm-scratch.h: per-thread buffers for a match's large temporaries
 * (private to libhyrsm).
 *
 * A batch of windows needs several megabytes of temporaries (the frames'
 * Q, K, V, the fused rows...). Allocated and freed per match, glibc hands
 * blocks that large back to the kernel at each free, and the next match
 * page-faults them in again: ~10% of a batch-8 match's time. Each buffer
 * here is kept by its thread, one per use (a slot), and only grows (to a
 * few MB per slot for the largest batches a thread matched). */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef enum
{
  HYRSM_SCRATCH_INTRA_X,
  HYRSM_SCRATCH_INTRA_Z,
  HYRSM_SCRATCH_INTRA_QKV,
  HYRSM_SCRATCH_INTRA_Y,
  HYRSM_SCRATCH_QUERY_S,
  HYRSM_SCRATCH_QUERY_W2A_S,
  HYRSM_SCRATCH_TOKEN_G,
  HYRSM_SCRATCH_TOKEN_FUSED,
  HYRSM_SCRATCH_QUERY_E,
  HYRSM_SCRATCH_GEMM_PANEL,     /* a bf16 panel widened (OpenMP threads) */
  HYRSM_SCRATCH_N_SLOTS,
} HyrsmScratchSlot;

/* The calling thread's buffer of @slot, at least @bytes long, 64-byte
 * aligned, contents undefined. Valid until the same thread asks for @slot again; freed when
 * the thread exits. Two uses live at the same time need two slots. */
gpointer hyrsm_scratch_get (HyrsmScratchSlot slot, gsize bytes);

G_END_DECLS
