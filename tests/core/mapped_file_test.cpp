// MappedFile and write_file_atomic under faults: a file truncated while mapped ends the process with
// an error naming it (not a bare SIGBUS), an unrelated SIGBUS still dies as a signal, a failed
// write keeps the old file and says so, and temporaries of killed writers are removed.
#include "core/mapped_file.h"

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <string>

#include "../error_of.h"
#include "../test_files.h"

namespace whale::core {
namespace {

namespace fs = std::filesystem;

// Runs `body` in a child with stderr on a pipe: its exit status (128 + signal) and stderr.
std::pair<int, std::string> in_child(const std::function<void()>& body) {
  int err[2];
  EXPECT_EQ(::pipe(err), 0);
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::dup2(err[1], 2);
    ::close(err[0]);
    body();
    ::_exit(0);
  }
  ::close(err[1]);
  std::string out;
  char buf[512];
  for (ssize_t n; (n = ::read(err[0], buf, sizeof buf)) > 0;) out.append(buf, static_cast<size_t>(n));
  ::close(err[0]);
  int status = 0;
  ::waitpid(pid, &status, 0);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status), out};
}

TEST(MappedFile, TruncatedWhileMappedIsAnErrorNamingTheFile) {
  const fs::path dir = testing::fresh_temp_path("mapped");
  fs::create_directories(dir);
  const std::string path = (dir / "weights.bin").string();
  testing::write_bytes(path, std::string(1 << 16, 'w'));
  const auto [status, err] = in_child([&] {
    const auto f = MappedFile::open(path);
    volatile char first = static_cast<char>(f->data()[100]);  // readable while whole
    (void)first;
    fs::resize_file(path, 0);
    volatile char gone = static_cast<char>(f->data()[40000]);  // past the new end: SIGBUS
    (void)gone;
  });
  EXPECT_EQ(status, 1) << err;
  EXPECT_EQ(err, "whale: error: " + path +
                     ": the file shrank while whale had it mapped (truncated or rewritten in place); restart once it is "
                     "complete\n");
  fs::remove_all(dir);
}

TEST(MappedFile, ASigbusElsewhereStillKillsTheProcess) {
  const fs::path dir = testing::fresh_temp_path("mapped_other");
  fs::create_directories(dir);
  const std::string path = (dir / "a.bin").string();
  testing::write_bytes(path, "abc");
  const auto [status, err] = in_child([&] {
    const auto f = MappedFile::open(path);  // installs the handler
    ::raise(SIGBUS);                        // si_addr is no mapped file's
  });
  EXPECT_EQ(status, 128 + SIGBUS) << err;
  fs::remove_all(dir);
}

TEST(WriteFileAtomic, AFailedWriteKeepsTheOldFileAndSaysSo) {
  const fs::path dir = testing::fresh_temp_path("atomic");
  fs::create_directories(dir);
  const std::string path = (dir / "out.bin").string();
  write_file_atomic(path, std::string_view("old"));
  const std::string msg = testing::error_of([&] {
    write_file_atomic(path, [&](std::FILE* f) {
      write_all(f, "new", 3, path);
      fail(ErrorKind::kIo, "cannot write ", path, ": No space left on device");
    });
  });
  EXPECT_EQ(msg, "cannot write " + path + ": No space left on device (the previous " + path + " is unchanged)");
  EXPECT_EQ(testing::read_bytes(path), "old");
  const std::string fresh = (dir / "fresh.bin").string();
  EXPECT_NE(testing::error_of([&] { write_file_atomic(fresh, [](std::FILE*) { fail(ErrorKind::kIo, "boom"); }); })
                .find("(" + fresh + " was not created)"),
            std::string::npos);
  EXPECT_EQ(std::distance(fs::directory_iterator(dir), fs::directory_iterator()), 1);  // no temporaries
  fs::remove_all(dir);
}

TEST(WriteFileAtomic, TemporariesOfKilledWritersAreRemoved) {
  const fs::path dir = testing::fresh_temp_path("atomic_stale");
  fs::create_directories(dir);
  const std::string path = (dir / "out.bin").string();
  // A writer that died: its pid is reaped, so no process has it (until the pid is reused).
  const pid_t dead = ::fork();
  if (dead == 0) ::_exit(0);
  ::waitpid(dead, nullptr, 0);
  testing::write_bytes(path + ".tmp-" + std::to_string(dead), "half");
  testing::write_bytes(path + ".tmp-" + std::to_string(::getppid()), "a live writer's");  // running: kept
  testing::write_bytes(path + ".tmp-notapid", "not ours");
  write_file_atomic(path, std::string_view("new"));
  EXPECT_EQ(testing::read_bytes(path), "new");
  EXPECT_FALSE(fs::exists(path + ".tmp-" + std::to_string(dead)));
  EXPECT_TRUE(fs::exists(path + ".tmp-" + std::to_string(::getppid())));
  EXPECT_TRUE(fs::exists(path + ".tmp-notapid"));
  fs::remove_all(dir);
}

}  // namespace
}  // namespace whale::core
