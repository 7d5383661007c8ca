// Speculative decoding inside the engine step: draft k tokens (the MTP module chained, or a
// benchmark's oracle), verify them with one forward of the main model, keep the longest prefix the
// sampler agrees with plus the token it sampled after it, and give back the cache positions and
// blocks the rejected drafts took. The MTP module's cache rows are caught up from the main model's
// hidden states before each draft, so rows written from rejected drafts are always rewritten first.
#include <algorithm>

#include "core/error.h"
#include "core/random.h"
#include "engine/engine.h"

namespace whale::engine {

SpecMode spec_mode_from_name(std::string_view name) {
  if (name == "off") return SpecMode::kOff;
  if (name == "mtp") return SpecMode::kMtp;
  if (name == "draft") return SpecMode::kDraft;
  fail(ErrorKind::kInvalidArgument, "unknown speculative decoding mode \"", name, "\" (known: mtp, draft, off)");
}

const char* spec_mode_name(SpecMode mode) {
  switch (mode) {
    case SpecMode::kOff: return "off";
    case SpecMode::kMtp: return "mtp";
    case SpecMode::kDraft: return "draft";
    case SpecMode::kOracle: return "oracle";
  }
  return "off";
}

namespace {

// Past this many pending rows a sequence keeps only the newest: the MTP rows of older positions
// are then never written, which costs draft quality (not exactness) after a very long plain stretch.
constexpr int64_t kMaxPendingRows = 1024;

int32_t argmax(const float* x, int64_t n) { return static_cast<int32_t>(std::max_element(x, x + n) - x); }

}  // namespace

// After a plain step: each chunk's hidden states join its sequence's pending MTP rows (a chunk that
// does not continue them, after preemption or a prefix-cache hit, starts them afresh).
void Engine::keep_hidden(const std::vector<Chunk>& chunks) {
  const int64_t D = w_.args.hidden_size;
  int64_t row = 0;
  for (const Chunk& c : chunks) {
    Sequence& seq = *c.seq;
    const int64_t pending = static_cast<int64_t>(seq.mtp_hidden.size()) / D;
    if (seq.mtp_pos + pending != c.start) {
      seq.mtp_hidden.clear();
      seq.mtp_pos = c.start;
    }
    const float* h = runner_.hidden(row);
    seq.mtp_hidden.insert(seq.mtp_hidden.end(), h, h + c.n * D);
    const int64_t rows = static_cast<int64_t>(seq.mtp_hidden.size()) / D;
    if (rows > kMaxPendingRows) {
      seq.mtp_hidden.erase(seq.mtp_hidden.begin(), seq.mtp_hidden.begin() + (rows - kMaxPendingRows) * D);
      seq.mtp_pos += rows - kMaxPendingRows;
    }
    row += c.n;
  }
}

// Catches the MTP rows up to position N - 1 (N = n_computed: row p from h_p and token p + 1, the
// last one from the token just sampled), whose logits give the first draft; each further draft
// chains the module on its own output state and the draft before (as vLLM and SGLang chain V3's
// one module). Empty when the hidden state of position N - 1 is missing.
std::vector<int32_t> Engine::draft_mtp(Sequence& seq, int32_t k) {
  const int64_t D = w_.args.hidden_size, V = w_.args.vocab_size, N = seq.n_computed;
  const int64_t rows = static_cast<int64_t>(seq.mtp_hidden.size()) / D;
  std::vector<int32_t> drafts;
  if (rows == 0 || seq.mtp_pos + rows != N) return drafts;
  const std::span<const int32_t> next(seq.tokens.data() + seq.mtp_pos + 1, static_cast<size_t>(rows));
  const float* logits = runner_.mtp(seq, seq.mtp_pos, next, seq.mtp_hidden, 0, mtp_out_);
  drafts.push_back(argmax(logits, V));
  seq.mtp_hidden.clear();
  seq.mtp_pos = N;
  const int64_t modules = w_.args.num_nextn_predict_layers;
  for (int32_t i = 1; i < k; ++i) {
    mtp_chain_.assign(mtp_out_.end() - D, mtp_out_.end());  // the last row's output state
    const int32_t prev = drafts.back();
    logits = runner_.mtp(seq, N - 1 + i, {&prev, 1}, mtp_chain_, std::min<int64_t>(i, modules - 1), mtp_out_);
    drafts.push_back(argmax(logits, V));
  }
  return drafts;
}

bool Engine::speculate(const Chunk& chunk) {
  Sequence& seq = *chunk.seq;
  if (chunk.n != 1 || scheduler_.n_running() != 1 || scheduler_.n_waiting() != 0) return false;
  const int64_t N = seq.n_computed;
  if (static_cast<int64_t>(seq.tokens.size()) != N + 1) return false;
  // No drafts past max_tokens or the context: the last token sampled needs no position of its own.
  int64_t k = std::min<int64_t>({cfg_.spec.k, seq.req.max_tokens - seq.generated() - 1, max_context_ - 1 - N});
  if (k <= 0) return false;
  if (!blocks_.grow(seq.block_table, N + k + 1)) {
    blocks_.shrink(seq.block_table, N + 1);
    return false;
  }
  std::vector<int32_t>& drafts = drafts_;
  drafts.clear();
  if (spec_mtp_) drafts = draft_mtp(seq, static_cast<int32_t>(k));
  if (draft_) drafts = draft_->draft(seq, k, w_.args.vocab_size, runner_.pool());
  if (cfg_.spec.mode == SpecMode::kOracle) {
    drafts.resize(static_cast<size_t>(k));
    const int64_t V = w_.args.vocab_size;
    for (int64_t j = 0; j < k; ++j) {
      const int64_t g = N + 1 + j - seq.n_prompt;  // the generated index the draft stands for
      const int32_t truth = g < static_cast<int64_t>(cfg_.spec.oracle.size()) ? cfg_.spec.oracle[static_cast<size_t>(g)] : 0;
      const double u = static_cast<double>(core::splitmix64(oracle_state_++) >> 11) * 0x1.0p-53;
      drafts[static_cast<size_t>(j)] = u < cfg_.spec.oracle_p ? truth : static_cast<int32_t>((truth + 1) % V);
    }
  }
  if (drafts.empty()) {
    blocks_.shrink(seq.block_table, N + 1);
    return false;
  }
  k = static_cast<int64_t>(drafts.size());  // a draft model may stop early (a token the main model lacks)
  const Runner::Verified v = runner_.verify(seq, drafts);
  SpecStats& st = stats_.spec;
  if (st.proposed.size() < static_cast<size_t>(k)) {
    st.proposed.resize(static_cast<size_t>(k), 0);
    st.accepted.resize(static_cast<size_t>(k), 0);
  }
  ++st.steps;
  // Row j is the distribution after drafts [0, j): it counts only while every draft before it was
  // the token sampled there. J = drafts kept; positions N .. N + J now hold the right tokens' KV.
  const int64_t V = w_.args.vocab_size;
  int64_t J = 0;
  for (int64_t j = 0; j <= k; ++j) {
    const size_t before = seq.tokens.size();
    const int32_t draft = j < k ? drafts[static_cast<size_t>(j)] : -1;
    post_process(seq, v.logits + j * V, draft);
    if (j < k) ++st.proposed[static_cast<size_t>(j)];
    if (seq.tokens.size() > before) ++st.emitted;
    const bool kept = j < k && seq.tokens.size() == before + 1 && seq.tokens.back() == draft;
    if (kept) ++st.accepted[static_cast<size_t>(j)];
    if (!kept || seq.finished()) break;
    J = j + 1;
  }
  scheduler_.computed({{&seq, N, J + 1}});
  blocks_.shrink(seq.block_table, std::max<int64_t>(N + J + 2, static_cast<int64_t>(seq.tokens.size())));
  if (spec_mtp_) {
    const int64_t D = w_.args.hidden_size;
    seq.mtp_hidden.assign(v.hidden, v.hidden + (J + 1) * D);  // draft_mtp left mtp_pos at N
  }
  return true;
}

}  // namespace whale::engine
