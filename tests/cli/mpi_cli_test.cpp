// Multi-process inference end to end: `mpirun -np 2 whale run --pp 2 / --ep 2` on tiny random
// models (V3, V2, a dense Qwen2) against one process, and `whale serve --pp 2 / --ep 2` against the
// one-process server. Oracles: the engine's own `whale run` (the
// single-process path every other test checks) for the greedy tokens, and the same driver in one
// process (--pp 1) for the logits: bit-identical under the pipeline (same kernels, same order),
// within a stated bound under expert parallelism (partial sums are added in another order).
// Skipped when whale was built without MPI or mpirun is missing.
#include <gtest/gtest.h>
#include <httplib.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <nlohmann/json.hpp>
#include <thread>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "cli_util.h"

namespace {

namespace fs = std::filesystem;

using whale::cli_testing::CmdResult;
using whale::cli_testing::run;
using whale::cli_testing::temp_dir;
using whale::cli_testing::whale;

// CI runs as root on 2 cores: both flags are needed there and harmless elsewhere. Under
// AddressSanitizer (scripts/test.sh --sanitize) the ranks unwind every allocation's whole stack:
// Open MPI's libraries have no frame pointers, so only then do its exit-time leaks show the
// libmpi/libopen-pal frames that tests/sanitize/lsan.supp names, and whale's own stay reported.
#if defined(__SANITIZE_ADDRESS__)
const std::string kMpirun =
    "env ASAN_OPTIONS=\"$ASAN_OPTIONS:fast_unwind_on_malloc=0\" "
    "mpirun -np 2 --oversubscribe --allow-run-as-root --mca btl self,vader ";
#else
const std::string kMpirun = "mpirun -np 2 --oversubscribe --allow-run-as-root --mca btl self,vader ";
#endif

bool mpi_ready() {
#if WHALE_TEST_MPI
  return run("command -v mpirun").status == 0;
#else
  return false;
#endif
}

// The first line of `out` made only of digits and spaces: the generated ids (stdout), whatever
// timing lines (stderr) surround it; the engine's path may append its timing line unflushed.
std::string ids_line(const std::string& out) {
  std::istringstream in(out);
  std::string line;
  while (std::getline(in, line)) {
    line = line.substr(0, line.find("load "));
    while (!line.empty() && line.back() == ' ') line.pop_back();
    if (!line.empty() && line.find_first_not_of("0123456789 ") == std::string::npos) return line;
  }
  return "";
}

std::vector<float> read_f32(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::vector<char> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::vector<float> v(bytes.size() / 4);
  std::memcpy(v.data(), bytes.data(), v.size() * 4);
  return v;
}

struct Case {
  const char* preset;
  const char* name;
};

class MpiCli : public testing::TestWithParam<Case> {};

// EP's bound: the only difference from one process is the order the MoE outputs are summed in
// (rank 0's shared + experts [0, E/2), rank 1's experts [E/2, E) from zero, then the two partials):
// a few float32 roundings (2^-24 relative each) per MoE layer, carried through 2-3 tiny layers and
// the head. Measured here: at most 1.5e-7 of the largest logit (V3, V2; 0 for the dense model,
// which has no experts to split); the bound leaves 60x room.
constexpr float kEpBound = 1e-5f;

TEST_P(MpiCli, PipelineAndExpertParallelMatchOneProcess) {
  if (!mpi_ready()) GTEST_SKIP() << "built without MPI (WHALE_MPI) or no mpirun";
  const Case c = GetParam();
  const std::string dir = temp_dir(std::string("mpi_") + c.name);
  ASSERT_EQ(whale(std::string("init --preset ") + c.preset + " --out " + dir + "/m").status, 0);
  const std::string m = dir + "/m";
  const std::string args = " --prompt-ids 256,17,42,99,3,7,300 -n 8 --greedy -t 1";
  const CmdResult engine = whale("run " + m + args + " --spec off");
  ASSERT_EQ(engine.status, 0) << engine.out;
  const std::string want = ids_line(engine.out);
  ASSERT_EQ(std::count(want.begin(), want.end(), ' '), 7) << engine.out;

  const CmdResult one = whale("run " + m + args + " --pp 1 --dump-logits " + dir + "/one.f32");
  ASSERT_EQ(one.status, 0) << one.out;
  EXPECT_EQ(ids_line(one.out), want) << one.out;
  const std::vector<float> ref = read_f32(dir + "/one.f32");
  ASSERT_EQ(ref.size(), 8u * 512u);

  const CmdResult pp = run(kMpirun + WHALE_BINARY + " run " + m + args + " --pp 2 --dump-logits " + dir + "/pp.f32");
  ASSERT_EQ(pp.status, 0) << pp.out;
  EXPECT_EQ(ids_line(pp.out), want) << pp.out;
  EXPECT_NE(pp.out.find("rank 1/2: layers ["), std::string::npos) << pp.out;
  const std::vector<float> got = read_f32(dir + "/pp.f32");
  ASSERT_EQ(got.size(), ref.size());
  EXPECT_EQ(std::memcmp(got.data(), ref.data(), ref.size() * 4), 0) << "pipeline logits are not bit-identical";

  const CmdResult ep = run(kMpirun + WHALE_BINARY + " run " + m + args + " --ep 2 --dump-logits " + dir + "/ep.f32");
  ASSERT_EQ(ep.status, 0) << ep.out;
  EXPECT_EQ(ids_line(ep.out), want) << ep.out;
  const std::vector<float> eg = read_f32(dir + "/ep.f32");
  ASSERT_EQ(eg.size(), ref.size());
  float scale = 0, worst = 0;
  for (size_t i = 0; i < ref.size(); ++i) {
    scale = std::max(scale, std::fabs(ref[i]));
    worst = std::max(worst, std::fabs(eg[i] - ref[i]));
  }
  EXPECT_LE(worst, kEpBound * scale) << "expert-parallel logits differ by " << worst << " (scale " << scale << ")";
  fs::remove_all(dir);
}

INSTANTIATE_TEST_SUITE_P(Presets, MpiCli,
                         testing::Values(Case{"tiny-deepseek-v3", "v3"}, Case{"tiny-deepseek-v2", "v2"},
                                         Case{"tiny-qwen2", "qwen2"}),
                         [](const testing::TestParamInfo<Case>& i) { return std::string(i.param.name); });

// A batch of sequences through the pipeline with micro-batches in flight, and without overlap,
// generates what one process generates (bench prints a hash of every generated token).
TEST(MpiCliBench, MicroBatchedPipelineGeneratesWhatOneProcessDoes) {
  if (!mpi_ready()) GTEST_SKIP() << "built without MPI (WHALE_MPI) or no mpirun";
  const std::string dir = temp_dir("mpi_bench");
  ASSERT_EQ(whale("init --preset tiny-deepseek-v3 --out " + dir + "/m").status, 0);
  const std::string args = " bench " + dir + "/m -s 4 -p 12 -n 6 -t 1 --micro-batches 2";
  const CmdResult one = whale(args.substr(1) + " --pp 1");
  ASSERT_EQ(one.status, 0) << one.out;
  const auto hash = [](const std::string& out, const char* overlap) {
    const size_t at = out.find(std::string("| ") + overlap + " |");
    if (at == std::string::npos) return std::string("missing");
    const size_t h = out.find("tokens ", at);
    return out.substr(h, out.find(' ', h + 7) - h);
  };
  const CmdResult pp = run(kMpirun + WHALE_BINARY + args + " --pp 2");
  ASSERT_EQ(pp.status, 0) << pp.out;
  EXPECT_NE(hash(one.out, "-"), "missing") << one.out;
  EXPECT_EQ(hash(pp.out, "yes"), hash(one.out, "-")) << pp.out;
  EXPECT_EQ(hash(pp.out, "no"), hash(one.out, "-")) << pp.out;
  fs::remove_all(dir);
}

// Asking for more ranks than were started is an error naming the mpirun call, not a hang.
TEST(MpiCliBench, WrongProcessCountIsAClearError) {
  if (!mpi_ready()) GTEST_SKIP() << "built without MPI (WHALE_MPI) or no mpirun";
  const std::string dir = temp_dir("mpi_np");
  ASSERT_EQ(whale("init --preset tiny-qwen2 --out " + dir + "/m").status, 0);
  const CmdResult r = whale("run " + dir + "/m --prompt-ids 1,2 -n 2 --pp 3");
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.out.find("mpirun -np 3"), std::string::npos) << r.out;
  fs::remove_all(dir);
}

}  // namespace

namespace {

// `whale info --ranks N --pp|--ep` (no MPI needed): each rank's share and bytes; the pipeline's
// shares add up to the whole model's weights (MTP modules excluded), stated by `whale info` itself.
TEST(MpiCliInfo, PrintsEachRanksShare) {
  const std::string dir = temp_dir("mpi_info");
  ASSERT_EQ(whale("init --preset tiny-qwen2 --out " + dir + "/m").status, 0);
  const CmdResult pp = whale("info " + dir + "/m --ranks 2 --pp");
  ASSERT_EQ(pp.status, 0) << pp.out;
  EXPECT_NE(pp.out.find("rank 0/2: layers [0, 1) + embeddings"), std::string::npos) << pp.out;
  EXPECT_NE(pp.out.find("rank 1/2: layers [1, 2) + head"), std::string::npos) << pp.out;
  const CmdResult ep = whale("info " + dir + "/m --ranks 2 --ep");
  ASSERT_EQ(ep.status, 0) << ep.out;
  EXPECT_NE(ep.out.find("rank 1/2: "), std::string::npos) << ep.out;
  const CmdResult bad = whale("info " + dir + "/m --ranks 2");
  EXPECT_NE(bad.status, 0);
  EXPECT_NE(bad.out.find("one of --pp and --ep"), std::string::npos) << bad.out;
  fs::remove_all(dir);
}

}  // namespace

namespace {

using nlohmann::json;

// `whale serve` started as a child (through sh, for the redirection), on an ephemeral port read from
// its first line; stop() sends SIGTERM and waits for the exit status.
class ServeProcess {
 public:
  ServeProcess(const std::string& cmd, const std::string& log) : log_(log) {
    pid_ = fork();
    if (pid_ == 0) {
      execl("/bin/sh", "sh", "-c", ("exec " + cmd + " --port 0 >" + log + " 2>&1").c_str(), static_cast<char*>(nullptr));
      _exit(127);
    }
    for (int i = 0; i < 600 && port_ == 0; ++i) {  // up to a minute (mpirun starts slowly on 2 cores)
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
      const std::string out = whale::testing::read_bytes(log_);
      const size_t at = out.find("http://127.0.0.1:");
      if (at != std::string::npos && out.find('\n', at) != std::string::npos) port_ = std::atoi(out.c_str() + at + 17);
      if (waitpid(pid_, &status_, WNOHANG) == pid_) break;  // it died: the test reads the log
    }
  }
  ~ServeProcess() {
    if (status_ < 0) stop();
  }
  int port() const { return port_; }
  std::string log() const { return whale::testing::read_bytes(log_); }
  // SIGTERM, then the exit status (128 + signal if killed); kills it after 60 s. With `to_children`
  // (mpirun) the signal goes to the ranks, as a job scheduler would send it: rank 0 stops serving
  // and tells the others, and mpirun exits 0 (mpirun given SIGTERM itself exits 1 whatever the
  // ranks do).
  int stop(bool to_children = false) {
    if (status_ >= 0) return WIFEXITED(status_) ? WEXITSTATUS(status_) : 128 + WTERMSIG(status_);
    if (to_children) {
      for (const auto& e : fs::directory_iterator("/proc")) {
        const std::string name = e.path().filename().string();
        if (name.find_first_not_of("0123456789") != std::string::npos) continue;  // processes only
        const std::string stat = whale::testing::read_bytes(e.path().string() + "/stat");
        const size_t close = stat.rfind(')');
        if (close == std::string::npos) continue;
        int ppid = 0;
        char state = 0;
        if (std::sscanf(stat.c_str() + close + 1, " %c %d", &state, &ppid) == 2 && ppid == pid_) {
          kill(std::atoi(name.c_str()), SIGTERM);
        }
      }
    } else {
      kill(pid_, SIGTERM);
    }
    for (int i = 0; i < 600; ++i) {
      if (waitpid(pid_, &status_, WNOHANG) == pid_) return WIFEXITED(status_) ? WEXITSTATUS(status_) : 128 + WTERMSIG(status_);
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    kill(pid_, SIGKILL);
    waitpid(pid_, &status_, 0);
    return -1;
  }

 private:
  std::string log_;
  pid_t pid_ = -1;
  int port_ = 0;
  int status_ = -1;
};

// The replies a served model gives: greedy completions of token ids (one at a time, then four at
// once: batch-invariant kernels give each the same tokens), a streamed chat reply and /health.
std::vector<std::string> replies(int port) {
  std::vector<std::string> out;
  httplib::Client cli("127.0.0.1", port);
  cli.set_read_timeout(300, 0);
  const std::vector<std::string> prompts = {"[256,17,42,99,3,7,300]", "[5,6,7]", "[300,301,302,303,304,305,306,307,308,309,310]",
                                            "[256,17,42,99,3,8]"};
  auto complete = [&](httplib::Client& c, const std::string& p) {
    auto r = c.Post("/v1/completions", R"({"prompt":)" + p + R"(,"max_tokens":12,"temperature":0,"logprobs":1})",
                    "application/json");
    if (!r || r->status != 200) return std::string("HTTP error ") + (r ? std::to_string(r->status) + " " + r->body : "none");
    const json j = json::parse(r->body);
    return j["choices"][0]["text"].get<std::string>() + " | " + j["choices"][0]["logprobs"]["tokens"].dump();
  };
  for (const std::string& p : prompts) out.push_back(complete(cli, p));
  std::vector<std::string> together(prompts.size());
  std::vector<std::thread> ts;
  for (size_t i = 0; i < prompts.size(); ++i) {
    ts.emplace_back([&, i] {
      httplib::Client c("127.0.0.1", port);
      c.set_read_timeout(300, 0);
      together[i] = complete(c, prompts[i]);
    });
  }
  for (std::thread& t : ts) t.join();
  out.insert(out.end(), together.begin(), together.end());
  auto r = cli.Post("/v1/chat/completions",
                    R"({"messages":[{"role":"user","content":"What is 2 + 3?"}],"max_tokens":16,"temperature":0,"stream":true})",
                    "application/json");
  // The streamed text (chunk boundaries depend on timing; ids and times differ per server).
  std::string reasoning, content, finish;
  for (size_t at = r ? r->body.find("data: {") : std::string::npos; at != std::string::npos; at = r->body.find("data: {", at + 1)) {
    const json c = json::parse(r->body.substr(at + 6, r->body.find('\n', at) - at - 6))["choices"][0];
    reasoning += c["delta"].value("reasoning_content", "");
    content += c["delta"].value("content", "");
    if (!c["finish_reason"].is_null()) finish = c["finish_reason"];
  }
  out.push_back((r ? std::to_string(r->status) : "no reply") + " [" + reasoning + "] [" + content + "] " + finish);
  auto h = cli.Get("/health");
  out.push_back(h ? std::to_string(h->status) : "no reply");
  return out;
}

// `mpirun -np 2 whale serve --pp 2` and `--ep 2`: rank 0 serves HTTP, the other rank follows its
// steps; every reply (greedy token ids and their texts, alone and four at once, a streamed chat)
// equals the one-process server's, and SIGTERM ends both ranks cleanly.
TEST(MpiServe, PipelineAndExpertParallelServeWhatOneProcessServes) {
  if (!mpi_ready()) GTEST_SKIP() << "built without MPI (WHALE_MPI) or no mpirun";
  const std::string dir = temp_dir("mpi_serve");
  ASSERT_EQ(whale("init --preset tiny-deepseek-v3 --out " + dir + "/m").status, 0);
  const std::string serve = std::string(WHALE_BINARY) + " serve " + dir + "/m -t 1 --max-seqs 4";
  std::vector<std::string> want;
  {
    ServeProcess one(serve, dir + "/one.log");
    ASSERT_GT(one.port(), 0) << one.log();
    want = replies(one.port());
    EXPECT_EQ(one.stop(), 0) << one.log();
  }
  ASSERT_EQ(want.size(), 10u);
  for (size_t i = 0; i < 8; ++i) EXPECT_EQ(want[i].find("HTTP error"), std::string::npos) << want[i];
  EXPECT_EQ(want[8].rfind("200 [", 0), 0u) << want[8];
  EXPECT_NE(want[0], want[1]);  // the prompts give different replies: the comparison can fail
  for (size_t i = 0; i < 4; ++i) EXPECT_EQ(want[i], want[4 + i]) << "one process, prompt " << i << " alone and together";
  EXPECT_EQ(want[9], "200");
  for (const char* mode : {"--pp 2", "--ep 2"}) {
    ServeProcess two(kMpirun + serve + " " + mode, dir + "/two.log");
    ASSERT_GT(two.port(), 0) << mode << "\n" << two.log();
    const std::vector<std::string> got = replies(two.port());
    for (size_t i = 0; i < want.size(); ++i) EXPECT_EQ(got[i], want[i]) << mode << ", reply " << i;
    EXPECT_EQ(two.stop(true), 0) << mode << "\n" << two.log();
    EXPECT_NE(two.log().find("whale serve: 2 MPI ranks"), std::string::npos) << two.log();
  }
  fs::remove_all(dir);
}

// Options the multi-process server cannot honour are refused with a message naming them.
TEST(MpiServe, SpeculativeDecodingAndTheDiskCacheAreRefusedAcrossRanks) {
  if (!mpi_ready()) GTEST_SKIP() << "built without MPI (WHALE_MPI) or no mpirun";
  const std::string dir = temp_dir("mpi_serve_refuse");
  ASSERT_EQ(whale("init --preset tiny-deepseek-v3 --out " + dir + "/m").status, 0);
  const std::string serve = kMpirun + WHALE_BINARY + " serve " + dir + "/m -t 1 --pp 2 --port 0";
  const CmdResult spec = run(serve + " --spec mtp");
  EXPECT_NE(spec.status, 0);
  EXPECT_NE(spec.out.find("not available across MPI ranks"), std::string::npos) << spec.out;
  const CmdResult cache = run(serve + " --cache-dir " + dir + "/cache");
  EXPECT_NE(cache.status, 0);
  EXPECT_NE(cache.out.find("--cache-dir"), std::string::npos) << cache.out;
  const CmdResult one = whale("serve " + dir + "/m --pp 2 --port 0");
  EXPECT_NE(one.status, 0);
  EXPECT_NE(one.out.find("mpirun -np 2"), std::string::npos) << one.out;
  fs::remove_all(dir);
}

}  // namespace
