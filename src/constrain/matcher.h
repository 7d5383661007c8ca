// The per-request grammar state: the set of pushdown stacks the bytes so far allow, the allowed
// token mask for the next step, and advancing on the accepted token.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "constrain/grammar.h"
#include "constrain/vocabulary.h"
#include "core/error.h"

namespace whale::constrain {

// What a Matcher throws past max_work() (below): the client's grammar, so an invalid argument.
class GrammarTooAmbiguous : public Error {
 public:
  explicit GrammarTooAmbiguous(const std::string& message) : Error(ErrorKind::kInvalidArgument, message) {}
};

// Stacks are hash-consed (equal stacks share one id) and sets of stacks are interned as states,
// so a state's byte transitions are a memoised 256-entry row: the mask walk over the vocabulary
// trie is mostly table lookups, and a state seen before (inside a string, say) reuses its mask.
// Not thread-safe: one matcher per request.
//
// Alternatives that match the same text under a repetition (`root ::= (. root | [a-z])+`) multiply
// the stacks with every byte: such a grammar could hold one step for minutes and fill memory. Each
// call (construction, mask(), accept_*) may spend max_work() stack operations (a mask walk visits
// each node of the vocabulary's trie at most once: 64 stacks a node, plus 2^20); past that it throws
// GrammarTooAmbiguous, which the server answers with a 400 at compile time and the engine,
// mid-generation, by ending the sequence (with a logged warning).
class Matcher {
 public:
  // max_work 0: the bound above; a fuzzer passes a smaller one so that ambiguous grammars end fast.
  Matcher(std::shared_ptr<const Grammar> grammar, std::shared_ptr<const Vocabulary> vocab, int64_t max_work = 0);

  int64_t max_work() const { return max_work_; }
  // Stack operations spent over the matcher's life (every call's, up to its bound).
  int64_t total_work() const { return total_work_; }

  // Bit id set: token id may come next (EOS only when the grammar is complete). The reference is
  // valid until the next call to a non-const method.
  const std::vector<uint64_t>& mask();
  static bool allowed(const std::vector<uint64_t>& mask, int32_t id) { return (mask[static_cast<size_t>(id) >> 6] >> (id & 63)) & 1u; }

  // Advances over the token's bytes; false (and no change) if the grammar does not allow it.
  // EOS is accepted when the grammar is complete and ends the matcher.
  bool accept_token(int32_t id);
  // Advances over raw bytes (tests, forced text); false (and no change) if not allowed.
  bool accept_bytes(std::string_view bytes);

  bool complete() const;      // the bytes so far form a whole sentence of the grammar
  bool can_continue() const;  // some byte may still follow
  bool ended() const { return ended_; }  // EOS was accepted

 private:
  static constexpr int32_t kDead = -1;
  static constexpr int32_t kUnknown = -2;

  void charge(int64_t n) {
    total_work_ += n;
    if ((work_ += n) > max_work_) too_ambiguous();
  }
  [[noreturn]] void too_ambiguous() const;
  int32_t node(int32_t pos, int32_t parent);
  void expand(int32_t pos, int32_t parent, std::vector<int32_t>& out);
  int32_t intern(std::vector<int32_t>& stacks);
  int32_t step(int32_t state, uint8_t b) {
    const size_t k = static_cast<size_t>(state) * 256 + b;
    if (trans_[k] == kUnknown) {
      const int32_t t = compute_step(state, b);  // may grow trans_
      trans_[k] = t;
    }
    return trans_[k];
  }
  int32_t compute_step(int32_t state, uint8_t b);
  void compute_mask(int32_t state, std::vector<uint64_t>& out);

  std::shared_ptr<const Grammar> g_;
  std::shared_ptr<const Vocabulary> v_;
  struct Node {
    int32_t pos;     // a kBytes element for a stack top; for inner nodes the return position
    int32_t parent;  // 0: the bottom of the stack
  };
  std::vector<Node> nodes_;  // nodes_[0] is the empty stack (a complete parse)
  std::unordered_map<uint64_t, int32_t> node_ids_;
  std::vector<std::vector<int32_t>> states_;  // sorted stack ids
  std::unordered_multimap<uint64_t, int32_t> state_ids_;  // a hash of the sorted stack ids -> states
  std::vector<int32_t> trans_;  // state * 256 + byte -> state, kDead or kUnknown
  std::unordered_map<int32_t, std::vector<uint64_t>> masks_;  // per state, bounded
  std::vector<int32_t> scratch_;
  // Per state, the successors computed so far, by which of its stacks took the byte (a bit each).
  std::vector<std::vector<std::pair<std::vector<uint64_t>, int32_t>>> successors_;
  std::vector<uint64_t> sig_scratch_;
  std::vector<int32_t> walk_;   // state per trie depth during a mask walk
  int32_t state_ = 0;
  int64_t work_ = 0;  // stack operations in the current call (charge())
  int64_t total_work_ = 0;  // and over the matcher's life
  int64_t max_work_ = 0;
  bool ended_ = false;
  std::vector<uint64_t> eos_only_;
};

}  // namespace whale::constrain
