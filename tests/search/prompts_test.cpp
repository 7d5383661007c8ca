// DeepSeek's official search and file prompts against Python's str.format run on the README's own
// code blocks (tests/search/make_prompt_fixtures.py wrote expected_prompts.json), character for character.
#include "search/prompts.h"

#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "core/error.h"

namespace whale::search {
namespace {

nlohmann::json expected() {
  std::ifstream in(std::string(WHALE_TEST_DATA) + "/../search/data/expected_prompts.json");
  EXPECT_TRUE(in) << "expected_prompts.json is missing";
  std::stringstream text;
  text << in.rdbuf();
  return nlohmann::json::parse(text.str());
}

Language language_of(const nlohmann::json& j) { return j == "zh" ? Language::kChinese : Language::kEnglish; }

TEST(SearchPrompts, SearchTemplatesMatchTheReadmeFilledByPython) {
  nlohmann::json cases = expected()["search"];
  ASSERT_EQ(cases.size(), 3u);
  for (const auto& c : cases) {
    std::vector<Document> docs;
    for (const auto& d : c["documents"]) {
      docs.push_back({d["title"], d["url"], d["snippet"], d["text"], 0});
    }
    std::string results = render_search_results(docs);
    EXPECT_EQ(results, c["search_results"].get<std::string>());
    Language lang = language_of(c["language"]);
    std::string date = long_date(lang, c["date"][0], c["date"][1], c["date"][2]);
    EXPECT_EQ(date, c["cur_date"].get<std::string>());
    EXPECT_EQ(render_search_prompt(lang, results, date, c["question"].get<std::string>()),
              c["expected"].get<std::string>());
  }
}

TEST(SearchPrompts, FileTemplateMatchesTheReadmeFilledByPython) {
  const nlohmann::json cases = expected()["file"];  // a range-for over expected()["file"] outlives the temporary
  for (const auto& c : cases) {
    EXPECT_EQ(render_file_prompt(c["name"].get<std::string>(), c["content"].get<std::string>(),
                                 c["question"].get<std::string>()),
              c["expected"].get<std::string>());
  }
}

TEST(SearchPrompts, LongDatesMatchPythonDatetime) {
  nlohmann::json dates = expected()["dates"];
  ASSERT_EQ(dates.size(), 10u);
  for (const auto& d : dates) {
    EXPECT_EQ(long_date(language_of(d["language"]), d["date"][0], d["date"][1], d["date"][2]),
              d["expected"].get<std::string>());
  }
  EXPECT_THROW(long_date(Language::kEnglish, 2025, 2, 29), Error);
  EXPECT_THROW(long_date(Language::kChinese, 2026, 13, 1), Error);
  EXPECT_THROW(long_date(Language::kChinese, 2026, 4, 31), Error);
}

TEST(SearchPrompts, ChineseQueriesPickTheChineseTemplate) {
  EXPECT_EQ(query_language("37加48等于多少？"), Language::kChinese);
  EXPECT_EQ(query_language("What is 鲸鲨?"), Language::kChinese);
  EXPECT_EQ(query_language("東京の天気"), Language::kChinese);  // kana and kanji: the CJK template
  EXPECT_EQ(query_language("What do whale sharks eat?"), Language::kEnglish);
  EXPECT_EQ(query_language("Ça coûte 5 €, naïve café"), Language::kEnglish);  // accents are not CJK
  EXPECT_EQ(query_language("\xff\xfe broken bytes"), Language::kEnglish);
  std::string zh = render_search_message("鲸鲨吃什么？", {});
  EXPECT_EQ(zh.rfind("# 以下内容是基于用户发送的消息的搜索结果:\n", 0), 0u);
  EXPECT_NE(zh.find("- 今天是" + today_long_date(Language::kChinese) + "。"), std::string::npos);
  std::string en = render_search_message("whale sharks", {});
  EXPECT_NE(en.find("- Today is " + today_long_date(Language::kEnglish) + ".\n"), std::string::npos);
}

}  // namespace
}  // namespace whale::search
