// Stack expansion (llama.cpp's pushdown scheme with tail calls), memoised byte transitions and the
// trie walk that computes a mask.
#include "constrain/matcher.h"

#include <algorithm>
#include <cstring>
#include <string>

#include "core/error.h"

namespace whale::constrain {

Matcher::Matcher(std::shared_ptr<const Grammar> grammar, std::shared_ptr<const Vocabulary> vocab, int64_t max_work)
    : g_(std::move(grammar)),
      v_(std::move(vocab)),
      max_work_(max_work > 0 ? max_work : (int64_t{1} << 20) + 64 * static_cast<int64_t>(v_->trie().byte.size())) {
  nodes_.push_back({-1, 0});
  std::vector<int32_t> init;
  for (int32_t a : g_->rules[static_cast<size_t>(g_->root)]) expand(a, 0, init);
  state_ = intern(init);
  walk_.resize(v_->trie().max_depth + 1);
}

int32_t Matcher::node(int32_t pos, int32_t parent) {
  const uint64_t key = (static_cast<uint64_t>(static_cast<uint32_t>(pos)) << 32) | static_cast<uint32_t>(parent);
  auto [it, fresh] = node_ids_.try_emplace(key, static_cast<int32_t>(nodes_.size()));  // no allocation on a hit
  if (fresh) nodes_.push_back({pos, parent});
  return it->second;
}

// All stacks whose top is a byte element, reachable from "continue at pos, then return to parent".
void Matcher::expand(int32_t pos, int32_t parent, std::vector<int32_t>& out) {
  charge(1);
  const Grammar::Element& e = g_->elements[static_cast<size_t>(pos)];
  switch (e.op) {
    case Grammar::Op::kEnd:
      if (parent == 0) {
        out.push_back(0);
      } else {
        const Node p = nodes_[static_cast<size_t>(parent)];
        expand(p.pos, p.parent, out);
      }
      return;
    case Grammar::Op::kBytes:
      out.push_back(node(pos, parent));
      return;
    case Grammar::Op::kRule: {
      // A rule in tail position returns straight to our parent: right recursion stays flat.
      const bool tail = g_->elements[static_cast<size_t>(pos) + 1].op == Grammar::Op::kEnd;
      const int32_t cont = tail ? parent : node(pos + 1, parent);
      for (int32_t a : g_->rules[static_cast<size_t>(e.arg)]) expand(a, cont, out);
      return;
    }
  }
}

int32_t Matcher::intern(std::vector<int32_t>& stacks) {
  std::sort(stacks.begin(), stacks.end());
  stacks.erase(std::unique(stacks.begin(), stacks.end()), stacks.end());
  if (stacks.empty()) return kDead;
  uint64_t h = stacks.size();
  for (const int32_t x : stacks) h = (h ^ static_cast<uint32_t>(x)) * 0x100000001b3ull;  // FNV-1a over the ids
  const auto [first, last] = state_ids_.equal_range(h);
  for (auto it = first; it != last; ++it) {
    if (states_[static_cast<size_t>(it->second)] == stacks) return it->second;
  }
  const int32_t id = static_cast<int32_t>(states_.size());
  states_.push_back(stacks);
  state_ids_.emplace(h, id);
  trans_.resize(trans_.size() + 256, kUnknown);
  return id;
}

void Matcher::too_ambiguous() const {
  throw GrammarTooAmbiguous("the grammar is too ambiguous to follow: one step took over " + std::to_string(max_work_) +
              " parse-stack operations (alternatives that match the same text under a repetition, such as "
              "`(. x | [a-z])+`, multiply the stacks with every byte); make the alternatives exclusive");
}

int32_t Matcher::compute_step(int32_t state, uint8_t b) {
  // The successor depends only on which of the state's stacks take b: bytes that select the same
  // stacks (every byte of a `.` or `[^"\\]`, most of a mask walk's first level) share one expansion.
  charge(static_cast<int64_t>(states_[static_cast<size_t>(state)].size()));
  std::vector<uint64_t>& sig = sig_scratch_;
  const size_t nstacks = states_[static_cast<size_t>(state)].size();
  sig.assign((nstacks + 63) / 64, 0);
  bool any = false;
  for (size_t i = 0; i < nstacks; ++i) {
    const int32_t s = states_[static_cast<size_t>(state)][i];
    if (s == 0) continue;
    const Node n = nodes_[static_cast<size_t>(s)];
    if (!g_->sets[static_cast<size_t>(g_->elements[static_cast<size_t>(n.pos)].arg)].has(b)) continue;
    sig[i >> 6] |= uint64_t{1} << (i & 63);
    any = true;
  }
  if (!any) return kDead;
  if (static_cast<size_t>(state) >= successors_.size()) successors_.resize(states_.size());
  for (const auto& [taken, next] : successors_[static_cast<size_t>(state)]) {
    if (taken == sig) return next;
  }
  std::vector<int32_t>& out = scratch_;  // not reentrant: expand() never steps
  out.clear();
  for (size_t i = 0; i < nstacks; ++i) {
    if (!((sig[i >> 6] >> (i & 63)) & 1u)) continue;
    const Node n = nodes_[static_cast<size_t>(states_[static_cast<size_t>(state)][i])];
    expand(n.pos + 1, n.parent, out);
  }
  const int32_t next = intern(out);  // may grow states_ (and so successors_ later)
  successors_[static_cast<size_t>(state)].emplace_back(sig, next);
  return next;
}

bool Matcher::complete() const {
  const auto& s = states_[static_cast<size_t>(state_)];
  return !s.empty() && s[0] == 0;
}

bool Matcher::can_continue() const {
  const auto& s = states_[static_cast<size_t>(state_)];
  return !s.empty() && s.back() != 0;
}

void Matcher::compute_mask(int32_t state, std::vector<uint64_t>& out) {
  out.assign((v_->size() + 63) / 64, 0);
  const Vocabulary::Trie& t = v_->trie();
  const size_t n = t.byte.size();
  walk_[0] = state;
  for (size_t k = 0; k < n;) {
    const int32_t s = step(walk_[t.depth[k] - 1], t.byte[k]);
    if (s == kDead) {
      k = static_cast<size_t>(t.end[k]);
      continue;
    }
    walk_[t.depth[k]] = s;
    for (int32_t i = t.tok_begin[k]; i < t.tok_begin[k + 1]; ++i) {
      const uint32_t id = static_cast<uint32_t>(t.tok[static_cast<size_t>(i)]);
      out[id >> 6] |= uint64_t{1} << (id & 63);
    }
    ++k;
  }
  const auto& st = states_[static_cast<size_t>(state)];
  if (!st.empty() && st[0] == 0) {
    for (int32_t id : v_->eos()) {
      if (id >= 0 && static_cast<size_t>(id) < v_->size()) out[static_cast<size_t>(id) >> 6] |= uint64_t{1} << (id & 63);
    }
  }
}

const std::vector<uint64_t>& Matcher::mask() {
  if (ended_) {
    eos_only_.assign((v_->size() + 63) / 64, 0);
    return eos_only_;
  }
  auto it = masks_.find(state_);
  if (it != masks_.end()) return it->second;
  work_ = 0;
  std::vector<uint64_t> m;
  compute_mask(state_, m);  // may throw GrammarTooAmbiguous: nothing half-made is cached
  if (masks_.size() >= 64) masks_.clear();  // bound the cache (19 KB a state at 152k tokens)
  return masks_[state_] = std::move(m);
}

bool Matcher::accept_bytes(std::string_view bytes) {
  if (ended_) return bytes.empty();
  work_ = 0;
  int32_t s = state_;
  for (char c : bytes) {
    s = step(s, static_cast<uint8_t>(c));
    if (s == kDead) return false;
  }
  state_ = s;
  return true;
}

bool Matcher::accept_token(int32_t id) {
  if (ended_ || id < 0 || static_cast<size_t>(id) >= v_->size()) return false;
  if (v_->is_eos(id)) {
    if (!complete()) return false;
    ended_ = true;
    return true;
  }
  if (v_->excluded(id)) return false;
  return accept_bytes(v_->bytes(id));
}

}  // namespace whale::constrain
