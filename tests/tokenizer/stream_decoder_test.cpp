// Streaming decode: every piece is valid UTF-8, pieces concatenate to decode(), characters split
// across tokens come out whole; plus the UTF-8 repair rule itself against known answers.
#include <gtest/gtest.h>

#include <algorithm>

#include <random>

#include "core/error.h"
#include "formats/tokenizer_files.h"
#include "oracle.h"
#include "tokenizer/stream_decoder.h"
#include "tokenizer/utf8.h"

namespace whale::tokenizer {
namespace {

using namespace testing;

// The placeholder byte-level tokenizer `whale init` writes: one token per byte.
Tokenizer byte_tokenizer() {
  const auto specials = formats::deepseek_special_tokens(0, 1);
  return Tokenizer::from_json(formats::byte_level_tokenizer_json(specials),
                              formats::deepseek_tokenizer_config_json(specials, 0, 1, 4096), "placeholder");
}

std::string repair(std::string_view s) {
  std::string out;
  utf8_repair(s, true, out);
  return out;
}

TEST(Utf8, RepairReplacesMaximalSubparts) {
  // Unicode's example (Table 3-8): 61 F1 80 80 E1 80 C2 62 80 63 80 BF 64 -> a FFFD FFFD FFFD b FFFD c FFFD FFFD d
  EXPECT_EQ(repair("\x61\xF1\x80\x80\xE1\x80\xC2\x62\x80\x63\x80\xBF\x64"),
            "a\uFFFD\uFFFD\uFFFDb\uFFFDc\uFFFD\uFFFDd");
  EXPECT_EQ(repair("\xED\xA0\x80"), "\uFFFD\uFFFD\uFFFD");  // a surrogate is three bad bytes
  EXPECT_EQ(repair("\xC0\xAF"), "\uFFFD\uFFFD");            // overlong
  EXPECT_EQ(repair("é中😀"), "é中😀");
  std::string held;
  EXPECT_EQ(utf8_repair("ab\xE4\xB8", false, held), 2u);  // 中 arriving: its two bytes wait
  EXPECT_EQ(held, "ab");
}

TEST(StreamDecoder, HoldsSplitCharacterUntilComplete) {
  const Tokenizer tok = byte_tokenizer();
  const std::vector<int32_t> ids = tok.encode("é😀", {.add_special = false});
  ASSERT_EQ(ids.size(), 6u);  // no merges: one token per byte
  StreamDecoder d(tok);
  EXPECT_EQ(d.push(ids[0]), "");
  EXPECT_EQ(d.pending(), 1u);
  EXPECT_EQ(d.push(ids[1]), "é");
  EXPECT_EQ(d.push(ids[2]), "");
  EXPECT_EQ(d.push(ids[3]), "");
  EXPECT_EQ(d.push(ids[4]), "");
  EXPECT_EQ(d.push(ids[5]), "😀");
  EXPECT_EQ(d.flush(), "");
  EXPECT_EQ(d.push(ids[2]), "");
  EXPECT_EQ(d.flush(), "\uFFFD");  // generation ended mid-character
}

TEST(StreamDecoder, RandomTokenSequencesMatchDecode) {
  ASSERT_TRUE(npm_installed());
  for (const char* family : {"qwen3", "deepseek_v3"}) {
    const Tokenizer& tok = reference_tokenizer(family);
    std::mt19937 rng(7);
    // Valid ids, and the single-byte ones that make split characters common.
    std::vector<int32_t> valid, single;
    for (int32_t id = 0; id < static_cast<int32_t>(tok.vocab_size()); ++id) {
      try {
        const size_t n = tok.token_bytes(id).size();
        valid.push_back(id);
        if (n == 1) single.push_back(id);
      } catch (const Error&) {
      }
    }
    ASSERT_GE(single.size(), 256u);
    for (int seq = 0; seq < 300; ++seq) {
      std::vector<int32_t> ids;
      for (int k = 0; k < 40; ++k) {
        const auto& from = rng() % 2 ? single : valid;
        ids.push_back(from[rng() % from.size()]);
      }
      StreamDecoder d(tok);
      std::string streamed;
      for (int32_t id : ids) {
        const std::string piece = d.push(id);
        ASSERT_EQ(utf8_invalid_offset(piece), piece.size()) << family << ": invalid UTF-8 emitted";
        streamed += piece;
      }
      streamed += d.flush();
      EXPECT_EQ(streamed, tok.decode(ids)) << family << " sequence " << seq;
    }
  }
}

TEST(PlaceholderTokenizer, LoadsAndRoundTrips) {
  const Tokenizer tok = byte_tokenizer();
  const std::string text = "Hello, 世界! <｜User｜>hi";
  const auto ids = tok.encode(text);
  EXPECT_EQ(ids.front(), 0);  // BOS: add_bos_token with LlamaTokenizerFast
  EXPECT_EQ(tok.decode(ids), "<｜begin▁of▁sentence｜>" + text);
  // Like DeepSeek-V3's tokenizer, only BOS/EOS/pad are special: <｜User｜> is one added token that
  // skip_special keeps, and BOS is dropped.
  EXPECT_EQ(tok.decode(ids, /*skip_special=*/true), text);
  EXPECT_EQ(std::count(ids.begin(), ids.end(), *tok.token_id("<｜User｜>")), 1);
  EXPECT_EQ(tok.encode("ab", {.add_special = false}).size(), 2u);
  EXPECT_EQ(tok.chat_template().family(), ChatFamily::kDeepSeekR1);
}

}  // namespace
}  // namespace whale::tokenizer
