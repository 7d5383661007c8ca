// The Xapian index on a hand-built bilingual corpus (tests/search/data/corpus): which file holds each
// asked fact is the oracle for ranking, with near-miss pages on the same topic as distractors. Also
// incremental adds, atomic builds, a SIGKILLed add, and damaged index folders.
#include "search/index.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <set>
#include <thread>

#include "../error_of.h"
#include "../test_files.h"
#include "search/extract.h"

namespace whale::search {
namespace {

namespace fs = std::filesystem;
using whale::testing::error_kind_of;
using whale::testing::error_of;

const std::string kCorpus = std::string(WHALE_TEST_DATA) + "/../search/data/corpus";

class SearchIndex : public whale::testing::TempDirTest {
 protected:
  void SetUp() override {
    TempDirTest::SetUp();
    fs::create_directories(dir_);
  }
  fs::path build_corpus() {
    const fs::path idx = dir_ / "idx";
    const IndexStats stats = build_index(idx, {kCorpus});
    EXPECT_EQ(stats.files_added, 13);
    EXPECT_TRUE(stats.failures.empty());
    return idx;
  }
  void write(const std::string& name, const std::string& text) {
    fs::create_directories((dir_ / name).parent_path());
    std::ofstream(dir_ / name, std::ios::binary) << text;
  }
};

std::string top_file(IndexSearcher& s, const std::string& query) {
  const std::vector<Document> docs = s.search(query, 5);
  return docs.empty() ? "(nothing)" : fs::path(docs[0].url).filename().string();
}

TEST_F(SearchIndex, EnglishQueriesRankTheDocumentHoldingTheFactFirst) {
  IndexSearcher s(build_corpus());
  // Every query shares "whale shark" with five or more distractors; one file holds the fact.
  EXPECT_EQ(top_file(s, "What does the whale shark eat?"), "whale_shark_diet.md");
  // Plural in the query, singular on the answering page: the stem must carry it, not "sharks".
  EXPECT_EQ(top_file(s, "What do whale sharks eat?"), "whale_shark_diet.md");
  EXPECT_EQ(top_file(s, "How long do whale sharks live?"), "whale_shark_lifespan.txt");
  EXPECT_EQ(top_file(s, "length of the biggest whale shark ever measured"), "whale_shark_size.txt");
  EXPECT_EQ(top_file(s, "where do whale sharks gather each year"), "whale_shark_migration.html");
  EXPECT_EQ(top_file(s, "when did the IUCN list the whale shark as endangered"), "whale_shark_status.pdf");
  EXPECT_EQ(top_file(s, "how much krill does the blue whale eat"), "blue_whale.md");
}

TEST_F(SearchIndex, ChineseQueriesFindChineseDocumentsThroughCjkNgrams) {
  IndexSearcher s(build_corpus());
  // No spaces in the queries or the files: only CJK n-grams make words of them.
  EXPECT_EQ(top_file(s, "鲸鲨吃什么"), "鲸鲨食性.md");
  EXPECT_EQ(top_file(s, "鲸鲨能活多少年？"), "鲸鲨寿命.txt");
  EXPECT_EQ(top_file(s, "最大的鲸鲨体长多少米"), "鲸鲨体型.txt");
  EXPECT_EQ(top_file(s, "鲸鲨分布在哪些海域"), "鲸鲨分布.html");
  EXPECT_EQ(top_file(s, "鲸鲨什么时候被列为濒危"), "whale_shark_status.pdf");  // the bilingual PDF's Chinese half
  EXPECT_EQ(top_file(s, "蓝鲸每天吃多少磷虾"), "蓝鲸.txt");
  EXPECT_EQ(top_file(s, "宁格罗礁"), "鲸鲨分布.html");
}

TEST_F(SearchIndex, StemmingMatchesOtherFormsOfAWord) {
  IndexSearcher s(build_corpus());
  // "eating" appears in no file; "eats" is in exactly the diet page and the blue whale page.
  for (const auto& e : fs::recursive_directory_iterator(kCorpus)) {
    if (e.is_regular_file()) {
      ASSERT_EQ(extract_file(e.path()).text.find("eating"), std::string::npos) << e.path();
    }
  }
  std::vector<std::string> found;
  for (const Document& d : s.search("eating", 10)) found.push_back(fs::path(d.url).filename().string());
  std::sort(found.begin(), found.end());
  EXPECT_EQ(found, (std::vector<std::string>{"blue_whale.md", "whale_shark_diet.md"}));
  EXPECT_EQ(top_file(s, "whale shark eating habits"), "whale_shark_diet.md");
}

TEST_F(SearchIndex, ScriptsAndStylesAreNotIndexed) {
  IndexSearcher s(build_corpus());
  EXPECT_TRUE(s.search("zebrafishtoken", 5).empty());  // only inside <script>, <style>, <noscript>, <template>
  EXPECT_TRUE(s.search("", 5).empty());
  EXPECT_TRUE(s.search("whale", 0).empty());
}

TEST_F(SearchIndex, ResultsCarryTitleUrlSnippetTextAndScoreOnePerFile) {
  const fs::path idx = build_corpus();
  IndexSearcher s(idx);
  EXPECT_EQ(s.file_count(), 13);
  EXPECT_EQ(s.passage_count(), 13);  // every file is shorter than one passage
  EXPECT_TRUE(s.check().empty());
  EXPECT_NE(s.describe().find("13 files"), std::string::npos) << s.describe();
  const std::vector<Document> docs = s.search("whale shark plankton", 20);
  ASSERT_EQ(docs.size(), 7u);  // the English files; the Chinese ones hold none of the words
  std::set<std::string> urls;
  for (size_t i = 0; i < docs.size(); ++i) {
    EXPECT_TRUE(urls.insert(docs[i].url).second) << "two results for " << docs[i].url;
    EXPECT_GT(docs[i].score, 0);
    if (i > 0) {
      EXPECT_LE(docs[i].score, docs[i - 1].score);
    }
  }
  const Document& top = docs[0];
  EXPECT_EQ(top.title, "Whale Shark Diet");
  // The path as given to build, with "." and ".." steps folded.
  EXPECT_EQ(top.url, fs::path(kCorpus + "/en/whale_shark_diet.md").lexically_normal().string());
  EXPECT_EQ(top.text + "\n", extract_file(top.url).text);  // one passage: the whole file, trimmed
  EXPECT_NE(top.snippet.find("plankton"), std::string::npos) << top.snippet;
  EXPECT_LE(top.snippet.size(), 400u);
  // A file without a title is shown by its name.
  for (const Document& d : s.search("basking shark", 1)) EXPECT_EQ(d.title, "basking_shark.txt");
}

TEST_F(SearchIndex, SnippetsArePlainTextNotHtml) {
  // Xapian returns a short text as it is and escapes a long one it cuts: both must come out plain.
  const std::string sentence = "Use std::vector<int> & friends; write \"&lt;\" for a less-than sign in HTML.";
  write("short.md", "# Templates\n\n" + sentence);
  std::string filler;
  for (int i = 0; i < 20; ++i) filler += "Unrelated words about boats and harbours fill this page. ";
  write("long.md", filler + "\n\n" + sentence + "\n\n" + filler);
  build_index(dir_ / "idx", {path("short.md"), path("long.md")});
  const std::vector<Document> docs = IndexSearcher(dir_ / "idx").search("vector friends", 2);
  ASSERT_EQ(docs.size(), 2u);
  for (const Document& d : docs) {
    // The snippet, without the "…" marking cuts, is a piece of the passage as it is.
    std::string piece = d.snippet;
    if (piece.starts_with("…")) piece.erase(0, 3);
    if (piece.ends_with("…")) piece.resize(piece.size() - 3);
    EXPECT_NE(d.text.find(piece), std::string::npos) << d.snippet;
    EXPECT_NE(d.snippet.find("std::vector<int> & friends"), std::string::npos) << d.snippet;
  }
  EXPECT_TRUE(docs[0].snippet.size() < 400 && docs[1].snippet.size() < 400);
  EXPECT_NE((docs[0].snippet + docs[1].snippet).find("…"), std::string::npos);  // one of them was cut
}

TEST_F(SearchIndex, AFileReachedTwiceIsIndexedOnce) {
  write("docs/a.txt", "The harbour master keeps the tide tables.");
  fs::create_directory_symlink(dir_ / "docs", dir_ / "alias");
  const IndexStats stats = build_index(dir_ / "idx", {path("docs"), path("alias")});
  EXPECT_EQ(stats.files_added, 1);
  EXPECT_EQ(stats.files_replaced, 0);
  EXPECT_EQ(IndexSearcher(dir_ / "idx").search("harbour", 5).size(), 1u);
}

TEST_F(SearchIndex, LongFilesAreSplitIntoPassagesAndTheBestIsReturned) {
  std::string text;
  for (int i = 0; i < 40; ++i) {
    text += "Paragraph " + std::to_string(i) + " talks about ocean currents, tides and the weather at sea. ";
    if (i == 27) text += "The lighthouse keeper's cat is named Marmalade. ";
    text += std::string(40, 'x') + " filler words keep this paragraph long enough to matter.\n\n";
  }
  std::string cjk;
  for (int i = 0; i < 400; ++i) cjk += i == 300 ? "灯塔看守人的猫叫橘子酱。" : "海流和潮汐影响航行。";
  write("docs/long.txt", text);
  write("docs/long_zh.txt", cjk);  // one 12 KB paragraph without spaces: cut at sentence ends
  const fs::path idx = dir_ / "idx";
  const IndexStats stats = build_index(idx, {(dir_ / "docs").string()});
  EXPECT_EQ(stats.files_added, 2);
  EXPECT_GT(stats.passages, 8);
  IndexSearcher s(idx);
  EXPECT_TRUE(s.check().empty());
  const std::vector<Document> docs = s.search("lighthouse cat Marmalade", 5);
  ASSERT_EQ(docs.size(), 1u);  // collapsed to the file's best passage
  EXPECT_NE(docs[0].text.find("Marmalade"), std::string::npos);
  EXPECT_LE(docs[0].text.size(), kMaxPassageBytes);
  EXPECT_NE(docs[0].snippet.find("Marmalade"), std::string::npos) << docs[0].snippet;
  const std::vector<Document> zh = s.search("猫叫什么", 5);
  ASSERT_GE(zh.size(), 1u);
  EXPECT_NE(zh[0].text.find("橘子酱"), std::string::npos);
  EXPECT_LE(zh[0].text.size(), kMaxPassageBytes);
  EXPECT_TRUE(zh[0].text.ends_with("。"));  // a sentence end, not a cut character
}

TEST_F(SearchIndex, AddReplacesAChangedFileAndSkipsUnchangedOnes) {
  write("a.txt", "The vault password is swordfish.");
  write("b.md", "# B\n\nNothing secret here.");
  const fs::path idx = dir_ / "idx";
  build_index(idx, {path("a.txt")});
  IndexSearcher early(idx);  // open before the adds: later searches see what they committed
  EXPECT_EQ(top_file(early, "swordfish"), "a.txt");
  IndexStats stats = add_to_index(idx, {path("a.txt"), path("b.md")});
  EXPECT_EQ(stats.files_unchanged, 1);
  EXPECT_EQ(stats.files_added, 1);
  // A new size and mtime: the file's passages are replaced, not duplicated.
  write("a.txt", "The vault password is now marlin, changed on Tuesday.");
  fs::last_write_time(path("a.txt"), fs::last_write_time(path("a.txt")) + std::chrono::seconds(5));
  stats = add_to_index(idx, {dir_.string()});  // the folder: a.txt changed, b.md unchanged
  EXPECT_EQ(stats.files_replaced, 1);
  EXPECT_EQ(stats.files_unchanged, 1);
  EXPECT_TRUE(early.search("swordfish", 5).empty());
  EXPECT_EQ(top_file(early, "marlin"), "a.txt");
  IndexSearcher s(idx);
  EXPECT_TRUE(s.search("swordfish", 5).empty());
  EXPECT_EQ(top_file(s, "vault password"), "a.txt");
  EXPECT_EQ(s.search("vault password", 5).size(), 1u);
  EXPECT_EQ(s.file_count(), 2);
  EXPECT_EQ(s.passage_count(), 2);
  EXPECT_TRUE(s.check().empty());
  // A file that became empty leaves the index.
  write("a.txt", "");
  stats = add_to_index(idx, {path("a.txt")});
  EXPECT_EQ(stats.files_empty, 1);
  EXPECT_TRUE(IndexSearcher(idx).search("marlin", 5).empty());
  EXPECT_EQ(IndexSearcher(idx).file_count(), 1);
}

TEST_F(SearchIndex, BrokenFilesAreReportedAndTheRestIndexed) {
  write("docs/good.txt", "Good text about tides.");
  write("docs/bad.pdf", "%PDF-1.4 this is no PDF");
  write("docs/latin1.txt", "caf\xE9");
  write("docs/.hidden/secret.txt", "hidden tides");
  write("docs/image.png", "PNG");
  const IndexStats stats = build_index(dir_ / "idx", {path("docs")});
  EXPECT_EQ(stats.files_added, 1);
  ASSERT_EQ(stats.failures.size(), 2u);
  EXPECT_NE(stats.failures[0].find("bad.pdf: corrupt or truncated PDF"), std::string::npos) << stats.failures[0];
  EXPECT_NE(stats.failures[1].find("latin1.txt: not UTF-8"), std::string::npos) << stats.failures[1];
  EXPECT_EQ(IndexSearcher(dir_ / "idx").search("tides", 5).size(), 1u);
  EXPECT_NE(error_of([&] { build_index(dir_ / "i2", {path("docs/image.png")}); }).find("not a file whale can index"),
            std::string::npos);
  EXPECT_EQ(error_kind_of([&] { build_index(dir_ / "i2", {path("nope")}); }), ErrorKind::kNotFound);
  write("pics/image.png", "PNG");
  EXPECT_NE(error_of([&] { build_index(dir_ / "i2", {path("pics")}); }).find("no .txt"), std::string::npos);
  EXPECT_FALSE(fs::exists(dir_ / "i2"));
}

TEST_F(SearchIndex, RebuildSwapsAtomicallyAndAFailedBuildKeepsTheOldIndex) {
  write("one.txt", "first corpus mentions narwhals");
  write("two.txt", "second corpus mentions dolphins");
  const fs::path idx = dir_ / "idx";
  build_index(idx, {path("one.txt")});
  IndexSearcher before(idx);
  EXPECT_THROW(build_index(idx, {path("two.txt"), path("missing.txt")}), Error);
  EXPECT_EQ(top_file(*std::make_unique<IndexSearcher>(idx), "narwhals"), "one.txt");
  build_index(idx, {path("two.txt")});
  IndexSearcher after(idx);
  EXPECT_TRUE(after.search("narwhals", 5).empty());
  EXPECT_EQ(top_file(before, "dolphins"), "two.txt");  // a searcher open across the swap follows it
  EXPECT_TRUE(before.search("narwhals", 5).empty());
  EXPECT_EQ(top_file(after, "dolphins"), "two.txt");
  for (const auto& e : fs::directory_iterator(dir_)) {
    EXPECT_EQ(e.path().filename().string().find(".tmp-"), std::string::npos) << "left behind: " << e.path();
  }
  // --out pointing at a folder of documents is refused, not replaced.
  fs::create_directories(dir_ / "mydocs");
  write("mydocs/keep.txt", "precious");
  EXPECT_NE(error_of([&] { build_index(dir_ / "mydocs", {path("one.txt")}); }).find("is not a whale index; refusing"),
            std::string::npos);
  EXPECT_TRUE(fs::exists(dir_ / "mydocs/keep.txt"));
}

TEST_F(SearchIndex, AKilledAddLeavesTheLastCommittedIndexUsable) {
  const fs::path idx = build_corpus();
  fs::create_directories(dir_ / "many");
  for (int i = 0; i < 3000; ++i) {
    std::string text = "Generated note " + std::to_string(i) + " about coral reef number " + std::to_string(i * 7) + ".\n\n";
    for (int j = 0; j < 20; ++j) text += "Reef fish swim among the coral and sea grass in warm shallow water. ";
    write("many/note" + std::to_string(i) + ".txt", text);
  }
  int ready[2];
  ASSERT_EQ(::pipe(ready), 0);
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {  // the add to kill: tells the parent once it has written a few commits' worth
    ::close(ready[0]);
    IndexOptions options;
    options.files_per_commit = 50;
    options.on_file = [&](int64_t done, int64_t, const std::string&) {
      if (done == 120) (void)!::write(ready[1], "x", 1);
    };
    try {
      add_to_index(idx, {(dir_ / "many").string()}, options);
    } catch (...) {
      ::_exit(2);
    }
    ::_exit(0);
  }
  ::close(ready[1]);
  char c;
  ASSERT_EQ(::read(ready[0], &c, 1), 1);
  ::kill(child, SIGKILL);
  int status = 0;
  ::waitpid(child, &status, 0);
  ::close(ready[0]);
  ASSERT_TRUE(WIFSIGNALED(status)) << "the add finished before it was killed";
  // The index opens, its records agree with its documents, and the original corpus is intact.
  {
    IndexSearcher s(idx);
    EXPECT_TRUE(s.check().empty());
    EXPECT_GE(s.file_count(), 13 + 100);  // at least the commits before the signal
    EXPECT_LT(s.file_count(), 13 + 3000);
    EXPECT_EQ(top_file(s, "What does the whale shark eat?"), "whale_shark_diet.md");
    EXPECT_EQ(top_file(s, "鲸鲨吃什么"), "鲸鲨食性.md");
  }
  // Xapian's lock died with the process (its lock holder exits when the writer's socket closes):
  // the add can be run again and completes. The lock holder may take a moment to go.
  IndexStats stats;
  for (int attempt = 0;; ++attempt) {
    try {
      stats = add_to_index(idx, {(dir_ / "many").string()});
      break;
    } catch (const Error& e) {
      ASSERT_LT(attempt, 100) << e.what();
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  }
  EXPECT_EQ(stats.files_added + stats.files_unchanged, 3000);
  EXPECT_GE(stats.files_unchanged, 100);
  IndexSearcher s(idx);
  EXPECT_EQ(s.file_count(), 13 + 3000);
  EXPECT_TRUE(s.check().empty());
}

TEST_F(SearchIndex, MissingAndDamagedIndexFoldersAreClearErrors) {
  EXPECT_NE(error_of([&] { IndexSearcher s(dir_ / "none"); }).find("no index at"), std::string::npos);
  EXPECT_NE(error_of([&] { add_to_index(dir_ / "none", {kCorpus}); }).find("make one with `whale index build"),
            std::string::npos);
  write("plain/notes.txt", "not an index");
  EXPECT_NE(error_of([&] { IndexSearcher s(dir_ / "plain"); }).find("is not a readable whale index"), std::string::npos);
  write("file.bin", "x");
  EXPECT_NE(error_of([&] { IndexSearcher s(dir_ / "file.bin"); }).find("is a file, not an index folder"), std::string::npos);
  // Every table file overwritten with garbage: opening or searching fails with a whale::Error.
  const fs::path idx = build_corpus();
  for (const auto& e : fs::directory_iterator(idx)) {
    const auto size = fs::file_size(e.path());
    std::ofstream(e.path(), std::ios::binary | std::ios::trunc) << std::string(size, '\x5A');
  }
  const std::string msg = error_of([&] {
    IndexSearcher s(idx);
    s.search("whale shark", 5);
  });
  EXPECT_NE(msg.find(idx.string()), std::string::npos) << msg;
  EXPECT_NE(msg.find("whale index"), std::string::npos) << msg;
}

}  // namespace
}  // namespace whale::search
