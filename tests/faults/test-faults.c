/* test-faults.c: faults injected while hyrsmfilter and the support-set
 * loader work (docs/reliability.md lists them all). Each must end in a
 * correct result or a clear error: never a crash, a hang or a lost frame.
 *
 *   /faults/support/vanishes            DIR removed while PLAYING, reload
 *   /faults/support/unreadable          DIR (or one file in it) unreadable
 *   /faults/support/replaced-by-file    DIR becomes a plain file
 *   /faults/support/churn               files come and go during loads
 *   /faults/clip/truncated-while-decoding
 *   /faults/clip/truncated-header       decodebin's lost error (no stall)
 *   /faults/cache/local-is-a-file       DIR/.hyrsm-cache is a file
 *   /faults/cache/nowhere-to-write      ... and the user cache dir too
 *   /faults/cache/full                  a full disk (tiny tmpfs, or a file
 *                                       size limit where mount is denied)
 *   /faults/model/changed-after-load    garbage, then another model
 *   /faults/model/rewritten-while-loading
 *   /faults/shared-model/teardown-mid-window
 *   /faults/element/teardown-during-reload
 *   /faults/element/signals-during-stop
 *   /faults/element/properties-from-threads
 *
 * One program, one file per family: test-faults-support.c, -clip.c,
 * -cache.c, -model.c and -element.c (shared-model too), sharing
 * faults-util.c. main() here makes the sets and the clip they use and
 * registers the families in this order.
 */
#include "faults-util.h"

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  rel_init (&argc, &argv);
  static const char *const lr[] = { "left", "right", NULL };
  static const char *const uds[] = { "up", "down", "still", NULL };
  base_set = rel_make_feature_set ("base", lr, 2, 1);
  other_set = rel_make_feature_set ("other", uds, 2, 2);
  clip_path = g_build_filename (rel_tmpdir (), "clip.avi", NULL);
  rel_make_clip (clip_path, 12, 64, 48);

  faults_add_support_tests ();
  faults_add_clip_tests ();
  faults_add_cache_tests ();
  faults_add_model_tests ();
  faults_add_element_tests ();
  int ret = g_test_run ();
  rel_cleanup ();
  return ret;
}
