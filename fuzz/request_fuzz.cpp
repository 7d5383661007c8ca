// libFuzzer target for the server's request bodies: POST /v1/chat/completions, /v1/completions and
// /apply-template, with tools, tool_choice, response_format, grammar and json_schema compiled by
// src/constrain. Any body is a request whose prompt ids lie in the vocabulary and whose grammar (if
// any) gives a usable matcher, or an error the server answers with a 4xx; nothing else (another
// exception is a 500 there).
// Input: one byte (endpoint, model), then the body.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "constrain/matcher.h"
#include "core/error.h"
#include "fuzz_support.h"
#include "server/api_error.h"
#include "server/openai_request.h"

namespace {

using whale::server::ServedModel;

ServedModel served(const whale::tokenizer::Tokenizer& tok, const char* id) {
  ServedModel m;
  m.id = id;
  m.tokenizer = &tok;
  m.max_context = 4096;
  m.vocab_size = static_cast<int64_t>(tok.vocab_size());
  m.created = 1700000000;
  return m;
}

void check_request(const whale::server::GenerationRequest& g, const ServedModel& m) {
  for (const int32_t id : g.request.prompt) {
    if (id < 0 || id >= m.vocab_size) __builtin_trap();
  }
  if (g.n < 1 || g.n > whale::server::kMaxChoices) __builtin_trap();
  if (const auto& c = g.request.constraint) {
    // The engine's first steps: a mask, then tokens the mask allows.
    for (int step = 0; step < 4 && !c->ended(); ++step) {
      const std::vector<uint64_t>& mask = c->mask();
      int32_t pick = -1;
      for (int32_t id = 0; id < static_cast<int32_t>(m.vocab_size) && pick < 0; ++id) {
        if (whale::constrain::Matcher::allowed(mask, id)) pick = id;
      }
      if (pick < 0) break;
      if (!c->accept_token(pick)) __builtin_trap();  // the mask allowed it
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const ServedModel deepseek = served(whale::fuzz::tiny_deepseek(), "tiny");
  static const ServedModel qwen = served(whale::fuzz::tiny_qwen25(), "tiny-qwen");
  if (size < 1) return 0;
  const ServedModel& m = (data[0] & 4) ? qwen : deepseek;
  const std::string_view body(reinterpret_cast<const char*>(data + 1), size - 1);
  try {
    switch (data[0] & 3) {
      case 0:
      case 3:
        check_request(whale::server::parse_chat_request(body, m), m);
        break;
      case 1:
        check_request(whale::server::parse_completion_request(body, m), m);
        break;
      case 2: {
        const whale::server::RenderedChat r = whale::server::render_chat_template(body, m);
        if (!whale::fuzz::valid_utf8(r.prompt)) __builtin_trap();
        break;
      }
    }
  } catch (const whale::server::ApiError& e) {
    if (e.status() < 400 || e.status() >= 500) __builtin_trap();  // a client's body is never a 5xx
  } catch (const whale::Error& e) {
    if (whale::server::to_api_error(e).status() >= 500) __builtin_trap();  // as the server maps it
  }
  return 0;
}
