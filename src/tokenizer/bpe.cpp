// Two merge loops with identical results: a rank scan over a small array for ordinary words,
// and a heap over a linked list for long ones (a 100 kB run of one character must not be O(n^2)).
#include "tokenizer/bpe.h"

#include <algorithm>
#include <climits>
#include <queue>

#include "core/error.h"

namespace whale::tokenizer {
namespace {

constexpr size_t kShortWord = 64;
constexpr size_t kMaxCachedPiece = 256;
constexpr size_t kMaxCacheEntries = 1 << 16;

}  // namespace

BpeModel::BpeModel(std::unordered_map<std::string, int32_t> vocab,
                   const std::vector<std::pair<std::string, std::string>>& merges, bool ignore_merges,
                   const std::string& context)
    : vocab_(std::move(vocab)), ignore_merges_(ignore_merges) {
  for (int b = 0; b < 256; ++b) {
    const auto it = vocab_.find(std::string(1, static_cast<char>(b)));
    byte_ids_[b] = it == vocab_.end() ? -1 : it->second;
  }
  merges_.reserve(merges.size());
  for (size_t r = 0; r < merges.size(); ++r) {
    const auto& [a, b] = merges[r];
    const auto ia = vocab_.find(a), ib = vocab_.find(b), im = vocab_.find(a + b);
    if (ia == vocab_.end() || ib == vocab_.end() || im == vocab_.end()) {
      fail(ErrorKind::kFormat, context, ": model.merges[", r, "] uses a token missing from model.vocab");
    }
    // A repeated pair takes its last rank: the reference fills its rank map in order.
    merges_[key(ia->second, ib->second)] = {static_cast<int32_t>(r), im->second};
  }
}

void BpeModel::merge_short(std::vector<int32_t>& syms) const {
  int32_t ranks[kShortWord];
  int32_t merged[kShortWord];
  size_t n = syms.size();
  auto look = [&](size_t i) {
    const Merge* m = find(syms[i], syms[i + 1]);
    ranks[i] = m ? m->rank : INT32_MAX;
    merged[i] = m ? m->merged : -1;
  };
  for (size_t i = 0; i + 1 < n; ++i) look(i);
  while (n > 1) {
    size_t best = 0;
    for (size_t i = 1; i + 1 < n; ++i) {
      if (ranks[i] < ranks[best]) best = i;
    }
    if (ranks[best] == INT32_MAX) break;
    syms[best] = merged[best];
    for (size_t i = best + 1; i + 1 < n; ++i) {
      syms[i] = syms[i + 1];
      ranks[i] = ranks[i + 1];
      merged[i] = merged[i + 1];
    }
    --n;
    if (best + 1 < n) look(best);
    if (best > 0) look(best - 1);
  }
  syms.resize(n);
}

void BpeModel::merge_long(std::vector<int32_t>& syms) const {
  const size_t n = syms.size();
  std::vector<int32_t> prev(n), next(n);
  std::vector<bool> alive(n, true);
  for (size_t i = 0; i < n; ++i) {
    prev[i] = static_cast<int32_t>(i) - 1;
    next[i] = i + 1 < n ? static_cast<int32_t>(i + 1) : -1;
  }
  struct Cand {
    int32_t rank, pos, left, right;
    bool operator>(const Cand& o) const { return rank != o.rank ? rank > o.rank : pos > o.pos; }
  };
  std::priority_queue<Cand, std::vector<Cand>, std::greater<Cand>> heap;
  auto push = [&](int32_t i) {
    if (i < 0 || next[i] < 0) return;
    if (const Merge* m = find(syms[i], syms[next[i]])) heap.push({m->rank, i, syms[i], syms[next[i]]});
  };
  for (size_t i = 0; i + 1 < n; ++i) push(static_cast<int32_t>(i));
  while (!heap.empty()) {
    const Cand c = heap.top();
    heap.pop();
    // Stale entries no longer describe two adjacent live symbols; skip them.
    if (!alive[c.pos] || syms[c.pos] != c.left || next[c.pos] < 0 || syms[next[c.pos]] != c.right) continue;
    const int32_t r = next[c.pos];
    syms[c.pos] = find(c.left, c.right)->merged;
    alive[r] = false;
    next[c.pos] = next[r];
    if (next[r] >= 0) prev[next[r]] = c.pos;
    push(prev[c.pos]);
    push(c.pos);
  }
  size_t w = 0;
  for (int32_t i = 0; i >= 0; i = next[i]) syms[w++] = syms[i];
  syms.resize(w);
}

void BpeModel::encode(std::string_view piece, std::vector<int32_t>& out) const {
  if (piece.empty()) return;
  if (ignore_merges_) {
    const auto it = vocab_.find(std::string(piece));
    if (it != vocab_.end()) {
      out.push_back(it->second);
      return;
    }
  }
  const bool cacheable = piece.size() <= kMaxCachedPiece;
  std::string key_str;
  if (cacheable) {
    key_str.assign(piece);
    std::lock_guard<std::mutex> lock(cache_mu_);
    const auto it = cache_.find(key_str);
    if (it != cache_.end()) {
      out.insert(out.end(), it->second.begin(), it->second.end());
      return;
    }
  }
  std::vector<int32_t> syms(piece.size());
  for (size_t i = 0; i < piece.size(); ++i) {
    syms[i] = byte_ids_[static_cast<unsigned char>(piece[i])];
    if (syms[i] < 0) {
      fail(ErrorKind::kInvalidArgument, "the vocabulary has no token for byte 0x", std::hex,
           static_cast<int>(static_cast<unsigned char>(piece[i])));
    }
  }
  if (syms.size() <= kShortWord) {
    merge_short(syms);
  } else {
    merge_long(syms);
  }
  out.insert(out.end(), syms.begin(), syms.end());
  if (cacheable) {
    std::lock_guard<std::mutex> lock(cache_mu_);
    if (cache_.size() >= kMaxCacheEntries) cache_.clear();
    cache_.emplace(std::move(key_str), std::move(syms));
  }
}

}  // namespace whale::tokenizer
