/* gsthyrsmplugin.c: the hyrsm plugin; registers hyrsmfilter, hyrsmoverlay
 * and hyrsmpublish, and routes libhyrsm's log into GStreamer's. */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "gsthyrsmfilter.h"
#include "gsthyrsmmeta.h"
#include "gsthyrsmoverlay.h"
#include "gsthyrsmpublish.h"

GST_DEBUG_CATEGORY_STATIC (hyrsm_library_debug);

/* libhyrsm and libgsthyrsm log with GLib (g_debug, g_info, g_message):
 * they are used without GStreamer too (the CLI, Python). Inside a
 * pipeline their lines belong in the "hyrsm" debug category, so that
 * GST_DEBUG=hyrsm:5 shows which device a model chose and why. Warnings
 * and worse keep GLib's default handling (stderr, fatal-warnings) as
 * well. */
static void
forward_log (const gchar *domain, GLogLevelFlags level, const gchar *message,
    gpointer user_data)
{
  GstDebugLevel gst_level;
  if (level & (G_LOG_LEVEL_ERROR | G_LOG_LEVEL_CRITICAL))
    gst_level = GST_LEVEL_ERROR;
  else if (level & G_LOG_LEVEL_WARNING)
    gst_level = GST_LEVEL_WARNING;
  else if (level & (G_LOG_LEVEL_MESSAGE | G_LOG_LEVEL_INFO))
    gst_level = GST_LEVEL_INFO;
  else
    gst_level = GST_LEVEL_DEBUG;
  GST_CAT_LEVEL_LOG (hyrsm_library_debug, gst_level, NULL, "%s: %s", domain,
      message);
  if (level & (G_LOG_LEVEL_ERROR | G_LOG_LEVEL_CRITICAL | G_LOG_LEVEL_WARNING
          | G_LOG_LEVEL_MESSAGE))
    g_log_default_handler (domain, level, message, user_data);
}

static gboolean
plugin_init (GstPlugin *plugin)
{
  GST_DEBUG_CATEGORY_INIT (hyrsm_library_debug, "hyrsm", 0,
      "libhyrsm and libgsthyrsm (model loading, device choice, support sets)");
  static const gchar *domains[] = { "Hyrsm", "GstHyrsm" };
  for (guint i = 0; i < G_N_ELEMENTS (domains); i++)
    g_log_set_handler (domains[i], G_LOG_LEVEL_MASK | G_LOG_FLAG_FATAL
        | G_LOG_FLAG_RECURSION, forward_log, NULL);
  gst_hyrsm_meta_register ();
  gboolean ok = GST_ELEMENT_REGISTER (hyrsmfilter, plugin);
  ok &= GST_ELEMENT_REGISTER (hyrsmoverlay, plugin);
  ok &= GST_ELEMENT_REGISTER (hyrsmpublish, plugin);
  return ok;
}

GST_PLUGIN_DEFINE (GST_VERSION_MAJOR, GST_VERSION_MINOR, hyrsm,
    "Few-shot action recognition (HyRSM++)", plugin_init, PACKAGE_VERSION,
    "LGPL", PACKAGE_NAME, PACKAGE_ORIGIN)
