// Layer and expert ranges per rank: contiguous layer ranges balanced by bytes (the pipeline), equal
// expert ranges (the first ranks take one more when the count does not divide), and the bytes each
// rank's share of the tensor table holds.
#include "engine/shard_plan.h"

#include <algorithm>
#include <limits>
#include <tuple>
#include <vector>

#include "core/dtype.h"
#include "core/error.h"
#include "model/kv_cache.h"

namespace whale::engine {
namespace {

// [begin, end) of part `i` when n items are cut into `parts` contiguous pieces.
std::pair<int64_t, int64_t> part(int64_t n, int parts, int i) {
  const int64_t base = n / parts, extra = n % parts;
  const int64_t begin = i * base + std::min<int64_t>(i, extra);
  return {begin, begin + base + (i < extra ? 1 : 0)};
}

int64_t stored_bytes(const formats::TensorSpec& t, const std::function<int64_t(const formats::TensorSpec&)>& bytes) {
  return bytes ? bytes(t) : core::dtype_bytes(t.dtype, t.shape.numel());
}

// The pipeline's cut: contiguous layer ranges, at least one per rank, that minimize the largest
// rank's bytes, the first rank also holding the embeddings and the last the final norm and head
// (and the embeddings again when the head is tied to them). Dense layers (V3's first three) weigh
// a fraction of an MoE layer, so equal layer counts would leave the first rank light.
// best[k][i]: the least possible largest share when ranks [0, k) hold layers [0, i).
std::vector<int64_t> pipeline_cuts(const formats::ModelArgs& a, int ranks,
                                   const std::function<int64_t(const formats::TensorSpec&)>& bytes) {
  const int64_t L = a.num_hidden_layers;
  std::vector<int64_t> prefix(static_cast<size_t>(L) + 1, 0);
  int64_t first = 0, last = 0;
  formats::for_each_tensor(a, [&](const formats::TensorSpec& t) {
    if (t.mtp) return;
    const int64_t b = stored_bytes(t, bytes);
    if (t.layer >= 0) {
      prefix[static_cast<size_t>(t.layer) + 1] += b;
    } else if (t.role == formats::TensorRole::kEmbed) {
      first += b;
      if (a.tie_word_embeddings) last += b;
    } else {
      last += b;
    }
  });
  for (int64_t i = 0; i < L; ++i) prefix[static_cast<size_t>(i) + 1] += prefix[static_cast<size_t>(i)];
  const int64_t kInf = std::numeric_limits<int64_t>::max();
  const auto share = [&](int k, int64_t j, int64_t i) {
    return prefix[static_cast<size_t>(i)] - prefix[static_cast<size_t>(j)] + (k == 0 ? first : 0) + (k == ranks - 1 ? last : 0);
  };
  std::vector<std::vector<int64_t>> best(static_cast<size_t>(ranks) + 1, std::vector<int64_t>(static_cast<size_t>(L) + 1, kInf));
  std::vector<std::vector<int64_t>> from(best.size(), std::vector<int64_t>(static_cast<size_t>(L) + 1, 0));
  best[0][0] = 0;
  for (int k = 1; k <= ranks; ++k) {
    for (int64_t i = k; i <= L - (ranks - k); ++i) {
      for (int64_t j = k - 1; j < i; ++j) {
        if (best[static_cast<size_t>(k) - 1][static_cast<size_t>(j)] == kInf) continue;
        const int64_t m = std::max(best[static_cast<size_t>(k) - 1][static_cast<size_t>(j)], share(k - 1, j, i));
        if (m < best[static_cast<size_t>(k)][static_cast<size_t>(i)]) {  // ties: the earliest cut
          best[static_cast<size_t>(k)][static_cast<size_t>(i)] = m;
          from[static_cast<size_t>(k)][static_cast<size_t>(i)] = j;
        }
      }
    }
  }
  std::vector<int64_t> cuts(static_cast<size_t>(ranks) + 1, L);  // rank k holds [cuts[k], cuts[k+1])
  for (int k = ranks; k > 0; --k) cuts[static_cast<size_t>(k) - 1] = from[static_cast<size_t>(k)][static_cast<size_t>(cuts[static_cast<size_t>(k)])];
  return cuts;
}

}  // namespace

ShardPlan shard_plan(const formats::ModelArgs& a, ShardMode mode, int ranks, int rank,
                     const std::function<int64_t(const formats::TensorSpec&)>& bytes) {
  if (ranks < 1 || rank < 0 || rank >= ranks) fail(ErrorKind::kInvalidArgument, "rank ", rank, " of ", ranks, " ranks");
  ShardPlan p;
  p.mode = mode;
  p.ranks = ranks;
  p.rank = rank;
  p.layer_begin = 0;
  p.layer_end = a.num_hidden_layers;
  p.expert_begin = 0;
  p.expert_end = a.n_routed_experts;
  p.tied_head = a.tie_word_embeddings;
  if (mode == ShardMode::kPipeline) {
    if (ranks > a.num_hidden_layers) {
      fail(ErrorKind::kInvalidArgument, "--pp ", ranks, ": the model has only ", a.num_hidden_layers, " layers to split");
    }
    const std::vector<int64_t> cuts = pipeline_cuts(a, ranks, bytes);
    p.layer_begin = cuts[static_cast<size_t>(rank)];
    p.layer_end = cuts[static_cast<size_t>(rank) + 1];
  } else if (mode == ShardMode::kExpert && a.n_routed_experts > 0) {
    if (ranks > a.n_routed_experts) {
      fail(ErrorKind::kInvalidArgument, "--ep ", ranks, ": the model has only ", a.n_routed_experts, " routed experts");
    }
    std::tie(p.expert_begin, p.expert_end) = part(a.n_routed_experts, ranks, rank);
    p.shared_experts = rank == 0;
  }
  return p;
}

bool ShardPlan::keep(const formats::TensorSpec& t) const {
  using R = formats::TensorRole;
  if (mode == ShardMode::kNone) return true;
  if (t.mtp) return false;
  if (mode == ShardMode::kExpert) {
    if (t.expert >= 0) return t.expert >= expert_begin && t.expert < expert_end;
    if (t.role == R::kSharedGate || t.role == R::kSharedUp || t.role == R::kSharedDown) return shared_experts;
    return true;
  }
  if (t.layer >= 0) return t.layer >= layer_begin && t.layer < layer_end;
  if (t.role == R::kEmbed) return first() || (last() && tied_head);
  return last();  // final norm, head
}

std::string ShardPlan::describe() const {
  std::string s = "rank " + std::to_string(rank) + "/" + std::to_string(ranks) + ": ";
  if (mode == ShardMode::kPipeline) {
    s += "layers [" + std::to_string(layer_begin) + ", " + std::to_string(layer_end) + ")";
    if (first()) s += " + embeddings";
    if (last()) s += " + head";
  } else if (mode == ShardMode::kExpert) {
    s += "routed experts [" + std::to_string(expert_begin) + ", " + std::to_string(expert_end) + ")";
    s += shared_experts ? " + shared experts + attention" : " + attention";
  } else {
    s += "everything";
  }
  return s;
}

ShardCost shard_cost(const formats::ModelArgs& a, const ShardPlan& plan,
                     const std::function<int64_t(const formats::TensorSpec&)>& bytes) {
  ShardCost c;
  formats::for_each_tensor(a, [&](const formats::TensorSpec& t) {
    if (!plan.keep(t)) return;
    c.weight_bytes += stored_bytes(t, bytes);
  });
  const int64_t layers = plan.mode == ShardMode::kPipeline ? plan.layer_end - plan.layer_begin : a.num_hidden_layers;
  c.kv_bytes_per_token = layers * model::kv_row_width(a) * 2;
  return c;
}

}  // namespace whale::engine
