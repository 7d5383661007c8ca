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

// Speculative decoding, after vLLM's spec_decode counters: drafts checked and accepted in all and
// accepted per draft position, tokens emitted by verify steps, and the acceptance ratio.
void render_spec(std::string& out, const engine::SpecStats& sp) {
  int64_t proposed = 0, accepted = 0;
  for (int64_t v : sp.proposed) proposed += v;
  for (int64_t v : sp.accepted) accepted += v;
  metric(out, "whale_spec_verify_steps_total", "counter", "Speculative verify steps (one target forward pass each).",
         static_cast<double>(sp.steps));
  metric(out, "whale_spec_draft_tokens_total", "counter", "Draft tokens checked by verify steps (those after a rejected draft are not).", static_cast<double>(proposed));
  metric(out, "whale_spec_accepted_tokens_total", "counter", "Draft tokens the target model accepted.", static_cast<double>(accepted));
  metric(out, "whale_spec_emitted_tokens_total", "counter", "Tokens the verify steps produced (accepted drafts + one sampled each).",
         static_cast<double>(sp.emitted));
  metric(out, "whale_spec_acceptance_ratio", "gauge", "Accepted / checked draft tokens.",
         proposed > 0 ? static_cast<double>(accepted) / static_cast<double>(proposed) : 0.0);
  out += "# HELP whale_spec_accepted_tokens_by_position_total Draft tokens accepted, by draft position (0: the first).\n";
  out += "# TYPE whale_spec_accepted_tokens_by_position_total counter\n";
  for (size_t i = 0; i < sp.accepted.size(); ++i) {
    out += "whale_spec_accepted_tokens_by_position_total{position=\"" + std::to_string(i) + "\"} " +
           std::to_string(sp.accepted[i]) + "\n";
  }
}

void render_disk(std::string& out, const engine::DiskCacheStats& d) {
  metric(out, "whale_disk_cache_hits_total", "counter", "Prompt prefixes whose KV was read from the disk cache.", static_cast<double>(d.hits));
  metric(out, "whale_disk_cache_misses_total", "counter", "Disk cache lookups that found nothing usable.", static_cast<double>(d.misses));
  metric(out, "whale_disk_cache_writes_total", "counter", "KV files written to the disk cache.", static_cast<double>(d.writes));
  metric(out, "whale_disk_cache_evictions_total", "counter", "KV files removed to stay under --cache-size.", static_cast<double>(d.evictions));
  metric(out, "whale_disk_cache_rejected_total", "counter", "Files skipped: corrupt, truncated or for another model.",
         static_cast<double>(d.corrupt + d.foreign));
  metric(out, "whale_disk_cache_write_failures_total", "counter", "Writes that failed (disk full, unwritable directory).",
         static_cast<double>(d.write_failures));
  metric(out, "whale_disk_cache_files", "gauge", "KV files in the disk cache.", static_cast<double>(d.files));
  metric(out, "whale_disk_cache_bytes", "gauge", "Bytes of KV files in the disk cache.", static_cast<double>(d.bytes));
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
  if (s.spec_on) render_spec(out, s.spec);
  if (s.disk_on) render_disk(out, s.disk);
  return out;
}

}  // namespace whale::server
