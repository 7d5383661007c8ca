// The wire between rank 0's engine and the followers. One int32 header per step:
// [kind, T, R, mla, tables, tokens[T], positions[T], seq_ids[T], logit_rows[R], then per table:
// slot, length, blocks...]; under expert parallelism it is broadcast (its length first), under the
// pipeline it goes rank to rank followed by the residual stream f32 [T, hidden], and the last stage
// sends the logits f32 [R, vocab] back to rank 0. A hello (the cache geometry) opens the session
// and a done closes it.
#include "engine/rank_link.h"

#include "core/error.h"
#include "engine/paged_kv_cache.h"

namespace whale::engine {
namespace {

constexpr int32_t kDone = 0, kStep = 1, kHello = 2;
constexpr int kStreamTag = 0, kLogitsTag = 1;
constexpr size_t kFixed = 5;

void at_least(const std::vector<int32_t>& v, size_t n, const char* what) {
  if (v.size() < n) fail(ErrorKind::kInternal, "rank link: a ", what, " message of ", v.size(), " values");
}

}  // namespace

void apply_shard(model::ForwardOptions& o, const ShardPlan& p, const float* input_hidden,
                 std::function<void(float*, int64_t)> combine) {
  if (p.mode == ShardMode::kPipeline) {
    o.layer_begin = p.layer_begin;
    o.layer_end = p.layer_end;
    o.input_hidden = input_hidden;
  } else if (p.mode == ShardMode::kExpert && p.ranks > 1) {
    o.expert_begin = p.expert_begin;
    o.expert_end = p.expert_end;
    o.shared_experts = p.shared_experts;
    o.combine_experts = std::move(combine);
  }
}

void ExpertSum::operator()(float* partial, int64_t n) {
  if (static_cast<int64_t>(gathered_.size()) < n * ranks_) gathered_.resize(static_cast<size_t>(n * ranks_));
  comm_->allgather(partial, n, gathered_.data());
  for (int64_t i = 0; i < n; ++i) {
    float s = gathered_[static_cast<size_t>(i)];
    for (int r = 1; r < ranks_; ++r) s += gathered_[static_cast<size_t>(r * n + i)];
    partial[i] = s;
  }
}

RankLink::RankLink(const ShardPlan& plan) : plan_(plan), comm_(&Comm::world()), sum_(comm_, plan.ranks) {
  if (plan_.mode == ShardMode::kNone || plan_.ranks < 2) {
    fail(ErrorKind::kInvalidArgument, "a rank link needs --pp or --ep over 2 or more MPI processes");
  }
  if (comm_->size() != plan_.ranks) {
    fail(ErrorKind::kInvalidArgument, plan_.mode == ShardMode::kPipeline ? "--pp " : "--ep ", plan_.ranks, " needs ",
         plan_.ranks, " MPI processes (mpirun -np ", plan_.ranks, "); this run has ", comm_->size());
  }
}

std::pair<int64_t, int64_t> RankLink::cache_layers(const formats::ModelArgs& a, const ShardPlan& p) {
  if (p.mode == ShardMode::kPipeline) return {p.layer_begin, p.layer_end};
  return {0, a.num_hidden_layers};
}

void RankLink::send_header(const std::vector<int32_t>& h) {
  if (plan_.mode == ShardMode::kExpert) {
    int32_t n = static_cast<int32_t>(h.size());
    comm_->broadcast(&n, 4, 0);
    comm_->broadcast(const_cast<int32_t*>(h.data()), static_cast<int64_t>(h.size()) * 4, 0);
  } else {
    comm_->send(h.data(), static_cast<int64_t>(h.size()) * 4, plan_.rank + 1, kStreamTag);
  }
}

std::vector<int32_t> RankLink::receive_header() {
  if (plan_.mode == ShardMode::kExpert) {
    int32_t n = 0;
    comm_->broadcast(&n, 4, 0);
    std::vector<int32_t> v(static_cast<size_t>(n));
    comm_->broadcast(v.data(), static_cast<int64_t>(n) * 4, 0);
    return v;
  }
  return comm_->recv_ints(plan_.rank - 1, kStreamTag);
}

void RankLink::start(const CacheGeometry& g) {
  send_header({kHello, g.n_blocks, g.block_size, g.n_slots, static_cast<int32_t>(g.max_context),
               static_cast<int32_t>(g.kv_type)});
}

void RankLink::finish() {
  if (finished_) return;
  finished_ = true;
  send_header({kDone});
}

void RankLink::lead(const model::Weights& w, const model::Batch& batch, model::ForwardOptions o, model::KvCache& cache,
                    model::Scratch& scratch, core::ThreadPool& pool, model::ForwardOutput& out,
                    std::span<const SlotTable> tables) {
  if (finished_) fail(ErrorKind::kInternal, "rank link: a step after finish()");
  const int32_t T = static_cast<int32_t>(batch.size()), R = static_cast<int32_t>(o.logit_rows.size());
  header_.assign({kStep, T, R, o.mla == model::MlaMode::kAbsorbed ? 1 : 0, static_cast<int32_t>(tables.size())});
  header_.insert(header_.end(), batch.tokens.begin(), batch.tokens.end());
  header_.insert(header_.end(), batch.positions.begin(), batch.positions.end());
  header_.insert(header_.end(), batch.seq_ids.begin(), batch.seq_ids.end());
  header_.insert(header_.end(), o.logit_rows.begin(), o.logit_rows.end());
  for (const SlotTable& t : tables) {
    header_.push_back(t.slot);
    header_.push_back(static_cast<int32_t>(t.table->size()));
    header_.insert(header_.end(), t.table->begin(), t.table->end());
  }
  send_header(header_);  // expert ranks need the batch before the first MoE layer's combine
  if (plan_.mode == ShardMode::kExpert) {
    apply_shard(o, plan_, nullptr, [this](float* p, int64_t n) { sum_(p, n); });
    model::forward(w, batch, cache, o, scratch, pool, out);
    return;
  }
  apply_shard(o, plan_, nullptr, {});
  model::forward(w, batch, cache, o, scratch, pool, out);
  comm_->send(out.hidden.data(), static_cast<int64_t>(T) * w.args.hidden_size * 4, 1, kStreamTag);
  out.logits.resize(static_cast<size_t>(R) * static_cast<size_t>(w.args.vocab_size));
  if (R > 0) comm_->recv(out.logits.data(), static_cast<int64_t>(out.logits.size()) * 4, plan_.ranks - 1, kLogitsTag);
}

void RankLink::follow(const model::Weights& w, int threads) {
  std::vector<int32_t> v = receive_header();
  at_least(v, 6, "hello");
  if (v[0] != kHello) fail(ErrorKind::kInternal, "rank link: expected the hello, got kind ", v[0]);
  const CacheGeometry g{.n_blocks = v[1], .block_size = v[2], .n_slots = v[3], .max_context = v[4],
                        .kv_type = static_cast<core::DType>(v[5])};
  if (plan_.mode == ShardMode::kPipeline && !plan_.last()) send_header(v);
  const auto [lb, le] = cache_layers(w.args, plan_);
  PagedKvCache cache(w.args, g.n_blocks, g.block_size, g.n_slots, g.max_context, g.kv_type, lb, le);
  std::vector<BlockTable> tables(static_cast<size_t>(g.n_slots));
  core::ThreadPool pool(threads);
  model::Scratch scratch;
  model::ForwardOutput out;
  model::Batch batch;
  const int64_t D = w.args.hidden_size, V = w.args.vocab_size;
  for (;;) {
    v = receive_header();
    at_least(v, 1, "step");
    if (v[0] == kDone) {
      if (plan_.mode == ShardMode::kPipeline && !plan_.last()) send_header(v);
      return;
    }
    at_least(v, kFixed, "step");
    const size_t T = static_cast<size_t>(v[1]), R = static_cast<size_t>(v[2]), n_tables = static_cast<size_t>(v[4]);
    at_least(v, kFixed + 3 * T + R + 2 * n_tables, "step");
    auto it = v.begin() + kFixed;
    auto take = [&](std::vector<int32_t>& dst, size_t n) {
      dst.assign(it, it + static_cast<std::ptrdiff_t>(n));
      it += static_cast<std::ptrdiff_t>(n);
    };
    take(batch.tokens, T);
    take(batch.positions, T);
    take(batch.seq_ids, T);
    model::ForwardOptions o{.mla = v[3] ? model::MlaMode::kAbsorbed : model::MlaMode::kAuto};
    take(o.logit_rows, R);
    for (size_t i = 0; i < n_tables; ++i) {
      if (v.end() - it < 2) fail(ErrorKind::kInternal, "rank link: a step message cut inside its block tables");
      const int32_t slot = *it++, len = *it++;
      if (slot < 0 || slot >= g.n_slots || len < 0 || v.end() - it < len) {
        fail(ErrorKind::kInternal, "rank link: block table of slot ", slot, " (", len, " blocks) does not fit");
      }
      take(tables[static_cast<size_t>(slot)], static_cast<size_t>(len));
      cache.bind(slot, &tables[static_cast<size_t>(slot)]);
    }
    if (plan_.mode == ShardMode::kExpert) {
      apply_shard(o, plan_, nullptr, [this](float* p, int64_t n) { sum_(p, n); });
      model::forward(w, batch, cache, o, scratch, pool, out);
      continue;
    }
    wire_.resize(T * static_cast<size_t>(D));
    comm_->recv(wire_.data(), static_cast<int64_t>(wire_.size()) * 4, plan_.rank - 1, kStreamTag);
    apply_shard(o, plan_, wire_.data(), {});
    model::forward(w, batch, cache, o, scratch, pool, out);
    if (!plan_.last()) {
      send_header(v);
      comm_->send(out.hidden.data(), static_cast<int64_t>(T) * D * 4, plan_.rank + 1, kStreamTag);
    } else if (R > 0) {
      comm_->send(out.logits.data(), static_cast<int64_t>(R) * V * 4, 0, kLogitsTag);
    }
  }
}

}  // namespace whale::engine
