// The loop thread and the hand-off between it and callers. Engine::add runs under the same mutex
// as step() (so its errors reach the submitter directly); the loop lets waiting submitters in
// before its next step, so a submit waits for at most the step in progress.
#include "engine/engine_loop.h"

#include <algorithm>

namespace whale::engine {

namespace {
constexpr double kRateWindowSeconds = 10.0;
}

std::vector<Event> RequestHandle::wait(std::chrono::milliseconds timeout) {
  std::unique_lock lk(m_);
  cv_.wait_for(lk, timeout, [&] { return !events_.empty(); });
  std::vector<Event> out(std::make_move_iterator(events_.begin()), std::make_move_iterator(events_.end()));
  events_.clear();
  return out;
}

bool RequestHandle::finished() const {
  std::lock_guard lk(m_);
  return finished_;
}

void RequestHandle::push(const Event& e) {
  {
    std::lock_guard lk(m_);
    events_.push_back(e);
    if (e.kind == Event::Kind::kFinished) finished_ = true;
  }
  cv_.notify_all();
}

EngineLoop::EngineLoop(Engine& engine, Options options)
    : engine_(engine), opt_(options), max_context_(engine.max_context()) {
  thread_ = std::thread([this] { run(); });
}

EngineLoop::~EngineLoop() { shutdown(); }

std::shared_ptr<RequestHandle> EngineLoop::submit(Request request) {
  {
    std::lock_guard lk(stats_m_);
    if (pending_ >= opt_.max_pending) {  // before the engine lock: a full server answers at once
      throw QueueFullError(cat("the server is busy: ", pending_, " requests are queued or running (limit ",
                               opt_.max_pending, "); retry later"));
    }
    ++pending_;
  }
  auto handle = std::make_shared<RequestHandle>();
  request.on_event = [this, handle](const Event& e) {
    // Runs on the loop thread, inside step(), with engine_m_ held.
    // Release the request's place before the caller can see its finish event, so a caller that
    // has its last event never finds the request still counted.
    if (e.kind == Event::Kind::kFinished) {
      live_.erase(e.request_id);
      const EngineStats counts = engine_.stats();  // the sequence has already left the scheduler
      std::lock_guard lk(stats_m_);
      --pending_;
      copy_counts(counts);
    }
    handle->push(e);
  };
  ++submitters_;
  std::unique_lock lk(engine_m_);
  try {
    if (stopping_) throw ShuttingDownError();
    handle->id_ = engine_.add(std::move(request));
    live_.insert(handle->id_);
  } catch (...) {
    --submitters_;
    lk.unlock();
    work_cv_.notify_all();
    std::lock_guard slk(stats_m_);
    --pending_;
    throw;
  }
  --submitters_;
  lk.unlock();
  work_cv_.notify_all();
  return handle;
}

void EngineLoop::cancel(const RequestHandle& handle) {
  {
    std::lock_guard lk(cancel_m_);
    cancels_.push_back(handle.id());
  }
  work_cv_.notify_all();
}

LoopStats EngineLoop::stats() const {
  std::lock_guard lk(stats_m_);
  LoopStats s = stats_;
  s.pending = pending_;
  const auto now = std::chrono::steady_clock::now();
  int64_t tokens = 0;
  double span = 0;
  for (const StepRecord& r : recent_) {
    const double age = std::chrono::duration<double>(now - r.end).count();
    if (age > kRateWindowSeconds) continue;
    tokens += r.tokens;
    span = std::max(span, age + r.seconds);  // from the start of the oldest step in the window
  }
  s.generated_tokens_per_second = span > 0 ? static_cast<double>(tokens) / std::min(span, kRateWindowSeconds) : 0.0;
  return s;
}

void EngineLoop::shutdown() {
  stopping_ = true;  // a busy loop sees it before its next step and cancels everything
  {
    // An idle loop waits on work_cv_ under engine_m_: taking the lock orders the flag before its
    // next check, so the notification cannot be lost. A busy loop releases it within a step.
    std::lock_guard lk(engine_m_);
  }
  work_cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void EngineLoop::run() {
  std::unique_lock lk(engine_m_);
  for (;;) {
    const auto has_cancels = [&] {
      std::lock_guard clk(cancel_m_);
      return !cancels_.empty();
    };
    work_cv_.wait(lk, [&] { return submitters_ == 0 && (stopping_ || !engine_.idle() || has_cancels()); });
    std::vector<uint64_t> cancels;
    {
      std::lock_guard clk(cancel_m_);
      cancels.swap(cancels_);
    }
    if (stopping_) cancels.insert(cancels.end(), live_.begin(), live_.end());
    for (uint64_t id : cancels) engine_.cancel(id);
    if (stopping_ && engine_.idle()) break;
    const auto t0 = std::chrono::steady_clock::now();
    const bool worked = engine_.step();
    // Work that cannot be scheduled yet (no free KV blocks) must not spin the thread.
    if (!worked && !engine_.idle()) work_cv_.wait_for(lk, std::chrono::milliseconds(2));
    publish_stats(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
}

void EngineLoop::copy_counts(const EngineStats& e) {
  stats_.running = e.running;
  stats_.waiting = e.waiting;
  stats_.prompt_tokens = e.prompt_tokens;
  stats_.cached_prompt_tokens = e.cached_prompt_tokens;
  stats_.generated_tokens = e.generated_tokens;
  stats_.steps = e.steps;
  stats_.kv_blocks_total = e.kv_blocks_total;
  stats_.kv_blocks_free = e.kv_blocks_free;
  stats_.spec = e.spec;
  stats_.disk = e.disk;
  stats_.spec_on = e.spec_on;
  stats_.disk_on = e.disk_on;
}

void EngineLoop::publish_stats(double step_seconds) {
  const EngineStats e = engine_.stats();
  std::lock_guard lk(stats_m_);
  const int64_t new_tokens = e.generated_tokens - rate_tokens_;
  rate_tokens_ = e.generated_tokens;
  copy_counts(e);
  stats_.busy_seconds += step_seconds;
  const auto now = std::chrono::steady_clock::now();
  recent_.push_back({now, step_seconds, new_tokens});
  while (!recent_.empty() && std::chrono::duration<double>(now - recent_.front().end).count() > kRateWindowSeconds) {
    recent_.pop_front();
  }
}

}  // namespace whale::engine
