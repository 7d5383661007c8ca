// Tool rendering: whale's C++ equals @huggingface/jinja's rendering of the real chat_template
// (DeepSeek-V3, R1, R1-Distill-Llama, whale's placeholder = R1's, Qwen3, Qwen2.5, Llama-3.1/3.2) over
// conversations with tool definitions, assistant tool_calls (one, parallel, several rounds) and tool
// results.
#include <gtest/gtest.h>

#include <algorithm>

#include "core/error.h"
#include "oracle.h"
#include "template_families.h"
#include "tokenizer/chat_template.h"
#include "tokenizer/chat_template_tools.h"

namespace whale::tokenizer {
namespace {

using namespace testing;
using nlohmann::json;

using Family = TemplateFamily;

std::vector<Family> families() { return template_families({"deepseek_v3", "qwen3"}); }

using Chat = std::vector<ChatMessage>;

ChatMessage calls(std::vector<ToolCall> c, std::string content = "") {
  ChatMessage m{"assistant", std::move(content), std::nullopt};
  m.tool_calls = std::move(c);
  return m;
}
ChatMessage tool(std::string content, std::string id) {
  ChatMessage m{"tool", std::move(content), std::nullopt};
  m.tool_call_id = std::move(id);
  return m;
}

std::vector<Chat> conversations() {
  const ToolCall weather{"call_1", "get_weather", R"({"city": "Paris", "unit": "celsius"})"};
  const ToolCall time{"call_2", "get_time", R"({"zone":"Europe/Paris"})"};
  return {
      {{"user", "Weather in Paris?", {}}, calls({weather}), tool(R"({"temp": 21})", "call_1"),
       {"assistant", "It is 21°C.", {}}, {"user", "Thanks!", {}}},
      {{"system", "Use tools.", {}}, {"user", "Weather and time?", {}}, calls({weather, time}),
       tool("sunny", "call_1"), tool("14:05", "call_2")},
      {{"user", "a", {}}, calls({weather}), tool("r1", "call_1"), {"assistant", "b", {}}, {"user", "c", {}},
       calls({time, weather}), tool("r2", "call_2"), tool("r3", "call_1"), {"assistant", "d", {}}},
      {{"user", "q", {}}, calls({weather}, "<think>\nI should call.\n</think>\n\nLet me check."), tool("x", "call_1")},
      {{"user", "no tools used", {}}},
  };
}

const char* kTools = R"J([{"type": "function", "function": {"name": "get_weather", "description": "Weather \"now\" in a city (°C)",
  "parameters": {"type": "object", "properties": {"city": {"type": "string"}, "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]}},
  "required": ["city"], "additionalProperties": false}, "strict": true}},
  {"type": "function", "function": {"name": "get_time", "parameters": {"type": "object", "properties": {"zone": {"type": "string"}}}}}])J";

TEST(ChatTemplateTools, MatchesJinjaRenderingOfRealTemplates) {
  ASSERT_TRUE(npm_installed());
  const nlohmann::ordered_json tools = nlohmann::ordered_json::parse(kTools);
  json cases = json::array();
  std::vector<std::string> ours, labels;
  for (const Family& f : families()) {
    const ChatTemplate t = ChatTemplate::from_jinja(f.source, f.bos, f.eos, f.name);
    const bool qwen = t.family() == ChatFamily::kQwen3;
    // Their templates write `arguments | tojson`: they expect the parsed object, as HF and llama.cpp pass it.
    const bool object_arguments = t.family() == ChatFamily::kQwen25 || t.family() == ChatFamily::kLlama31;
    const auto chats = conversations();
    for (size_t c = 0; c < chats.size(); ++c) {
      const bool parallel = std::any_of(chats[c].begin(), chats[c].end(), [](const ChatMessage& m) { return m.tool_calls.size() > 1; });
      if (parallel && t.family() == ChatFamily::kLlama31) continue;  // its template raises; see Llama31RefusesParallelCalls
      for (int variant = 0; variant < 4; ++variant) {
        const bool with_tools = variant & 1;
        const ChatOptions opt{.add_generation_prompt = (variant & 2) != 0, .tools_json = with_tools ? tools.dump() : ""};
        json messages = json::array();
        for (const ChatMessage& m : chats[c]) {
          json jm = {{"role", m.role}, {"content", m.content}};
          if (!m.tool_calls.empty()) {
            // OpenAI clients send content null with tool calls; Qwen3's template needs a string.
            if (m.content.empty() && !qwen) jm["content"] = nullptr;
            for (const ToolCall& tc : m.tool_calls) {
              const json args = object_arguments ? json::parse(tc.arguments) : json(tc.arguments);
              jm["tool_calls"].push_back({{"id", tc.id}, {"type", "function"}, {"function", {{"name", tc.name}, {"arguments", args}}}});
            }
          }
          if (!m.tool_call_id.empty()) jm["tool_call_id"] = m.tool_call_id;
          messages.push_back(jm);
        }
        json context = {{"messages", messages}, {"add_generation_prompt", opt.add_generation_prompt},
                        {"bos_token", f.bos}, {"eos_token", f.eos}};
        if (with_tools) context["tools"] = json::parse(kTools);
        // json (not ordered) sorts keys; the Jinja side must see the client's order: pass text.
        cases.push_back({{"template", f.source}, {"context", context}});
        ours.push_back(t.render(chats[c], opt));
        labels.push_back(f.name + " conversation " + std::to_string(c) + " variant " + std::to_string(variant));
      }
    }
  }
  // Keep the tools' key order on the Jinja side: splice the ordered text into the cases.
  std::string text = cases.dump();
  const std::string sorted = json::parse(kTools).dump(), given = tools.dump();
  for (size_t at = text.find(sorted); at != std::string::npos; at = text.find(sorted, at + given.size())) {
    text.replace(at, sorted.size(), given);
  }
  const std::string in = scratch_dir() + "/tool_render_cases.json", out = scratch_dir() + "/tool_render_out.json";
  write_bytes(in, text);
  ASSERT_TRUE(run_reference("render '" + in + "' '" + out + "'"));
  const json want = read_json(out);
  ASSERT_EQ(want.size(), ours.size());
  size_t with_calls = 0;
  for (size_t i = 0; i < ours.size(); ++i) {
    EXPECT_EQ(ours[i], want[i].get<std::string>()) << labels[i];
    if (ours[i].find("get_weather") != std::string::npos) ++with_calls;
  }
  EXPECT_GT(with_calls, ours.size() / 2);  // the cases really render calls
  std::printf("[ tool templates ] %zu renderings compared\n", ours.size());
}

TEST(ChatTemplateTools, ExactDeepSeekCallText) {
  const ChatTemplate t(ChatFamily::kDeepSeekV3, "<s>", "</s>");
  const Chat chat = {{"user", "w?", {}}, calls({{"c", "get_weather", R"({"city":"Paris"})"}}), tool("21", "c")};
  EXPECT_EQ(t.render(chat),
            "<s><｜User｜>w?<｜Assistant｜><｜tool▁calls▁begin｜><｜tool▁call▁begin｜>function<｜tool▁sep｜>get_weather\n"
            "```json\n{\"city\":\"Paris\"}\n```<｜tool▁call▁end｜><｜tool▁outputs▁begin｜><｜tool▁output▁begin｜>21"
            "<｜tool▁output▁end｜><｜tool▁outputs▁end｜>");
}

TEST(ChatTemplateTools, Llama31RefusesParallelCalls) {
  const ChatTemplate t(ChatFamily::kLlama31, "<s>", "</s>");
  const Chat chat = {{"user", "w?", {}}, calls({{"a", "f", "{}"}, {"b", "g", "{}"}})};
  EXPECT_THROW(t.render(chat), Error);
  EXPECT_EQ(t.render({{{"user", "w?", {}}, calls({{"a", "f", R"({"x":1})"}}), tool("ok", "a")}}, {.add_generation_prompt = false}),
            "<s><|start_header_id|>system<|end_header_id|>\n\nCutting Knowledge Date: December 2023\nToday Date: 26 Jul 2024\n\n"
            "<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nw?<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n"
            "{\"name\": \"f\", \"parameters\": {\"x\": 1}}<|eot_id|><|start_header_id|>ipython<|end_header_id|>\n\n\"ok\"<|eot_id|>");
}

TEST(ChatTemplateTools, JinjaToJson) {
  EXPECT_EQ(jinja_tojson_indent(R"({"a":[1,{}],"b":{"c":"d"},"e":[]})", 4),
            "{\n    \"a\": [\n        1,\n        {}\n    ],\n    \"b\": {\n        \"c\": \"d\"\n    },\n    \"e\": []\n}");
  EXPECT_EQ(tool_arguments_tojson(R"({"x":1})"), R"({"x": 1})");
  EXPECT_EQ(tool_arguments_tojson("not json"), R"("not json")");
  EXPECT_EQ(jinja_tojson(R"({"b":1,"a":[true,null,"é\n"],"c":{}})"), R"({"b": 1, "a": [true, null, "é\n"], "c": {}})");
}

}  // namespace
}  // namespace whale::tokenizer
