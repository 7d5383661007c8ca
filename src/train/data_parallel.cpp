#include "train/data_parallel.h"

// libtorch's Gloo header needs Gloo's own headers (Debian libgloo-dev); without them whale builds
// and runs one process only.
#if __has_include(<gloo/algorithm.h>)
#define WHALE_HAS_GLOO 1
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#else
#define WHALE_HAS_GLOO 0
#endif

#include <csignal>
#include <cstdlib>
#include <string>

#include "core/error.h"

namespace whale::train {

namespace {

// An integer environment variable in [lo, hi], or `fallback` when unset.
int64_t env_int(const char* name, int64_t fallback, int64_t lo, int64_t hi) {
  const char* v = std::getenv(name);
  if (!v || !*v) return fallback;
  char* end = nullptr;
  const long long x = std::strtoll(v, &end, 10);
  if (*end != '\0' || x < lo || x > hi) fail(ErrorKind::kInvalidArgument, name, "=", v, " is not an integer in [", lo, ", ", hi, "]");
  return x;
}

// The first line of an exception's text (c10::Error appends a C++ backtrace).
std::string first_line(const std::exception& e) {
  const auto* c = dynamic_cast<const c10::Error*>(&e);
  std::string s = c ? c->what_without_backtrace() : e.what();
  if (const size_t nl = s.find('\n'); nl != std::string::npos) s.resize(nl);
  return s;
}

[[maybe_unused]] bool is_loopback(const std::string& host) { return host == "localhost" || host.rfind("127.", 0) == 0 || host == "::1"; }

}  // namespace

DistEnv dist_env_from_environment() {
  DistEnv e;
  e.world = static_cast<int>(env_int("WORLD_SIZE", 1, 1, 1 << 16));
  e.rank = static_cast<int>(env_int("RANK", 0, 0, e.world - 1));
  e.local_world = static_cast<int>(env_int("LOCAL_WORLD_SIZE", e.world, 1, e.world));
  if (const char* a = std::getenv("MASTER_ADDR"); a && *a) e.addr = a;
  e.port = static_cast<int>(env_int("MASTER_PORT", 29500, 1, 65535));
  e.timeout = std::chrono::milliseconds(1000 * env_int("WHALE_DIST_TIMEOUT", 60, 1, 24 * 3600));
  if (e.world > 1 && !std::getenv("RANK")) fail(ErrorKind::kInvalidArgument, "WORLD_SIZE=", e.world, " needs RANK too");
  return e;
}

#if WHALE_HAS_GLOO
struct DataParallel::Impl {
  c10::intrusive_ptr<c10d::Store> store;
  c10::intrusive_ptr<c10d::ProcessGroupGloo> pg;
  bool failed = false;
};
#else
struct DataParallel::Impl {
  struct NoGroup {
    template <class... A>
    NoGroup* allreduce(A&&...) { return this; }
    template <class... A>
    NoGroup* broadcast(A&&...) { return this; }
    NoGroup* barrier() { return this; }
    void wait() {}
    NoGroup* operator->() { return this; }
  };
  NoGroup pg;
  bool failed = false;
};
#endif

DataParallel::DataParallel(const DistEnv& env) : env_(env), impl_(std::make_unique<Impl>()) {
  if (!distributed()) return;
#if !WHALE_HAS_GLOO
  fail(ErrorKind::kUnsupported, "WORLD_SIZE=", env_.world, ": this whale was built without Gloo's headers; install "
       "libgloo-dev (scripts/setup.sh) and rebuild for data-parallel training");
#else
  ::signal(SIGPIPE, SIG_IGN);  // a peer's closed socket is an error to report, not a reason to die
  try {
    c10d::TCPStoreOptions so;
    so.port = static_cast<uint16_t>(env_.port);
    so.isServer = env_.rank == 0;
    so.numWorkers = static_cast<size_t>(env_.world);
    so.waitWorkers = true;
    so.timeout = env_.timeout;
    impl_->store = c10::make_intrusive<c10d::TCPStore>(env_.addr, so);
    auto opts = c10d::ProcessGroupGloo::Options::create(env_.timeout);
    // GLOO_SOCKET_IFNAME picks the network interface (as in PyTorch); on one machine, loopback.
    if (const char* ifname = std::getenv("GLOO_SOCKET_IFNAME"); ifname && *ifname) {
      opts->devices.push_back(c10d::ProcessGroupGloo::createDeviceForInterface(ifname));
    } else if (is_loopback(env_.addr)) {
      opts->devices.push_back(c10d::ProcessGroupGloo::createDeviceForHostname("127.0.0.1"));
    } else {
      opts->devices.push_back(c10d::ProcessGroupGloo::createDefaultDevice());
    }
    opts->threads = 1;
    impl_->pg = c10::make_intrusive<c10d::ProcessGroupGloo>(impl_->store, env_.rank, env_.world, opts);
  } catch (const std::exception& e) {
    impl_->failed = true;
    fail(ErrorKind::kIo, "data parallel: rank ", env_.rank, " of ", env_.world, " could not meet the others at ", env_.addr,
         ":", env_.port, " within ", env_.timeout.count() / 1000, " s (", first_line(e), ")");
  }
#endif
}

DataParallel::~DataParallel() {
#if WHALE_HAS_GLOO
  if (impl_ && impl_->failed) {
    // A group whose peer is gone may block in its destructor: leave it to the process's exit.
    (void)impl_->pg.release();
    (void)impl_->store.release();
    (void)impl_.release();
  }
#endif
}

void DataParallel::run(const char* what, const std::function<void()>& op) {
  if (impl_->failed) fail(ErrorKind::kIo, "data parallel: the process group already failed");
  try {
    op();
  } catch (const std::exception& e) {
    impl_->failed = true;
    const std::string peer = env_.world == 2 ? "rank " + std::to_string(1 - env_.rank) : "another rank";
    fail(ErrorKind::kIo, "data parallel: rank ", env_.rank, " of ", env_.world, " lost ", peer, " during ", what, " (",
         first_line(e), "): it died, or did not answer within ", env_.timeout.count() / 1000,
         " s (WHALE_DIST_TIMEOUT); stopping");
  }
}

void DataParallel::sum_gradients(const std::vector<torch::Tensor>& params, int64_t bucket_bytes) {
  if (!distributed()) return;
  torch::NoGradGuard no_grad;
  // Which gradients exist anywhere: those count as zeros where missing; the rest stay undefined.
  torch::Tensor defined = torch::empty({static_cast<int64_t>(params.size())}, torch::kFloat32);
  for (size_t i = 0; i < params.size(); ++i) defined[i] = params[i].grad().defined() ? 1.0f : 0.0f;
  std::vector<torch::Tensor> d = {defined};
  run("the gradient all-reduce", [&] { impl_->pg->allreduce(d)->wait(); });
  const auto* any = defined.data_ptr<float>();

  std::vector<torch::Tensor> bucket;
  int64_t bytes = 0;
  auto flush = [&] {
    if (bucket.empty()) return;
    std::vector<torch::Tensor> flat;
    for (const auto& g : bucket) flat.push_back(g.reshape({-1}));
    std::vector<torch::Tensor> buf = {torch::cat(flat)};
    run("the gradient all-reduce", [&] { impl_->pg->allreduce(buf)->wait(); });
    int64_t at = 0;
    for (auto& g : bucket) {
      g.copy_(buf[0].slice(0, at, at + g.numel()).view(g.sizes()));
      at += g.numel();
    }
    bucket.clear();
    bytes = 0;
  };
  for (size_t i = 0; i < params.size(); ++i) {
    if (any[i] == 0) continue;
    torch::Tensor p = params[i];
    if (!p.grad().defined()) p.mutable_grad() = torch::zeros_like(p);
    bucket.push_back(p.grad());
    bytes += p.grad().numel() * static_cast<int64_t>(p.grad().element_size());
    if (bytes >= bucket_bytes) flush();
  }
  flush();
}

void DataParallel::sum(std::vector<torch::Tensor>& tensors, const char* what) {
  if (!distributed() || tensors.empty()) return;
  std::vector<torch::Tensor> flat;
  for (const auto& t : tensors) flat.push_back(t.to(torch::kFloat64).reshape({-1}));
  std::vector<torch::Tensor> buf = {torch::cat(flat)};
  run(what, [&] { impl_->pg->allreduce(buf)->wait(); });
  int64_t at = 0;
  for (auto& t : tensors) {
    t.copy_(buf[0].slice(0, at, at + t.numel()).view(t.sizes()));
    at += t.numel();
  }
}

void DataParallel::broadcast(std::vector<torch::Tensor>& tensors, const char* what) {
  if (!distributed() || tensors.empty()) return;
  torch::NoGradGuard no_grad;
  for (auto& t : tensors) {
    std::vector<torch::Tensor> one = {t.detach().contiguous()};
    run(what, [&] { impl_->pg->broadcast(one)->wait(); });
    if (one[0].data_ptr() != t.data_ptr()) t.detach().copy_(one[0]);
  }
}

std::vector<int64_t> DataParallel::all_gather(const std::vector<int64_t>& mine, const char* what) {
  if (!distributed()) return mine;
  // Two sums: the lengths (each rank fills its slot), then the data (each rank fills its range).
  std::vector<torch::Tensor> len = {torch::zeros({env_.world}, torch::kInt64)};
  len[0][env_.rank] = static_cast<int64_t>(mine.size());
  run(what, [&] { impl_->pg->allreduce(len)->wait(); });
  const auto* n = len[0].data_ptr<int64_t>();
  int64_t total = 0, at = 0;
  for (int r = 0; r < env_.world; ++r) {
    if (r == env_.rank) at = total;
    total += n[r];
  }
  std::vector<torch::Tensor> all = {torch::zeros({std::max<int64_t>(total, 1)}, torch::kInt64)};
  std::copy(mine.begin(), mine.end(), all[0].data_ptr<int64_t>() + at);
  run(what, [&] { impl_->pg->allreduce(all)->wait(); });
  const auto* d = all[0].data_ptr<int64_t>();
  return std::vector<int64_t>(d, d + total);
}

void DataParallel::barrier(const char* what) {
  if (!distributed()) return;
  run(what, [&] { impl_->pg->barrier()->wait(); });
}

}  // namespace whale::train
