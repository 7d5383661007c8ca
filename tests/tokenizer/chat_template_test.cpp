// Chat templates: whale's C++ rendering equals @huggingface/jinja's rendering of the real
// chat_template (from each reference package's tokenizer_config.json, R1's from tests/tokenizer/data)
// over conversations with and without a system prompt, multi-turn, earlier reasoning, tool turns,
// with and without a generation prompt, and thinking off.
#include <gtest/gtest.h>

#include "core/error.h"
#include "oracle.h"
#include "template_families.h"
#include "tokenizer/chat_template.h"

namespace whale::tokenizer {
namespace {

using namespace testing;
using nlohmann::json;

using Family = TemplateFamily;

std::vector<Family> families() { return template_families({"deepseek_v3", "qwen3", "llama3"}); }

using Chat = std::vector<ChatMessage>;

std::vector<Chat> conversations() {
  const std::string reasoning = "<think>\nLet me add: 2+2=4.\n</think>\n\nThe answer is 4.";
  return {
      {{"user", "Hello!", {}}},
      {{"system", "You are terse.", {}}, {"user", "2+2?", {}}},
      {{"user", "Hi", {}}, {"assistant", "Hello, how can I help?", {}}, {"user", "Tell me a joke.", {}}},
      {{"system", "Be kind.", {}}, {"user", "2+2?", {}}, {"assistant", reasoning, {}}, {"user", "And 3+3?", {}}},
      {{"user", "2+2?", {}}, {"assistant", reasoning, {}}},
      {{"system", "A", {}}, {"system", "B", {}}, {"user", "x", {}}},
      {{"user", "q1", {}}, {"assistant", "a1", {"hidden thoughts"}}, {"user", "q2", {}}, {"assistant", "a2", {"more"}}},
      {{"user", "weather?", {}}, {"assistant", "", {}}, {"tool", "{\"t\": 21}", {}}, {"tool", "sunny", {}},
       {"assistant", "21 and sunny", {}}},
      {{"user", "  padded \n\t", {}}, {"assistant", "\n answer with spaces  ", {}}},
      {{"user", "中文 テキスト 한국어 😀 <|im_end|>", {}}, {"assistant", "<think>\n思考\n</think>\n\n回答", {}}},
  };
}

TEST(ChatTemplate, MatchesJinjaRenderingOfRealTemplates) {
  ASSERT_TRUE(npm_installed());
  json cases = json::array();
  struct Ours {
    std::string family;
    size_t conversation;
    ChatOptions options;
    std::string text;
  };
  std::vector<Ours> ours;
  for (const Family& f : families()) {
    const ChatTemplate t = ChatTemplate::from_jinja(f.source, f.bos, f.eos, f.name);
    const auto chats = conversations();
    for (size_t c = 0; c < chats.size(); ++c) {
      for (int variant = 0; variant < 3; ++variant) {
        const ChatOptions opt{.add_generation_prompt = variant != 0, .enable_thinking = variant != 2};
        if (variant == 2 && t.family() != ChatFamily::kQwen3) continue;  // others: not in their template
        json messages = json::array();
        for (const ChatMessage& m : chats[c]) {
          json jm = {{"role", m.role}, {"content", m.content}};
          if (m.reasoning_content) jm["reasoning_content"] = *m.reasoning_content;
          messages.push_back(jm);
        }
        json context = {{"messages", messages}, {"add_generation_prompt", opt.add_generation_prompt},
                        {"bos_token", f.bos}, {"eos_token", f.eos}};
        if (!opt.enable_thinking) context["enable_thinking"] = false;
        cases.push_back({{"template", f.source}, {"context", context}});
        ours.push_back({f.name, c, opt, t.render(chats[c], opt)});
      }
    }
  }
  const std::string in = scratch_dir() + "/render_cases.json", out = scratch_dir() + "/render_out.json";
  write_bytes(in, cases.dump());
  ASSERT_TRUE(run_reference("render '" + in + "' '" + out + "'"));
  const json want = read_json(out);
  ASSERT_EQ(want.size(), ours.size());
  for (size_t i = 0; i < ours.size(); ++i) {
    EXPECT_EQ(ours[i].text, want[i].get<std::string>())
        << ours[i].family << " conversation " << ours[i].conversation
        << " generation_prompt=" << ours[i].options.add_generation_prompt
        << " thinking=" << ours[i].options.enable_thinking;
  }
  std::printf("[ templates ] %zu renderings compared\n", ours.size());
}

TEST(ChatTemplate, RecognizesFamilies) {
  ASSERT_TRUE(npm_installed());
  std::map<std::string, ChatFamily> want = {{"deepseek_v3", ChatFamily::kDeepSeekV3},
                                            {"qwen3", ChatFamily::kQwen3},
                                            {"llama3", ChatFamily::kLlama3},
                                            {"deepseek_r1", ChatFamily::kDeepSeekR1},
                                            {"deepseek_r1_distill_llama", ChatFamily::kDeepSeekR1},
                                            {"whale_placeholder", ChatFamily::kDeepSeekR1},
                                            {"qwen2_5_instruct", ChatFamily::kQwen25},
                                            {"llama3_1_instruct", ChatFamily::kLlama31},
                                            {"llama3_2_instruct", ChatFamily::kLlama31}};
  for (const Family& f : families()) {
    EXPECT_EQ(ChatTemplate::from_jinja(f.source, f.bos, f.eos, f.name).family(), want.at(f.name)) << f.name;
  }
  EXPECT_EQ(reference_tokenizer("qwen3").chat_template().family(), ChatFamily::kQwen3);
}

TEST(ChatTemplate, UnknownTemplateNamesKnownFamilies) {
  try {
    ChatTemplate::from_jinja("{% for m in messages %}{{ m.content }}{% endfor %}", "", "", "cfg.json");
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kUnsupported);
    EXPECT_NE(std::string(e.what()).find("DeepSeek-R1"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("cfg.json"), std::string::npos) << e.what();
  }
}

TEST(ChatTemplate, R1ThinkingOffClosesTheForcedThinkBlock) {
  const ChatTemplate t(ChatFamily::kDeepSeekR1, "<s>", "</s>");
  const Chat chat = {{"user", "hi", {}}};
  EXPECT_EQ(t.render(chat), "<s><｜User｜>hi<｜Assistant｜><think>\n");
  EXPECT_EQ(t.render(chat, {.enable_thinking = false}), "<s><｜User｜>hi<｜Assistant｜><think>\n\n</think>\n\n");
}

TEST(ChatTemplate, ParsesMessagesJson) {
  const auto m = parse_chat_messages(R"({"messages":[{"role":"user","content":"hi"}]})", "x.json");
  ASSERT_EQ(m.size(), 1u);
  EXPECT_EQ(m[0].content, "hi");
  EXPECT_THROW(parse_chat_messages(R"([{"role":"robot","content":"hi"}])", "x.json"), Error);
  EXPECT_THROW(parse_chat_messages(R"([{"role":"user"}])", "x.json"), Error);
}

}  // namespace
}  // namespace whale::tokenizer
