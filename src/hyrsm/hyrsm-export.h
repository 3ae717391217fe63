/* hyrsm-export.h: symbol visibility. libhyrsm is built with hidden
 * visibility; only what is marked HYRSM_API is exported. */
#pragma once

#if defined(HYRSM_COMPILATION) && defined(__GNUC__)
#define HYRSM_API __attribute__ ((visibility ("default"))) extern
#else
#define HYRSM_API extern
#endif
