// The tiny presets' tokenizer: merges of a small byte-level BPE trained by `whale tokenizer train`
// (src/formats/data/tiny_tokenizer.json, embedded at build time) laid out around a preset's ids.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "formats/tokenizer_files.h"

namespace whale::formats {

// How many merges the trained vocabulary has.
size_t tiny_tokenizer_merge_count();

// Whether byte tokens, `specials` and every trained merge fit in ids [0, vocab_size).
bool tiny_tokenizer_fits(const std::vector<SpecialToken>& specials, int64_t vocab_size);

// tokenizer.json: byte tokens and `specials` placed as byte_level_tokenizer_json places them, then
// one token per trained merge at the next free ids (throws kInvalidArgument unless they fit). The
// normalizer, pre-tokenizer and ignore_merges are those of the family llama.cpp names `pre`
// (tokenizer.ggml.pre), so a GGUF conversion tokenizes alike; for a name not in
// tokenizer_families.h the trainer's own pre-tokenizer (Llama-3's regex) is kept.
std::string tiny_tokenizer_json(const std::vector<SpecialToken>& specials, int64_t vocab_size, const std::string& pre);

}  // namespace whale::formats
