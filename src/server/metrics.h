// Metrics: request counts by route and status, client disconnects, and the engine loop's gauges,
// rendered as Prometheus text for GET /metrics.
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <utility>

#include "engine/engine_loop.h"

namespace whale::server {

class Metrics {
 public:
  void count_request(const std::string& route, int status);
  void count_disconnect();
  std::string render(const engine::LoopStats& s) const;

 private:
  mutable std::mutex m_;
  std::map<std::pair<std::string, int>, int64_t> requests_;
  int64_t disconnects_ = 0;
};

}  // namespace whale::server
