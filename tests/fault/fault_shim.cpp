// An LD_PRELOAD library for fault tests: writes to files whose path contains $WHALE_FAULT_PATH
// fail once $WHALE_FAULT_AFTER bytes (all such files together) have been written, as on a full disk.
// WHALE_FAULT_ERRNO=ENOSPC (default) or EIO picks the error; WHALE_FAULT_FSYNC=1 makes fsync and
// fdatasync on those files fail with it too (a write error the kernel reports late). Only tests use it.
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <unistd.h>

namespace {

constexpr int kMaxFd = 65536;
unsigned char g_marked[kMaxFd];  // fds open on a matching path
long long g_written;             // bytes written to matching files so far

const char* pattern(void) {
  const char* p = getenv("WHALE_FAULT_PATH");
  return p && *p ? p : NULL;
}
long long limit(void) {
  const char* a = getenv("WHALE_FAULT_AFTER");
  return a ? atoll(a) : 0;
}
int fault_errno(void) {
  const char* e = getenv("WHALE_FAULT_ERRNO");
  return e && strcmp(e, "EIO") == 0 ? EIO : ENOSPC;
}
int matches(const char* path) { return path && pattern() && strstr(path, pattern()) != NULL; }
void mark(int fd, const char* path) {
  if (fd >= 0 && fd < kMaxFd) g_marked[fd] = (unsigned char)matches(path);
}
int marked(int fd) { return fd >= 0 && fd < kMaxFd && g_marked[fd]; }

// How many of `n` bytes may still be written to `fd`; -1 (errno set) when none may.
ssize_t allowance(int fd, size_t n) {
  if (!marked(fd) || n == 0) return (ssize_t)n;
  const long long room = limit() - g_written;
  if (room <= 0) {
    errno = fault_errno();
    return -1;
  }
  return (ssize_t)((long long)n < room ? (long long)n : room);
}

int sync_fails(int fd) {
  const char* s = getenv("WHALE_FAULT_FSYNC");
  return marked(fd) && s && strcmp(s, "1") == 0;
}

}  // namespace

#define REAL(name)                  \
  static decltype(&::name) real_##name; \
  if (!real_##name) real_##name = reinterpret_cast<decltype(&::name)>(dlsym(RTLD_NEXT, #name))

extern "C" {

int open(const char* path, int flags, ...) {
  REAL(open);
  mode_t mode = 0;
  if (flags & (O_CREAT | O_TMPFILE)) {
    va_list ap;
    va_start(ap, flags);
    mode = va_arg(ap, mode_t);
    va_end(ap);
  }
  const int fd = real_open(path, flags, mode);
  mark(fd, path);
  return fd;
}
int open64(const char* path, int flags, ...) {
  REAL(open64);
  mode_t mode = 0;
  if (flags & (O_CREAT | O_TMPFILE)) {
    va_list ap;
    va_start(ap, flags);
    mode = va_arg(ap, mode_t);
    va_end(ap);
  }
  const int fd = real_open64(path, flags, mode);
  mark(fd, path);
  return fd;
}
int openat(int dir, const char* path, int flags, ...) {
  REAL(openat);
  mode_t mode = 0;
  if (flags & (O_CREAT | O_TMPFILE)) {
    va_list ap;
    va_start(ap, flags);
    mode = va_arg(ap, mode_t);
    va_end(ap);
  }
  const int fd = real_openat(dir, path, flags, mode);
  mark(fd, path);
  return fd;
}
FILE* fopen(const char* path, const char* mode) {
  REAL(fopen);
  FILE* f = real_fopen(path, mode);
  if (f) mark(fileno(f), path);
  return f;
}
FILE* fopen64(const char* path, const char* mode) {
  REAL(fopen64);
  FILE* f = real_fopen64(path, mode);
  if (f) mark(fileno(f), path);
  return f;
}
int close(int fd) {
  REAL(close);
  if (fd >= 0 && fd < kMaxFd) g_marked[fd] = 0;
  return real_close(fd);
}
int fclose(FILE* f) {
  REAL(fclose);
  if (f) {
    const int fd = fileno(f);
    if (fd >= 0 && fd < kMaxFd) g_marked[fd] = 0;
  }
  return real_fclose(f);
}

ssize_t write(int fd, const void* buf, size_t n) {
  REAL(write);
  const ssize_t ok = allowance(fd, n);
  if (ok < 0) return -1;
  const ssize_t r = real_write(fd, buf, (size_t)ok);
  if (r > 0 && marked(fd)) g_written += r;
  return r;
}
ssize_t pwrite(int fd, const void* buf, size_t n, off_t off) {
  REAL(pwrite);
  const ssize_t ok = allowance(fd, n);
  if (ok < 0) return -1;
  const ssize_t r = real_pwrite(fd, buf, (size_t)ok, off);
  if (r > 0 && marked(fd)) g_written += r;
  return r;
}
ssize_t pwrite64(int fd, const void* buf, size_t n, off64_t off) {
  REAL(pwrite64);
  const ssize_t ok = allowance(fd, n);
  if (ok < 0) return -1;
  const ssize_t r = real_pwrite64(fd, buf, (size_t)ok, off);
  if (r > 0 && marked(fd)) g_written += r;
  return r;
}
ssize_t writev(int fd, const struct iovec* iov, int cnt) {
  REAL(writev);
  if (!marked(fd)) return real_writev(fd, iov, cnt);
  // One buffer at a time keeps the accounting simple; a short count is a valid writev result.
  ssize_t total = 0;
  for (int i = 0; i < cnt; ++i) {
    const ssize_t r = write(fd, iov[i].iov_base, iov[i].iov_len);
    if (r < 0) return total > 0 ? total : -1;
    total += r;
    if ((size_t)r < iov[i].iov_len) break;
  }
  return total;
}
// stdio writes through glibc's internal write, which LD_PRELOAD cannot reach: count them here.
size_t fwrite(const void* buf, size_t size, size_t count, FILE* f) {
  REAL(fwrite);
  const int fd = fileno(f);
  if (!marked(fd) || size == 0) return real_fwrite(buf, size, count, f);
  const ssize_t ok = allowance(fd, size * count);
  if (ok < 0) return 0;
  const size_t items = real_fwrite(buf, size, (size_t)ok / size, f);
  g_written += (long long)(items * size);
  if (items < count) errno = fault_errno();
  return items;
}
int fsync(int fd) {
  REAL(fsync);
  if (sync_fails(fd)) {
    errno = fault_errno();
    return -1;
  }
  return real_fsync(fd);
}
int fdatasync(int fd) {
  REAL(fdatasync);
  if (sync_fails(fd)) {
    errno = fault_errno();
    return -1;
  }
  return real_fdatasync(fd);
}

}  // extern "C"
