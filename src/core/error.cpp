// Names of error kinds, for messages and for mapping errors to exit codes and HTTP statuses.
#include "core/error.h"

namespace whale {

const char* error_kind_name(ErrorKind kind) {
  switch (kind) {
    case ErrorKind::kInvalidArgument: return "invalid argument";
    case ErrorKind::kNotFound: return "not found";
    case ErrorKind::kIo: return "i/o error";
    case ErrorKind::kFormat: return "format error";
    case ErrorKind::kUnsupported: return "unsupported";
    case ErrorKind::kOutOfRange: return "out of range";
    case ErrorKind::kInternal: return "internal error";
  }
  return "error";
}

}  // namespace whale
