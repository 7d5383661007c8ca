// ShardPlan: pipeline ranks partition the layers (embeddings first, head last), expert ranks
// partition every MoE layer's routed experts; the loader binds a rank's share only (the other
// tensors stay unbound, their bytes never read); the per-rank costs add up to the whole model's.
#include "engine/shard_plan.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <functional>
#include <limits>
#include <map>
#include <vector>

#include "core/dtype.h"
#include "../error_of.h"
#include "model/presets.h"
#include "model/random_checkpoint.h"
#include "model/weights.h"

namespace whale::engine {
namespace {

formats::ModelArgs v3() { return model::find_preset("tiny-deepseek-v3").args; }

TEST(ShardPlan, PipelineRanksPartitionTheLayers) {
  const formats::ModelArgs a = v3();  // 3 layers
  const ShardPlan r0 = shard_plan(a, ShardMode::kPipeline, 2, 0), r1 = shard_plan(a, ShardMode::kPipeline, 2, 1);
  EXPECT_EQ(r0.layer_begin, 0);
  EXPECT_GT(r0.layer_end, 0);
  EXPECT_EQ(r1.layer_begin, r0.layer_end);
  EXPECT_EQ(r1.layer_end, 3);
  // Every main-model tensor on exactly one rank; MTP modules on none.
  formats::for_each_tensor(a, [&](const formats::TensorSpec& t) {
    const int n = int{r0.keep(t)} + int{r1.keep(t)};
    EXPECT_EQ(n, t.mtp ? 0 : 1) << t.name;
    if (t.role == formats::TensorRole::kEmbed) {
      EXPECT_TRUE(r0.keep(t));
    }
    if (t.role == formats::TensorRole::kLmHead) {
      EXPECT_TRUE(r1.keep(t));
    }
  });
  EXPECT_EQ(testing::error_kind_of([&] { shard_plan(a, ShardMode::kPipeline, 4, 0); }), ErrorKind::kInvalidArgument);
}

// The largest rank's bytes under every contiguous cut of `L` layers into `ranks` non-empty ranges.
int64_t best_by_exhaustion(const formats::ModelArgs& a, int ranks) {
  const int64_t L = a.num_hidden_layers;
  int64_t best = std::numeric_limits<int64_t>::max();
  std::vector<int64_t> cut(static_cast<size_t>(ranks) + 1, 0);
  cut.back() = L;
  std::function<void(int)> go = [&](int k) {  // choose cut[k] for k = 1 .. ranks-1
    if (k == ranks) {
      int64_t worst = 0;
      for (int r = 0; r < ranks; ++r) {
        ShardPlan p{.mode = ShardMode::kPipeline, .ranks = ranks, .rank = r, .layer_begin = cut[static_cast<size_t>(r)],
                    .layer_end = cut[static_cast<size_t>(r) + 1], .tied_head = a.tie_word_embeddings};
        worst = std::max(worst, shard_cost(a, p).weight_bytes);
      }
      best = std::min(best, worst);
      return;
    }
    for (int64_t c = cut[static_cast<size_t>(k) - 1] + 1; c <= L - (ranks - k); ++c) {
      cut[static_cast<size_t>(k)] = c;
      go(k + 1);
    }
  };
  go(1);
  return best;
}

// The pipeline's cut gives the largest rank the fewest bytes any contiguous cut can (checked against
// all of them), over dense-first and all-MoE stacks, small and large vocabularies, tied heads; with
// V3's three dense layers first, rank 0 takes more layers than an equal count would give it.
TEST(ShardPlan, PipelineCutMinimizesTheLargestRanksBytes) {
  for (const int dense : {0, 1, 3}) {
    for (const int64_t vocab : {512, 20000}) {
      for (const bool tied : {false, true}) {
        formats::ModelArgs a = v3();
        a.num_hidden_layers = 7;
        a.first_k_dense_replace = dense;
        a.vocab_size = vocab;
        a.tie_word_embeddings = tied;
        for (const int ranks : {2, 3, 4}) {
          int64_t worst = 0, end = 0;
          for (int r = 0; r < ranks; ++r) {
            const ShardPlan p = shard_plan(a, ShardMode::kPipeline, ranks, r);
            EXPECT_EQ(p.layer_begin, end) << "rank " << r;
            EXPECT_GT(p.layer_end, p.layer_begin) << "rank " << r;
            end = p.layer_end;
            worst = std::max(worst, shard_cost(a, p).weight_bytes);
          }
          EXPECT_EQ(end, a.num_hidden_layers);
          EXPECT_EQ(worst, best_by_exhaustion(a, ranks)) << dense << " dense, vocab " << vocab << ", " << ranks << " ranks";
        }
      }
    }
  }
  formats::ModelArgs a = v3();
  a.num_hidden_layers = 8;
  a.first_k_dense_replace = 3;
  EXPECT_GT(shard_plan(a, ShardMode::kPipeline, 2, 0).layer_end, 4);  // dense layers weigh less
}

TEST(ShardPlan, ExpertRanksPartitionTheRoutedExpertsAndReplicateTheRest) {
  const formats::ModelArgs a = v3();  // 16 routed experts, 1 shared
  const ShardPlan r0 = shard_plan(a, ShardMode::kExpert, 2, 0), r1 = shard_plan(a, ShardMode::kExpert, 2, 1);
  EXPECT_EQ(r0.expert_end, 8);
  EXPECT_EQ(r1.expert_begin, 8);
  int64_t routed = 0;
  formats::for_each_tensor(a, [&](const formats::TensorSpec& t) {
    if (t.mtp) return;
    const int n = int{r0.keep(t)} + int{r1.keep(t)};
    const bool shared = t.role == formats::TensorRole::kSharedGate || t.role == formats::TensorRole::kSharedUp ||
                        t.role == formats::TensorRole::kSharedDown;
    if (t.expert >= 0 || shared) {
      EXPECT_EQ(n, 1) << t.name;
      routed += t.expert >= 0;
    } else {
      EXPECT_EQ(n, 2) << t.name;  // attention, norms, router, dense layers, embeddings, head
    }
  });
  EXPECT_GT(routed, 0);
}

TEST(ShardPlan, CostsAddUpToTheModel) {
  const formats::ModelArgs a = v3();
  int64_t total = 0, experts = 0;  // the main model, counted independently of shard_cost
  formats::for_each_tensor(a, [&](const formats::TensorSpec& t) {
    if (t.mtp) return;
    const int64_t b = core::dtype_bytes(t.dtype, t.shape.numel());
    total += b;
    if (t.expert >= 0 || t.role == formats::TensorRole::kSharedGate || t.role == formats::TensorRole::kSharedUp ||
        t.role == formats::TensorRole::kSharedDown) {
      experts += b;
    }
  });
  for (int n : {1, 2, 3}) {
    int64_t pp = 0, ep = 0, kv = 0;
    for (int r = 0; r < n; ++r) {
      const ShardCost c = shard_cost(a, shard_plan(a, ShardMode::kPipeline, n, r));
      pp += c.weight_bytes;
      kv += c.kv_bytes_per_token;
      ep += shard_cost(a, shard_plan(a, ShardMode::kExpert, n, r)).weight_bytes;
    }
    EXPECT_EQ(pp, total) << n;
    EXPECT_EQ(ep, n * (total - experts) + experts) << n;  // everything but the experts on every rank
    EXPECT_EQ(kv, a.num_hidden_layers * (a.kv_lora_rank + a.qk_rope_head_dim) * 2) << n;
  }
}

TEST(ShardPlan, LoaderBindsOnlyTheRanksShare) {
  namespace fs = std::filesystem;
  const std::string dir = (fs::temp_directory_path() / ("whale_shard_" + std::to_string(::getpid()))).string();
  model::RandomCheckpointOptions o;
  o.progress = false;
  write_random_checkpoint(v3(), dir, o);
  const ShardPlan p1 = shard_plan(v3(), ShardMode::kPipeline, 2, 1);
  const model::Weights w = model::load_weights(dir, {.keep = [&](const formats::TensorSpec& t) { return p1.keep(t); }});
  EXPECT_EQ(w.embed.w.raw(), nullptr);  // rank 1 of 2: no embeddings
  EXPECT_NE(w.lm_head.w.raw(), nullptr);
  EXPECT_TRUE(w.layers[0].attn_norm.empty());
  EXPECT_EQ(w.layers[1].mla.kv_a.w.raw(), nullptr);
  EXPECT_FALSE(w.layers[2].attn_norm.empty());
  EXPECT_NE(w.layers[2].moe.experts[0].gate.w.raw(), nullptr);
  EXPECT_TRUE(w.layers[3].mtp.enorm.empty());  // MTP module: not loaded under either mode

  const ShardPlan e1 = shard_plan(v3(), ShardMode::kExpert, 2, 1);
  const model::Weights we = model::load_weights(dir, {.keep = [&](const formats::TensorSpec& t) { return e1.keep(t); }});
  EXPECT_EQ(we.layers[1].moe.experts[7].down.w.raw(), nullptr);
  EXPECT_NE(we.layers[1].moe.experts[8].down.w.raw(), nullptr);
  EXPECT_EQ(we.layers[1].moe.shared.up.w.raw(), nullptr);  // shared experts run on rank 0
  EXPECT_NE(we.layers[1].mla.o.w.raw(), nullptr);
  EXPECT_NE(we.embed.w.raw(), nullptr);
  fs::remove_all(dir);
}

}  // namespace
}  // namespace whale::engine
