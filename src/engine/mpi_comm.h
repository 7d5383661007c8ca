// Comm: the few MPI calls multi-process inference makes (Open MPI underneath), behind a class so the
// rest of whale never includes mpi.h and builds without MPI (then every call fails, kUnsupported).
// Waits poll with short sleeps instead of MPI's busy spin, so an idle rank leaves its core free.
#pragma once

#include <cstdint>
#include <vector>

namespace whale::engine {

class Comm {
 public:
  // Whether this binary was built with MPI (CMake option WHALE_MPI).
  static bool available();
  // MPI_Init on first call (MPI_Finalize at exit); the world communicator.
  static Comm& world();

  int rank() const { return rank_; }
  int size() const { return size_; }

  // Blocking point-to-point; `tag` separates streams (pipeline: the micro-batch).
  void send(const void* data, int64_t bytes, int dest, int tag);
  // Receives exactly `bytes` (an error names a size mismatch).
  void recv(void* data, int64_t bytes, int source, int tag);
  // Receives a message of unknown length of int32 values.
  std::vector<int32_t> recv_ints(int source, int tag);
  // Non-blocking send: returns a handle to pass to wait() before `data` changes.
  int64_t isend(const void* data, int64_t bytes, int dest, int tag);
  void wait(int64_t request);
  void broadcast(void* data, int64_t bytes, int root);
  // out[r * n .. (r+1) * n) = rank r's `in` (n floats each).
  void allgather(const float* in, int64_t n, float* out);
  void barrier();
  // Ends every rank at once (an error on one rank must not leave the others waiting forever).
  [[noreturn]] void abort(int code);

 private:
  Comm();
  int rank_ = 0, size_ = 1;
};

}  // namespace whale::engine
