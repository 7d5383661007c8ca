// libFuzzer target for the structured-output compiler (src/constrain): GBNF text or a JSON schema
// either compiles into a matcher whose token mask agrees with what it accepts, byte by byte, and
// whose JSON-schema sentences parse as JSON, or throws whale::Error.
// Input: a mode byte (bit 0: JSON schema, else GBNF), the grammar or schema, a NUL byte, then bytes
// fed to the matcher one at a time (a model writing its answer).
#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "constrain/grammar.h"
#include "constrain/json_schema.h"
#include "constrain/matcher.h"
#include "core/error.h"
#include "fuzz_support.h"
#include "server/structured_output.h"

namespace {

void check(bool ok) {
  if (!ok) __builtin_trap();
}

struct Vocab {
  std::shared_ptr<const whale::constrain::Vocabulary> vocab;
  std::array<int32_t, 256> byte_token{};  // the id of each one-byte token
  int32_t eos = -1;
};

// The tiny tokenizer's vocabulary as the server builds it (byte tokens, merges, special tokens).
Vocab make_vocab() {
  const whale::tokenizer::Tokenizer& tok = whale::fuzz::tiny_deepseek();
  Vocab v;
  v.vocab = whale::server::constraint_vocabulary(tok);
  v.byte_token.fill(-1);
  for (int32_t id = 0; id < static_cast<int32_t>(tok.vocab_size()); ++id) {
    if (tok.contains(id) && !tok.is_special(id) && tok.token_bytes(id).size() == 1) {
      v.byte_token[static_cast<uint8_t>(tok.token_bytes(id)[0])] = id;
    }
  }
  for (const int32_t t : v.byte_token) check(t >= 0);
  v.eos = *tok.eos_id();
  return v;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const Vocab v = make_vocab();
  if (size < 1) return 0;
  const bool schema = data[0] & 1;
  const auto [text, sample] = whale::fuzz::split_at(std::string_view(reinterpret_cast<const char*>(data + 1), size - 1),
                                                    std::string_view("\0", 1));
  try {
    const std::string gbnf = schema ? whale::constrain::json_schema_to_gbnf(text) : std::string(text);
    auto grammar = std::make_shared<const whale::constrain::Grammar>(whale::constrain::parse_gbnf(gbnf));
    // A work bound per call of 2^16 stack operations (the server's: 2^20 + 64 x trie nodes): the same
    // give-up path, reached in milliseconds, so ambiguous grammars do not slow the campaign to a crawl.
    whale::constrain::Matcher m(grammar, v.vocab, int64_t{1} << 16);
    std::string accepted;
    for (const char c : sample) {
      // And 2^18 over the whole input: an ambiguous grammar near the bound costs ~2^16 a byte (its
      // stacks are new at every byte), so without this cap a hundred bytes took seconds under ASan
      // and such inputs, a few percent of the corpus, took most of the campaign's time.
      if (m.total_work() > (int64_t{1} << 18)) break;
      const bool allowed = whale::constrain::Matcher::allowed(m.mask(), v.byte_token[static_cast<uint8_t>(c)]);
      const bool ok = m.accept_bytes(std::string_view(&c, 1));
      check(allowed == ok);
      if (!ok) break;
      accepted += c;
    }
    check(whale::constrain::Matcher::allowed(m.mask(), v.eos) == m.complete());
    if (schema && m.complete()) check(nlohmann::json::accept(accepted));
  } catch (const whale::Error&) {
  }
  return 0;
}
