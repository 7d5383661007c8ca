// Writes the tokenizer files a Hugging Face checkpoint carries (tokenizer.json,
// tokenizer_config.json) for a plain byte-level BPE vocabulary with DeepSeek's special tokens:
// a valid placeholder for random-weight checkpoints until a trained or reference tokenizer is used.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace whale::formats {

struct SpecialToken {
  std::string content;
  int64_t id;
};

// DeepSeek-R1's special tokens with ids for a vocabulary whose BOS/EOS ids are given; the rest
// take the lowest free ids from 256 on.
std::vector<SpecialToken> deepseek_special_tokens(int64_t bos_id, int64_t eos_id);

// tokenizer.json: 256 byte tokens (GPT-2 byte-to-unicode alphabet) at the lowest ids not taken by
// `specials`, no merges, ByteLevel pre-tokenizer and decoder.
std::string byte_level_tokenizer_json(const std::vector<SpecialToken>& specials);
// tokenizer_config.json with bos/eos and a DeepSeek-style chat template.
std::string deepseek_tokenizer_config_json(const std::vector<SpecialToken>& specials, int64_t bos_id,
                                           int64_t eos_id, int64_t model_max_length);
// generation_config.json with R1's sampling advice (temperature 0.6, top-p 0.95).
std::string generation_config_json(int64_t bos_id, const std::vector<int64_t>& eos_ids);

// GPT-2's reversible byte -> printable unicode code point mapping used by ByteLevel BPE.
std::u32string byte_level_alphabet();

}  // namespace whale::formats
