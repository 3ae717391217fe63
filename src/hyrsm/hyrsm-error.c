/* hyrsm-error.c: the HYRSM_ERROR quark. */
#include "hyrsm-error.h"

G_DEFINE_QUARK (hyrsm-error-quark, hyrsm_error)
