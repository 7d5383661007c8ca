// Batch assembly and the choice of MLA path; the forward pass itself is model's.
#include "engine/runner.h"

#include <algorithm>

#include "core/error.h"

namespace whale::engine {

namespace {

std::pair<int64_t, int64_t> layers_of(const model::Weights& w, const RankLink* link) {
  return link ? RankLink::cache_layers(w.args, link->plan()) : std::pair<int64_t, int64_t>{0, -1};
}

}  // namespace

Runner::Runner(const model::Weights& w, int32_t n_blocks, int32_t block_size, int32_t n_slots, int64_t max_context,
               int threads, core::DType kv_type, RankLink* link)
    : w_(w),
      link_(link),
      pool_(threads),
      cache_(w.args, n_blocks, block_size, n_slots, max_context, kv_type, layers_of(w, link).first,
             layers_of(w, link).second) {
  if (link_) link_->start({n_blocks, block_size, n_slots, max_context, kv_type});
}

const std::vector<Runner::Logits>& Runner::run(const std::vector<Chunk>& chunks) {
  batch_.tokens.clear();
  batch_.positions.clear();
  batch_.seq_ids.clear();
  opt_.logit_rows.clear();
  logits_.clear();
  tables_.clear();
  bool all_decode = true, any_generated = false;
  opt_.mla_naive_rows.clear();
  for (const Chunk& c : chunks) {
    all_decode &= c.n == 1;
    cache_.bind(c.seq->slot, &c.seq->block_table);
    if (link_) tables_.push_back({c.seq->slot, &c.seq->block_table});  // the other ranks bind the same tables
    for (int64_t p = c.start; p < c.start + c.n; ++p) {
      batch_.add(c.seq->tokens[static_cast<size_t>(p)], static_cast<int32_t>(p), c.seq->slot);
      opt_.mla_naive_rows.push_back(p < c.seq->n_prompt ? 1 : 0);
      any_generated |= p >= c.seq->n_prompt;
    }
    if (c.start + c.n == static_cast<int64_t>(c.seq->tokens.size())) {
      opt_.logit_rows.push_back(static_cast<int32_t>(batch_.size() - 1));
      logits_.push_back({c.seq, nullptr});  // the row is known once forward has run
    }
  }
  // MLA by each token's role: prompt positions naive (decompress the sequence's cache once per step),
  // generated positions absorbed (straight over the latent cache), so a token's bits depend neither
  // on the batch it shares nor on how its prompt was chunked or cached (docs/engine.md). Across MPI
  // ranks the whole step takes one path (the step message carries one flag).
  const bool any_prompt =
      std::find(opt_.mla_naive_rows.begin(), opt_.mla_naive_rows.end(), 1) != opt_.mla_naive_rows.end();
  if (link_) {
    opt_.mla = all_decode ? model::MlaMode::kAbsorbed : model::MlaMode::kNaive;
  } else {
    opt_.mla = any_prompt ? model::MlaMode::kNaive : model::MlaMode::kAbsorbed;
  }
  if (link_ || !any_generated || !any_prompt) opt_.mla_naive_rows.clear();
  if (link_) {
    link_->lead(w_, batch_, opt_, cache_, scratch_, pool_, out_, tables_);
  } else {
    model::forward(w_, batch_, cache_, opt_, scratch_, pool_, out_);
  }
  const int64_t V = w_.args.vocab_size;
  for (size_t i = 0; i < logits_.size(); ++i) logits_[i].row = out_.logits.data() + static_cast<int64_t>(i) * V;
  return logits_;
}

Runner::Verified Runner::verify(Sequence& seq, std::span<const int32_t> drafts) {
  if (link_) fail(ErrorKind::kUnsupported, "speculative decoding across MPI ranks");
  batch_.tokens.clear();
  batch_.positions.clear();
  batch_.seq_ids.clear();
  const int64_t n = seq.n_computed;
  cache_.bind(seq.slot, &seq.block_table);
  batch_.add(seq.tokens[static_cast<size_t>(n)], static_cast<int32_t>(n), seq.slot);
  for (size_t j = 0; j < drafts.size(); ++j) batch_.add(drafts[j], static_cast<int32_t>(n + 1 + static_cast<int64_t>(j)), seq.slot);
  model::ForwardOptions opt{.mla = model::MlaMode::kAbsorbed, .want_hidden = true};  // every row's logits
  model::forward(w_, batch_, cache_, opt, scratch_, pool_, out_);
  return {out_.logits.data(), out_.hidden.data()};
}

const float* Runner::mtp(Sequence& seq, int64_t pos0, std::span<const int32_t> tokens, const std::vector<float>& hidden,
                         int64_t module, std::vector<float>& hidden_out) {
  if (link_) fail(ErrorKind::kUnsupported, "MTP drafting across MPI ranks");
  batch_.tokens.clear();
  batch_.positions.clear();
  batch_.seq_ids.clear();
  cache_.bind(seq.slot, &seq.block_table);
  for (size_t i = 0; i < tokens.size(); ++i) batch_.add(tokens[i], static_cast<int32_t>(pos0 + static_cast<int64_t>(i)), seq.slot);
  // The module's cache rows only shape its drafts, never the output, so either MLA path will do:
  // kAuto (absorbed for a few rows, naive for a long catch-up).
  model::ForwardOptions opt{.mla = model::MlaMode::kAuto, .logit_rows = {static_cast<int32_t>(tokens.size()) - 1}};
  model::mtp_forward(w_, batch_, hidden, module, cache_, opt, scratch_, pool_, mtp_logits_, &hidden_out);
  return mtp_logits_.data();
}

}  // namespace whale::engine
