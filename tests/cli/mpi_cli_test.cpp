// Multi-process inference end to end: `mpirun -np 2 whale run --pp 2 / --ep 2` on tiny random
// models (V3, V2, a dense Qwen2) against one process. Oracles: the engine's own `whale run` (the
// single-process path every other test checks) for the greedy tokens, and the same driver in one
// process (--pp 1) for the logits: bit-identical under the pipeline (same kernels, same order),
// within a stated bound under expert parallelism (partial sums are added in another order).
// Skipped when whale was built without MPI or mpirun is missing.
#include <gtest/gtest.h>

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

// CI runs as root on 2 cores: both flags are needed there and harmless elsewhere.
const std::string kMpirun = "mpirun -np 2 --oversubscribe --allow-run-as-root --mca btl self,vader ";

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
