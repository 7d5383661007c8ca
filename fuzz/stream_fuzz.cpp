// libFuzzer target for the streaming text path: arbitrary token ids through the detokenizer
// (StreamDecoder), stop strings (StopMatcher), the <think> split (ReasoningSplitter) and the
// tool-call markup parsers (ToolCallStream, parse_tool_calls), chained as Engine::text_events and
// the server's stream chain them. Every piece must be valid UTF-8, the detokenizer's pieces must
// concatenate to Tokenizer::decode, and no stop string may reach the output.
// Input: flags byte, stop-string count, (length, bytes) per stop string, then uint16 token ids.
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "core/error.h"
#include "engine/reasoning_splitter.h"
#include "engine/stop_matcher.h"
#include "fuzz_support.h"
#include "server/tool_calls.h"
#include "tokenizer/chat_template.h"
#include "tokenizer/stream_decoder.h"

namespace {

void check(bool ok) {
  if (!ok) __builtin_trap();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using whale::engine::ReasoningSplitter;
  using whale::tokenizer::ChatFamily;
  if (size < 2) return 0;
  const uint8_t flags = data[0];
  const whale::tokenizer::Tokenizer& tok = (flags & 64) ? whale::fuzz::tiny_qwen25() : whale::fuzz::tiny_deepseek();
  const bool skip_special = flags & 1;
  const ChatFamily family = static_cast<ChatFamily>((flags >> 3) % 6);
  size_t at = 2;
  std::vector<std::string> stops;
  for (int i = 0; i < data[1] % 4 && at < size; ++i) {
    const size_t len = data[at++] % 16;
    const size_t n = std::min(len, size - at);
    std::string s(reinterpret_cast<const char*>(data + at), n);
    at += n;
    // Stop strings come from JSON requests, so they are valid UTF-8 (and non-empty: the parser drops "").
    if (!s.empty() && whale::fuzz::valid_utf8(s)) stops.push_back(std::move(s));
  }
  std::vector<int32_t> ids;
  for (; at + 1 < size; at += 2) {
    const auto id = static_cast<int32_t>((data[at] | (data[at + 1] << 8)) % tok.vocab_size());
    if (tok.contains(id)) ids.push_back(id);  // what a model can sample
  }
  try {
    whale::tokenizer::StreamDecoder detok(tok, skip_special);
    whale::engine::StopMatcher stop(stops);
    ReasoningSplitter splitter({.enabled = (flags & 2) != 0, .starts_in_reasoning = (flags & 4) != 0});
    whale::server::ToolCallStream calls(family);
    std::string decoded, shown, answer;
    bool stopped = false;
    auto pass = [&](const std::string& text, bool flush) {
      check(whale::fuzz::valid_utf8(text));
      std::string safe = stop.feed(text, stopped);
      if (flush && !stopped) safe += stop.finish();
      shown += safe;
      ReasoningSplitter::Piece piece = splitter.feed(safe);
      if (flush || stopped) {
        ReasoningSplitter::Piece rest = splitter.finish();
        piece.reasoning += rest.reasoning;
        piece.answer += rest.answer;
      }
      check(whale::fuzz::valid_utf8(piece.reasoning) && whale::fuzz::valid_utf8(piece.answer));
      answer += piece.answer;
      for (const nlohmann::json& delta : calls.feed(piece.answer)) (void)delta.dump();
    };
    for (size_t i = 0; i < ids.size() && !stopped; ++i) {
      const std::string piece = detok.push(ids[i]);
      decoded += piece;
      pass(piece, false);
    }
    if (!stopped) {
      const std::string tail = detok.flush();
      decoded += tail;
      pass(tail, true);
      check(decoded == tok.decode(ids, skip_special));
    }
    for (const nlohmann::json& delta : calls.finish()) (void)delta.dump();
    for (const std::string& s : stops) check(shown.find(s) == std::string::npos);
    const whale::server::ParsedOutput parsed = whale::server::parse_tool_calls(family, answer);
    check(whale::fuzz::valid_utf8(parsed.content));
    (void)whale::server::tool_calls_json(parsed.calls).dump();
  } catch (const whale::Error&) {
    // Every id is in the vocabulary, so nothing here may fail.
    __builtin_trap();
  }
  return 0;
}
