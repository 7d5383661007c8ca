// mmap-backed read-only files and atomic temp-file-then-rename writes.
#include "core/mapped_file.h"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>

#include "core/error.h"

namespace whale::core {

namespace {

// A file truncated while it is mapped turns reads past its new end into SIGBUS. The mappings are
// listed here (lock-free, so the signal handler may read them) and the handler names the file
// instead of dying silently, then exits with status 1 as any other error does.
struct MappingSlot {
  std::atomic<uintptr_t> begin{0};  // 0: free
  std::atomic<uintptr_t> end{0};
  char path[480] = {};
};
constexpr size_t kSlots = 256;
MappingSlot g_slots[kSlots];
std::atomic<bool> g_handler_installed{false};

void write_stderr(const char* s) {
  for (size_t n = std::strlen(s); n > 0;) {
    const ssize_t w = ::write(2, s, n);
    if (w <= 0) return;
    s += w;
    n -= static_cast<size_t>(w);
  }
}

void on_sigbus(int sig, siginfo_t* info, void*) {
  const auto addr = reinterpret_cast<uintptr_t>(info->si_addr);
  for (const MappingSlot& slot : g_slots) {
    const uintptr_t b = slot.begin.load(std::memory_order_acquire);
    if (b != 0 && addr >= b && addr < slot.end.load(std::memory_order_acquire)) {
      write_stderr("whale: error: ");
      write_stderr(slot.path);
      write_stderr(": the file shrank while whale had it mapped (truncated or rewritten in place); "
                   "restart once it is complete\n");
      ::_exit(1);
    }
  }
  ::signal(sig, SIG_DFL);  // not a mapped file's fault: the default action (core dump)
  ::raise(sig);
}

void track_mapping(const std::byte* data, uint64_t size, const std::string& path) {
  if (!g_handler_installed.exchange(true)) {
    struct sigaction sa {};
    sa.sa_sigaction = on_sigbus;
    sa.sa_flags = SA_SIGINFO;
    sigemptyset(&sa.sa_mask);
    ::sigaction(SIGBUS, &sa, nullptr);
  }
  for (MappingSlot& slot : g_slots) {
    uintptr_t expected = 0;
    // Claim with a placeholder so no reader sees a half-written path, then publish the range.
    if (slot.begin.compare_exchange_strong(expected, 1, std::memory_order_acq_rel)) {
      std::snprintf(slot.path, sizeof slot.path, "%s", path.c_str());
      slot.end.store(reinterpret_cast<uintptr_t>(data) + size, std::memory_order_release);
      slot.begin.store(reinterpret_cast<uintptr_t>(data), std::memory_order_release);
      return;
    }
  }  // more than kSlots files mapped at once: the rest fault with the plain SIGBUS
}

void untrack_mapping(const std::byte* data) {
  for (MappingSlot& slot : g_slots) {
    if (slot.begin.load(std::memory_order_acquire) == reinterpret_cast<uintptr_t>(data)) {
      slot.end.store(0, std::memory_order_release);
      slot.begin.store(0, std::memory_order_release);
      return;
    }
  }
}

}  // namespace

std::shared_ptr<MappedFile> MappedFile::open(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    const int e = errno;
    fail(e == ENOENT ? ErrorKind::kNotFound : ErrorKind::kIo, path, ": cannot open: ", std::strerror(e));
  }
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    const int e = errno;
    ::close(fd);
    fail(ErrorKind::kIo, path, ": cannot stat: ", std::strerror(e));
  }
  if (S_ISDIR(st.st_mode)) {
    ::close(fd);
    fail(ErrorKind::kInvalidArgument, path, ": is a directory, expected a file");
  }
  std::shared_ptr<MappedFile> file(new MappedFile());
  file->path_ = path;
  file->size_ = static_cast<uint64_t>(st.st_size);
  if (file->size_ > 0) {
    void* p = ::mmap(nullptr, file->size_, PROT_READ, MAP_PRIVATE, fd, 0);
    if (p == MAP_FAILED) {
      const int e = errno;
      ::close(fd);
      fail(ErrorKind::kIo, path, ": cannot mmap ", file->size_, " bytes: ", std::strerror(e));
    }
    file->data_ = static_cast<std::byte*>(p);
    track_mapping(file->data_, file->size_, path);
  }
  ::close(fd);
  return file;
}

MappedFile::~MappedFile() {
  if (data_) {
    untrack_mapping(data_);
    ::munmap(data_, size_);
  }
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    struct stat st {};
    fail(::stat(path.c_str(), &st) != 0 ? ErrorKind::kNotFound : ErrorKind::kIo, path, ": cannot open for reading");
  }
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void write_all(std::FILE* f, const void* data, size_t n, const std::string& what) {
  if (n == 0) return;
  if (std::fwrite(data, 1, n, f) != n) {
    fail(ErrorKind::kIo, "cannot write ", what, ": ", std::strerror(errno));
  }
}

namespace {

// What a failed write leaves, said once at the end of its error.
std::string left_as_it_was(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 ? " (the previous " + path + " is unchanged)" : " (" + path + " was not created)";
}

// Temporary files of writers that were killed (named PATH.tmp-PID, PID no longer running) go
// before a new write, so a crash loop does not fill the disk with them.
void remove_stale_temporaries(const std::string& path) {
  const size_t slash = path.rfind('/');
  const std::string dir = slash == std::string::npos ? "." : path.substr(0, slash + 1);
  const std::string prefix = (slash == std::string::npos ? path : path.substr(slash + 1)) + ".tmp-";
  DIR* d = ::opendir(dir.c_str());
  if (!d) return;
  while (const dirent* e = ::readdir(d)) {
    const std::string name = e->d_name;
    if (name.rfind(prefix, 0) != 0 || name.size() == prefix.size()) continue;
    const std::string digits = name.substr(prefix.size());
    if (digits.find_first_not_of("0123456789") != std::string::npos || digits.size() > 9) continue;
    const pid_t pid = static_cast<pid_t>(std::stol(digits));
    if (pid != ::getpid() && ::kill(pid, 0) != 0 && errno == ESRCH) {
      (void)::unlink((slash == std::string::npos ? name : dir + name).c_str());
    }
  }
  ::closedir(d);
}

// The rename is durable only once the directory is synced (a power cut could otherwise undo it);
// file systems that cannot sync a directory are not an error.
void sync_directory_of(const std::string& path) {
  const size_t slash = path.rfind('/');
  const std::string dir = slash == std::string::npos ? "." : slash == 0 ? "/" : path.substr(0, slash);
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return;
  (void)::fsync(fd);
  ::close(fd);
}

}  // namespace

void write_file_atomic(const std::string& path, const std::function<void(std::FILE*)>& write) {
  remove_stale_temporaries(path);
  const std::string tmp = path + ".tmp-" + std::to_string(::getpid());
  std::FILE* f = std::fopen(tmp.c_str(), "wb");
  if (!f) fail(ErrorKind::kIo, path, ": cannot create the temporary file ", tmp, ": ", std::strerror(errno));
  try {
    write(f);
    if (std::fflush(f) != 0) fail(ErrorKind::kIo, path, ": cannot write: ", std::strerror(errno));
    if (::fsync(::fileno(f)) != 0) fail(ErrorKind::kIo, path, ": cannot sync to disk: ", std::strerror(errno));
  } catch (const Error& e) {
    std::fclose(f);
    std::remove(tmp.c_str());
    fail(e.kind(), e.what(), left_as_it_was(path));
  } catch (...) {
    std::fclose(f);
    std::remove(tmp.c_str());
    throw;
  }
  if (std::fclose(f) != 0) {
    const int e = errno;
    std::remove(tmp.c_str());
    fail(ErrorKind::kIo, path, ": cannot close: ", std::strerror(e), left_as_it_was(path));
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    const int e = errno;
    std::remove(tmp.c_str());
    fail(ErrorKind::kIo, path, ": cannot rename temporary file into place: ", std::strerror(e), left_as_it_was(path));
  }
  sync_directory_of(path);
}

void write_file_atomic(const std::string& path, std::string_view contents) {
  write_file_atomic(path, [&](std::FILE* f) { write_all(f, contents.data(), contents.size(), path); });
}

}  // namespace whale::core
