// libFuzzer target for the GGUF -> tokenizer path (`whale serve model.gguf`): any bytes either give
// a tokenizer whose ids stay in its vocabulary and whose decode is valid UTF-8, or throw whale::Error.
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "core/error.h"
#include "formats/gguf.h"
#include "fuzz_support.h"
#include "tokenizer/chat_template.h"
#include "tokenizer/tokenizer.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using whale::tokenizer::Tokenizer;
  constexpr std::string_view kText = "Hello, 世界! It's 2024:\n  <think>ok</think>😀";
  try {
    const whale::formats::GgufFile f =
        whale::formats::GgufFile::parse(std::as_bytes(std::span(data, size)), nullptr, "fuzz.gguf");
    const Tokenizer tok = Tokenizer::from_gguf(f);
    for (const bool special : {true, false}) {
      const std::vector<int32_t> ids = tok.encode(kText, {.add_special = special, .parse_special = special});
      for (const int32_t id : ids) {
        if (!tok.contains(id) || static_cast<size_t>(id) >= tok.vocab_size()) __builtin_trap();
      }
      if (!whale::fuzz::valid_utf8(tok.decode(ids))) __builtin_trap();
    }
    try {
      const std::vector<whale::tokenizer::ChatMessage> chat = {{.role = "user", .content = "Hi"}};
      (void)tok.chat_template().render(chat);
    } catch (const whale::Error&) {
    }
  } catch (const whale::Error&) {
  }
  return 0;
}
