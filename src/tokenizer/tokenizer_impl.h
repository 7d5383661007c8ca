// The inside of Tokenizer, shared by the JSON and GGUF loaders and by encode/decode. Not for use
// outside src/tokenizer.
#pragma once

#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "tokenizer/bpe.h"
#include "tokenizer/chat_template.h"
#include "tokenizer/normalizer.h"
#include "tokenizer/pre_tokenizer.h"
#include "tokenizer/tokenizer.h"

namespace whale::tokenizer {

// Finds added tokens in text: longest match at the leftmost position, as transformers.js's
// DictionarySplitter does, over a byte trie.
class AddedTokenMatcher {
 public:
  void build(const std::vector<AddedToken>& tokens);
  // Index into the tokens of the longest token starting at text[pos] that `allowed` accepts, or -1.
  template <class Allowed>
  int match(std::string_view text, size_t pos, const Allowed& allowed) const {
    int node = 0, best = -1;
    for (size_t i = pos; i < text.size(); ++i) {
      node = child(node, static_cast<unsigned char>(text[i]));
      if (node < 0) break;
      if (nodes_[node].token >= 0 && allowed(nodes_[node].token)) best = nodes_[node].token;
    }
    return best;
  }
  bool may_start(unsigned char b) const { return first_[b]; }

 private:
  struct Node {
    std::vector<std::pair<unsigned char, int>> children;
    int token = -1;
  };
  int child(int node, unsigned char b) const {
    for (const auto& [c, n] : nodes_[node].children) {
      if (c == b) return n;
    }
    return -1;
  }
  std::vector<Node> nodes_{1};
  bool first_[256] = {};
};

struct Tokenizer::Impl {
  std::string context;
  std::unique_ptr<Normalizer> normalizer;
  std::unique_ptr<PreTokenizer> pre_tokenizer;
  std::unique_ptr<BpeModel> model;
  std::vector<AddedToken> added;
  AddedTokenMatcher matcher;
  // What the post-processor puts around a single sequence when add_special is on.
  std::vector<int32_t> prefix_ids, suffix_ids;
  std::vector<std::string> id_text, id_bytes;
  std::vector<uint8_t> id_special, id_present;
  std::unordered_map<std::string, int32_t> text_to_id;
  std::optional<int32_t> bos, eos;
  std::string bos_token, eos_token;
  std::unique_ptr<ChatTemplate> chat;
  std::string chat_error;  // why chat is null

  void encode_text(std::string_view text, std::vector<int32_t>& out) const;
  // Fills the id tables from the model vocabulary and the added tokens.
  void index_tokens(const std::unordered_map<std::string, int32_t>& text_vocab);
};

// GPT-2's byte <-> unicode alphabet as UTF-8 strings, and its inverse (code point -> byte).
const std::vector<std::string>& byte_to_text();
// Raw bytes of a byte-level token text; false if a character is outside the alphabet.
bool text_to_bytes(std::string_view text, std::string* bytes);
std::string bytes_to_text(std::string_view bytes);

}  // namespace whale::tokenizer
