// The reasoning splitter under every chunking of the same text (one byte at a time, random cuts,
// tags split across pieces): the concatenated reasoning and answer never change and no partial tag
// ever leaks.
#include "engine/reasoning_splitter.h"

#include <gtest/gtest.h>

#include <random>

namespace whale::engine {
namespace {

struct Result {
  std::string reasoning, answer;
};

Result run(const ReasoningSplitter::Options& o, const std::string& text, const std::vector<size_t>& cuts) {
  ReasoningSplitter s(o);
  Result r;
  size_t prev = 0;
  auto take = [&](const ReasoningSplitter::Piece& p) {
    r.reasoning += p.reasoning;
    r.answer += p.answer;
  };
  for (size_t c : cuts) {
    take(s.feed(std::string_view(text).substr(prev, c - prev)));
    prev = c;
  }
  take(s.feed(std::string_view(text).substr(prev)));
  take(s.finish());
  return r;
}

// Every way of cutting: per byte, and 200 random cut sets.
void expect_split(const ReasoningSplitter::Options& o, const std::string& text, const std::string& reasoning,
                  const std::string& answer) {
  std::vector<size_t> per_byte;
  for (size_t i = 1; i < text.size(); ++i) per_byte.push_back(i);
  std::mt19937 rng(7);
  std::vector<std::vector<size_t>> cut_sets = {{}, per_byte};
  for (int k = 0; k < 200; ++k) {
    std::vector<size_t> cuts;
    for (size_t i = 1; i < text.size(); ++i) {
      if (rng() % 4 == 0) cuts.push_back(i);
    }
    cut_sets.push_back(cuts);
  }
  for (const auto& cuts : cut_sets) {
    const Result r = run(o, text, cuts);
    ASSERT_EQ(r.reasoning, reasoning) << text;
    ASSERT_EQ(r.answer, answer) << text;
  }
}

TEST(ReasoningSplitter, TemplateOpenedTheTag) {
  ReasoningSplitter::Options o;
  o.starts_in_reasoning = true;  // R1's template ends the prompt with "<think>\n"
  expect_split(o, "Let me add 2 and 3.\nThat is 5.\n</think>\n\nThe answer is 5.", "Let me add 2 and 3.\nThat is 5.\n",
               "The answer is 5.");
}

TEST(ReasoningSplitter, ModelWritesTheOpeningTag) {
  ReasoningSplitter::Options o;
  expect_split(o, "<think>\nhmm, 7*6 = 42</think>\n\n**42**", "hmm, 7*6 = 42", "**42**");
  expect_split(o, "  \n<think>x</think>y", "x", "y");
}

TEST(ReasoningSplitter, NoReasoningAtAll) {
  ReasoningSplitter::Options o;
  expect_split(o, "Just an answer with <think> inside it.", "", "Just an answer with <think> inside it.");
  expect_split(o, "<thin", "", "<thin");  // a fragment that never became a tag
  o.enabled = false;
  expect_split(o, "<think>a</think>b", "", "<think>a</think>b");
}

TEST(ReasoningSplitter, NeverClosed) {
  ReasoningSplitter::Options o;
  o.starts_in_reasoning = true;
  expect_split(o, "still thinking </thi", "still thinking </thi", "");
  ReasoningSplitter s(o);
  s.feed("abc");
  EXPECT_TRUE(s.in_reasoning());
  EXPECT_FALSE(s.reasoning_done());
  s.feed("</think>");
  EXPECT_TRUE(s.reasoning_done());
}

TEST(ReasoningSplitter, NoPartialTagLeaks) {
  ReasoningSplitter::Options o;
  o.starts_in_reasoning = true;
  ReasoningSplitter s(o);
  EXPECT_EQ(s.feed("a</").reasoning, "a");
  EXPECT_EQ(s.feed("thi").reasoning, "");
  const auto p = s.feed("nk>b");
  EXPECT_EQ(p.reasoning, "");
  EXPECT_EQ(p.answer, "b");
  const auto q = s.feed("</not a tag");  // in the answer, tags are plain text
  EXPECT_EQ(q.answer, "</not a tag");
}

}  // namespace
}  // namespace whale::engine
