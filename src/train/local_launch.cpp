#include "train/local_launch.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>

#include "core/error.h"

namespace whale::train {

namespace {

// A TCP port the kernel hands out now (free a moment later for rank 0's store, barring a race).
int free_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) fail(ErrorKind::kIo, "socket: ", std::strerror(errno));
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = 0;
  socklen_t len = sizeof a;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
    ::close(fd);
    fail(ErrorKind::kIo, "cannot find a free port for the ranks: ", std::strerror(errno));
  }
  ::close(fd);
  return ntohs(a.sin_port);
}

std::vector<pid_t> g_children;  // for the signal handler

void forward_signal(int sig) {
  for (pid_t p : g_children) {
    if (p > 0) ::kill(p, sig);
  }
}

std::string how_it_ended(int status) {
  if (WIFSIGNALED(status)) {
    const int s = WTERMSIG(status);
    return "was killed by signal " + std::to_string(s) + " (" + (sigabbrev_np(s) ? std::string("SIG") + sigabbrev_np(s) : "?") + ")";
  }
  return "exited with status " + std::to_string(WEXITSTATUS(status));
}

}  // namespace

void launch_local_ranks(int n, const std::vector<std::string>& args) {
  if (n < 1) fail(ErrorKind::kInvalidArgument, "--nproc ", n, ": needs at least 1 rank");
  const char* addr_env = std::getenv("MASTER_ADDR");
  const char* port_env = std::getenv("MASTER_PORT");
  const std::string addr = addr_env && *addr_env ? addr_env : "127.0.0.1";
  const std::string port = port_env && *port_env ? port_env : std::to_string(free_port());

  std::vector<char*> argv;
  static const char kSelf[] = "/proc/self/exe";
  argv.push_back(const_cast<char*>(kSelf));
  for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);

  g_children.assign(n, 0);
  for (int r = 0; r < n; ++r) {
    const pid_t pid = ::fork();
    if (pid < 0) {
      forward_signal(SIGKILL);
      fail(ErrorKind::kIo, "fork: ", std::strerror(errno));
    }
    if (pid == 0) {
      ::prctl(PR_SET_PDEATHSIG, SIGTERM);  // no rank outlives its launcher
      ::setenv("RANK", std::to_string(r).c_str(), 1);
      ::setenv("LOCAL_RANK", std::to_string(r).c_str(), 1);
      ::setenv("WORLD_SIZE", std::to_string(n).c_str(), 1);
      ::setenv("LOCAL_WORLD_SIZE", std::to_string(n).c_str(), 1);
      ::setenv("MASTER_ADDR", addr.c_str(), 1);
      ::setenv("MASTER_PORT", port.c_str(), 1);
      ::execv(kSelf, argv.data());
      std::fprintf(stderr, "whale: cannot run %s: %s\n", kSelf, std::strerror(errno));
      ::_exit(127);
    }
    g_children[r] = pid;
  }
  const std::vector<pid_t> pids = g_children;
  // Ctrl-C reaches the ranks through the terminal; SIGTERM to this process is passed on.
  ::signal(SIGTERM, forward_signal);

  int left = n;
  std::string failure;
  auto kill_at = std::chrono::steady_clock::time_point::max();
  while (left > 0) {
    // Every rank that ended since the last look; a rank killed by a signal is named before ranks
    // that exited with an error (those usually report the lost one).
    std::vector<std::pair<int, int>> ended;  // rank, wait status
    for (;;) {
      int status = 0;
      const pid_t pid = ::waitpid(-1, &status, WNOHANG);
      if (pid <= 0) break;
      for (int r = 0; r < n; ++r) {
        if (g_children[r] == pid) {
          g_children[r] = 0;
          ended.emplace_back(r, status);
        }
      }
    }
    std::stable_sort(ended.begin(), ended.end(), [](const auto& a, const auto& b) {
      return WIFSIGNALED(a.second) && !WIFSIGNALED(b.second);
    });
    for (const auto& [rank, status] : ended) {
      --left;
      if ((WIFEXITED(status) && WEXITSTATUS(status) == 0) || !failure.empty()) continue;
      failure = "rank " + std::to_string(rank) + " (pid " + std::to_string(pids[rank]) + ") " + how_it_ended(status);
      std::fprintf(stderr, "whale: %s; stopping the other rank(s)\n", failure.c_str());
      std::fflush(stderr);
      forward_signal(SIGTERM);
      kill_at = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    }
    if (!ended.empty()) continue;
    // Ranks still running 5 s after being asked to stop are killed.
    if (std::chrono::steady_clock::now() >= kill_at) {
      forward_signal(SIGKILL);
      kill_at = std::chrono::steady_clock::time_point::max();
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  ::signal(SIGTERM, SIG_DFL);
  if (!failure.empty()) fail(ErrorKind::kIo, "data-parallel run failed: ", failure);
}

}  // namespace whale::train
