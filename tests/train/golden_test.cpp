// The engine (src/model, whale's own kernels) against the independent libtorch implementation
// (src/train/nn) on tiny random checkpoints of every family and routing variant: full-sequence
// prefill and token-by-token decode through the cache, both MLA paths, MTP draft logits, and the
// experts each token is routed to. f32 everywhere; the bound is max |Δlogit| <= 1e-4.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>

#include "formats/checkpoint.h"
#include "model/forward.h"
#include "model/weights.h"
#include "test_util.h"
#include "train/nn/causal_lm.h"
#include "train/torch_io.h"

namespace whale::train {
namespace {

struct Variant {
  std::string name;
  formats::ModelArgs args;
};

std::vector<Variant> variants() {
  std::vector<Variant> v;
  v.push_back({"v3_sigmoid_noaux_tc_qlora_shared_mtp", testing::preset("tiny-deepseek-v3")});
  formats::ModelArgs no_shared = testing::preset("tiny-deepseek-v3");
  no_shared.n_shared_experts = 0;
  no_shared.norm_topk_prob = false;
  v.push_back({"v3_no_shared_no_norm", no_shared});
  v.push_back({"v2_softmax_group_limited_qlora", testing::preset("tiny-deepseek-v2")});
  v.push_back({"v2lite_softmax_greedy_no_qlora", testing::preset("tiny-deepseek-v2-lite")});
  formats::ModelArgs v2_norm = testing::preset("tiny-deepseek-v2-lite");
  v2_norm.norm_topk_prob = true;
  v2_norm.routed_scaling_factor = 3.0;  // V2 ignores the scale when normalising
  v.push_back({"v2lite_norm_topk_prob", v2_norm});
  v.push_back({"qwen2", testing::preset("tiny-qwen2")});
  v.push_back({"llama3_rope", testing::preset("tiny-llama")});
  formats::ModelArgs tied = testing::preset("tiny-qwen2");
  tied.tie_word_embeddings = true;
  v.push_back({"qwen2_tied", tied});
  return v;
}

double max_abs_diff(const float* a, const torch::Tensor& b) {
  const torch::Tensor bc = b.contiguous().to(torch::kFloat32);
  const float* p = bc.data_ptr<float>();
  double m = 0;
  for (int64_t i = 0; i < bc.numel(); ++i) m = std::max(m, std::fabs(double(a[i]) - p[i]));
  return m;
}

class Golden : public ::testing::TestWithParam<Variant> {};

TEST_P(Golden, EngineMatchesLibtorch) {
  const Variant& v = GetParam();
  model::RandomCheckpointOptions o;
  o.progress = false;
  o.weight_std = 0.08f;  // sharp enough that routing and attention are not uniform
  const std::string dir = testing::temp_dir("golden_" + v.name);
  model::write_random_checkpoint(v.args, dir, o);

  const model::Weights w = model::load_weights(dir);
  auto ref = nn::make_causal_lm(w.args);
  load_state(*ref, formats::CheckpointReader::open(dir), torch::kFloat32);
  torch::NoGradGuard no_grad;

  const std::vector<int32_t> tokens = {256, 72, 101, 108, 108, 111, 44, 32, 119, 111, 114, 108, 100, 33};
  const int64_t T = static_cast<int64_t>(tokens.size()), V = w.args.vocab_size;
  torch::Tensor tt = torch::empty({1, T}, torch::kInt64), pos = torch::arange(T, torch::kInt64).unsqueeze(0);
  for (int64_t i = 0; i < T; ++i) tt[0][i] = tokens[static_cast<size_t>(i)];
  const nn::Output r = ref->forward(tt, pos);

  core::ThreadPool pool(2);
  model::Scratch s;
  for (const model::MlaMode mode : {model::MlaMode::kNaive, model::MlaMode::kAbsorbed}) {
    if (mode == model::MlaMode::kAbsorbed && !w.args.is_deepseek()) continue;
    // Prefill: the whole sequence in one batch.
    model::ContiguousKvCache cache(w.args, 1, T + 1, core::DType::kF32);  // the oracle comparison wants f32 rows
    model::Batch b;
    for (int64_t i = 0; i < T; ++i) b.add(tokens[static_cast<size_t>(i)], static_cast<int32_t>(i), 0);
    model::ForwardOutput out;
    model::forward(w, b, cache, {.mla = mode, .want_hidden = true, .want_routing = true}, s, pool, out);
    const double prefill = max_abs_diff(out.logits.data(), r.logits);
    EXPECT_LE(prefill, 1e-4) << v.name << " prefill";
    EXPECT_LE(max_abs_diff(out.hidden.data(), r.hidden), 1e-4) << v.name << " hidden";
    // Routing: the same experts for every token of every MoE layer.
    for (const auto& [layer, routing] : ref->routing()) {
      if (layer >= w.args.num_hidden_layers) continue;
      const torch::Tensor ids = routing.ids.contiguous();
      const auto& mine = out.routing[static_cast<size_t>(layer)];
      ASSERT_EQ(static_cast<int64_t>(mine.size()), ids.numel()) << v.name << " layer " << layer;
      for (int64_t i = 0; i < ids.numel(); ++i) {
        EXPECT_EQ(mine[static_cast<size_t>(i)], ids.data_ptr<int64_t>()[i]) << v.name << " layer " << layer << " slot " << i;
      }
    }
    // MTP draft logits from the main hidden states and the next tokens.
    if (w.args.num_nextn_predict_layers > 0) {
      model::Batch next;
      for (int64_t i = 0; i + 1 < T; ++i) next.add(tokens[static_cast<size_t>(i + 1)], static_cast<int32_t>(i), 0);
      std::vector<float> draft;
      std::vector<float> hidden(out.hidden.begin(), out.hidden.begin() + (T - 1) * w.args.hidden_size);
      model::mtp_forward(w, next, hidden, 0, cache, {.mla = mode}, s, pool, draft);
      const torch::Tensor ref_draft = ref->mtp_logits(r.hidden.slice(1, 0, T - 1), tt.slice(1, 1, T), pos.slice(1, 0, T - 1));
      EXPECT_LE(max_abs_diff(draft.data(), ref_draft), 1e-4) << v.name << " mtp";
    }
    // Decode: one token at a time through a fresh cache.
    model::ContiguousKvCache dcache(w.args, 1, T + 1, core::DType::kF32);
    double decode = 0;
    for (int64_t i = 0; i < T; ++i) {
      model::Batch one;
      one.add(tokens[static_cast<size_t>(i)], static_cast<int32_t>(i), 0);
      model::forward(w, one, dcache, {.mla = mode}, s, pool, out);
      decode = std::max(decode, max_abs_diff(out.logits.data(), r.logits[0][i]));
    }
    EXPECT_LE(decode, 1e-4) << v.name << " decode";
    std::printf("[ measure  ] %-40s %-8s prefill %.2e decode %.2e (vocab %lld)\n", v.name.c_str(),
                mode == model::MlaMode::kNaive ? "naive" : "absorbed", prefill, decode, static_cast<long long>(V));
  }
  std::filesystem::remove_all(dir);
}

INSTANTIATE_TEST_SUITE_P(Families, Golden, ::testing::ValuesIn(variants()),
                         [](const auto& info) { return info.param.name; });

}  // namespace
}  // namespace whale::train
