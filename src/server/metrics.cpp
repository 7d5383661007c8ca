// Prometheus exposition format (text 0.0.4): HELP/TYPE lines, then samples.
#include "server/metrics.h"

#include <cstdio>

namespace whale::server {
namespace {

void metric(std::string& out, const char* name, const char* type, const char* help, double value) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.6g", value);
  out += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " " + type + "\n" + name + " " + buf + "\n";
}

}  // namespace

void Metrics::count_request(const std::string& route, int status) {
  std::lock_guard lk(m_);
  ++requests_[{route, status}];
}

void Metrics::count_disconnect() {
  std::lock_guard lk(m_);
  ++disconnects_;
}

std::string Metrics::render(const engine::LoopStats& s) const {
  std::string out;
  {
    std::lock_guard lk(m_);
    out += "# HELP whale_http_requests_total HTTP requests answered, by route and status.\n";
    out += "# TYPE whale_http_requests_total counter\n";
    for (const auto& [key, n] : requests_) {
      out += "whale_http_requests_total{route=\"" + key.first + "\",status=\"" + std::to_string(key.second) + "\"} " +
             std::to_string(n) + "\n";
    }
    metric(out, "whale_client_disconnects_total", "counter", "Streams whose client went away; their sequences were cancelled.",
           static_cast<double>(disconnects_));
  }
  metric(out, "whale_requests_running", "gauge", "Sequences admitted to the engine (decoding or prefilling).", static_cast<double>(s.running));
  metric(out, "whale_requests_queued", "gauge", "Sequences waiting for a slot in the engine.", static_cast<double>(s.waiting));
  metric(out, "whale_requests_pending", "gauge", "Requests accepted and not finished (bounded by --queue).", static_cast<double>(s.pending));
  metric(out, "whale_kv_blocks_total", "gauge", "KV cache blocks.", static_cast<double>(s.kv_blocks_total));
  metric(out, "whale_kv_blocks_free", "gauge", "KV cache blocks no sequence holds (free or cached for prefix reuse).",
         static_cast<double>(s.kv_blocks_free));
  metric(out, "whale_prompt_tokens_total", "counter", "Prompt tokens of finished and running requests.", static_cast<double>(s.prompt_tokens));
  metric(out, "whale_cached_prompt_tokens_total", "counter", "Prompt tokens whose KV came from the prefix cache.",
         static_cast<double>(s.cached_prompt_tokens));
  metric(out, "whale_generated_tokens_total", "counter", "Tokens generated.", static_cast<double>(s.generated_tokens));
  metric(out, "whale_prefix_cache_hit_ratio", "gauge", "Cached prompt tokens / prompt tokens.",
         s.prompt_tokens > 0 ? static_cast<double>(s.cached_prompt_tokens) / static_cast<double>(s.prompt_tokens) : 0.0);
  metric(out, "whale_generation_tokens_per_second", "gauge", "Tokens generated per second over the last 10 s.",
         s.generated_tokens_per_second);
  metric(out, "whale_engine_steps_total", "counter", "Engine steps (one batched forward pass each).", static_cast<double>(s.steps));
  metric(out, "whale_engine_busy_seconds_total", "counter", "Seconds spent in engine steps.", s.busy_seconds);
  return out;
}

}  // namespace whale::server
