/* faults-util.c: the helpers the fault families share (faults-util.h). */
#include "faults-util.h"

char *base_set;                 /* labels left, right: 2 .hyrsm each */
char *other_set;                /* labels up, down, still */
char *clip_path;                /* 12 frames 64x48 MJPEG/AVI */

/* ---- helpers ---- */

char *
copy_set (const char *src, const char *name)
{
  char *dst = g_build_filename (rel_tmpdir (), name, NULL);
  rel_sh ("rm -rf '%s' && cp -r '%s' '%s'", dst, src, dst);
  return dst;
}

/* Pushes frames [@from, @to) and checks each comes out, in order. */
void
push_range (GstHarness *h, guint64 from, guint64 to)
{
  for (guint64 i = from; i < to; i++) {
    GstBuffer *out = gst_harness_push_and_pull (h, rel_make_frame (h, i));
    g_assert_nonnull (out);
    g_assert_cmpuint (GST_BUFFER_PTS (out), ==,
        gst_util_uint64_scale (i, GST_SECOND, 30));
    gst_buffer_unref (out);
  }
}

/* Decisions posted since the last call; the labels of the last one. */
guint
drain_decisions (GstBus *bus, guint *n_labels)
{
  guint n = 0;
  GstMessage *msg;
  while ((msg = gst_bus_pop_filtered (bus, GST_MESSAGE_ELEMENT))) {
    const GstStructure *s = gst_message_get_structure (msg);
    if (gst_structure_has_name (s, "hyrsm")) {
      n++;
      if (n_labels)
        *n_labels = gst_value_array_get_size (gst_structure_get_value (s,
                "labels"));
    }
    gst_message_unref (msg);
  }
  return n;
}

guint
n_labels_of (GstElement *e)
{
  gchar **labels = NULL;
  g_object_get (e, "labels", &labels, NULL);
  guint n = labels ? g_strv_length (labels) : 0;
  g_strfreev (labels);
  return n;
}

HyrsmModel *
shared_model (void)
{
  GError *error = NULL;
  HyrsmModel *model = hyrsm_model_new_shared (rel_model_path (), "cpu",
      &error);
  g_assert_no_error (error);
  return model;
}

char *
clip_set (const char *name)
{
  char *dir = copy_set (base_set, name);
  rel_sh ("cp '%s' '%s/left/clip.avi'", clip_path, dir);
  return dir;
}
