/* gsthyrsmplugin.c: the hyrsm plugin; registers hyrsmfilter, hyrsmoverlay
 * and hyrsmpublish. */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "gsthyrsmfilter.h"
#include "gsthyrsmmeta.h"
#include "gsthyrsmoverlay.h"
#include "gsthyrsmpublish.h"

static gboolean
plugin_init (GstPlugin *plugin)
{
  gst_hyrsm_meta_register ();
  gboolean ok = GST_ELEMENT_REGISTER (hyrsmfilter, plugin);
  ok &= GST_ELEMENT_REGISTER (hyrsmoverlay, plugin);
  ok &= GST_ELEMENT_REGISTER (hyrsmpublish, plugin);
  return ok;
}

GST_PLUGIN_DEFINE (GST_VERSION_MAJOR, GST_VERSION_MINOR, hyrsm,
    "Few-shot action recognition (HyRSM++)", plugin_init, PACKAGE_VERSION,
    "LGPL", PACKAGE_NAME, "Unknown package origin")
