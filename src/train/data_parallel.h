// Data-parallel training on libtorch's c10d with the Gloo backend (docs/distributed.md): the
// torchrun environment (RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT), the process group, and the
// collectives the trainer needs (bucketed gradient all-reduce, sums, parameter broadcast).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <torch/torch.h>

namespace whale::train {

// Where this process stands among the ranks, from torchrun's environment variables. Without
// WORLD_SIZE (or with WORLD_SIZE=1) it is the single-process run: rank 0 of 1.
struct DistEnv {
  int rank = 0, world = 1;
  int local_world = 1;     // LOCAL_WORLD_SIZE: ranks on this machine (threads are shared among them)
  std::string addr = "127.0.0.1";
  int port = 29500;
  std::chrono::milliseconds timeout{60000};  // WHALE_DIST_TIMEOUT (seconds): a lost peer ends the run after this
};

// Reads and validates the environment (kInvalidArgument naming the variable on bad values).
DistEnv dist_env_from_environment();

// The ranks of one run. world == 1 needs no process group: every collective is the identity.
// Collectives throw whale::Error (kIo) naming the operation and the lost peer when a rank dies or
// stops answering for `timeout`; after that the group is abandoned, never waited on again.
class DataParallel {
 public:
  explicit DataParallel(const DistEnv& env);  // rendezvous through a TCPStore that rank 0 hosts
  ~DataParallel();
  DataParallel(const DataParallel&) = delete;
  DataParallel& operator=(const DataParallel&) = delete;

  int rank() const { return env_.rank; }
  int world() const { return env_.world; }
  bool distributed() const { return env_.world > 1; }

  // Sums the gradients of `params` over the ranks in buckets of about `bucket_bytes` (flattened,
  // one all-reduce per bucket). A gradient left undefined on some ranks (an expert none of their
  // tokens reached) counts as zeros; one undefined on every rank stays undefined, as in one process.
  void sum_gradients(const std::vector<torch::Tensor>& params, int64_t bucket_bytes = 4 << 20);

  // Sums float64 tensors in place over the ranks (one all-reduce of their concatenation).
  void sum(std::vector<torch::Tensor>& tensors, const char* what);

  // Rank 0's values of `tensors` (parameters, buffers) on every rank.
  void broadcast(std::vector<torch::Tensor>& tensors, const char* what);

  // Every rank's `mine`, concatenated in rank order (variable lengths; GRPO's rollouts).
  std::vector<int64_t> all_gather(const std::vector<int64_t>& mine, const char* what);

  void barrier(const char* what);

 private:
  struct Impl;
  void run(const char* what, const std::function<void()>& op);
  DistEnv env_;
  std::unique_ptr<Impl> impl_;
};

}  // namespace whale::train
