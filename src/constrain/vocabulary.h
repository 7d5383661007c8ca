// The vocabulary as the matcher sees it: each token id's bytes, the ids that end generation (EOS)
// and a byte trie over the other tokens in preorder, so a mask walk can skip whole subtrees.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace whale::constrain {

class Vocabulary {
 public:
  // token_bytes[id]: the raw bytes of token id. Ids in `special` (and tokens with no bytes) are
  // never allowed; ids in `eos` are allowed exactly when the grammar is complete.
  Vocabulary(std::vector<std::string> token_bytes, std::vector<int32_t> eos, const std::vector<int32_t>& special);

  size_t size() const { return bytes_.size(); }
  const std::string& bytes(int32_t id) const { return bytes_[static_cast<size_t>(id)]; }
  const std::vector<int32_t>& eos() const { return eos_; }
  bool is_eos(int32_t id) const;
  // Special tokens and tokens with no bytes: never allowed, whatever their bytes.
  bool excluded(int32_t id) const { return excluded_[static_cast<size_t>(id)]; }

  // The trie in preorder: node k has byte byte_[k] at depth depth_[k] (1 = first byte), its
  // subtree is [k, end_[k]), and the tokens that end at it are tok_[tok_begin_[k] .. tok_begin_[k+1]).
  struct Trie {
    std::vector<uint8_t> byte;
    std::vector<uint16_t> depth;
    std::vector<int32_t> end;
    std::vector<int32_t> tok_begin;  // size nodes + 1
    std::vector<int32_t> tok;
    size_t max_depth = 0;
  };
  const Trie& trie() const { return trie_; }

 private:
  std::vector<std::string> bytes_;
  std::vector<int32_t> eos_;
  std::vector<bool> excluded_;
  Trie trie_;
};

}  // namespace whale::constrain
