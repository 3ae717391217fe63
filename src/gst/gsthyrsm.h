/* gsthyrsm.h: libgsthyrsm, the GStreamer side of gst-hyrsm shared by the
 * hyrsmfilter plugin and the gst-hyrsm tool. Include only this header. */
#pragma once

#include "gsthyrsmmeta.h"
#include "gsthyrsmsupport.h"
