/* hyrsm.h: libhyrsm, few-shot action recognition with HyRSM++ (no
 * GStreamer). Include only this header. */
#pragma once

#include "hyrsm-error.h"
#include "hyrsm-model.h"
#include "hyrsm-match-result.h"
#include "hyrsm-support-set.h"
#include "hyrsm-features.h"
