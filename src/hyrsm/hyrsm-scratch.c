/* hyrsm-scratch.c: per-thread buffers for a match's large temporaries (see
 * hyrsm-scratch.h). */
#include "hyrsm-scratch.h"

typedef struct
{
  gpointer data[HYRSM_SCRATCH_N_SLOTS];
  gsize size[HYRSM_SCRATCH_N_SLOTS];
} Scratch;

static void
scratch_free (gpointer data)
{
  Scratch *s = data;
  for (int i = 0; i < HYRSM_SCRATCH_N_SLOTS; i++)
    g_aligned_free (s->data[i]);
  g_free (s);
}

static GPrivate scratch_key = G_PRIVATE_INIT (scratch_free);

gpointer
hyrsm_scratch_get (HyrsmScratchSlot slot, gsize bytes)
{
  Scratch *s = g_private_get (&scratch_key);
  if (s == NULL) {
    s = g_new0 (Scratch, 1);
    g_private_set (&scratch_key, s);
  }
  if (s->size[slot] < bytes) {
    /* Grown to what is asked, not more: the sizes a thread asks for are
     * few (its batch sizes), and the largest one stays. */
    g_aligned_free (s->data[slot]);
    s->data[slot] = g_aligned_alloc (bytes, 1, 64);
    s->size[slot] = bytes;
  }
  return s->data[slot];
}
