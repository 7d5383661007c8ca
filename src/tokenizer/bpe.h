// The byte-level BPE model: token ids for a piece of raw bytes by applying merges in rank order
// (lowest rank first, leftmost on ties: what the Hugging Face implementations do). Works on raw
// bytes; the GPT-2 byte-to-unicode alphabet is undone when the vocabulary is loaded.
#pragma once

#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

namespace whale::tokenizer {

class BpeModel {
 public:
  // `vocab`: raw token bytes -> id. `merges` in rank order, as raw bytes. Every merge's parts and
  // result must be in the vocabulary (as the tokenizers crate requires); `context` names the file.
  BpeModel(std::unordered_map<std::string, int32_t> vocab,
           const std::vector<std::pair<std::string, std::string>>& merges, bool ignore_merges,
           const std::string& context);
  BpeModel(BpeModel&&) = delete;

  // Appends the ids for `piece` (one pre-token) to `out`. Throws if a byte has no token.
  void encode(std::string_view piece, std::vector<int32_t>& out) const;

  const std::unordered_map<std::string, int32_t>& vocab() const { return vocab_; }
  size_t merge_count() const { return merges_.size(); }

 private:
  struct Merge {
    int32_t rank;
    int32_t merged;
  };
  static uint64_t key(int32_t a, int32_t b) {
    return (static_cast<uint64_t>(static_cast<uint32_t>(a)) << 32) | static_cast<uint32_t>(b);
  }
  const Merge* find(int32_t a, int32_t b) const {
    const auto it = merges_.find(key(a, b));
    return it == merges_.end() ? nullptr : &it->second;
  }
  void merge_short(std::vector<int32_t>& syms) const;
  void merge_long(std::vector<int32_t>& syms) const;

  std::unordered_map<std::string, int32_t> vocab_;
  std::unordered_map<uint64_t, Merge> merges_;
  int32_t byte_ids_[256];
  bool ignore_merges_;

  // Pre-tokens repeat (words, spaces); caching their ids is most of encode's speed.
  mutable std::mutex cache_mu_;
  mutable std::unordered_map<std::string, std::vector<int32_t>> cache_;
};

}  // namespace whale::tokenizer
