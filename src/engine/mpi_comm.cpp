// Comm over MPI's C API (WHALE_HAS_MPI), or a stub that names the missing build option.
#include "engine/mpi_comm.h"

#include <chrono>
#include <cstdlib>
#include <thread>

#include "core/error.h"

#if WHALE_HAS_MPI
#include <mpi.h>
#endif

namespace whale::engine {

#if WHALE_HAS_MPI
namespace {

void check(int rc, const char* what) {
  if (rc == MPI_SUCCESS) return;
  char msg[MPI_MAX_ERROR_STRING];
  int len = 0;
  MPI_Error_string(rc, msg, &len);
  fail(ErrorKind::kIo, "MPI ", what, " failed: ", std::string(msg, static_cast<size_t>(len)));
}

// Polls `req` with short sleeps: MPI_Wait spins at 100% of a core, which on an oversubscribed
// machine takes the core from the rank that is computing. After about a second of waiting (a
// follower of an idle server) the sleeps grow to a millisecond.
void poll(MPI_Request& req, MPI_Status* status) {
  for (int spins = 0;; ++spins) {
    int done = 0;
    check(MPI_Test(&req, &done, status), "test");
    if (done) return;
    if (spins > 64) std::this_thread::sleep_for(std::chrono::microseconds(spins > 20000 ? 1000 : 50));
  }
}

std::vector<MPI_Request>& requests() {
  static std::vector<MPI_Request> r;
  return r;
}

}  // namespace

bool Comm::available() { return true; }

Comm::Comm() {
  int inited = 0;
  MPI_Initialized(&inited);
  if (!inited) {
    int provided = 0;
    // Serialized: `whale serve` makes its calls from the engine's thread, one thread at a time.
    check(MPI_Init_thread(nullptr, nullptr, MPI_THREAD_SERIALIZED, &provided), "init");
    std::atexit([] {
      int fin = 0;
      MPI_Finalized(&fin);
      if (!fin) MPI_Finalize();
    });
  }
  MPI_Comm_rank(MPI_COMM_WORLD, &rank_);
  MPI_Comm_size(MPI_COMM_WORLD, &size_);
}

Comm& Comm::world() {
  static Comm c;
  return c;
}

void Comm::send(const void* data, int64_t bytes, int dest, int tag) {
  MPI_Request req;
  check(MPI_Isend(data, static_cast<int>(bytes), MPI_BYTE, dest, tag, MPI_COMM_WORLD, &req), "send");
  poll(req, MPI_STATUS_IGNORE);
}

void Comm::recv(void* data, int64_t bytes, int source, int tag) {
  MPI_Request req;
  MPI_Status st;
  check(MPI_Irecv(data, static_cast<int>(bytes), MPI_BYTE, source, tag, MPI_COMM_WORLD, &req), "recv");
  poll(req, &st);
  int got = 0;
  MPI_Get_count(&st, MPI_BYTE, &got);
  if (got != bytes) fail(ErrorKind::kInternal, "MPI recv from rank ", source, ": ", got, " bytes, expected ", bytes);
}

std::vector<int32_t> Comm::recv_ints(int source, int tag) {
  MPI_Status st;
  for (int spins = 0;; ++spins) {
    int flag = 0;
    check(MPI_Iprobe(source, tag, MPI_COMM_WORLD, &flag, &st), "probe");
    if (flag) break;
    if (spins > 64) std::this_thread::sleep_for(std::chrono::microseconds(spins > 20000 ? 1000 : 50));
  }
  int n = 0;
  MPI_Get_count(&st, MPI_INT32_T, &n);
  std::vector<int32_t> v(static_cast<size_t>(n));
  check(MPI_Recv(v.data(), n, MPI_INT32_T, source, tag, MPI_COMM_WORLD, MPI_STATUS_IGNORE), "recv");
  return v;
}

int64_t Comm::isend(const void* data, int64_t bytes, int dest, int tag) {
  MPI_Request req;
  check(MPI_Isend(data, static_cast<int>(bytes), MPI_BYTE, dest, tag, MPI_COMM_WORLD, &req), "isend");
  std::vector<MPI_Request>& all = requests();
  for (size_t i = 0; i < all.size(); ++i) {  // reuse a finished slot
    if (all[i] == MPI_REQUEST_NULL) {
      all[i] = req;
      return static_cast<int64_t>(i);
    }
  }
  all.push_back(req);
  return static_cast<int64_t>(all.size()) - 1;
}

void Comm::wait(int64_t request) {
  MPI_Request& r = requests().at(static_cast<size_t>(request));
  if (r != MPI_REQUEST_NULL) poll(r, MPI_STATUS_IGNORE);
  r = MPI_REQUEST_NULL;
}

void Comm::broadcast(void* data, int64_t bytes, int root) {
  MPI_Request req;
  check(MPI_Ibcast(data, static_cast<int>(bytes), MPI_BYTE, root, MPI_COMM_WORLD, &req), "broadcast");
  poll(req, MPI_STATUS_IGNORE);
}

void Comm::allgather(const float* in, int64_t n, float* out) {
  MPI_Request req;
  check(MPI_Iallgather(in, static_cast<int>(n), MPI_FLOAT, out, static_cast<int>(n), MPI_FLOAT, MPI_COMM_WORLD, &req),
        "allgather");
  poll(req, MPI_STATUS_IGNORE);
}

void Comm::barrier() {
  MPI_Request req;
  check(MPI_Ibarrier(MPI_COMM_WORLD, &req), "barrier");
  poll(req, MPI_STATUS_IGNORE);
}

void Comm::abort(int code) {
  MPI_Abort(MPI_COMM_WORLD, code);
  std::_Exit(code);
}

#else  // built without MPI

namespace {
[[noreturn]] void unavailable() {
  fail(ErrorKind::kUnsupported, "this whale was built without MPI (install libopenmpi-dev and rebuild with -DWHALE_MPI=ON)");
}
}  // namespace

bool Comm::available() { return false; }
Comm::Comm() { unavailable(); }
Comm& Comm::world() { unavailable(); }
void Comm::send(const void*, int64_t, int, int) { unavailable(); }
void Comm::recv(void*, int64_t, int, int) { unavailable(); }
std::vector<int32_t> Comm::recv_ints(int, int) { unavailable(); }
int64_t Comm::isend(const void*, int64_t, int, int) { unavailable(); }
void Comm::wait(int64_t) { unavailable(); }
void Comm::broadcast(void*, int64_t, int) { unavailable(); }
void Comm::allgather(const float*, int64_t, float*) { unavailable(); }
void Comm::barrier() { unavailable(); }
void Comm::abort(int code) { std::_Exit(code); }

#endif

}  // namespace whale::engine
