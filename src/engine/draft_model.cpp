// Catch-up in chunks, then one token at a time. The draft's cache bits never reach the output (the
// main model verifies every draft), so the MLA path is chosen for speed alone.
#include "engine/draft_model.h"

#include <algorithm>

namespace whale::engine {

namespace {
constexpr int64_t kChunk = 256;  // catch-up tokens per forward
}

DraftModel::DraftModel(const model::Weights& w, int64_t max_context, core::DType kv_type)
    : w_(w), cache_(w.args, 1, max_context, kv_type) {}

const float* DraftModel::run(int64_t from, core::ThreadPool& pool) {
  const int64_t end = static_cast<int64_t>(tokens_.size());
  for (int64_t s = from; s < end; s += kChunk) {
    const int64_t e = std::min(end, s + kChunk);
    batch_.tokens.clear();
    batch_.positions.clear();
    batch_.seq_ids.clear();
    for (int64_t p = s; p < e; ++p) batch_.add(tokens_[static_cast<size_t>(p)], static_cast<int32_t>(p), 0);
    const model::ForwardOptions opt{.mla = e - s == 1 ? model::MlaMode::kAbsorbed : model::MlaMode::kAuto,
                                    .logit_rows = {static_cast<int32_t>(e - s - 1)}};
    model::forward(w_, batch_, cache_, opt, scratch_, pool, out_);
  }
  return out_.logits.data();
}

std::vector<int32_t> DraftModel::draft(const Sequence& seq, int64_t k, int64_t vocab, core::ThreadPool& pool) {
  std::vector<int32_t> drafts;
  const int64_t V = w_.args.vocab_size;
  if (static_cast<int64_t>(seq.tokens.size()) + k > cache_.max_positions()) return drafts;
  // Rows stay valid up to the first token where the sequence and the cache's tokens part.
  const size_t same = static_cast<size_t>(
      std::mismatch(tokens_.begin(), tokens_.end(), seq.tokens.begin(), seq.tokens.end()).first - tokens_.begin());
  tokens_.resize(same);
  tokens_.insert(tokens_.end(), seq.tokens.begin() + static_cast<std::ptrdiff_t>(same), seq.tokens.end());
  // The last token always runs (its logits give the first draft), even when its row is cached.
  int64_t from = std::min<int64_t>(static_cast<int64_t>(same), static_cast<int64_t>(tokens_.size()) - 1);
  for (int64_t i = 0; i < k; ++i) {
    const float* l = run(from, pool);
    const int32_t d = static_cast<int32_t>(std::max_element(l, l + V) - l);
    if (d >= vocab) break;
    drafts.push_back(d);
    if (i + 1 == k) break;  // the last draft needs no row of its own
    from = static_cast<int64_t>(tokens_.size());
    tokens_.push_back(d);
  }
  return drafts;
}

}  // namespace whale::engine
