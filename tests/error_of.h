// error_of(f): the message of the whale::Error that f throws, or "(no error)" — so tests can check
// that bad input is refused with a message naming the problem.
#pragma once

#include <functional>
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

}  // namespace whale::testing
