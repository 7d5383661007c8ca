// ThreadPool: persistent worker threads for data-parallel loops. The caller's thread takes part,
// so a pool of N threads runs N workers in total and a pool of 1 runs inline with no locking.
// Workers and the caller spin briefly (~50 µs) before sleeping on a condition variable: a decode
// step makes hundreds of short parallel calls, and a futex wake-up per call costs more than they do.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace whale::core {

class ThreadPool {
 public:
  // n_threads <= 0 means one per hardware thread.
  explicit ThreadPool(int n_threads = 0);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int size() const { return n_threads_; }

  // Calls fn(begin, end, thread_index) over disjoint ranges covering [0, n), split into roughly
  // equal contiguous chunks, one per thread. Returns when all are done; rethrows the first
  // exception any chunk threw. Not reentrant: do not call parallel_for from inside fn.
  void parallel_for(int64_t n, const std::function<void(int64_t begin, int64_t end, int thread)>& fn);

 private:
  void worker_loop(int index);
  void run_chunk(int index);

  int n_threads_;
  std::vector<std::thread> workers_;
  std::mutex mu_;
  std::condition_variable work_cv_;
  std::condition_variable done_cv_;
  std::atomic<uint64_t> generation_{0};  // written under mu_, read anywhere
  std::atomic<int> pending_{0};          // workers still running the current call
  std::atomic<bool> stop_{false};
  int64_t n_ = 0;
  const std::function<void(int64_t, int64_t, int)>* fn_ = nullptr;
  std::exception_ptr error_;
};

// Hardware threads available to this process (respects the CPU affinity mask).
int hardware_threads();

}  // namespace whale::core
