/* bench-roi.c: hyrsmfilter roi=true throughput on this machine.
 *
 *     bench-roi MODEL SUPPORT_DIR [ROIS] [SECONDS]
 *
 * A 640x480 30 fps videotestsrc (pattern=ball) carries ROIS regions of
 * interest per frame (a grid of 96x96 boxes, ids 0..ROIS-1, as a tracker
 * would attach them); hyrsmfilter roi=true (window 2 s, T = 8, stride
 * 0.5 s) decides each. Two runs:
 *   - non-live, every window decided (sync): regions embedded per second;
 *   - live for SECONDS: regions embedded per second, windows decided and
 *     dropped, and each region's decision latency (from its window's last
 *     frame to the decision), median and max.
 * Run after `. scripts/env.sh`: build/tests/bench/bench-roi ...
 */
#include <gst/gst.h>
#include <gst/video/gstvideometa.h>
#include <stdlib.h>

static gint n_rois;

static GstPadProbeReturn
add_rois (GstPad *pad, GstPadProbeInfo *info, gpointer data)
{
  GstBuffer *buf = gst_buffer_make_writable (GST_PAD_PROBE_INFO_BUFFER (info));
  for (gint i = 0; i < n_rois; i++)
    gst_buffer_add_video_region_of_interest_meta (buf, "person",
        (i % 6) * 104, ((i / 6) % 4) * 116, 96, 96)->id = i;
  GST_PAD_PROBE_INFO_DATA (info) = buf;
  return GST_PAD_PROBE_OK;
}

static gint
compare_u64 (gconstpointer a, gconstpointer b)
{
  guint64 x = *(const guint64 *) a, y = *(const guint64 *) b;
  return x < y ? -1 : x > y;
}

static void
run (const char *model, const char *support, gboolean live, double seconds)
{
  g_autofree char *desc = g_strdup_printf ("videotestsrc is-live=%s "
      "pattern=ball num-buffers=%d ! video/x-raw,format=I420,width=640,"
      "height=480,framerate=30/1 ! identity name=tag ! hyrsmfilter name=f "
      "model=\"%s\" support=\"%s\" roi=true window=2000000000 "
      "stride=500000000 ! fakesink sync=false", live ? "true" : "false",
      (int) (seconds * 30), model, support);
  GError *error = NULL;
  GstElement *pipeline = gst_parse_launch (desc, &error);
  if (pipeline == NULL)
    g_error ("%s", error->message);
  GstElement *tag = gst_bin_get_by_name (GST_BIN (pipeline), "tag");
  GstPad *pad = gst_element_get_static_pad (tag, "src");
  gst_pad_add_probe (pad, GST_PAD_PROBE_TYPE_BUFFER, add_rois, NULL, NULL);
  gst_object_unref (pad);
  gst_object_unref (tag);
  GstElement *f = gst_bin_get_by_name (GST_BIN (pipeline), "f");
  GstBus *bus = gst_element_get_bus (pipeline);
  GArray *latencies = g_array_new (FALSE, FALSE, sizeof (guint64));

  gint64 t0 = g_get_monotonic_time ();
  gst_element_set_state (pipeline, GST_STATE_PLAYING);
  for (;;) {
    GstMessage *msg = gst_bus_timed_pop (bus, 600 * GST_SECOND);
    if (msg == NULL || GST_MESSAGE_TYPE (msg) == GST_MESSAGE_EOS) {
      gst_clear_message (&msg);
      break;
    }
    if (GST_MESSAGE_TYPE (msg) == GST_MESSAGE_ERROR) {
      gst_message_parse_error (msg, &error, NULL);
      g_error ("%s", error->message);
    }
    const GstStructure *s = gst_message_get_structure (msg);
    guint64 latency;
    if (GST_MESSAGE_TYPE (msg) == GST_MESSAGE_ELEMENT
        && gst_structure_has_name (s, "hyrsm")
        && gst_structure_get_uint64 (s, "latency", &latency))
      g_array_append_val (latencies, latency);
    gst_message_unref (msg);
  }
  double wall = (g_get_monotonic_time () - t0) / 1e6;
  GstStructure *stats;
  g_object_get (f, "stats", &stats, NULL);
  guint64 sampled = 0, decided = 0, dropped = 0;
  gst_structure_get_uint64 (stats, "frames-sampled", &sampled);
  gst_structure_get_uint64 (stats, "windows-classified", &decided);
  gst_structure_get_uint64 (stats, "windows-dropped", &dropped);
  gst_structure_free (stats);
  g_array_sort (latencies, compare_u64);
  guint64 median = latencies->len ? g_array_index (latencies, guint64,
      latencies->len / 2) : 0, max = latencies->len ?
      g_array_index (latencies, guint64, latencies->len - 1) : 0;
  g_print ("%s, %d regions, %.1f s: %.1f regions embedded/s, %" G_GUINT64_FORMAT
      " windows decided, %" G_GUINT64_FORMAT " dropped; per-region decision "
      "latency median %.0f ms, max %.0f ms\n", live ? "live" : "non-live",
      n_rois, wall, sampled / wall, decided, dropped, median / 1e6,
      max / 1e6);
  g_array_unref (latencies);
  gst_object_unref (bus);
  gst_object_unref (f);
  gst_element_set_state (pipeline, GST_STATE_NULL);
  gst_object_unref (pipeline);
}

int
main (int argc, char **argv)
{
  gst_init (&argc, &argv);
  if (argc < 3) {
    g_printerr ("usage: bench-roi MODEL SUPPORT_DIR [ROIS] [SECONDS]\n");
    return 2;
  }
  n_rois = argc > 3 ? atoi (argv[3]) : 8;
  double seconds = argc > 4 ? g_ascii_strtod (argv[4], NULL) : 10;
  run (argv[1], argv[2], FALSE, seconds);      /* warms the support cache */
  run (argv[1], argv[2], FALSE, seconds);
  run (argv[1], argv[2], TRUE, seconds);
  return 0;
}
