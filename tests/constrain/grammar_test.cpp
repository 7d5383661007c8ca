// GBNF parsing: strings accepted and rejected by hand-written grammars (each construct), and the
// line/column of syntax errors.
#include "constrain/grammar.h"

#include <gtest/gtest.h>

#include <memory>

#include "constrain/matcher.h"
#include "core/error.h"

namespace whale::constrain {
namespace {

// Whether `text` is a whole sentence of the grammar.
bool accepts(const std::string& gbnf, const std::string& text) {
  auto g = std::make_shared<Grammar>(parse_gbnf(gbnf));
  auto v = std::make_shared<Vocabulary>(std::vector<std::string>{"a"}, std::vector<int32_t>{}, std::vector<int32_t>{});
  Matcher m(g, v);
  return m.accept_bytes(text) && m.complete();
}

std::string error_of(const std::string& gbnf) {
  try {
    parse_gbnf(gbnf);
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

TEST(Gbnf, LiteralsSequencesAlternatives) {
  const std::string g = "root ::= \"ab\" c | \"x\"\nc ::= \"c\" # a comment\n";
  EXPECT_TRUE(accepts(g, "abc"));
  EXPECT_TRUE(accepts(g, "x"));
  EXPECT_FALSE(accepts(g, "ab"));
  EXPECT_FALSE(accepts(g, "abcx"));
  EXPECT_FALSE(accepts(g, ""));
}

TEST(Gbnf, Repetitions) {
  EXPECT_TRUE(accepts("root ::= \"a\"*", ""));
  EXPECT_TRUE(accepts("root ::= \"a\"*", "aaaa"));
  EXPECT_FALSE(accepts("root ::= \"a\"+", ""));
  EXPECT_TRUE(accepts("root ::= \"a\"+ \"b\"", "aaab"));
  EXPECT_TRUE(accepts("root ::= \"a\"? \"b\"", "b"));
  EXPECT_TRUE(accepts("root ::= \"a\"? \"b\"", "ab"));
  EXPECT_FALSE(accepts("root ::= \"a\"? \"b\"", "aab"));
  const std::string r = "root ::= \"ab\"{2,3}";
  EXPECT_FALSE(accepts(r, "ab"));
  EXPECT_TRUE(accepts(r, "abab"));
  EXPECT_TRUE(accepts(r, "ababab"));
  EXPECT_FALSE(accepts(r, "abababab"));
  EXPECT_TRUE(accepts("root ::= [0-9]{3}", "123"));
  EXPECT_FALSE(accepts("root ::= [0-9]{3}", "12"));
  EXPECT_TRUE(accepts("root ::= [0-9]{2,}", "12345"));
  EXPECT_FALSE(accepts("root ::= [0-9]{2,}", "1"));
  EXPECT_TRUE(accepts("root ::= (\"a\" | \"bc\")* \"d\"", "abcabcd"));
  EXPECT_FALSE(accepts("root ::= (\"a\" | \"bc\")* \"d\"", "abd"));
}

TEST(Gbnf, CharacterClasses) {
  EXPECT_TRUE(accepts("root ::= [a-cx]+", "abcx"));
  EXPECT_FALSE(accepts("root ::= [a-cx]+", "abd"));
  EXPECT_TRUE(accepts("root ::= [^\"\\\\]+", "h\xC3\xA9llo \xF0\x9F\x90\xB3"));  // é and 🐳
  EXPECT_FALSE(accepts("root ::= [^\"\\\\]+", "a\"b"));
  EXPECT_FALSE(accepts("root ::= [^\"\\\\]+", "a\\b"));
  EXPECT_FALSE(accepts("root ::= [^a]", "\xC3"));  // half a character
  EXPECT_TRUE(accepts("root ::= [\xC3\xA0-\xC3\xBF]", "\xC3\xA9"));
  EXPECT_FALSE(accepts("root ::= [\xC3\xA0-\xC3\xBF]", "\xC3\x80"));
  EXPECT_TRUE(accepts("root ::= [\\x00-\\x1F]", "\n"));
  EXPECT_TRUE(accepts("root ::= [\\u00e9]", "\xC3\xA9"));
  EXPECT_TRUE(accepts("root ::= .+", "any\xE2\x82\xAC"));
  EXPECT_FALSE(accepts("root ::= .", "\xED\xA0\x80"));  // a surrogate is no character
}

TEST(Gbnf, EscapesInLiterals) {
  EXPECT_TRUE(accepts("root ::= \"\\\"\\\\\\n\\t\\x41\\u00e9\"", "\"\\\n\tA\xC3\xA9"));
}

TEST(Gbnf, MultiLineRulesAndNesting) {
  const std::string g = "root ::= (\n  \"a\" |\n  \"b\"\n) tail\n\ntail ::= \"!\"\n";
  EXPECT_TRUE(accepts(g, "a!"));
  EXPECT_TRUE(accepts(g, "b!"));
}

TEST(Gbnf, ErrorsNameLineAndColumn) {
  EXPECT_EQ(error_of("root ::= \"a\"\nx ::= \"b"), "grammar line 2 column 7: unterminated string literal");
  EXPECT_EQ(error_of("root ::= foo"), "grammar line 1 column 10: undefined rule 'foo'");
  EXPECT_EQ(error_of("root ::= [a-"), "grammar line 1 column 10: unterminated character class");
  EXPECT_EQ(error_of("root := \"a\""), "grammar line 1 column 6: expected '::=' after rule name 'root'");
  EXPECT_EQ(error_of("root ::= * \"a\""), "grammar line 1 column 10: '*' has nothing to repeat");
  EXPECT_EQ(error_of("root ::= (\"a\""), "grammar line 1 column 14: expected ')'");
  EXPECT_EQ(error_of("root ::= \"a\"{3,1}"), "grammar line 1 column 13: repetition {m,n} has n < m");
  EXPECT_EQ(error_of("root ::= \"\\q\""), "grammar line 1 column 12: unknown escape '\\q'");
  EXPECT_EQ(error_of("a ::= \"x\""), "grammar: no rule named 'root'");
  EXPECT_EQ(error_of("root ::= root \"a\" | \"b\""), "grammar: rule 'root' is left-recursive");
  EXPECT_EQ(error_of("root ::= \"a\"\nroot ::= \"b\""), "grammar line 2 column 1: rule 'root' is defined twice");
}

// Hostile nesting is refused with a reason, not followed until a stack overflows (request_fuzz,
// 2026-12-08: a request grammar of ~4,000 '(' overflowed the stack in the parser's recursion).
TEST(Gbnf, DeepNestingIsRefusedNotAStackOverflow) {
  const std::string deep = "root ::= " + std::string(100000, '(') + "\"a\"" + std::string(100000, ')');
  EXPECT_NE(error_of(deep).find("groups nest deeper than 256"), std::string::npos) << error_of(deep);
  // 200 levels still compile and match.
  EXPECT_TRUE(accepts("root ::= " + std::string(200, '(') + "\"a\"" + std::string(200, ')'), "a"));
  // A chain of rules each starting with the next: the matcher would descend one frame per link.
  std::string chain;
  for (int i = 0; i < 5000; ++i) chain += "r" + std::to_string(i) + " ::= r" + std::to_string(i + 1) + " \"x\"\n";
  chain += "r5000 ::= \"y\"\nroot ::= r0\n";
  EXPECT_NE(error_of(chain).find("chain of more than 1024"), std::string::npos) << error_of(chain).substr(0, 200);
  // The same chain defined tail first, so that each walk from a new rule takes one step into rules
  // already walked: the chain's length is still measured.
  std::string reversed = "r5000 ::= \"y\"\n";
  for (int i = 4999; i >= 0; --i) reversed += "r" + std::to_string(i) + " ::= r" + std::to_string(i + 1) + " \"x\"\n";
  reversed += "root ::= r0\n";
  EXPECT_NE(error_of(reversed).find("chain of more than 1024"), std::string::npos);
  // 500 links are fine and followed.
  std::string ok;
  for (int i = 0; i < 500; ++i) ok += "r" + std::to_string(i) + " ::= r" + std::to_string(i + 1) + " \"x\"\n";
  ok += "r500 ::= \"y\"\nroot ::= r0\n";
  EXPECT_TRUE(accepts(ok, "y" + std::string(500, 'x')));
}

}  // namespace
}  // namespace whale::constrain
