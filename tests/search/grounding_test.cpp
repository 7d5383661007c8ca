// Grounded messages: the UTF-8-safe cut, the cap search against a linear scan, nesting of several
// files, and the notices' counts.
#include "search/grounding.h"

#include <gtest/gtest.h>

#include <random>

#include "search/prompts.h"

namespace whale::search {
namespace {

TEST(SearchGrounding, CutNeverSplitsACharacter) {
  const std::string text = "a鲸é🐋b";  // 1 + 3 + 2 + 4 + 1 bytes
  const std::vector<size_t> kept = {0, 1, 1, 1, 4, 4, 6, 6, 6, 6, 10, 11, 11};
  for (size_t cap = 0; cap <= 12; ++cap) {
    EXPECT_EQ(cut_utf8(text, cap), text.substr(0, kept[cap])) << cap;
  }
  EXPECT_EQ(count_chars(text), 5u);
}

TEST(SearchGrounding, LargestFittingCapEqualsALinearScan) {
  std::mt19937 rng(7);
  for (int trial = 0; trial < 200; ++trial) {
    const size_t longest = rng() % 300;
    const size_t limit = rng() % 400;  // fits(c) <=> c <= limit
    size_t calls = 0;
    const size_t got = largest_fitting_cap(longest, [&](size_t c) {
      ++calls;
      return c <= limit;
    });
    size_t want = 0;
    for (size_t c = 0; c <= longest; ++c) {
      if (c <= limit) want = c;
    }
    EXPECT_EQ(got, want) << longest << " " << limit;
    EXPECT_LE(calls, 12u);  // log2(300) + 3
  }
}

TEST(SearchGrounding, FilesNestInOrderThenSearchWrapsThem) {
  GroundedMessage m{.question = "Q?", .files = {{"a.txt", "AAAA"}, {"b.md", "BB"}}};
  EXPECT_EQ(render_grounded(m), "[file name]: a.txt\n[file content begin]\nAAAA\n[file content end]\n"
                                "[file name]: b.md\n[file content begin]\nBB\n[file content end]\nQ?");
  EXPECT_EQ(render_grounded(m, 3), "[file name]: a.txt\n[file content begin]\nAAA\n[file content end]\n"
                                   "[file name]: b.md\n[file content begin]\nBB\n[file content end]\nQ?");
  const std::vector<std::string> notices = cut_notices(m, 3, 100);
  ASSERT_EQ(notices.size(), 1u);
  EXPECT_EQ(notices[0], "file \"a.txt\" was cut to 3 of 4 characters to fit the context of 100 tokens");

  m.search = true;
  m.cur_date = "Sunday, December 6, 2026";
  m.documents = {{"T1", "u1", "s1", "text one", 1}, {"T2", "u2", "s2", "", 0}};
  EXPECT_EQ(render_grounded(m, 2),
            render_search_prompt(Language::kEnglish, "[webpage 1 begin]\nT1\nte\n[webpage 1 end]\n[webpage 2 begin]\nT2\ns2\n[webpage 2 end]",
                                 m.cur_date, render_grounded({.question = "Q?", .files = m.files}, 2)));
  EXPECT_EQ(shown_documents(m, 0).size(), 0u);  // at cap 0 the results are left out
  EXPECT_EQ(longest_text(m), 8u);
  const std::vector<std::string> all = cut_notices(m, 0, 100);
  ASSERT_EQ(all.size(), 3u);
  EXPECT_EQ(all[2], "the 2 search results were left out to fit the context of 100 tokens");
}

}  // namespace
}  // namespace whale::search
