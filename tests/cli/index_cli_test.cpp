// `whale index build|add|search` end to end on the bilingual corpus: the listing and --json output,
// clear errors, and a `whale index add` killed with SIGKILL mid-way leaving a usable index.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "cli_util.h"

namespace whale {
namespace {

namespace fs = std::filesystem;
using cli_testing::whale;

const std::string kCorpus = fs::path(std::string(WHALE_TEST_DATA) + "/../search/data/corpus").lexically_normal().string();

class IndexCli : public whale::testing::TempDirTest {
 protected:
  void SetUp() override {
    TempDirTest::SetUp();
    fs::create_directories(dir_);
  }
  std::string idx() const { return (dir_ / "idx").string(); }
};

TEST_F(IndexCli, BuildThenSearchInBothLanguages) {
  const auto built = whale("index build " + kCorpus + " --out " + idx());
  ASSERT_EQ(built.status, 0) << built.out;
  EXPECT_NE(built.out.find("13 new, 0 replaced, 0 unchanged"), std::string::npos) << built.out;
  const auto en = whale("index search " + idx() + " 'What does the whale shark eat?' -k 3");
  ASSERT_EQ(en.status, 0) << en.out;
  EXPECT_EQ(en.out.rfind("1. Whale Shark Diet  (score ", 0), 0u) << en.out;
  EXPECT_NE(en.out.find("\n   " + kCorpus + "/en/whale_shark_diet.md\n   # Whale Shark Diet  The whale shark is a filter feeder."),
            std::string::npos)
      << en.out;
  EXPECT_NE(en.out.find("\n3. "), std::string::npos);
  EXPECT_EQ(en.out.find("\n4. "), std::string::npos);
  const auto zh = whale("index search " + idx() + " 鲸鲨能活多少年 --json -k 2");
  ASSERT_EQ(zh.status, 0) << zh.out;
  const nlohmann::json j = nlohmann::json::parse(zh.out);
  ASSERT_EQ(j.size(), 2u);
  EXPECT_EQ(j[0]["rank"], 1);
  EXPECT_EQ(j[0]["url"], kCorpus + "/zh/鲸鲨寿命.txt");
  EXPECT_EQ(j[0]["title"], "鲸鲨寿命.txt");
  EXPECT_NE(j[0]["snippet"].get<std::string>().find("鲸鲨能活80到130年"), std::string::npos);
  EXPECT_GT(j[0]["score"].get<double>(), j[1]["score"].get<double>());
  const auto again = whale("index add " + idx() + " " + kCorpus);
  EXPECT_NE(again.out.find("0 new, 0 replaced, 13 unchanged"), std::string::npos) << again.out;
}

TEST_F(IndexCli, ErrorsAreOneClearLine) {
  auto r = whale("index search " + idx() + " whale");
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.out.find("whale: error: no index at " + idx()), std::string::npos) << r.out;
  r = whale("index add " + idx() + " " + kCorpus);
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.out.find("make one with `whale index build"), std::string::npos) << r.out;
  r = whale("index build " + kCorpus + "/en/whale_shark_status.pdf.missing --out " + idx());
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.out.find("no such file or folder"), std::string::npos) << r.out;
  r = whale("index search ftp://example.org whale");
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.out.find("only http:// and https://"), std::string::npos) << r.out;
  r = whale("index build " + kCorpus);  // no --out
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.out.find("--out"), std::string::npos) << r.out;
}

TEST_F(IndexCli, AKilledIndexAddLeavesTheIndexUsable) {
  ASSERT_EQ(whale("index build " + kCorpus + " --out " + idx()).status, 0);
  const fs::path many = dir_ / "many";
  fs::create_directories(many);
  for (int i = 0; i < 5000; ++i) {
    std::ofstream(many / ("n" + std::to_string(i) + ".md"))
        << "# Note " << i << "\n\nTide table " << i << ": high water at dawn, low water at dusk, with kelp and crabs.\n";
  }
  // Run `whale index add` with its progress on a pipe (one line per 10% when not a terminal) and
  // SIGKILL it once it reports 20%: well inside the add, after several commits.
  int err[2];
  ASSERT_EQ(::pipe(err), 0);
  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    ::dup2(err[1], 2);
    ::close(err[0]);
    ::execl(WHALE_BINARY, WHALE_BINARY, "index", "add", idx().c_str(), many.c_str(), static_cast<char*>(nullptr));
    ::_exit(127);
  }
  ::close(err[1]);
  std::string progress;
  char buf[256];
  for (ssize_t n; progress.find(" 20% ") == std::string::npos && (n = ::read(err[0], buf, sizeof buf)) > 0;) {
    progress.append(buf, static_cast<size_t>(n));
  }
  ::kill(pid, SIGKILL);
  int status = 0;
  ::waitpid(pid, &status, 0);
  ::close(err[0]);
  ASSERT_TRUE(WIFSIGNALED(status)) << "the add ended before the kill: " << progress;
  const auto en = whale("index search " + idx() + " 'whale shark diet' -k 1");
  EXPECT_EQ(en.status, 0) << en.out;
  EXPECT_NE(en.out.find("whale_shark_diet.md"), std::string::npos) << en.out;
  const auto tide = whale("index search " + idx() + " 'tide table kelp' --json -k 3");
  EXPECT_EQ(nlohmann::json::parse(tide.out).size(), 3u) << tide.out;  // the commits before the kill
  // Run again: the files already committed are skipped, the rest added.
  cli_testing::CmdResult rerun;
  for (int attempt = 0; attempt < 50; ++attempt) {  // Xapian's lock holder may outlive the writer briefly
    rerun = whale("index add " + idx() + " " + many.string());
    if (rerun.out.find("being written by another process") == std::string::npos) break;
    ::usleep(100000);
  }
  ASSERT_EQ(rerun.status, 0) << rerun.out;
  EXPECT_EQ(rerun.out.find(" 0 unchanged"), std::string::npos) << rerun.out;
  EXPECT_NE(rerun.out.find(" 0 replaced"), std::string::npos) << rerun.out;
}

}  // namespace
}  // namespace whale
