// JSON schema compilation, one keyword at a time: documents the grammar must accept and reject
// (written by hand from the schema's meaning), and unsupported keywords named in the error.
#include "constrain/json_schema.h"

#include <gtest/gtest.h>

#include <memory>

#include "constrain/grammar.h"
#include "constrain/matcher.h"
#include "core/error.h"

namespace whale::constrain {
namespace {

bool accepts(const std::string& schema, const std::string& doc) {
  auto g = std::make_shared<Grammar>(parse_gbnf(json_schema_to_gbnf(schema)));
  auto v = std::make_shared<Vocabulary>(std::vector<std::string>{"a"}, std::vector<int32_t>{}, std::vector<int32_t>{});
  Matcher m(g, v);
  return m.accept_bytes(doc) && m.complete();
}

std::string error_of(const std::string& schema) {
  try {
    json_schema_to_gbnf(schema);
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

TEST(JsonSchema, Scalars) {
  EXPECT_TRUE(accepts(R"({"type":"string"})", R"("hi \"there\" \\ \n \u00e9 é")"));
  EXPECT_FALSE(accepts(R"({"type":"string"})", "\"a\nb\""));  // raw control character
  EXPECT_FALSE(accepts(R"({"type":"string"})", R"("\q")"));
  EXPECT_TRUE(accepts(R"({"type":"integer"})", "-42"));
  EXPECT_TRUE(accepts(R"({"type":"integer"})", "0"));
  EXPECT_FALSE(accepts(R"({"type":"integer"})", "012"));
  EXPECT_FALSE(accepts(R"({"type":"integer"})", "1.5"));
  EXPECT_TRUE(accepts(R"({"type":"number"})", "-1.25e+10"));
  EXPECT_TRUE(accepts(R"({"type":"number"})", "3"));
  EXPECT_FALSE(accepts(R"({"type":"number"})", "1."));
  EXPECT_TRUE(accepts(R"({"type":"boolean"})", "false"));
  EXPECT_FALSE(accepts(R"({"type":"boolean"})", "null"));
  EXPECT_TRUE(accepts(R"({"type":"null"})", "null"));
  EXPECT_TRUE(accepts(R"({"type":["string","null"]})", "null"));
  EXPECT_TRUE(accepts(R"({"type":["string","null"]})", "\"x\""));
}

TEST(JsonSchema, StringLength) {
  const std::string s = R"({"type":"string","minLength":2,"maxLength":3})";
  EXPECT_FALSE(accepts(s, R"("a")"));
  EXPECT_TRUE(accepts(s, R"("ab")"));
  EXPECT_TRUE(accepts(s, R"("a\nc")"));
  EXPECT_FALSE(accepts(s, R"("abcd")"));
}

TEST(JsonSchema, EnumAndConst) {
  const std::string e = R"({"enum":["red","gr\"een",3,null]})";
  EXPECT_TRUE(accepts(e, R"("red")"));
  EXPECT_TRUE(accepts(e, R"("gr\"een")"));
  EXPECT_TRUE(accepts(e, "3"));
  EXPECT_TRUE(accepts(e, "null"));
  EXPECT_FALSE(accepts(e, R"("blue")"));
  EXPECT_TRUE(accepts(R"({"const":{"a":[1,2]}})", R"({"a":[1,2]})"));
  EXPECT_FALSE(accepts(R"({"const":{"a":[1,2]}})", R"({"a":[1]})"));
}

TEST(JsonSchema, ObjectsRequiredAndOrder) {
  const std::string s = R"({"type":"object","properties":{"a":{"type":"integer"},"b":{"type":"string"},
                             "c":{"type":"boolean"}},"required":["b"],"additionalProperties":false})";
  EXPECT_TRUE(accepts(s, R"({"b":"x"})"));
  EXPECT_TRUE(accepts(s, R"({"a":1,"b":"x"})"));
  EXPECT_TRUE(accepts(s, R"({ "a": 1, "b": "x", "c": true })"));
  EXPECT_TRUE(accepts(s, "{\n  \"b\": \"x\",\n  \"c\": false\n}"));
  EXPECT_FALSE(accepts(s, R"({"a":1})"));              // b is required
  EXPECT_FALSE(accepts(s, R"({"b":"x","d":1})"));      // no extra keys
  EXPECT_FALSE(accepts(s, R"({"b":"x","a":1})"));      // declared order
  EXPECT_FALSE(accepts(s, R"({"a":1,,"b":"x"})"));
  EXPECT_FALSE(accepts(s, R"({,"b":"x"})"));
  const std::string opt = R"({"type":"object","properties":{"a":{"type":"integer"},"b":{"type":"integer"}}})";
  EXPECT_TRUE(accepts(opt, "{}"));
  EXPECT_TRUE(accepts(opt, R"({"b":2})"));
  EXPECT_TRUE(accepts(opt, R"({"a":1,"b":2})"));
  EXPECT_FALSE(accepts(opt, R"({"a":1,})"));
}

TEST(JsonSchema, ObjectsWithoutProperties) {
  EXPECT_TRUE(accepts(R"({"type":"object"})", R"({"x":[1,{"y":null}],"z":"w"})"));
  EXPECT_FALSE(accepts(R"({"type":"object"})", "[]"));
  EXPECT_TRUE(accepts(R"({"type":"object","additionalProperties":false})", "{}"));
  EXPECT_FALSE(accepts(R"({"type":"object","additionalProperties":false})", R"({"x":1})"));
}

TEST(JsonSchema, ArraysItemsAndCounts) {
  const std::string s = R"({"type":"array","items":{"type":"integer"},"minItems":1,"maxItems":3})";
  EXPECT_FALSE(accepts(s, "[]"));
  EXPECT_TRUE(accepts(s, "[1]"));
  EXPECT_TRUE(accepts(s, "[1, 2, 3]"));
  EXPECT_FALSE(accepts(s, "[1,2,3,4]"));
  EXPECT_FALSE(accepts(s, "[\"a\"]"));
  EXPECT_TRUE(accepts(R"({"type":"array"})", R"([1,"a",{}])"));
  EXPECT_TRUE(accepts(R"({"type":"array","maxItems":0})", "[]"));
  EXPECT_TRUE(accepts(R"({"type":"array","items":{"type":"string"}})", "[]"));
}

TEST(JsonSchema, NestedRefsAndAnyOf) {
  const std::string s = R"({"$defs":{"node":{"type":"object","properties":{"v":{"type":"integer"},
      "kids":{"type":"array","items":{"$ref":"#/$defs/node"}}},"required":["v"]}},"$ref":"#/$defs/node"})";
  EXPECT_TRUE(accepts(s, R"({"v":1,"kids":[{"v":2},{"v":3,"kids":[]}]})"));
  EXPECT_FALSE(accepts(s, R"({"v":1,"kids":[{"w":2}]})"));
  const std::string a = R"({"anyOf":[{"type":"integer"},{"type":"object","properties":{"x":{"const":true}}}]})";
  EXPECT_TRUE(accepts(a, "7"));
  EXPECT_TRUE(accepts(a, R"({"x":true})"));
  EXPECT_FALSE(accepts(a, R"({"x":false})"));
}

TEST(JsonSchema, AnyJsonObject) {
  auto g = std::make_shared<Grammar>(parse_gbnf(any_json_object_gbnf()));
  auto v = std::make_shared<Vocabulary>(std::vector<std::string>{"a"}, std::vector<int32_t>{}, std::vector<int32_t>{});
  Matcher m(g, v);
  EXPECT_TRUE(m.accept_bytes(R"({"a": [1, 2.5, "x", true, null, {"b": {}}]})") && m.complete());
  Matcher m2(g, v);
  EXPECT_FALSE(m2.accept_bytes("[1]"));
}

TEST(JsonSchema, PrefixedRulesCombineInOneGrammar) {
  // Two tools' argument schemas in one grammar, as a tool-call wrapper would use them.
  const std::string a = json_schema_to_gbnf(R"({"type":"object","properties":{"city":{"type":"string"}},"required":["city"]})", "get-weather-");
  const std::string b = json_schema_to_gbnf(R"({"type":"object","properties":{"n":{"enum":[1,2]}},"required":["n"]})", "pick-");
  const std::string g = "root ::= \"<call>\" ( \"weather \" get-weather-root | \"pick \" pick-root ) \"</call>\"\n" + a + b;
  auto grammar = std::make_shared<Grammar>(parse_gbnf(g));
  auto v = std::make_shared<Vocabulary>(std::vector<std::string>{"a"}, std::vector<int32_t>{}, std::vector<int32_t>{});
  auto ok = [&](const std::string& text) {
    Matcher m(grammar, v);
    return m.accept_bytes(text) && m.complete();
  };
  EXPECT_TRUE(ok(R"(<call>weather {"city": "Paris \"x\" [{#}]"}</call>)"));
  EXPECT_TRUE(ok(R"(<call>pick {"n":2}</call>)"));
  EXPECT_FALSE(ok(R"(<call>pick {"n":3}</call>)"));
  EXPECT_FALSE(ok(R"(<call>weather {"n":1}</call>)"));
}

TEST(JsonSchema, UnsupportedKeywordsAreNamed) {
  EXPECT_EQ(error_of(R"({"type":"integer","minimum":0})"), "unsupported JSON schema keyword 'minimum' at #");
  EXPECT_EQ(error_of(R"({"type":"object","properties":{"s":{"type":"string","pattern":"a+"}}})"),
            "unsupported JSON schema keyword 'pattern' at #/properties/s");
  EXPECT_EQ(error_of(R"({"type":"string","format":"date"})"), "unsupported JSON schema keyword 'format' at #");
  EXPECT_EQ(error_of(R"({"oneOf":[{"type":"string"}]})"), "unsupported JSON schema keyword 'oneOf' at #");
  EXPECT_EQ(error_of(R"({"type":"object","properties":{"a":{}},"required":["b"]})"),
            "unsupported JSON schema keyword 'required' at #: 'b' is not in 'properties'");
  EXPECT_EQ(error_of(R"({"type":"object","additionalProperties":{"type":"string"}})"),
            "unsupported JSON schema keyword 'additionalProperties' at #: a schema for extra keys needs 'properties'");
  EXPECT_EQ(error_of(R"({"type":"strin"})"), "invalid JSON schema keyword 'type' at #: unknown type 'strin'");
  EXPECT_EQ(error_of(R"({"$ref":"http://x/y"})"),
            "unsupported JSON schema keyword '$ref' at #: only local references (\"#/...\") are supported");
  EXPECT_EQ(error_of(R"({"$ref":"#/$defs/nope"})"), "invalid JSON schema keyword '$ref' at #: '#/$defs/nope' names nothing in this schema");
}

}  // namespace
}  // namespace whale::constrain

namespace whale::constrain {
namespace {

// Found by grammar_fuzz: a number past a double made nlohmann throw out_of_range, not whale::Error.
TEST(JsonSchema, ANumberPastADoubleIsAnErrorNotACrash) {
  EXPECT_NE(error_of(R"({"type": "number", "maximum": 33733333e3333})").find("not valid JSON"), std::string::npos);
  EXPECT_NE(error_of("{\"type\": ").find("not valid JSON"), std::string::npos);
}

// A schema nested thousands deep (one recursion a level) is refused, not a stack overflow
// (grammar_fuzz/request_fuzz shape, 2026-12-08); 100 levels still compile.
TEST(JsonSchema, DeepNestingIsRefusedNotAStackOverflow) {
  auto nested = [](int n) {
    std::string s;
    for (int i = 0; i < n; ++i) s += R"({"type":"array","items":)";
    s += R"({"type":"string"})";
    return s + std::string(static_cast<size_t>(n), '}');
  };
  EXPECT_NE(error_of(nested(20000)).find("schemas nest deeper than 128 levels"), std::string::npos) << error_of(nested(20000)).substr(0, 200);
  EXPECT_EQ(error_of(nested(100)), "");
}

}  // namespace
}  // namespace whale::constrain
