/* outside.c: a program outside the project, built by test_install.py
 * against the installed headers and libraries with nothing but
 * `pkg-config --cflags --libs gsthyrsm-1.0`. It loads a model (argv[1]),
 * makes a support set of two classes, matches a query and uses HyrsmMeta
 * from libgsthyrsm; prints the matched label. */
#include <gst/gsthyrsm.h>       /* brings <hyrsm/hyrsm.h> */

#include <stdio.h>

int
main (int argc, char **argv)
{
  GError *error = NULL;
  if (argc != 2) {
    fprintf (stderr, "usage: outside MODEL\n");
    return 2;
  }
  gst_init (&argc, &argv);

  HyrsmModel *model = hyrsm_model_new_from_file (argv[1], &error);
  if (model == NULL) {
    fprintf (stderr, "outside: %s\n", error->message);
    return 1;
  }
  guint n = hyrsm_model_get_frames (model) * hyrsm_model_get_feature_dim (model);
  float *a = g_new (float, n), *b = g_new (float, n);
  for (guint i = 0; i < n; i++) {
    a[i] = (float) ((i * 7919u) % 101u) / 101.0f;
    b[i] = (float) ((i * 104729u) % 97u) / 97.0f - 0.5f;
  }
  HyrsmSupportSet *set = hyrsm_support_set_new (model);
  if (!hyrsm_support_set_add_raw (set, "a", a, &error)
      || !hyrsm_support_set_add_raw (set, "b", b, &error)) {
    fprintf (stderr, "outside: %s\n", error->message);
    return 1;
  }
  HyrsmMatchResult *res = hyrsm_support_set_match_raw (set, b, &error);
  if (res == NULL) {
    fprintf (stderr, "outside: %s\n", error->message);
    return 1;
  }

  /* libgsthyrsm: a decision as HyrsmMeta on a buffer, and back */
  gst_hyrsm_meta_register ();
  GstBuffer *buf = gst_buffer_new ();
  GstStructure *decision = gst_structure_new ("hyrsm", "label", G_TYPE_STRING,
      hyrsm_match_result_get_label (res), NULL);
  gst_buffer_add_hyrsm_meta (buf, decision);
  const GstStructure *meta = gst_buffer_get_hyrsm_meta (buf);
  if (meta == NULL) {
    fprintf (stderr, "outside: no HyrsmMeta on the buffer\n");
    return 1;
  }
  printf ("label=%s classes=%u\n", gst_structure_get_string (meta, "label"),
      hyrsm_support_set_get_n_classes (set));

  gst_structure_free (decision);
  gst_buffer_unref (buf);
  g_object_unref (res);
  g_object_unref (set);
  g_object_unref (model);
  g_free (a);
  g_free (b);
  return 0;
}
