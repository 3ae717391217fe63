/* gsthyrsmplugin.c: the hyrsm plugin; registers hyrsmfilter only. */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "gsthyrsmfilter.h"
#include "gsthyrsmmeta.h"

static gboolean
plugin_init (GstPlugin *plugin)
{
  gst_hyrsm_meta_register ();
  return GST_ELEMENT_REGISTER (hyrsmfilter, plugin);
}

GST_PLUGIN_DEFINE (GST_VERSION_MAJOR, GST_VERSION_MINOR, hyrsm,
    "Few-shot action recognition (HyRSM++)", plugin_init, PACKAGE_VERSION,
    "LGPL", PACKAGE_NAME, "Unknown package origin")
