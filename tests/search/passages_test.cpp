// Passage splitting: sizes within bounds, nothing lost or reordered (the passages joined give back
// the text's words; CJK text without spaces byte for byte), cuts at sentence ends and never inside
// a UTF-8 character.
#include "search/passages.h"

#include <gtest/gtest.h>

#include <sstream>

namespace whale::search {
namespace {

std::vector<std::string> words(const std::string& s) {
  std::istringstream in(s);
  std::vector<std::string> out;
  for (std::string w; in >> w;) out.push_back(w);
  return out;
}

std::string joined(const std::vector<std::string>& passages, const std::string& sep) {
  std::string out;
  for (const std::string& p : passages) out += (out.empty() ? "" : sep) + p;
  return out;
}

bool valid_utf8_start(const std::string& s) { return s.empty() || (static_cast<unsigned char>(s[0]) & 0xC0) != 0x80; }

TEST(SearchPassages, ShortTextIsOnePassageTrimmed) {
  EXPECT_EQ(split_passages("\n\n  Hello.\n\n\n\nWorld.  \n"), (std::vector<std::string>{"Hello.\n\nWorld."}));
  EXPECT_TRUE(split_passages("").empty());
  EXPECT_TRUE(split_passages("\n\n \n\n").empty());
}

TEST(SearchPassages, ParagraphsArePackedWithinBoundsInOrder) {
  std::string text;
  for (int i = 0; i < 30; ++i) text += "Paragraph " + std::to_string(i) + " " + std::string(380, 'a' + i % 26) + ".\n\n";
  const std::vector<std::string> passages = split_passages(text);
  ASSERT_GT(passages.size(), 5u);
  for (size_t i = 0; i < passages.size(); ++i) {
    EXPECT_LE(passages[i].size(), kMaxPassageBytes);
    if (i + 1 < passages.size()) {
      EXPECT_GE(passages[i].size(), kPassageBytes - 400) << "a passage closed early";
    }
  }
  // Paragraph boundaries survive: joining with a blank line gives back the text (trimmed).
  EXPECT_EQ(joined(passages, "\n\n") + "\n\n", text);
}

TEST(SearchPassages, LongEnglishParagraphsAreCutAtSentenceEnds) {
  std::string text;
  for (int i = 0; i < 200; ++i) text += "Sentence number " + std::to_string(i) + " says something short. ";
  const std::vector<std::string> passages = split_passages(text);
  ASSERT_GT(passages.size(), 3u);
  for (const std::string& p : passages) {
    EXPECT_LE(p.size(), kMaxPassageBytes);
    EXPECT_TRUE(p.starts_with("Sentence number ")) << p.substr(0, 40);
    EXPECT_TRUE(p.ends_with("short.")) << p.substr(p.size() - 40);
  }
  EXPECT_EQ(words(joined(passages, " ")), words(text));
}

TEST(SearchPassages, CjkWithoutSpacesIsCutAtSentenceEndsLosingNothing) {
  std::string text;
  for (int i = 0; i < 500; ++i) text += i % 3 == 0 ? "鲸鲨是最大的鱼。" : "它吃浮游生物！";
  const std::vector<std::string> passages = split_passages(text);
  ASSERT_GT(passages.size(), 3u);
  for (const std::string& p : passages) {
    EXPECT_LE(p.size(), kMaxPassageBytes);
    EXPECT_TRUE(p.ends_with("。") || p.ends_with("！")) << p.substr(p.size() - 12);
  }
  EXPECT_EQ(joined(passages, ""), text);
}

TEST(SearchPassages, TextWithoutBreaksIsCutAtCharacterBoundaries) {
  std::string cjk;
  for (int i = 0; i < 3000; ++i) cjk += "鲸";  // 9000 bytes, no punctuation, no spaces
  std::vector<std::string> passages = split_passages(cjk);
  ASSERT_GE(passages.size(), 4u);
  for (const std::string& p : passages) {
    EXPECT_LE(p.size(), kMaxPassageBytes);
    EXPECT_EQ(p.size() % 3, 0u);
    EXPECT_TRUE(valid_utf8_start(p));
  }
  EXPECT_EQ(joined(passages, ""), cjk);
  const std::string ascii(10000, 'x');
  passages = split_passages(ascii);
  EXPECT_EQ(joined(passages, ""), ascii);
  for (const std::string& p : passages) EXPECT_LE(p.size(), kMaxPassageBytes);
}

TEST(SearchPassages, Utf8CutNeverSplitsACharacter) {
  const std::string s = "a鲸b";  // bytes: a, E9 B2 B8, b
  EXPECT_EQ(utf8_cut(s, 0), 0u);
  EXPECT_EQ(utf8_cut(s, 1), 1u);
  EXPECT_EQ(utf8_cut(s, 2), 1u);
  EXPECT_EQ(utf8_cut(s, 3), 1u);
  EXPECT_EQ(utf8_cut(s, 4), 4u);
  EXPECT_EQ(utf8_cut(s, 99), 5u);
}

}  // namespace
}  // namespace whale::search
