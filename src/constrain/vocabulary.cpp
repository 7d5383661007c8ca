// Trie construction: token ids sorted by their bytes, then one pass that keeps the current path
// open and closes nodes (their subtree end) as the next token's common prefix shrinks.
#include "constrain/vocabulary.h"

#include <algorithm>
#include <numeric>

namespace whale::constrain {

Vocabulary::Vocabulary(std::vector<std::string> token_bytes, std::vector<int32_t> eos, const std::vector<int32_t>& special)
    : bytes_(std::move(token_bytes)), eos_(std::move(eos)) {
  std::vector<bool> skip(bytes_.size(), false);
  for (int32_t id : special) {
    if (id >= 0 && static_cast<size_t>(id) < skip.size()) skip[static_cast<size_t>(id)] = true;
  }
  for (int32_t id : eos_) {
    if (id >= 0 && static_cast<size_t>(id) < skip.size()) skip[static_cast<size_t>(id)] = true;
  }
  std::vector<int32_t> ids;
  for (size_t i = 0; i < bytes_.size(); ++i) {
    if (!skip[i] && !bytes_[i].empty()) ids.push_back(static_cast<int32_t>(i));
  }
  excluded_ = skip;
  for (size_t i = 0; i < bytes_.size(); ++i) {
    if (bytes_[i].empty()) excluded_[i] = true;
  }
  std::sort(ids.begin(), ids.end(), [&](int32_t a, int32_t b) { return bytes_[static_cast<size_t>(a)] < bytes_[static_cast<size_t>(b)]; });
  Trie& t = trie_;
  std::vector<int32_t> path;  // node index per depth - 1
  std::vector<std::vector<int32_t>> toks;
  const std::string* prev = nullptr;
  for (int32_t id : ids) {
    const std::string& s = bytes_[static_cast<size_t>(id)];
    size_t common = 0;
    if (prev) {
      while (common < prev->size() && common < s.size() && (*prev)[common] == s[common]) ++common;
    }
    while (path.size() > common) {
      t.end[static_cast<size_t>(path.back())] = static_cast<int32_t>(t.byte.size());
      path.pop_back();
    }
    for (size_t d = common; d < s.size(); ++d) {
      path.push_back(static_cast<int32_t>(t.byte.size()));
      t.byte.push_back(static_cast<uint8_t>(s[d]));
      t.depth.push_back(static_cast<uint16_t>(d + 1));
      t.end.push_back(0);
      toks.emplace_back();
    }
    toks[static_cast<size_t>(path.back())].push_back(id);
    t.max_depth = std::max(t.max_depth, s.size());
    prev = &s;
  }
  while (!path.empty()) {
    t.end[static_cast<size_t>(path.back())] = static_cast<int32_t>(t.byte.size());
    path.pop_back();
  }
  t.tok_begin.push_back(0);
  for (const auto& v : toks) {
    t.tok.insert(t.tok.end(), v.begin(), v.end());
    t.tok_begin.push_back(static_cast<int32_t>(t.tok.size()));
  }
}

bool Vocabulary::is_eos(int32_t id) const { return std::find(eos_.begin(), eos_.end(), id) != eos_.end(); }

}  // namespace whale::constrain
