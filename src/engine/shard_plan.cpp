// Layer and expert ranges per rank: balanced contiguous ranges (the first ranks take one more when
// the count does not divide), and the bytes each rank's share of the tensor table holds.
#include "engine/shard_plan.h"

#include <algorithm>
#include <tuple>

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

}  // namespace

ShardPlan shard_plan(const formats::ModelArgs& a, ShardMode mode, int ranks, int rank) {
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
    std::tie(p.layer_begin, p.layer_end) = part(a.num_hidden_layers, ranks, rank);
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
    c.weight_bytes += bytes ? bytes(t) : core::dtype_bytes(t.dtype, t.shape.numel());
  });
  const int64_t layers = plan.mode == ShardMode::kPipeline ? plan.layer_end - plan.layer_begin : a.num_hidden_layers;
  c.kv_bytes_per_token = layers * model::kv_row_width(a) * 2;
  return c;
}

}  // namespace whale::engine
