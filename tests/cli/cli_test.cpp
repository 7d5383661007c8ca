// The `whale` binary end to end: init -> info for every tiny preset, the full-size presets as
// config-only checkpoints, and clean failures (message, exit code 1, no crash) on bad input,
// including every file of the broken-file corpus.
#include <gtest/gtest.h>
#include <httplib.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "cli_util.h"

namespace {

namespace fs = std::filesystem;

using whale::cli_testing::CmdResult;
using whale::cli_testing::temp_dir;
using whale::cli_testing::whale;

TEST(Cli, ListPresetsOnePerLineNameFirst) {
  const CmdResult r = whale("init --list-presets");
  ASSERT_EQ(r.status, 0) << r.out;
  std::vector<std::string> names;
  size_t pos = 0;
  while (pos < r.out.size()) {
    const size_t eol = r.out.find('\n', pos);
    const std::string line = r.out.substr(pos, eol - pos);
    names.push_back(line.substr(0, line.find(' ')));
    pos = eol == std::string::npos ? r.out.size() : eol + 1;
  }
  const std::vector<std::string> expected = {"deepseek-v3", "deepseek-v2", "deepseek-v2-lite", "r1-distill-qwen-1.5b",
                                             "r1-distill-llama-8b", "tiny-deepseek-v3", "tiny-deepseek-v2",
                                             "tiny-deepseek-v2-lite", "tiny-qwen2", "tiny-llama", "wide-qwen2",
                                             "wide-llama"};
  EXPECT_EQ(names, expected) << r.out;
}

TEST(Cli, InitThenInfoEveryTinyPreset) {
  for (const char* preset : {"tiny-deepseek-v3", "tiny-deepseek-v2", "tiny-deepseek-v2-lite", "tiny-qwen2", "tiny-llama"}) {
    const std::string dir = temp_dir(preset);
    const CmdResult init = whale(std::string("init --preset ") + preset + " --out " + dir);
    ASSERT_EQ(init.status, 0) << init.out;
    const CmdResult info = whale("info " + dir);
    ASSERT_EQ(info.status, 0) << info.out;
    EXPECT_NE(info.out.find("0 missing, 0 misshaped"), std::string::npos) << info.out;
    EXPECT_NE(info.out.find("parameters:"), std::string::npos);
    EXPECT_NE(info.out.find("kv cache:"), std::string::npos);
    const CmdResult verbose = whale("info --verbose " + dir);
    EXPECT_NE(verbose.out.find("model.layers.0.input_layernorm.weight"), std::string::npos);
    fs::remove_all(dir);
  }
}

TEST(Cli, FullSizePresetsReportPublishedCounts) {
  const std::string dir = temp_dir("v3");
  ASSERT_EQ(whale("init --preset deepseek-v3 --config-only --out " + dir).status, 0);
  const CmdResult v3 = whale("info " + dir);
  EXPECT_NE(v3.out.find("671B total"), std::string::npos) << v3.out;
  EXPECT_NE(v3.out.find("36.6B active"), std::string::npos) << v3.out;
  EXPECT_NE(v3.out.find("(71.1x)"), std::string::npos) << v3.out;
  ASSERT_EQ(whale("init --preset deepseek-v2-lite --config-only --out " + dir).status, 0);
  const CmdResult lite = whale("info " + dir);
  EXPECT_NE(lite.out.find("15.7B total, 2.45B active"), std::string::npos) << lite.out;
  fs::remove_all(dir);
}

TEST(Cli, BadFlagsAndPathsFailCleanly) {
  const CmdResult unknown = whale("init --preset gpt-5 --out /tmp/x");
  EXPECT_EQ(unknown.status, 1);
  EXPECT_NE(unknown.out.find("unknown preset \"gpt-5\""), std::string::npos) << unknown.out;
  EXPECT_NE(whale("init --preset tiny-qwen2 --out /tmp/x --dtype fp8").out.find("only DeepSeek"), std::string::npos);
  EXPECT_NE(whale("init --preset tiny-qwen2 --layers 0 --out /tmp/x").status, 0);
  EXPECT_NE(whale("init --bogus").status, 0);
  const CmdResult missing = whale("info /nonexistent/model");
  EXPECT_EQ(missing.status, 1);
  EXPECT_NE(missing.out.find("no such file"), std::string::npos);
  const CmdResult noarg = whale("info");
  EXPECT_NE(noarg.status, 0);
  EXPECT_LT(noarg.status, 128);
}

TEST(Cli, BrokenCheckpointsFailWithTheirName) {
  const std::string dir = temp_dir("broken");
  ASSERT_EQ(whale("init --preset tiny-llama --out " + dir).status, 0);
  // Truncate the weights: info must name the file and fail, not crash.
  const fs::path st = fs::path(dir) / "model.safetensors";
  fs::resize_file(st, fs::file_size(st) / 2);
  const CmdResult r = whale("info " + dir);
  EXPECT_EQ(r.status, 1) << r.out;
  EXPECT_NE(r.out.find("model.safetensors"), std::string::npos) << r.out;
  // A config that is not JSON.
  { std::FILE* f = std::fopen((fs::path(dir) / "config.json").c_str(), "w"); std::fputs("{\"model_type\": ", f); std::fclose(f); }
  const CmdResult c = whale("info " + dir);
  EXPECT_EQ(c.status, 1);
  EXPECT_NE(c.out.find("config.json: not valid JSON"), std::string::npos) << c.out;
  fs::remove_all(dir);
}

TEST(Cli, EveryCorpusFileFailsCleanly) {
  const fs::path corpus = fs::path(WHALE_TEST_DATA) / "broken";
  int files = 0;
  for (const auto& sub : {"gguf", "safetensors"}) {
    if (!fs::exists(corpus / sub)) continue;
    for (const auto& e : fs::directory_iterator(corpus / sub)) {
      ++files;
      std::string path = e.path().string();
      if (std::string(sub) == "safetensors") {
        // Present it as a model directory: a valid config beside the broken weights.
        const std::string dir = temp_dir("corpus");
        fs::create_directories(dir);
        ASSERT_EQ(whale("init --preset tiny-llama --config-only --out " + dir).status, 0);
        fs::copy_file(e.path(), fs::path(dir) / "model.safetensors");
        path = dir;
        const CmdResult r = whale("info " + path);
        EXPECT_EQ(r.status, 1) << e.path() << ": " << r.out;
        EXPECT_NE(r.out.find("error"), std::string::npos) << r.out;
        fs::remove_all(dir);
        continue;
      }
      const CmdResult r = whale("info " + path);
      EXPECT_EQ(r.status, 1) << e.path() << ": " << r.out;
      EXPECT_NE(r.out.find("error"), std::string::npos) << r.out;
    }
  }
  EXPECT_GT(files, 10);
}

TEST(Cli, ChatThroughPipedStdin) {
  const std::string dir = temp_dir("chat");
  ASSERT_EQ(whale("init --preset tiny-deepseek-v3 --out " + dir).status, 0);
  const std::string saved = dir + "/conversation.json";
  const CmdResult r = whale("chat " + dir + " --max-tokens 8 --seed 3 -t 1 < /dev/stdin <<'EOF'\n"
                            "What is 2+3?\n/think off\nhello\n/bogus\n/save " + saved + "\n/exit\nnever read\nEOF");
  ASSERT_EQ(r.status, 0) << r.out;
  EXPECT_NE(r.out.find("[thinking…]"), std::string::npos) << r.out;  // R1 template: reasoning first
  EXPECT_NE(r.out.find("(thinking off)"), std::string::npos);
  EXPECT_NE(r.out.find("(unknown command /bogus"), std::string::npos);
  EXPECT_NE(r.out.find("(answer cut at --max-tokens 8)"), std::string::npos);
  const std::string json = whale::testing::read_bytes(saved);
  EXPECT_NE(json.find("\"What is 2+3?\""), std::string::npos) << json;
  EXPECT_NE(json.find("\"hello\""), std::string::npos);
  EXPECT_EQ(json.find("never read"), std::string::npos);
  fs::remove_all(dir);
}

// One set of flag names across run and chat: -n / --n-predict / --max-tokens mean the same in both.
TEST(Cli, RunAndChatShareTheTokenLimitFlags) {
  const std::string dir = temp_dir("nflag");
  ASSERT_EQ(whale("init --preset tiny-deepseek-v3 --out " + dir).status, 0);
  for (const char* flag : {"-n", "--n-predict", "--max-tokens"}) {
    const CmdResult c = whale("chat " + dir + " " + flag + " 5 --seed 3 -t 1 < /dev/stdin <<'EOF'\nhello\n/exit\nEOF");
    ASSERT_EQ(c.status, 0) << flag << ": " << c.out;
    EXPECT_NE(c.out.find("(answer cut at --max-tokens 5)"), std::string::npos) << flag << ": " << c.out;
    const CmdResult r = whale("run " + dir + " --prompt-ids 1,2,3 " + flag + " 4 --greedy -t 1");
    ASSERT_EQ(r.status, 0) << flag << ": " << r.out;
    EXPECT_NE(r.out.find("generated 4 tokens"), std::string::npos) << flag << ": " << r.out;
  }
  fs::remove_all(dir);
}

// /file PATH: the next message carries the file through DeepSeek's file_template (kept in the
// history, as /save shows); a file longer than the context allows is cut with a notice.
TEST(Cli, ChatFileCommandUsesTheFileTemplate) {
  const std::string dir = temp_dir("chatfile");
  ASSERT_EQ(whale("init --preset tiny-deepseek-v3 --out " + dir).status, 0);
  const std::string notes = "Whale sharks eat plankton.";
  std::ofstream(dir + "/notes.txt") << notes;
  std::string big;
  for (int i = 0; i < 300; ++i) big += "Line " + std::to_string(i) + " of a long file.\n";
  std::ofstream(dir + "/big.md") << big;
  const std::string saved = dir + "/conversation.json";
  const CmdResult r = whale("chat " + dir + " --ctx 512 --max-tokens 4 --seed 3 -t 1 --no-think < /dev/stdin <<'EOF'\n"
                            "/file " + dir + "/notes.txt\nWhat do they eat?\n/file " + dir + "/big.md\nSummary?\n"
                            "/file " + dir + "/missing.txt\n/search on\n/save " + saved + "\n/exit\nEOF");
  ASSERT_EQ(r.status, 0) << r.out;
  EXPECT_NE(r.out.find("(attached notes.txt: 26 characters"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("(file \"big.md\" was cut to "), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("of " + std::to_string(big.size()) + " characters to fit the context of 512 tokens)"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("(cannot attach " + dir + "/missing.txt"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("(no search: start with whale chat --search INDEX|URL)"), std::string::npos) << r.out;
  const nlohmann::json j = nlohmann::json::parse(whale::testing::read_bytes(saved));
  ASSERT_EQ(j.size(), 4u) << j;
  EXPECT_EQ(j[0]["content"], "[file name]: notes.txt\n[file content begin]\n" + notes + "\n[file content end]\nWhat do they eat?");
  const std::string cut = j[2]["content"];
  const std::string head = "[file name]: big.md\n[file content begin]\n", tail = "\n[file content end]\nSummary?";
  ASSERT_EQ(cut.rfind(head, 0), 0u) << cut;
  ASSERT_GT(cut.size(), head.size() + tail.size());
  EXPECT_EQ(cut.substr(cut.size() - tail.size()), tail);
  const std::string kept = cut.substr(head.size(), cut.size() - head.size() - tail.size());
  EXPECT_GT(kept.size(), 50u);
  EXPECT_EQ(big.substr(0, kept.size()), kept);
  fs::remove_all(dir);
}

// --search with a SearxNG stand-in on 127.0.0.1: the sources follow the answer, /search off
// stops searching, the history keeps the question as asked; an unreachable instance is named.
TEST(Cli, ChatSearchPrintsTheSourcesUnderTheAnswer) {
  std::vector<std::string> queries;
  httplib::Server searxng;
  searxng.Get("/search", [&](const httplib::Request& req, httplib::Response& res) {
    // The client asks for later pages while it has fewer than k results: count each question once.
    if (!req.has_param("pageno")) queries.push_back(req.get_param_value("q"));
    res.set_content(R"({"results": [{"title": "Whale shark", "url": "https://en.wikipedia.org/wiki/Whale_shark",
                         "content": "Whale sharks eat plankton."},
                        {"title": "鲸鲨", "url": "https://zh.wikipedia.org/wiki/鲸鲨", "content": "鲸鲨以浮游生物为食。"}]})",
                    "application/json");
  });
  const int port = searxng.bind_to_any_port("127.0.0.1");
  std::thread serving([&] { searxng.listen_after_bind(); });
  const std::string dir = temp_dir("chatsearch");
  ASSERT_EQ(whale("init --preset tiny-deepseek-v3 --out " + dir).status, 0);
  const std::string saved = dir + "/conversation.json";
  const CmdResult r = whale("chat " + dir + " --search http://127.0.0.1:" + std::to_string(port) +
                            " --ctx 2048 --max-tokens 4 --seed 3 -t 1 --no-think < /dev/stdin <<'EOF'\n"
                            "What do whale sharks eat?\n/search off\nhello\n/save " + saved + "\n/exit\nEOF");
  searxng.stop();
  serving.join();
  ASSERT_EQ(r.status, 0) << r.out;
  EXPECT_EQ(queries, std::vector<std::string>{"What do whale sharks eat?"});
  EXPECT_NE(r.out.find("Sources:\n  [1] Whale shark\n      https://en.wikipedia.org/wiki/Whale_shark\n"
                       "  [2] 鲸鲨\n      https://zh.wikipedia.org/wiki/鲸鲨\n(search off)"),
            std::string::npos)
      << r.out;
  EXPECT_EQ(r.out.find("Sources:", r.out.find("(search off)")), std::string::npos) << r.out;
  const nlohmann::json j = nlohmann::json::parse(whale::testing::read_bytes(saved));
  ASSERT_EQ(j.size(), 4u) << j;
  EXPECT_EQ(j[0]["content"], "What do whale sharks eat?");

  // Nothing listens there any more: the turn is skipped with the searcher's error.
  const CmdResult down = whale("chat " + dir + " --search http://127.0.0.1:" + std::to_string(port) +
                               " --search-timeout 2 --max-tokens 4 -t 1 < /dev/stdin <<'EOF'\nwhale sharks\n/exit\nEOF");
  EXPECT_EQ(down.status, 0) << down.out;
  EXPECT_NE(down.out.find("(search failed: "), std::string::npos) << down.out;
  EXPECT_NE(down.out.find("127.0.0.1:" + std::to_string(port)), std::string::npos) << down.out;
  fs::remove_all(dir);
}

// `whale index build` then `whale chat --search INDEX`: the diet page is the first source.
TEST(Cli, ChatSearchOverALocalIndex) {
  const std::string dir = temp_dir("chatindex");
  ASSERT_EQ(whale("init --preset tiny-deepseek-v3 --out " + dir).status, 0);
  const std::string corpus = std::string(WHALE_TEST_DATA) + "/../search/data/corpus";
  ASSERT_EQ(whale("index build " + corpus + " --out " + dir + "/idx").status, 0);
  const CmdResult r = whale("chat " + dir + " --search " + dir + "/idx --search-k 2 --ctx 2048 --max-tokens 4 --seed 3 -t 1 "
                            "--no-think < /dev/stdin <<'EOF'\nWhat does the whale shark eat?\n/exit\nEOF");
  ASSERT_EQ(r.status, 0) << r.out;
  const size_t sources = r.out.find("Sources:\n  [1] Whale Shark Diet\n      ");
  ASSERT_NE(sources, std::string::npos) << r.out;
  EXPECT_NE(r.out.find("whale_shark_diet.md\n  [2] ", sources), std::string::npos) << r.out;
  fs::remove_all(dir);
}

TEST(Cli, ChatAndServeNameABadSearchFlag) {
  const std::string dir = temp_dir("badsearch");
  ASSERT_EQ(whale("init --preset tiny-deepseek-v3 --out " + dir).status, 0);
  for (const char* cmd : {"chat", "serve"}) {
    const CmdResult r = whale(std::string(cmd) + " " + dir + (cmd[0] == 's' ? " --port 0" : "") +
                              " --search /nonexistent/index < /dev/null");
    EXPECT_EQ(r.status, 1) << r.out;
    EXPECT_NE(r.out.find("--search /nonexistent/index"), std::string::npos) << cmd << ": " << r.out;
  }
  fs::remove_all(dir);
}

TEST(Cli, ChatWithoutModelExplainsWhatIsMissing) {
  const CmdResult r = whale("chat /nonexistent/model");
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.out.find("no model at /nonexistent/model"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("models/default"), std::string::npos) << r.out;  // where the default model lives
}

// --cache-dir: a second `whale run` process (the restart) reads the prompt's blocks back from disk
// and generates the same tokens; a bad --cache-size is refused with the size named.
TEST(Cli, RunReadsThePromptBackFromTheDiskCache) {
  const std::string dir = temp_dir("diskcache");
  ASSERT_EQ(whale("init --preset tiny-deepseek-v3 --out " + dir + "/m").status, 0);
  std::string ids = "1";
  for (int i = 2; i <= 70; ++i) ids += "," + std::to_string(i * 3 % 200 + 1);
  const std::string cmd = "run " + dir + "/m --prompt-ids " + ids + " -n 6 --greedy -t 1 --json --cache-dir " + dir + "/kv";
  const CmdResult a = whale(cmd), b = whale(cmd);
  ASSERT_EQ(a.status, 0) << a.out;
  ASSERT_EQ(b.status, 0) << b.out;
  EXPECT_NE(a.out.find("\"cached_prompt_tokens\":0"), std::string::npos) << a.out;
  EXPECT_NE(b.out.find("\"cached_prompt_tokens\":64"), std::string::npos) << b.out;  // 4 full blocks of 16
  const auto tokens = [](const std::string& out) {
    const size_t at = out.find("\"tokens\":[");
    return at == std::string::npos ? std::string() : out.substr(at, out.find(']', at) - at);
  };
  EXPECT_FALSE(tokens(a.out).empty()) << a.out;
  EXPECT_EQ(tokens(a.out), tokens(b.out));
  const CmdResult bad = whale("run " + dir + "/m --prompt-ids 1,2 --cache-dir " + dir + "/kv --cache-size 12X");
  EXPECT_NE(bad.status, 0);
  EXPECT_NE(bad.out.find("size '12X'"), std::string::npos) << bad.out;
  fs::remove_all(dir);
}

}  // namespace
