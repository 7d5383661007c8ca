// `tokenizer train` output: whale and the npm reference loader (@lenml/tokenizers given the same
// tokenizer.json) read it and give identical ids; merges behave as BPE should on a known corpus.
#include <gtest/gtest.h>

#include <algorithm>

#include "oracle.h"
#include "tokenizer/bpe_trainer.h"
#include "tokenizer/tokenizer.h"

namespace whale::tokenizer {
namespace {

using namespace testing;

TEST(BpeTrainer, LearnsMostFrequentPairsFirst) {
  // Pre-tokens: "abc", " abc" x3, " ab" x2. (a,b) occurs 6 times and merges first; then
  // (' ', ab) occurs 5 times and beats (ab, c) with 4.
  const TrainedBpe bpe = train_bpe({"abc abc abc abc ab ab"}, {.vocab_size = trained_base_vocab() + 2});
  ASSERT_EQ(bpe.merges.size(), 2u);
  EXPECT_EQ(bpe.merges[0], std::make_pair(int32_t{'a'}, int32_t{'b'}));
  EXPECT_EQ(bpe.merges[1], std::make_pair(int32_t{' '}, int32_t{256}));
}

TEST(BpeTrainer, DigitHanPatternKeepsDigitsAndHanCharactersApart) {
  const std::string text = "37加48等于多少？ 4821+4821=9642 加加 等于 多少 计算 4821";
  const TrainedBpe bpe = train_bpe({text, text, text}, {.vocab_size = trained_base_vocab() + 40, .pattern = kDigitHanPattern});
  std::vector<std::string> symbol(256);
  for (int b = 0; b < 256; ++b) symbol[b] = std::string(1, static_cast<char>(b));
  for (const auto& [l, r] : bpe.merges) symbol.push_back(symbol[l] + symbol[r]);
  ASSERT_GT(symbol.size(), 256u + 10);
  auto is_digit = [](char c) { return c >= '0' && c <= '9'; };
  for (size_t k = 256; k < symbol.size(); ++k) {
    const std::string& m = symbol[k];
    EXPECT_LE(std::count_if(m.begin(), m.end(), is_digit), 1) << m;  // digits never merge together
    // A merge holds at most one Han character (3 bytes, lead 0xE4..0xE9) and nothing around it.
    const bool han = std::any_of(m.begin(), m.end(), [](char c) { auto u = static_cast<unsigned char>(c); return u >= 0xE4 && u <= 0xE9; });
    if (han) EXPECT_LE(m.size(), 3u) << m;
  }
  for (const char* ch : {"加", "等", "于", "多", "少"}) EXPECT_NE(std::find(symbol.begin(), symbol.end(), ch), symbol.end()) << ch;
}

TEST(BpeTrainer, WrittenTokenizerAgreesWithReferenceLoader) {
  ASSERT_TRUE(npm_installed());
  const auto& strings = corpus();
  ASSERT_GE(strings.size(), 5000u);
  // Train on the first half, test on everything.
  std::string train_text;
  for (size_t i = 0; i < strings.size() / 2; ++i) train_text += strings[i] + "\n";
  const std::string train_file = scratch_dir() + "/train.txt", dir = scratch_dir() + "/trained";
  write_bytes(train_file, train_text);
  train_tokenizer_files({train_file}, {.vocab_size = 3000}, dir);
  const Tokenizer tok = Tokenizer::from_dir(dir);
  EXPECT_EQ(tok.vocab_size(), 3000u);
  EXPECT_EQ(tok.token_id("<｜User｜>").has_value(), true);
  EXPECT_EQ(tok.chat_template().family(), ChatFamily::kDeepSeekR1);

  const std::string out = scratch_dir() + "/ids_trained.json";
  ASSERT_TRUE(run_reference("encode '" + dir + "' '" + scratch_dir() + "/corpus.json' '" + out + "'"));
  const auto expected = read_json(out);
  size_t same = 0;
  for (size_t i = 0; i < strings.size(); ++i) {
    const auto got = tok.encode(strings[i], {.add_special = false});
    if (got == expected["ids"][i].get<std::vector<int32_t>>()) {
      ++same;
    } else if (i - same < 5) {
      ADD_FAILURE() << "corpus[" << i << "] " << escaped(strings[i]);
    }
    EXPECT_EQ(tok.decode(got), strings[i]);
  }
  EXPECT_EQ(same, strings.size());
  // Trained merges compress: fewer tokens than bytes on the training text.
  EXPECT_LT(tok.encode(train_text, {.add_special = false}).size(), train_text.size() / 2);
}

}  // namespace
}  // namespace whale::tokenizer
