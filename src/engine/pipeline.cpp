// The rank-0 scheduler (micro-batches of sequences, chunked prefill, sampling), the follower loops
// of the other ranks, and the wire format between them: one int32 header message [kind, micro-batch,
// T, R, mla, tokens[T], positions[T], seq_ids[T], logit_rows[R]] then, for pipeline stages, the
// residual stream as f32 [T, hidden]; the last stage returns f32 logits [R, vocab] to rank 0.
#include "engine/pipeline.h"

#include <algorithm>
#include <chrono>

#include "core/error.h"
#include "engine/rank_link.h"
#include "model/kv_cache.h"

namespace whale::engine {
namespace {

using Clock = std::chrono::steady_clock;
double since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

constexpr int32_t kDone = 0, kBatch = 1;
constexpr int kStreamTag = 0;  // rank r -> r+1: headers and hidden states, in order
int logits_tag(int32_t mb) { return 1 + mb; }

// A pipeline stage's cache: rows for its own layers only, addressed by global layer index.
class StageCache final : public model::KvCache {
 public:
  StageCache(const formats::ModelArgs& a, int64_t begin, int64_t end, int64_t seqs, int64_t ctx, core::DType type)
      : inner_(stage_args(a, end - begin), seqs, ctx, type), begin_(begin) {}
  int64_t row_width() const override { return inner_.row_width(); }
  int64_t max_positions() const override { return inner_.max_positions(); }
  core::DType dtype() const override { return inner_.dtype(); }
  void* row_data(int64_t layer, int64_t seq, int64_t pos) override { return inner_.row_data(layer - begin_, seq, pos); }

 private:
  static formats::ModelArgs stage_args(formats::ModelArgs a, int64_t layers) {
    a.num_hidden_layers = layers;
    a.num_nextn_predict_layers = 0;
    return a;
  }
  model::ContiguousKvCache inner_;
  int64_t begin_;
};

struct Header {
  int32_t kind = kBatch, mb = 0, mla = 0;
  model::Batch batch;
  std::vector<int32_t> rows;

  std::vector<int32_t> encode() const {
    std::vector<int32_t> v{kind, mb, static_cast<int32_t>(batch.size()), static_cast<int32_t>(rows.size()), mla};
    v.insert(v.end(), batch.tokens.begin(), batch.tokens.end());
    v.insert(v.end(), batch.positions.begin(), batch.positions.end());
    v.insert(v.end(), batch.seq_ids.begin(), batch.seq_ids.end());
    v.insert(v.end(), rows.begin(), rows.end());
    return v;
  }
  static Header decode(const std::vector<int32_t>& v) {
    if (v.size() < 5) fail(ErrorKind::kInternal, "pipeline header of ", v.size(), " values");
    Header h;
    h.kind = v[0], h.mb = v[1], h.mla = v[4];
    const size_t T = static_cast<size_t>(v[2]), R = static_cast<size_t>(v[3]);
    if (v.size() != 5 + 3 * T + R) fail(ErrorKind::kInternal, "pipeline header of ", v.size(), " values for T=", T, " R=", R);
    auto at = v.begin() + 5;
    h.batch.tokens.assign(at, at + static_cast<std::ptrdiff_t>(T));
    h.batch.positions.assign(at + static_cast<std::ptrdiff_t>(T), at + static_cast<std::ptrdiff_t>(2 * T));
    h.batch.seq_ids.assign(at + static_cast<std::ptrdiff_t>(2 * T), at + static_cast<std::ptrdiff_t>(3 * T));
    h.rows.assign(at + static_cast<std::ptrdiff_t>(3 * T), v.end());
    return h;
  }
};

// Buffers of one outgoing message, kept until its sends complete.
struct Outbox {
  std::vector<int32_t> header;
  std::vector<float> hidden;
  int64_t req_header = -1, req_hidden = -1;
};

}  // namespace

struct DistributedGenerator::Impl {
  const model::Weights& w;
  DistConfig cfg;
  Comm* comm = nullptr;
  core::ThreadPool pool;
  std::unique_ptr<model::KvCache> cache;
  model::Scratch scratch;
  model::ForwardOutput out;
  std::unique_ptr<ExpertSum> sum;     // expert parallelism: the partial MoE outputs summed across ranks
  std::vector<Outbox> outboxes;       // pipeline: one per micro-batch in flight
  std::vector<Outbox> logit_boxes;    // the last stage: logits on their way back, per micro-batch
  std::vector<float> in_hidden;       // pipeline: the previous stage's residual stream
  DistStats stats;

  Impl(const model::Weights& weights, DistConfig c) : w(weights), cfg(std::move(c)), pool(cfg.threads) {
    const ShardPlan& p = cfg.plan;
    if (p.ranks > 1) {
      comm = &Comm::world();
      sum = std::make_unique<ExpertSum>(comm, p.ranks);
      if (comm->size() != p.ranks) {
        fail(ErrorKind::kInvalidArgument, p.mode == ShardMode::kPipeline ? "--pp " : "--ep ", p.ranks, " needs ", p.ranks,
             " MPI processes (mpirun -np ", p.ranks, "); this run has ", comm->size());
      }
    }
    if (p.mode == ShardMode::kPipeline) {
      cache = std::make_unique<StageCache>(w.args, p.layer_begin, p.layer_end, cfg.max_seqs, cfg.max_context, cfg.kv_type);
    } else {
      formats::ModelArgs a = w.args;
      a.num_nextn_predict_layers = 0;  // no MTP rows: the modules are not loaded
      cache = std::make_unique<model::ContiguousKvCache>(a, cfg.max_seqs, cfg.max_context, cfg.kv_type);
    }
  }

  model::ForwardOptions options(const Header& h, const float* input) {
    model::ForwardOptions o{.mla = h.mla ? model::MlaMode::kAbsorbed : model::MlaMode::kAuto, .logit_rows = h.rows};
    apply_shard(o, cfg.plan, input, [this](float* partial, int64_t n) {
      (*sum)(partial, n);
      stats.bytes_sent += n * 4 * (cfg.plan.ranks - 1);
    });
    return o;
  }

  // Waits until the outbox's last message has gone, so its buffers may be refilled.
  void reuse(Outbox& box) {
    if (box.req_header >= 0) comm->wait(box.req_header);
    if (box.req_hidden >= 0) comm->wait(box.req_hidden);
    box.req_header = box.req_hidden = -1;
  }

  // Sends a refilled outbox (header, then the hidden states unless empty) without waiting.
  void post(Outbox& box, int dest) {
    box.req_header = comm->isend(box.header.data(), static_cast<int64_t>(box.header.size() * 4), dest, kStreamTag);
    box.req_hidden = box.hidden.empty() ? -1
                                        : comm->isend(box.hidden.data(), static_cast<int64_t>(box.hidden.size() * 4), dest, kStreamTag);
    stats.bytes_sent += static_cast<int64_t>((box.header.size() + box.hidden.size()) * 4);
    stats.messages += box.hidden.empty() ? 1 : 2;
  }

  Outbox& outbox(int32_t mb) {
    if (static_cast<int32_t>(outboxes.size()) <= mb) outboxes.resize(static_cast<size_t>(mb) + 1);
    return outboxes[static_cast<size_t>(mb)];
  }

  void drain() {
    for (Outbox& b : outboxes) reuse(b);
    for (Outbox& b : logit_boxes) reuse(b);
  }

  void send_done(int dest) {
    Header done;
    done.kind = kDone;
    Outbox& box = outbox(0);
    reuse(box);
    box.header = done.encode();
    box.hidden.clear();
    post(box, dest);
    drain();
  }

  void timed_forward(const Header& h, const float* input) {
    const auto t0 = Clock::now();
    model::forward(w, h.batch, *cache, options(h, input), scratch, pool, out);
    stats.compute_seconds += since(t0);
    ++stats.forwards;
  }

  // Runs this rank's part of a batch. Returns true when the batch's logits are in out.logits here
  // (one process, the last pipeline stage of one rank, or expert parallelism).
  bool step(const Header& h, const float* input) {
    const ShardPlan& p = cfg.plan;
    if (p.mode == ShardMode::kExpert && p.ranks > 1 && p.first()) {  // followers need the batch first
      const std::vector<int32_t> v = h.encode();
      int32_t n = static_cast<int32_t>(v.size());
      comm->broadcast(&n, 4, 0);
      comm->broadcast(const_cast<int32_t*>(v.data()), n * 4, 0);
      stats.bytes_sent += (n + 1) * 4 * (p.ranks - 1);
    }
    timed_forward(h, input);
    if (p.mode != ShardMode::kPipeline || p.ranks == 1 || p.last()) return true;
    Outbox& box = outbox(h.mb);
    reuse(box);
    box.header = h.encode();
    box.hidden.assign(out.hidden.begin(), out.hidden.begin() + h.batch.size() * w.args.hidden_size);
    post(box, p.rank + 1);
    return false;
  }

  // The other ranks: follow rank 0 until it says the generation is done.
  void follow() {
    const ShardPlan& p = cfg.plan;
    const int64_t D = w.args.hidden_size, V = w.args.vocab_size;
    for (;;) {
      Header h;
      if (p.mode == ShardMode::kExpert) {
        int32_t n = 0;
        comm->broadcast(&n, 4, 0);
        std::vector<int32_t> v(static_cast<size_t>(n));
        comm->broadcast(v.data(), n * 4, 0);
        h = Header::decode(v);
        if (h.kind == kDone) return;
        timed_forward(h, nullptr);
        continue;
      }
      h = Header::decode(comm->recv_ints(p.rank - 1, kStreamTag));
      if (h.kind == kDone) {
        if (!p.last()) {
          send_done(p.rank + 1);
        } else {
          drain();
        }
        return;
      }
      in_hidden.resize(static_cast<size_t>(h.batch.size() * D));
      comm->recv(in_hidden.data(), static_cast<int64_t>(in_hidden.size() * 4), p.rank - 1, kStreamTag);
      if (step(h, in_hidden.data()) && !h.rows.empty()) {  // the last stage: logits back to rank 0
        if (static_cast<int32_t>(logit_boxes.size()) <= h.mb) logit_boxes.resize(static_cast<size_t>(h.mb) + 1);
        Outbox& box = logit_boxes[static_cast<size_t>(h.mb)];
        reuse(box);
        box.hidden.assign(out.logits.begin(), out.logits.begin() + static_cast<int64_t>(h.rows.size()) * V);
        box.req_hidden = comm->isend(box.hidden.data(), static_cast<int64_t>(box.hidden.size() * 4), 0, logits_tag(h.mb));
        stats.bytes_sent += static_cast<int64_t>(box.hidden.size() * 4);
        ++stats.messages;
      }
    }
  }

  struct Seq {
    GenSequence* g;
    std::vector<int32_t> tokens;
    int64_t fed = 0;  // tokens already sent through the model
    bool done = false;
    sampler::Sampler sampler;
    int32_t slot;
  };

  struct MicroBatch {
    std::vector<size_t> seqs;  // indices into the sequences
    std::vector<size_t> row_seq;  // the sequence of each logit row of the batch in flight
    bool pending = false;
  };

  // Rank 0: one token for each row of a finished batch.
  void take_logits(std::vector<Seq>& seqs, MicroBatch& m, const float* logits, int64_t& remaining_first,
                   Clock::time_point& first_all) {
    const int64_t V = w.args.vocab_size;
    std::vector<float> row;
    for (size_t i = 0; i < m.row_seq.size(); ++i) {
      Seq& s = seqs[m.row_seq[i]];
      row.assign(logits + static_cast<int64_t>(i) * V, logits + static_cast<int64_t>(i + 1) * V);
      if (cfg.keep_logits) s.g->logits.insert(s.g->logits.end(), row.begin(), row.end());
      const int32_t t = s.sampler.sample(row.data(), V);
      if (s.g->output.empty() && --remaining_first == 0) first_all = Clock::now();
      const bool eos = std::find(cfg.eos.begin(), cfg.eos.end(), t) != cfg.eos.end();
      ++stats.generated_tokens;
      if (!eos) {
        s.g->output.push_back(t);
        s.tokens.push_back(t);
      }
      if (eos || static_cast<int64_t>(s.g->output.size()) >= s.g->max_tokens ||
          static_cast<int64_t>(s.tokens.size()) >= cfg.max_context) {
        s.done = true;
      }
    }
    m.row_seq.clear();
    m.pending = false;
  }

  void receive(std::vector<Seq>& seqs, MicroBatch& m, int32_t mb, int64_t& remaining_first, Clock::time_point& first_all) {
    const int64_t V = w.args.vocab_size;
    std::vector<float> logits(m.row_seq.size() * static_cast<size_t>(V));
    comm->recv(logits.data(), static_cast<int64_t>(logits.size() * 4), cfg.plan.ranks - 1, logits_tag(mb));
    take_logits(seqs, m, logits.data(), remaining_first, first_all);
  }

  DistStats lead(std::vector<GenSequence>& gens) {
    const ShardPlan& p = cfg.plan;
    if (static_cast<int64_t>(gens.size()) > cfg.max_seqs) {
      fail(ErrorKind::kInvalidArgument, gens.size(), " sequences for a cache of ", cfg.max_seqs);
    }
    const auto t0 = Clock::now();
    std::vector<Seq> seqs;
    seqs.reserve(gens.size());
    for (size_t i = 0; i < gens.size(); ++i) {
      GenSequence& g = gens[i];
      if (g.prompt.empty()) fail(ErrorKind::kInvalidArgument, "sequence ", i, " has an empty prompt");
      if (static_cast<int64_t>(g.prompt.size()) >= cfg.max_context) {
        fail(ErrorKind::kOutOfRange, "a prompt of ", g.prompt.size(), " tokens does not fit the context of ", cfg.max_context);
      }
      sampler::validate(g.sampling, w.args.vocab_size);
      g.output.clear();
      g.logits.clear();
      seqs.push_back(Seq{&g, g.prompt, 0, false, sampler::Sampler(g.sampling), static_cast<int32_t>(i)});
      seqs.back().sampler.set_prompt(g.prompt);
      stats.prompt_tokens += static_cast<int64_t>(g.prompt.size());
    }
    const int M = p.mode == ShardMode::kPipeline
                      ? std::max(1, std::min<int>(static_cast<int>(seqs.size()), cfg.micro_batches > 0 ? cfg.micro_batches : p.ranks))
                      : 1;
    std::vector<MicroBatch> mbs(static_cast<size_t>(M));
    for (size_t i = 0; i < seqs.size(); ++i) mbs[i % static_cast<size_t>(M)].seqs.push_back(i);
    int64_t remaining_first = static_cast<int64_t>(seqs.size());
    Clock::time_point first_all = t0;
    for (;;) {
      bool any = false;
      for (int32_t mb = 0; mb < M; ++mb) {
        MicroBatch& m = mbs[static_cast<size_t>(mb)];
        if (m.pending) receive(seqs, m, mb, remaining_first, first_all);
        // The next batch of this micro-batch: each live sequence's unsent tokens (prompt chunks up
        // to max_batch_tokens in all, as the engine's scheduler cuts them; one token in decode).
        Header h;
        h.mb = mb;
        int64_t budget = cfg.max_batch_tokens;
        bool all_decode = true;
        for (size_t si : m.seqs) {
          Seq& s = seqs[si];
          const int64_t len = static_cast<int64_t>(s.tokens.size());
          if (s.done || s.fed >= len || budget <= 0) continue;
          const int64_t n = std::min(len - s.fed, budget);
          for (int64_t q = s.fed; q < s.fed + n; ++q)
            h.batch.add(s.tokens[static_cast<size_t>(q)], static_cast<int32_t>(q), s.slot);
          all_decode &= n == 1;
          budget -= n;
          s.fed += n;
          if (s.fed == len) {
            h.rows.push_back(static_cast<int32_t>(h.batch.size() - 1));
            m.row_seq.push_back(si);
          }
        }
        if (h.batch.size() == 0) continue;
        any = true;
        h.mla = all_decode ? 1 : 0;
        const bool here = step(h, nullptr);
        if (h.rows.empty()) continue;
        if (here) {
          take_logits(seqs, m, out.logits.data(), remaining_first, first_all);
        } else {
          m.pending = true;
          if (!cfg.overlap) receive(seqs, m, mb, remaining_first, first_all);
        }
      }
      bool pending = false;
      for (const MicroBatch& m : mbs) pending |= m.pending;
      if (!any && !pending) break;
    }
    // Tell the followers this generation is over.
    if (p.ranks > 1) {
      Header done;
      done.kind = kDone;
      if (p.mode == ShardMode::kExpert) {
        const std::vector<int32_t> v = done.encode();
        int32_t n = static_cast<int32_t>(v.size());
        comm->broadcast(&n, 4, 0);
        comm->broadcast(const_cast<int32_t*>(v.data()), n * 4, 0);
      } else {
        send_done(1);
      }
    }
    stats.seconds = since(t0);
    stats.decode_seconds = std::chrono::duration<double>(Clock::now() - first_all).count();
    stats.decode_tokens = stats.generated_tokens - static_cast<int64_t>(seqs.size());
    return stats;
  }
};

DistributedGenerator::DistributedGenerator(const model::Weights& w, DistConfig cfg)
    : impl_(std::make_unique<Impl>(w, std::move(cfg))) {}

DistributedGenerator::~DistributedGenerator() = default;

DistStats DistributedGenerator::generate(std::vector<GenSequence>& seqs) {
  impl_->stats = {};
  if (impl_->cfg.plan.first()) return impl_->lead(seqs);
  const auto t0 = Clock::now();
  impl_->follow();
  impl_->stats.seconds = since(t0);
  return impl_->stats;
}

}  // namespace whale::engine
