// Structured output end to end on a random-weight model: over many seeds and schemas (nested
// objects, arrays, enums, numbers, strings with escapes, required, additionalProperties: false),
// through response_format, llama-server's json_schema and grammar, thinking on and off, every
// output ends with `stop` and validates against its schema under the independent ajv validator.
// Also the 400s: unsupported schema keywords and bad grammars, naming the field and the keyword.
#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>

#include "../test_files.h"
#include "live_server.h"

namespace whale::server::testing {
namespace {

const char* kSchemas[] = {
    // nested objects, required, additionalProperties false, enum, integer, bounded strings
    R"({"type":"object","properties":{"name":{"type":"string","maxLength":12},"age":{"type":"integer"},
        "address":{"type":"object","properties":{"city":{"type":"string","maxLength":10},
        "zip":{"type":"string","minLength":5,"maxLength":5}},"required":["city","zip"],"additionalProperties":false},
        "role":{"enum":["admin","user","guest"]}},"required":["name","address","role"],"additionalProperties":false})",
    // arrays of numbers and strings with counts
    R"({"type":"object","properties":{"scores":{"type":"array","items":{"type":"number"},"minItems":1,"maxItems":4},
        "tags":{"type":"array","items":{"type":"string","maxLength":8},"maxItems":3}},
        "required":["scores","tags"],"additionalProperties":false})",
    // strings (escapes come from the random tokens: \" \\ \n \u....)
    R"({"type":"array","items":{"type":"string","maxLength":24},"minItems":2,"maxItems":3})",
    // booleans, const, nullable, anyOf, optional properties
    R"({"type":"object","properties":{"ok":{"type":"boolean"},"v":{"const":"whale"},"n":{"type":["integer","null"]},
        "x":{"anyOf":[{"type":"number"},{"type":"string","maxLength":5}]},"opt":{"type":"boolean"}},
        "required":["ok","v","n","x"],"additionalProperties":false})",
    // recursion through $defs. Strings are bounded in these schemas: a random model closes an
    // unbounded string only by chance, so it may run to max_tokens (json_object mode has them).
    R"({"$defs":{"node":{"type":"object","properties":{"id":{"type":"integer"},"label":{"type":"string","maxLength":40},
        "kids":{"type":"array","items":{"$ref":"#/$defs/node"},"maxItems":2}},"required":["id","kids"],
        "additionalProperties":false}},"$ref":"#/$defs/node"})",
};

json post(LiveServer& s, const std::string& path, const json& body, int expect_status) {
  auto res = s.client()->Post(path, body.dump(), "application/json");
  EXPECT_TRUE(res) << path;
  if (!res) return {};
  EXPECT_EQ(res->status, expect_status) << res->body;
  return json::parse(res->body);
}

json chat(const std::string& model, uint64_t seed) {
  return {{"model", model},
          {"messages", {{{"role", "user"}, {"content", "Describe a person as JSON."}}}},
          {"max_tokens", 1500}, {"temperature", 1.0}, {"seed", seed}};
}

// Runs node validate_schemas.mjs over the cases; returns its output (ends with "all N outputs valid").
std::string validate_with_ajv(const json& schemas, const json& cases, int& rc) {
  const std::string npm = std::string(WHALE_TEST_DATA) + "/../server/npm";
  const std::string file = ::whale::testing::fresh_temp_path("cases").string() + ".json";
  std::ofstream(file) << json{{"schemas", schemas}, {"cases", cases}}.dump();
  FILE* p = ::popen(("node " + npm + "/validate_schemas.mjs " + file + " 2>&1").c_str(), "r");
  std::string out;
  char buf[4096];
  while (size_t n = std::fread(buf, 1, sizeof buf, p)) out.append(buf, n);
  rc = ::pclose(p);
  std::filesystem::remove(file);
  return out;
}

TEST(StructuredOutput, RandomModelOutputsAlwaysStopAndValidate) {
  const std::string npm = std::string(WHALE_TEST_DATA) + "/../server/npm";
  ASSERT_TRUE(std::filesystem::exists(npm + "/node_modules/ajv/package.json"))
      << "ajv is not installed in " << npm << ": run scripts/npm_setup.sh first";
  LiveServer s({.context = 2048});
  json schemas = json::array(), cases = json::array();
  for (const char* text : kSchemas) schemas.push_back(json::parse(text));
  schemas.push_back({{"type", "object"}});  // json_object mode
  const size_t n_schemas = std::size(kSchemas);
  int n = 0, object_stops = 0;
  auto record = [&](size_t schema, const json& reply, bool chat_reply) {
    const json& c = reply["choices"][0];
    const std::string text = chat_reply ? c["message"]["content"].get<std::string>() : c["text"].get<std::string>();
    cases.push_back({{"schema", schema}, {"text", text}, {"finish", c["finish_reason"]}});
    // The C++ side agrees it is JSON (ajv is the schema oracle).
    EXPECT_TRUE(json::accept(text)) << text;
    ++n;
  };
  for (uint64_t seed = 1; seed <= 8; ++seed) {
    for (size_t k = 0; k < n_schemas; ++k) {
      const json schema = schemas[k];
      // OpenAI's response_format, thinking off.
      json b = chat("deepseek-chat", seed);
      b["response_format"] = {{"type", "json_schema"}, {"json_schema", {{"name", "x"}, {"schema", schema}, {"strict", true}}}};
      record(k, post(s, "/v1/chat/completions", b, 200), true);
      // Thinking on with a budget: the constraint starts after the forced </think>.
      json t = chat("deepseek-reasoner", seed + 100);
      t["thinking_budget"] = 6;
      t["response_format"] = b["response_format"];
      const json r = post(s, "/v1/chat/completions", t, 200);
      EXPECT_FALSE(r["choices"][0]["message"]["reasoning_content"].get<std::string>().empty());
      record(k, r, true);
      // llama-server's json_schema field on /v1/completions.
      json c = {{"prompt", "JSON:"}, {"max_tokens", 1500}, {"temperature", 1.0}, {"seed", seed + 200}, {"json_schema", schema}};
      record(k, post(s, "/v1/completions", c, 200), false);
    }
    // Streamed, thinking on: the answer's deltas concatenate to the same kind of document.
    if (seed <= 3) {
      json st = chat("deepseek-reasoner", seed + 400);
      st["thinking_budget"] = 4;
      st["stream"] = true;
      st["response_format"] = {{"type", "json_schema"}, {"json_schema", {{"name", "x"}, {"schema", schemas[0]}}}};
      const SseResult r = post_stream(s.port(), "/v1/chat/completions", st);
      ASSERT_EQ(r.status, 200);
      ASSERT_TRUE(r.done);
      std::string text, finish;
      for (const json& c : r.chunks) {
        const json& d = c["choices"][0]["delta"];
        if (d.contains("content") && d["content"].is_string()) text += d["content"].get<std::string>();
        if (c["choices"][0]["finish_reason"].is_string()) finish = c["choices"][0]["finish_reason"];
      }
      cases.push_back({{"schema", 0}, {"text", text}, {"finish", finish}});
      EXPECT_TRUE(json::accept(text)) << text;
      ++n;
    }
    // json_object mode: its strings are unbounded, which a random model may never close, so only
    // the outputs that stopped are validated (and most must stop).
    json o = chat("deepseek-chat", seed + 300);
    o["response_format"] = {{"type", "json_object"}};
    const json r = post(s, "/v1/chat/completions", o, 200);
    if (r["choices"][0]["finish_reason"] == "stop") {
      record(n_schemas, r, true);
      ++object_stops;
    }
  }
  EXPECT_GE(object_stops, 6);
  int rc = 0;
  const std::string out = validate_with_ajv(schemas, cases, rc);
  EXPECT_EQ(rc, 0) << out;
  std::printf("ajv: %s", out.c_str());
  EXPECT_NE(out.find("all " + std::to_string(n) + " outputs valid"), std::string::npos) << out;
}

TEST(StructuredOutput, GbnfGrammarField) {
  LiveServer s({.context = 1024});
  for (uint64_t seed = 1; seed <= 6; ++seed) {
    json b = {{"prompt", "Answer:"}, {"max_tokens", 200}, {"temperature", 1.0}, {"seed", seed},
              {"grammar", "root ::= (\"yes\" | \"no\") \", \" [0-9]{1,3} \"!\"\n"}};
    const json r = post(s, "/v1/completions", b, 200);
    const std::string text = r["choices"][0]["text"];
    EXPECT_EQ(r["choices"][0]["finish_reason"], "stop") << text;
    const bool ok = (text.rfind("yes, ", 0) == 0 || text.rfind("no, ", 0) == 0) && text.back() == '!' &&
                    text.find_first_not_of("0123456789", text.find(' ') + 1) == text.size() - 1;
    EXPECT_TRUE(ok) << text;
  }
}

// A grammar whose parse stacks multiply with every byte (issue 21's grammar fuzzing found it; see
// Matcher.AGrammarWhoseStacksMultiplyIsRefusedNotFollowedForever): the request ends with what was
// generated, finish_reason "length", well before max_tokens, instead of holding the engine, and
// the server answers the next request.
TEST(StructuredOutput, AnOverAmbiguousGrammarEndsTheRequestNotTheServer) {
  LiveServer s({.context = 1024});
  const std::string gbnf = "root ::= (. root | [ \\U0000D600-\\U0001F64F])+ (. | [ \\U0000D600-\\U0001F64F])+ \"!\"?\n";
  for (uint64_t seed = 1; seed <= 2; ++seed) {
    json b = {{"prompt", "Answer:"}, {"max_tokens", 400}, {"temperature", 1.0}, {"seed", seed}, {"grammar", gbnf}};
    const json r = post(s, "/v1/completions", b, 200);
    EXPECT_EQ(r["choices"][0]["finish_reason"], "length") << r.dump();
    EXPECT_LT(r["usage"]["completion_tokens"].get<int64_t>(), 400) << r.dump();
  }
  const json ok = post(s, "/v1/completions", {{"prompt", "Answer:"}, {"max_tokens", 4}, {"temperature", 0}}, 200);
  EXPECT_EQ(ok["usage"]["completion_tokens"], 4) << ok.dump();
}

void expect_400(LiveServer& s, const json& body, const std::string& param, const std::string& in_message) {
  auto res = s.client()->Post("/v1/chat/completions", body.dump(), "application/json");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 400) << res->body;
  const json e = json::parse(res->body)["error"];
  EXPECT_EQ(e["param"], param) << res->body;
  EXPECT_NE(e["message"].get<std::string>().find(in_message), std::string::npos) << res->body;
}

TEST(StructuredOutput, UnsupportedSchemasAndBadGrammarsAre400) {
  LiveServer s;
  json b = chat("deepseek-chat", 1);
  b["response_format"] = {{"type", "json_schema"},
                          {"json_schema", {{"name", "x"}, {"schema", {{"type", "integer"}, {"minimum", 3}}}}}};
  expect_400(s, b, "response_format.json_schema.schema", "unsupported JSON schema keyword 'minimum' at #");
  b = chat("deepseek-chat", 1);
  b["json_schema"] = {{"type", "object"}, {"properties", {{"d", {{"type", "string"}, {"format", "date"}}}}}};
  expect_400(s, b, "json_schema", "unsupported JSON schema keyword 'format' at #/properties/d");
  b = chat("deepseek-chat", 1);
  b["grammar"] = "root ::= \"a\" bogus\n";
  expect_400(s, b, "grammar", "grammar line 1 column 14: undefined rule 'bogus'");
  b = chat("deepseek-chat", 1);
  b["response_format"] = {{"type", "yaml"}};
  expect_400(s, b, "response_format.type", "json_schema");
  // Found by request_fuzz: a `type` that is not a string was a 500 (nlohmann's type_error).
  b = chat("deepseek-chat", 1);
  b["response_format"] = {{"type", {{"type", "object"}}}};
  expect_400(s, b, "response_format", "string `type`");
  b = chat("deepseek-chat", 1);
  b["grammar"] = "root ::= \"a\"";
  b["json_schema"] = {{"type", "string"}};
  expect_400(s, b, "grammar", "only one of");
  EXPECT_TRUE(s.wait_idle());
}

}  // namespace
}  // namespace whale::server::testing
