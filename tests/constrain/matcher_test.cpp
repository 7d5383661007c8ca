// Masks against brute force: over a small vocabulary, a token is in the mask exactly when
// advancing a copy of the matcher over its bytes succeeds; special tokens never, EOS only when
// the grammar is complete.
#include "constrain/matcher.h"

#include <gtest/gtest.h>

#include <memory>
#include <random>

#include "constrain/json_schema.h"

namespace whale::constrain {
namespace {

std::shared_ptr<Vocabulary> small_vocab() {
  std::vector<std::string> t = {"<eos>", "<special>", "{", "}", "\"", "a", "ab", "\"a", "\":", ":", ",", " ",
                                "1", "12", "-", ".", "5e", "true", "tr", "ue", "null", "[", "]", "\\", "\\n",
                                "\"}", "\"a\"", "{\"", "\xC3", "\xA9", "\xC3\xA9", "x\"", "\n", "  ", "0", "false",
                                "}{", "\"name\"", "\"age\"", "\"tags\"", "red", "\"red\"", "\"b", "}]", "],", "name"};
  return std::make_shared<Vocabulary>(t, std::vector<int32_t>{0}, std::vector<int32_t>{1});
}

// Random walks: at each step compare mask() with brute force, then take a random allowed token.
void check_against_brute_force(const std::string& gbnf, uint64_t seed) {
  auto g = std::make_shared<Grammar>(parse_gbnf(gbnf));
  auto v = small_vocab();
  Matcher m(g, v);
  std::mt19937_64 rng(seed);
  for (int step = 0; step < 40 && !m.ended(); ++step) {
    const std::vector<uint64_t> mask = m.mask();
    std::vector<int32_t> allowed;
    for (int32_t id = 0; id < static_cast<int32_t>(v->size()); ++id) {
      Matcher copy = m;
      const bool ok = id != 1 && copy.accept_token(id);
      ASSERT_EQ(Matcher::allowed(mask, id), ok) << "token " << id << " '" << v->bytes(id) << "' at step " << step;
      if (ok) allowed.push_back(id);
    }
    if (allowed.empty()) break;
    ASSERT_TRUE(m.accept_token(allowed[rng() % allowed.size()]));
  }
}

TEST(Matcher, MaskEqualsBruteForceOnJsonSchema) {
  const std::string schema = R"({"type":"object","properties":{"name":{"type":"string"},"age":{"type":"integer"},
    "tags":{"type":"array","items":{"enum":["red","b"]},"maxItems":3}},"required":["name"],"additionalProperties":false})";
  const std::string gbnf = json_schema_to_gbnf(schema);
  for (uint64_t seed = 0; seed < 30; ++seed) check_against_brute_force(gbnf, seed);
}

TEST(Matcher, MaskEqualsBruteForceOnAnyJsonObject) {
  const std::string gbnf = any_json_object_gbnf();
  for (uint64_t seed = 0; seed < 30; ++seed) check_against_brute_force(gbnf, seed);
}

TEST(Matcher, MaskEqualsBruteForceOnUnicodeClass) {
  for (uint64_t seed = 0; seed < 10; ++seed) check_against_brute_force("root ::= [^a\"]{0,6} \"\\\"\"", seed);
}

TEST(Matcher, EosOnlyWhenComplete) {
  auto g = std::make_shared<Grammar>(parse_gbnf("root ::= \"{\" \"}\""));
  auto v = small_vocab();
  Matcher m(g, v);
  EXPECT_FALSE(Matcher::allowed(m.mask(), 0));
  EXPECT_FALSE(m.accept_token(0));
  EXPECT_FALSE(Matcher::allowed(m.mask(), 1));  // the special token, though "<special>" is no match anyway
  ASSERT_TRUE(m.accept_token(2));
  ASSERT_TRUE(m.accept_token(3));
  EXPECT_TRUE(m.complete());
  EXPECT_FALSE(m.can_continue());
  const auto& mask = m.mask();
  for (int32_t id = 0; id < static_cast<int32_t>(v->size()); ++id) EXPECT_EQ(Matcher::allowed(mask, id), id == 0) << id;
  EXPECT_TRUE(m.accept_token(0));
  EXPECT_TRUE(m.ended());
}

TEST(Matcher, SpecialTokensNeverAllowed) {
  // A grammar that accepts the special token's bytes still never allows the token.
  auto g = std::make_shared<Grammar>(parse_gbnf("root ::= \"<special>\""));
  Matcher m(g, small_vocab());
  EXPECT_FALSE(Matcher::allowed(m.mask(), 1));
  EXPECT_FALSE(m.accept_token(1));
  EXPECT_TRUE(m.accept_bytes("<special>"));
}

TEST(Matcher, RejectedTokenLeavesStateUnchanged) {
  auto g = std::make_shared<Grammar>(parse_gbnf("root ::= \"ab\""));
  Matcher m(g, small_vocab());
  EXPECT_FALSE(m.accept_token(4));
  EXPECT_TRUE(m.accept_token(6));
  EXPECT_TRUE(m.complete());
}

}  // namespace
}  // namespace whale::constrain

namespace whale::constrain {
namespace {

// Issue 21's grammar fuzzing found a grammar whose parse stacks multiply with every byte (both
// repetitions take any character, `.` nests `root` again, and the classes hold multi-byte ranges):
// on its fuzz input (fuzz/corpus/grammar_fuzz/regress-grammar-stacks-multiply) each mask cost more
// than the one before, a second per token by the 15th byte and minutes under the fuzzer. Now a step
// gives up past Matcher::max_work() stack operations with GrammarTooAmbiguous (an invalid
// argument) instead of running on, while an unambiguous grammar follows the same bytes.
TEST(Matcher, AGrammarWhoseStacksMultiplyIsRefusedNotFollowedForever) {
  const std::string gbnf =
      "root ::= (. root|[ \\U0000D6000Ltem\\\\\\-\\U0001F64F])+ (. |[ \\U0000D600-\\U0001F64F])+ \"!\"?";
  const std::string sample = std::string("[\\U0000\x01{\"66660013358391368") + "0;6\x01{\"669p0D0";
  // 255 one-byte tokens and 800 random printable ones of 2-8 bytes (the fuzzer's vocabulary has 1,024).
  std::vector<std::string> t = {"<eos>", "<special>"};
  for (int b = 1; b < 256; ++b) t.push_back(std::string(1, static_cast<char>(b)));
  std::mt19937_64 rng(1);
  for (int i = 0; i < 800; ++i) {
    std::string s(2 + rng() % 7, ' ');
    for (char& c : s) c = static_cast<char>(32 + rng() % 95);
    t.push_back(s);
  }
  auto v = std::make_shared<Vocabulary>(t, std::vector<int32_t>{0}, std::vector<int32_t>{1});

  Matcher m(std::make_shared<Grammar>(parse_gbnf(gbnf)), v);
  size_t followed = 0;
  try {
    for (; followed < sample.size(); ++followed) {
      (void)m.mask();
      ASSERT_TRUE(m.accept_bytes(sample.substr(followed, 1))) << "byte " << followed;
    }
  } catch (const GrammarTooAmbiguous& e) {
    EXPECT_NE(std::string(e.what()).find("too ambiguous"), std::string::npos) << e.what();
    EXPECT_EQ(e.kind(), ErrorKind::kInvalidArgument);
  }
  EXPECT_LT(followed, sample.size()) << "the whole sample was followed within the budget";
  EXPECT_GE(followed, 3u) << "refused on the first bytes: the budget is too small for any grammar";

  // The same bytes under a grammar that takes them one way only: followed to the end.
  Matcher plain(std::make_shared<Grammar>(parse_gbnf("root ::= [ -~\\x01]+")), v);
  for (size_t i = 0; i < sample.size(); ++i) {
    (void)plain.mask();
    ASSERT_TRUE(plain.accept_bytes(sample.substr(i, 1))) << "byte " << i;
  }
  EXPECT_TRUE(plain.complete());

  // A smaller bound (what the fuzzer passes) gives up earlier on the same bytes, no later.
  EXPECT_EQ(m.max_work(), (int64_t{1} << 20) + 64 * static_cast<int64_t>(v->trie().byte.size()));
  Matcher small(std::make_shared<Grammar>(parse_gbnf(gbnf)), v, int64_t{1} << 16);
  EXPECT_EQ(small.max_work(), int64_t{1} << 16);
  size_t small_followed = 0;
  try {
    for (; small_followed < sample.size(); ++small_followed) {
      (void)small.mask();
      ASSERT_TRUE(small.accept_bytes(sample.substr(small_followed, 1)));
    }
  } catch (const GrammarTooAmbiguous&) {
  }
  EXPECT_LT(small_followed, followed);
}

}  // namespace
}  // namespace whale::constrain
