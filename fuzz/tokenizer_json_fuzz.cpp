// libFuzzer target for tokenizer.json + tokenizer_config.json: any pair of texts either loads into
// a tokenizer whose ids stay in its vocabulary and whose decode is valid UTF-8, or throws whale::Error.
// Input: tokenizer.json, then the separator line below, then tokenizer_config.json (optional).
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "core/error.h"
#include "fuzz_support.h"
#include "tokenizer/chat_template.h"
#include "tokenizer/tokenizer.h"

namespace {

constexpr std::string_view kSeparator = "\n#tokenizer_config.json#\n";
// Latin, CJK, emoji, digits, whitespace runs and special-token text: what pre-tokenizers split.
constexpr std::string_view kText = "Hello, 世界! It's 2024: x=3.14\t\n  <think>ok</think><｜User｜>😀 naïve";

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using whale::tokenizer::Tokenizer;
  const std::string_view in(reinterpret_cast<const char*>(data), size);
  const auto [tokenizer_json, config_json] = whale::fuzz::split_at(in, kSeparator);
  try {
    const Tokenizer tok = Tokenizer::from_json(tokenizer_json, config_json, "fuzz");
    for (const bool special : {true, false}) {
      const std::vector<int32_t> ids = tok.encode(kText, {.add_special = special, .parse_special = special});
      for (const int32_t id : ids) {
        if (!tok.contains(id) || static_cast<size_t>(id) >= tok.vocab_size()) __builtin_trap();
        (void)tok.token_bytes(id);
        (void)tok.token_text(id);
      }
      if (!whale::fuzz::valid_utf8(tok.decode(ids, special))) __builtin_trap();
      (void)tok.decode_bytes(ids);
    }
    (void)tok.added_token_spans(kText);
    if (const auto eos = tok.eos_id(); eos && !tok.contains(*eos)) __builtin_trap();
    try {
      const std::vector<whale::tokenizer::ChatMessage> chat = {{.role = "user", .content = "Hi"},
                                                                {.role = "assistant", .content = "Hello"},
                                                                {.role = "user", .content = "2+2?"}};
      (void)tok.chat_template().render(chat);
    } catch (const whale::Error&) {
      // no chat template, or one whale does not implement
    }
  } catch (const whale::Error&) {
  }
  return 0;
}
