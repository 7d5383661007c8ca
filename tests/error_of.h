// error_of(f): the message of the whale::Error that f throws, or "(no error)"; error_kind_of(f): its
// kind, or nullopt — so tests can check that bad input is refused with a message naming the problem,
// for the right reason.
#pragma once

#include <functional>
#include <optional>
#include <string>

#include "core/error.h"

namespace whale::testing {

inline std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

inline std::optional<ErrorKind> error_kind_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.kind();
  }
  return std::nullopt;
}

}  // namespace whale::testing
