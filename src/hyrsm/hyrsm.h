/* hyrsm.h: libhyrsm, few-shot action recognition with HyRSM++ (no
 * GStreamer). Include only this header. */
#pragma once

#include "hyrsm-error.h"
#include "hyrsm-model.h"
