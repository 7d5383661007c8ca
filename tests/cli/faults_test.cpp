// Faults while whale writes files: a full disk or an I/O error (injected with the fault_shim
// LD_PRELOAD library, tests/fault/fault_shim.cpp) gives an error naming the file and the cause,
// keeps the previous file and leaves no temporary; a SIGKILL at random points of `whale convert`
// and `whale quantize` leaves the destination either as it was or complete, never half-written.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "cli_util.h"

namespace whale {
namespace {

namespace fs = std::filesystem;
using cli_testing::CmdResult;
using cli_testing::whale;

// `args` run by whale with writes to paths containing `path` failing after `after` bytes.
CmdResult whale_faulty(const std::string& args, const std::string& path, long long after, const std::string& err = "ENOSPC",
                       bool fsync_fails = false) {
  const std::string env = "WHALE_FAULT_PATH='" + path + "' WHALE_FAULT_AFTER=" + std::to_string(after) +
                          " WHALE_FAULT_ERRNO=" + err + (fsync_fails ? " WHALE_FAULT_FSYNC=1" : "") +
                          " ASAN_OPTIONS=verify_asan_link_order=0 LD_PRELOAD=" + WHALE_FAULT_SHIM + " ";
  return cli_testing::run(env + WHALE_BINARY + " " + args);
}

std::vector<std::string> temporaries(const fs::path& dir) {
  std::vector<std::string> out;
  for (const auto& e : fs::recursive_directory_iterator(dir)) {
    if (e.path().filename().string().find(".tmp") != std::string::npos) out.push_back(e.path().string());
  }
  return out;
}

std::string testing_bytes(const fs::path& p) { return testing::read_bytes(p.string()); }

class Faults : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = cli_testing::temp_dir("faults");
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  fs::path dir_;
};

// The shim touches only matching paths: with a pattern nothing matches, a whole checkpoint is
// written (the tests below show matching writes failing).
TEST_F(Faults, TheShimLeavesOtherPathsAlone) {
  const CmdResult ok = whale_faulty("init --preset tiny-qwen2 --out " + (dir_ / "m").string(), "nothing-matches", 0);
  ASSERT_EQ(ok.status, 0) << ok.out;
  EXPECT_EQ(whale("info " + (dir_ / "m").string()).status, 0);
}

TEST_F(Faults, DiskFullOrIoErrorDuringConvertAndQuantizeKeepsTheOldFile) {
  const std::string m = (dir_ / "m").string(), out = (dir_ / "out.gguf").string(), q = (dir_ / "q.gguf").string();
  ASSERT_EQ(whale("init --preset tiny-qwen2 --out " + m).status, 0);
  ASSERT_EQ(whale("convert " + m + " " + out + " --type f32").status, 0);
  ASSERT_EQ(whale("quantize " + out + " " + q + " --type q4_0").status, 0);
  const std::string old_out = testing_bytes(out), old_q = testing_bytes(q);

  struct Case {
    std::string args, dest, err;
    bool fsync_fails;
    std::string message;
  };
  const std::vector<Case> cases = {
      {"convert " + m + " " + out + " --type q8_0", out, "ENOSPC", false, ": No space left on device (the previous " + out + " is unchanged)"},
      {"convert " + m + " " + out + " --type q8_0", out, "EIO", true, out + ": cannot sync to disk: Input/output error (the previous " + out + " is unchanged)"},
      {"quantize " + out + " " + q + " --type q8_0", q, "ENOSPC", false, ": No space left on device (the previous " + q + " is unchanged)"},
      {"quantize " + out + " " + q + " --type q8_0", q, "EIO", false, ": Input/output error (the previous " + q + " is unchanged)"},
  };
  for (const Case& c : cases) {
    const CmdResult r = whale_faulty(c.args, fs::path(c.dest).filename().string(), c.fsync_fails ? 1LL << 40 : 50000, c.err, c.fsync_fails);
    EXPECT_EQ(r.status, 1) << c.args << ": " << r.out;
    EXPECT_NE(r.out.find(c.message), std::string::npos) << c.args << ": " << r.out;
    EXPECT_NE(r.out.find("whale: error: "), std::string::npos) << r.out;
    EXPECT_EQ(testing_bytes(out), old_out) << c.args;
    EXPECT_EQ(testing_bytes(q), old_q) << c.args;
    EXPECT_EQ(temporaries(dir_), std::vector<std::string>{}) << c.args;
  }
  // A destination that did not exist is not created.
  const std::string fresh = (dir_ / "fresh.gguf").string();
  const CmdResult r = whale_faulty("convert " + m + " " + fresh, "fresh.gguf", 1000);
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.out.find("(" + fresh + " was not created)"), std::string::npos) << r.out;
  EXPECT_FALSE(fs::exists(fresh));
  EXPECT_EQ(temporaries(dir_), std::vector<std::string>{});
}

// Xapian writes the index itself (its own files, its own transactions): a full disk during an add
// is an error naming the index and ENOSPC; the index keeps its last commit and still answers.
TEST_F(Faults, DiskFullDuringAnIndexAddKeepsTheIndexUsable) {
  const std::string corpus = fs::path(std::string(WHALE_TEST_DATA) + "/../search/data/corpus").lexically_normal().string();
  const std::string idx = (dir_ / "idx").string();
  ASSERT_EQ(whale("index build " + corpus + " --out " + idx).status, 0);
  const fs::path more = dir_ / "more";
  fs::create_directories(more);
  for (int i = 0; i < 50; ++i) std::ofstream(more / ("n" + std::to_string(i) + ".md")) << "# Note " << i << "\n\nKelp forest tide " << i << ".\n";
  const CmdResult r = whale_faulty("index add " + idx + " " + more.string(), "/idx/", 1000);
  EXPECT_EQ(r.status, 1) << r.out;
  EXPECT_NE(r.out.find("index " + idx), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("No space left on device"), std::string::npos) << r.out;
  const CmdResult s = whale("index search " + idx + " 'whale shark diet' -k 1");
  EXPECT_EQ(s.status, 0) << s.out;
  EXPECT_NE(s.out.find("whale_shark_diet.md"), std::string::npos) << s.out;
  CmdResult again;
  for (int attempt = 0; attempt < 50; ++attempt) {  // Xapian's lock holder may outlive the writer briefly
    again = whale("index add " + idx + " " + more.string());
    if (again.out.find("being written by another process") == std::string::npos) break;
    ::usleep(100000);
  }
  EXPECT_EQ(again.status, 0) << again.out;
  const CmdResult kelp = whale("index search " + idx + " 'kelp forest tide' --json -k 3");
  EXPECT_EQ(nlohmann::json::parse(kelp.out).size(), 3u) << kelp.out;
}

// A training checkpoint that cannot be written: the run stops with an error naming the file and
// ENOSPC, `latest` still names the previous checkpoint (complete), no half-written folder stays,
// and --resume continues from it.
TEST_F(Faults, DiskFullDuringACheckpointKeepsThePreviousOne) {
  const std::string m = (dir_ / "m").string();
  ASSERT_EQ(whale("init --preset tiny-deepseek-v3 --out " + m).status, 0);
  nlohmann::json model = nlohmann::json::parse(testing_bytes(fs::path(m) / "config.json"));
  model["max_position_embeddings"] = 256;
  const nlohmann::json config = {{"kind", "pretrain"}, {"model", model}, {"steps", 6}, {"batch_size", 2}, {"seq_len", 48},
                                 {"seed", 3}, {"threads", 1}, {"optimizer", {{"lr", 3e-3}, {"warmup_steps", 1}}},
                                 {"tasks", nlohmann::json::array({{{"task", "addition"}, {"max_digits", 2}}})},
                                 {"eval_every", 100}, {"eval_batches", 1}, {"checkpoint_every", 3}};
  const fs::path cfg = dir_ / "train.json", run = dir_ / "run";
  std::ofstream(cfg) << config.dump();
  const CmdResult r = whale_faulty("train pretrain " + cfg.string() + " --run " + run.string() + " -q", "step-6.tmp/", 0);
  if (r.out.find("without libtorch") != std::string::npos) GTEST_SKIP() << "whale built without WHALE_TRAIN";
  EXPECT_EQ(r.status, 1) << r.out;
  EXPECT_NE(r.out.find("step-6.tmp/config.json: No space left on device"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("No space left on device"), std::string::npos) << r.out;
  EXPECT_EQ(testing_bytes(run / "checkpoints" / "latest"), "step-3\n");
  EXPECT_FALSE(fs::exists(run / "checkpoints" / "step-6.tmp"));
  EXPECT_EQ(temporaries(run), std::vector<std::string>{});
  const CmdResult info = whale("info " + (run / "checkpoints" / "step-3").string());
  EXPECT_EQ(info.status, 0) << info.out;
  EXPECT_NE(info.out.find("0 missing, 0 misshaped"), std::string::npos) << info.out;
  const CmdResult resumed = whale("train pretrain " + cfg.string() + " --run " + run.string() + " --resume -q");
  EXPECT_EQ(resumed.status, 0) << resumed.out;
  EXPECT_EQ(testing_bytes(run / "checkpoints" / "latest"), "step-6\n");
}

// Starts whale with `args`, its output discarded.
pid_t spawn(const std::vector<std::string>& args) {
  const pid_t pid = ::fork();
  if (pid == 0) {
    std::vector<char*> argv;
    argv.push_back(const_cast<char*>(WHALE_BINARY));
    for (const std::string& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    (void)!std::freopen("/dev/null", "w", stdout);
    (void)!std::freopen("/dev/null", "w", stderr);
    ::execv(WHALE_BINARY, argv.data());
    ::_exit(127);
  }
  return pid;
}

bool run_whole(const std::vector<std::string>& args) {
  int status = 0;
  ::waitpid(spawn(args), &status, 0);
  return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

// Starts `args`, SIGKILLs it after `ms`; true if the signal ended it (not a normal exit first).
bool start_and_kill(const std::vector<std::string>& args, double ms) {
  const pid_t pid = spawn(args);
  std::this_thread::sleep_for(std::chrono::duration<double, std::milli>(ms));
  ::kill(pid, SIGKILL);
  int status = 0;
  ::waitpid(pid, &status, 0);
  return WIFSIGNALED(status);
}

// Starts `args` with stderr on a pipe and SIGKILLs it once its progress on `name` reaches
// `percent` ("NAME: P%" lines, printed as it writes when stderr is not a terminal), or when its
// stderr ends; true if the signal ended it.
bool kill_at_progress(const std::vector<std::string>& args, const std::string& name, double percent) {
  int err[2];
  if (::pipe(err) != 0) return false;
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::dup2(err[1], 2);
    ::close(err[0]);
    ::close(err[1]);
    std::vector<char*> argv;
    argv.push_back(const_cast<char*>(WHALE_BINARY));
    for (const std::string& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    (void)!std::freopen("/dev/null", "w", stdout);
    ::execv(WHALE_BINARY, argv.data());
    ::_exit(127);
  }
  ::close(err[1]);
  const std::string key = name + ": ";
  std::string seen;
  char buf[4096];
  bool reached = false;
  for (ssize_t n; !reached && (n = ::read(err[0], buf, sizeof buf)) > 0;) {
    seen.append(buf, static_cast<size_t>(n));
    for (size_t at = seen.find(key); at != std::string::npos && !reached; at = seen.find(key, at + 1)) {
      reached = std::atof(seen.c_str() + at + key.size()) >= percent;
    }
  }
  ::kill(pid, SIGKILL);
  ::close(err[0]);
  int status = 0;
  ::waitpid(pid, &status, 0);
  return WIFSIGNALED(status);
}

// SIGKILL at seeded random moments of a writer that alternates between two outputs A and B:
// even rounds at a time spread over a whole run's duration, odd rounds at a random point of its
// write progress. After every kill the destination is byte-identical to A or to B, and loads; a
// later complete run removes the killed runs' temporaries.
void kill_at_random_points(const fs::path& dir, const std::vector<std::string>& args_a, const std::vector<std::string>& args_b,
                           const fs::path& dest, int rounds) {
  const auto t0 = std::chrono::steady_clock::now();
  ASSERT_TRUE(run_whole(args_b));
  const std::string b = testing_bytes(dest);
  const double whole_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  ASSERT_TRUE(run_whole(args_a));
  const std::string a = testing_bytes(dest);
  ASSERT_NE(a, b);
  std::mt19937 rng(20261207);
  std::uniform_real_distribution<double> when(0, 1.2 * whole_ms), percent(0, 100);
  int killed = 0, kept_a = 0, kept_b = 0, mid_write = 0;
  for (int i = 0; i < rounds; ++i) {
    const std::vector<std::string> before = temporaries(dir);
    const std::vector<std::string>& args = i / 2 % 2 ? args_a : args_b;
    killed += i % 2 ? kill_at_progress(args, dest.filename().string(), percent(rng)) : start_and_kill(args, when(rng));
    for (const std::string& t : temporaries(dir)) {  // a new temporary: the kill came while writing
      if (std::find(before.begin(), before.end(), t) == before.end()) {
        ++mid_write;
        break;
      }
    }
    const std::string now = testing_bytes(dest);
    ASSERT_TRUE(now == a || now == b) << "round " << i << ": " << dest << " is neither complete output (" << now.size()
                                      << " bytes)";
    (now == a ? kept_a : kept_b)++;
  }
  const CmdResult info = whale("info " + dest.string());
  EXPECT_EQ(info.status, 0) << info.out;
  ASSERT_TRUE(run_whole(args_b));
  EXPECT_EQ(testing_bytes(dest), b);
  EXPECT_EQ(temporaries(dir), std::vector<std::string>{});
  std::printf("%s: %d rounds, %d killed (%d while writing), destination A %d times, B %d times (a whole run: %.0f ms)\n",
              dest.filename().c_str(), rounds, killed, mid_write, kept_a, kept_b, whole_ms);
}

TEST_F(Faults, SigkillDuringConvertLeavesTheOldOrTheNewFile) {
  const std::string m = (dir_ / "m").string(), out = (dir_ / "out.gguf").string();
  ASSERT_EQ(whale("init --preset wide-qwen2 --out " + m).status, 0);
  kill_at_random_points(dir_, {"convert", m, out, "--type", "q8_0"}, {"convert", m, out, "--type", "f16"}, out, 24);
}

TEST_F(Faults, SigkillDuringQuantizeLeavesTheOldOrTheNewFile) {
  const std::string m = (dir_ / "m").string(), in = (dir_ / "in.gguf").string(), out = (dir_ / "q.gguf").string();
  ASSERT_EQ(whale("init --preset wide-qwen2 --out " + m).status, 0);
  ASSERT_EQ(whale("convert " + m + " " + in + " --type f16").status, 0);
  kill_at_random_points(dir_, {"quantize", in, out, "--type", "q4_0"}, {"quantize", in, out, "--type", "q8_0"}, out, 24);
}

// The on-disk prefix cache (`whale run --cache-dir`): runs killed at random moments leave block
// files that are each byte-identical to what an uninterrupted run writes, or none; the next run
// removes the killed runs' temporaries and gives the same tokens as a run without the cache.
TEST_F(Faults, SigkillDuringDiskCacheWritesLeavesOnlyCompleteBlocks) {
  const std::string m = (dir_ / "m").string();
  ASSERT_EQ(whale("init --preset tiny-deepseek-v3 --out " + m).status, 0);
  std::string ids;
  for (int i = 0; i < 2000; ++i) ids += (i ? "," : "") + std::to_string(3 + (i * 37) % 250);
  auto args = [&](const fs::path& cache) {
    return std::vector<std::string>{"run", m, "--prompt-ids", ids, "-n", "4", "--greedy", "-t", "1", "--cache-dir", cache.string()};
  };
  const fs::path reference = dir_ / "reference", cache = dir_ / "cache";
  const auto t0 = std::chrono::steady_clock::now();
  ASSERT_TRUE(run_whole(args(reference)));
  const double whole_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  std::map<std::string, std::string> blocks;
  for (const auto& e : fs::directory_iterator(reference)) blocks[e.path().filename().string()] = testing_bytes(e.path());
  ASSERT_GE(blocks.size(), 4u);
  std::mt19937 rng(7);
  std::uniform_real_distribution<double> when(0, 1.2 * whole_ms);
  int killed = 0, partial = 0;
  for (int i = 0; i < 24; ++i) {
    fs::remove_all(cache);
    killed += start_and_kill(args(cache), when(rng));
    if (!fs::exists(cache)) continue;
    size_t complete = 0;
    for (const auto& e : fs::directory_iterator(cache)) {
      const std::string name = e.path().filename().string();
      if (name.find(".tmp") != std::string::npos) continue;  // removed by the next run (checked below)
      ++complete;
      ASSERT_TRUE(blocks.count(name)) << "round " << i << ": unexpected " << name;
      EXPECT_EQ(testing_bytes(e.path()), blocks[name]) << "round " << i << ": " << name << " differs";
    }
    partial += complete > 0 && complete < blocks.size();
  }
  // The generated ids (stdout only) with the cache the kills left and without any cache.
  const std::string run = std::string("{ ") + WHALE_BINARY + " run " + m + " --prompt-ids " + ids + " -n 4 --greedy -t 1";
  const CmdResult plain = cli_testing::run(run + " 2>/dev/null; }");
  const CmdResult cached = cli_testing::run(run + " --cache-dir " + cache.string() + " 2>/dev/null; }");
  ASSERT_EQ(cached.status, 0) << cached.out;
  EXPECT_EQ(cached.out, plain.out);
  EXPECT_EQ(temporaries(cache), std::vector<std::string>{});
  std::printf("disk cache: 24 rounds, %d killed, %d left some but not all of the %zu blocks (a whole run: %.0f ms)\n",
              killed, partial, blocks.size(), whole_ms);
}

// A GGUF file truncated while `whale run` is generating from it (its weights are views of the
// mapping): the run ends with exit status 1 and an error naming the file, not a bare SIGBUS.
TEST_F(Faults, AModelTruncatedWhileRunningIsAnErrorNamingIt) {
  const std::string m = (dir_ / "m").string(), gguf = (dir_ / "m.gguf").string();
  ASSERT_EQ(whale("init --preset wide-qwen2 --out " + m).status, 0);
  ASSERT_EQ(whale("convert " + m + " " + gguf + " --type f16").status, 0);
  int out[2], err[2];
  ASSERT_EQ(::pipe(out), 0);
  ASSERT_EQ(::pipe(err), 0);
  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    ::dup2(out[1], 1);
    ::dup2(err[1], 2);
    ::close(out[0]);
    ::close(err[0]);
    ::execl(WHALE_BINARY, WHALE_BINARY, "run", gguf.c_str(), "--prompt-ids", "1,2,3", "-n", "100000", "--greedy", "-t", "1",
            static_cast<char*>(nullptr));
    ::_exit(127);
  }
  ::close(out[1]);
  ::close(err[1]);
  char c;
  ASSERT_EQ(::read(out[0], &c, 1), 1);  // the first generated id: the weights are in use
  fs::resize_file(gguf, 100000);
  std::string errors;
  char buf[512];
  for (ssize_t n; (n = ::read(err[0], buf, sizeof buf)) > 0;) errors.append(buf, static_cast<size_t>(n));
  while (::read(out[0], buf, sizeof buf) > 0) {
  }
  ::close(out[0]);
  ::close(err[0]);
  int status = 0;
  ::waitpid(pid, &status, 0);
  ASSERT_TRUE(WIFEXITED(status)) << "ended by signal " << WTERMSIG(status) << ": " << errors;
  EXPECT_EQ(WEXITSTATUS(status), 1) << errors;
  EXPECT_NE(errors.find("whale: error: " + gguf + ": the file shrank while whale had it mapped"), std::string::npos) << errors;
}

}  // namespace
}  // namespace whale
