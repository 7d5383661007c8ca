// StopMatcher: finds stop strings in streamed text, holding back a tail that could still grow into
// one, so no part of a stop string is ever shown.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace whale::engine {

class StopMatcher {
 public:
  explicit StopMatcher(std::vector<std::string> stops);
  // Text safe to emit; sets `stopped` when a stop string completed (text before it is returned).
  std::string feed(std::string_view text, bool& stopped);
  std::string finish();  // the held-back tail, at the end of the stream

 private:
  std::vector<std::string> stops_;
  std::string pending_;
};

}  // namespace whale::engine
