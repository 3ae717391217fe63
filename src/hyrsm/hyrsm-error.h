/* hyrsm-error.h: the HYRSM_ERROR domain shared by every part of libhyrsm. */
#pragma once

#include <glib.h>
#include "hyrsm-export.h"

G_BEGIN_DECLS

/**
 * HYRSM_ERROR:
 *
 * Error domain for libhyrsm. Errors in this domain are from the
 * #HyrsmError enumeration; every message names the file, tensor, key or
 * label at fault.
 */
#define HYRSM_ERROR (hyrsm_error_quark ())

/**
 * HyrsmError:
 * @HYRSM_ERROR_FILE_NOT_FOUND: the file does not exist or cannot be opened
 * @HYRSM_ERROR_BAD_FORMAT: the file is not a well-formed model or feature file
 *   (truncated, header not JSON, offsets outside the data, overlapping data)
 * @HYRSM_ERROR_BAD_DTYPE: a tensor has a data type the model cannot use
 * @HYRSM_ERROR_SHAPE_MISMATCH: a tensor or buffer has the wrong shape or size
 * @HYRSM_ERROR_MISSING_TENSOR: a tensor the architecture needs is absent
 * @HYRSM_ERROR_UNSUPPORTED_ARCHITECTURE: the tensors or metadata describe an
 *   architecture this library does not implement
 * @HYRSM_ERROR_BAD_METADATA: a `__metadata__` value is malformed
 * @HYRSM_ERROR_NO_DEVICE: the requested compute device is not available
 * @HYRSM_ERROR_BACKEND: the compute backend failed (out of memory, driver error)
 * @HYRSM_ERROR_NO_HEAD: a relation head was needed but the model has none
 * @HYRSM_ERROR_UNKNOWN_LABEL: a label has no examples
 * @HYRSM_ERROR_EMPTY_SUPPORT_SET: a support set holds no examples
 * @HYRSM_ERROR_INVALID_ARGUMENT: an argument is out of range
 * @HYRSM_ERROR_NO_BACKBONE: frames were given to a model without a backbone
 *
 * Error codes of the %HYRSM_ERROR domain.
 */
typedef enum
{
  HYRSM_ERROR_FILE_NOT_FOUND,
  HYRSM_ERROR_BAD_FORMAT,
  HYRSM_ERROR_BAD_DTYPE,
  HYRSM_ERROR_SHAPE_MISMATCH,
  HYRSM_ERROR_MISSING_TENSOR,
  HYRSM_ERROR_UNSUPPORTED_ARCHITECTURE,
  HYRSM_ERROR_BAD_METADATA,
  HYRSM_ERROR_NO_DEVICE,
  HYRSM_ERROR_BACKEND,
  HYRSM_ERROR_NO_HEAD,
  HYRSM_ERROR_UNKNOWN_LABEL,
  HYRSM_ERROR_EMPTY_SUPPORT_SET,
  HYRSM_ERROR_INVALID_ARGUMENT,
  HYRSM_ERROR_NO_BACKBONE,
} HyrsmError;

HYRSM_API
GQuark hyrsm_error_quark (void);

G_END_DECLS
