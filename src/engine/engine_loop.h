// EngineLoop: the Engine made safe to share between threads. One thread runs Engine::step()
// whenever there is work and sleeps otherwise; callers on any thread submit requests, read each
// request's events from its own queue, and cancel. Bounded: past max_pending requests, submit throws.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

#include "core/error.h"
#include "engine/engine.h"

namespace whale::engine {

// Thrown by submit() when max_pending requests are already queued or running (HTTP 429).
class QueueFullError : public Error {
 public:
  explicit QueueFullError(const std::string& message) : Error(ErrorKind::kOutOfRange, message) {}
};

// Thrown by submit() once shutdown() has begun (HTTP 503).
class ShuttingDownError : public Error {
 public:
  ShuttingDownError() : Error(ErrorKind::kUnsupported, "the server is shutting down") {}
};

// One submitted request's side of the loop: its events, queued until the caller takes them.
class RequestHandle {
 public:
  uint64_t id() const { return id_; }
  // Takes every queued event, waiting up to `timeout` for at least one; empty on timeout.
  std::vector<Event> wait(std::chrono::milliseconds timeout);
  // True once the kFinished event has been queued (it may not have been taken yet).
  bool finished() const;

 private:
  friend class EngineLoop;
  void push(const Event& e);

  uint64_t id_ = 0;
  mutable std::mutex m_;
  std::condition_variable cv_;
  std::deque<Event> events_;
  bool finished_ = false;
};

struct LoopStats {
  int64_t running = 0, waiting = 0;  // the engine's sequences (admitted / not yet)
  int64_t pending = 0;               // submitted and not finished (what max_pending bounds)
  int64_t prompt_tokens = 0, cached_prompt_tokens = 0, generated_tokens = 0;
  int64_t steps = 0;
  int64_t kv_blocks_total = 0, kv_blocks_free = 0;
  double busy_seconds = 0;  // time spent inside step()
  double generated_tokens_per_second = 0;  // over the last few seconds of work
  SpecStats spec;       // speculative decoding (zeros when off)
  DiskCacheStats disk;  // the KV disk cache (zeros without one)
  bool spec_on = false, disk_on = false;
};

class EngineLoop {
 public:
  struct Options {
    int64_t max_pending = 64;
  };
  // `engine` must outlive the loop; from now on only the loop touches it.
  EngineLoop(Engine& engine, Options options);
  ~EngineLoop();  // shutdown()

  // Queues a request (its on_event is replaced). Throws QueueFullError when full, whale::Error from
  // Engine::add for a bad request (prompt too long, bad sampling), or ShuttingDownError.
  // Waits at most for the step in progress.
  std::shared_ptr<RequestHandle> submit(Request request);
  // Stops the request at the next step (its kFinished says kCancelled); never blocks.
  void cancel(const RequestHandle& handle);
  LoopStats stats() const;
  int64_t max_context() const { return max_context_; }
  // Cancels everything, runs the engine until idle (every handle gets its kFinished), stops the
  // thread. Idempotent.
  void shutdown();

 private:
  void run();
  void publish_stats(double step_seconds);
  void copy_counts(const EngineStats& e);  // with stats_m_ held

  Engine& engine_;
  const Options opt_;
  const int64_t max_context_;

  std::mutex engine_m_;  // held by the loop during step(), by submit() during Engine::add
  std::condition_variable work_cv_;
  std::atomic<int64_t> submitters_{0};  // submit() calls waiting for engine_m_ (let in first)
  // Set without engine_m_, which the loop holds while it has work: shutdown must not wait for idle.
  std::atomic<bool> stopping_{false};
  std::set<uint64_t> live_;              // ids not finished yet; guarded by engine_m_

  std::mutex cancel_m_;
  std::vector<uint64_t> cancels_;

  mutable std::mutex stats_m_;
  LoopStats stats_;
  int64_t pending_ = 0;  // guarded by stats_m_
  int64_t rate_tokens_ = 0;  // generated tokens at the last publish (for the rate window)
  struct StepRecord {
    std::chrono::steady_clock::time_point end;
    double seconds = 0;
    int64_t tokens = 0;
  };
  std::deque<StepRecord> recent_;  // the last few seconds of steps, for tokens/s; stats_m_

  std::thread thread_;
};

}  // namespace whale::engine
