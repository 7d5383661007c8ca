// Trains a byte-level BPE vocabulary on text (for small models trained from scratch) and writes it
// as tokenizer.json + tokenizer_config.json with DeepSeek's special tokens and chat template.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace whale::tokenizer {

// Llama-3's pre-tokenizer regex (GPT-4 style, digits in groups of up to three).
extern const char* const kTrainPattern;
// kTrainPattern with every digit and every Han character its own pre-token: merges never join
// digits (arithmetic reads numbers digit by digit) and each common Chinese character becomes one
// token before any merge spans characters (`whale tokenizer train --pre digits-han`).
extern const char* const kDigitHanPattern;

struct BpeTrainOptions {
  size_t vocab_size = 4096;  // including the 256 byte tokens and the special tokens
  std::string pattern = kTrainPattern;
  int64_t min_frequency = 2;  // stop early when no pair occurs this often
};

struct TrainedBpe {
  // Merges in rank order over "symbols": 0..255 are bytes, 256 + k is the result of merge k.
  std::vector<std::pair<int32_t, int32_t>> merges;
};

TrainedBpe train_bpe(const std::vector<std::string>& texts, const BpeTrainOptions& options);

// tokenizer.json text: DeepSeek special tokens (BOS 0, EOS 1), byte tokens, then one token per merge.
std::string trained_tokenizer_json(const TrainedBpe& bpe, const std::string& pattern);
// Trains on the files and writes DIR/tokenizer.json and DIR/tokenizer_config.json.
void train_tokenizer_files(const std::vector<std::string>& files, const BpeTrainOptions& options,
                           const std::string& out_dir);
// How many tokens the written vocabulary has besides merges (special + byte tokens).
size_t trained_base_vocab();

}  // namespace whale::tokenizer
