// The reference model end to end on tiny random checkpoints of every family: causality, batch
// independence, MTP input order and causality, routing exposure and group limits, tied heads.
#include <gtest/gtest.h>

#include <filesystem>
#include <set>

#include "core/error.h"
#include "formats/checkpoint.h"
#include "test_util.h"
#include "train/nn/causal_lm.h"
#include "train/nn/deepseek.h"
#include "train/nn/dense.h"
#include "train/torch_io.h"

namespace whale::train {
namespace {

using testing::preset;

const char* const kTiny[] = {"tiny-deepseek-v3", "tiny-deepseek-v2", "tiny-deepseek-v2-lite", "tiny-qwen2",
                             "tiny-llama"};

std::shared_ptr<nn::CausalLM> loaded(const formats::ModelArgs& a, const std::string& name) {
  const std::string dir = testing::random_checkpoint(a, name);
  auto lm = nn::make_causal_lm(a);
  load_state(*lm, formats::CheckpointReader::open(dir), torch::kFloat32);
  std::filesystem::remove_all(dir);
  return lm;
}

torch::Tensor positions_for(const torch::Tensor& tokens, int64_t start = 0) {
  return (torch::arange(tokens.size(1), torch::kInt64) + start).unsqueeze(0).expand_as(tokens).contiguous();
}

TEST(Forward, CausalAndBatchIndependentForEveryFamily) {
  torch::NoGradGuard no_grad;
  for (const char* name : kTiny) {
    const auto lm = loaded(preset(name), name);
    const torch::Tensor a = torch::tensor({{5, 17, 300, 2, 99, 41, 7, 256}}, torch::kInt64);
    torch::Tensor b = a.clone();
    b.narrow(1, 5, 3).fill_(123);  // change only the tokens after position 4
    const nn::Output oa = lm->forward(a, positions_for(a));
    const nn::Output ob = lm->forward(b, positions_for(b));
    ASSERT_EQ(oa.logits.sizes().vec(), (std::vector<int64_t>{1, 8, 512})) << name;
    ASSERT_EQ(oa.logits.scalar_type(), torch::kFloat32);
    EXPECT_TRUE(torch::isfinite(oa.logits).all().item<bool>()) << name;
    EXPECT_TRUE(torch::allclose(oa.logits.narrow(1, 0, 5), ob.logits.narrow(1, 0, 5), 0, 1e-6)) << name;
    EXPECT_FALSE(torch::allclose(oa.logits.narrow(1, 5, 3), ob.logits.narrow(1, 5, 3), 0, 1e-4)) << name;
    // Two sequences in one batch = each alone.
    const torch::Tensor both = torch::cat({a, b});
    const nn::Output o2 = lm->forward(both, positions_for(both));
    EXPECT_TRUE(torch::allclose(o2.logits[0], oa.logits[0], 0, 1e-5)) << name;
    EXPECT_TRUE(torch::allclose(o2.logits[1], ob.logits[0], 0, 1e-5)) << name;
    // RoPE is relative: shifting every position by 3 leaves the logits, spreading them does not.
    const nn::Output shifted = lm->forward(a, positions_for(a, 3));
    EXPECT_TRUE(torch::allclose(shifted.logits, oa.logits, 0, 1e-5)) << name;
    const nn::Output spread = lm->forward(a, positions_for(a) * 2);
    EXPECT_TRUE(torch::allclose(spread.logits.narrow(1, 0, 1), oa.logits.narrow(1, 0, 1), 0, 1e-6)) << name;
    EXPECT_FALSE(torch::allclose(spread.logits, oa.logits, 0, 1e-4)) << name;
    EXPECT_THROW(lm->forward(torch::tensor({{512}}, torch::kInt64), torch::zeros({1, 1}, torch::kInt64)), Error);
  }
}

TEST(Forward, RoutingIsExposedAndGroupLimited) {
  torch::NoGradGuard no_grad;
  const formats::ModelArgs a = preset("tiny-deepseek-v3");  // 16 experts, 4 groups, keep 2, top 4
  const auto lm = loaded(a, "routing");
  const torch::Tensor tokens = torch::randint(0, 512, {2, 6}, torch::kInt64);
  const nn::Output out = lm->forward(tokens, positions_for(tokens));
  const auto routing = lm->routing();
  ASSERT_EQ(routing.size(), 2u);  // layers 1 and 2 (first_k_dense_replace = 1)
  EXPECT_EQ(routing.count(0), 0u);
  for (const auto& [layer, r] : routing) {
    ASSERT_EQ(r.ids.sizes().vec(), (std::vector<int64_t>{12, 4})) << layer;
    for (int64_t t = 0; t < 12; ++t) {
      std::set<int64_t> experts, groups;
      for (int64_t j = 0; j < 4; ++j) {
        experts.insert(r.ids[t][j].item<int64_t>());
        groups.insert(r.ids[t][j].item<int64_t>() / 4);
      }
      EXPECT_EQ(experts.size(), 4u);
      EXPECT_LE(groups.size(), 2u) << "token " << t << " layer " << layer;
    }
    // norm_topk_prob + routed_scaling_factor 2.5: each token's weights sum to 2.5.
    EXPECT_TRUE(torch::allclose(r.weights.sum(1), torch::full({12}, 2.5f), 0, 1e-5));
  }
  // The MTP module's layer appears once it has run.
  lm->mtp_logits(out.hidden, tokens, positions_for(tokens));
  EXPECT_EQ(lm->routing().count(a.num_hidden_layers), 1u);
}

TEST(Forward, MtpConcatenatesEmbeddingThenHidden) {
  torch::NoGradGuard no_grad;
  const formats::ModelArgs a = preset("tiny-deepseek-v3");
  const auto lm = loaded(a, "mtp");
  const torch::Tensor tokens = torch::tensor({{3, 9, 27, 81, 243, 200}}, torch::kInt64);
  const torch::Tensor pos = positions_for(tokens);
  const nn::Output main = lm->forward(tokens, pos);
  // Draft for t+2 from hidden(t) and token t+1.
  const torch::Tensor next = torch::tensor({{9, 27, 81, 243, 200, 1}}, torch::kInt64);
  const nn::Output d = lm->mtp_forward(main.hidden, next, pos);
  ASSERT_EQ(d.logits.sizes().vec(), (std::vector<int64_t>{1, 6, 512}));
  EXPECT_TRUE(torch::isfinite(d.logits).all().item<bool>());
  // Causal: changing the last next-token changes only the last draft.
  torch::Tensor next2 = next.clone();
  next2[0][5] = 77;
  const nn::Output d2 = lm->mtp_forward(main.hidden, next2, pos);
  EXPECT_TRUE(torch::allclose(d2.logits.narrow(1, 0, 5), d.logits.narrow(1, 0, 5), 0, 1e-6));
  EXPECT_FALSE(torch::allclose(d2.logits.narrow(1, 5, 1), d.logits.narrow(1, 5, 1), 0, 1e-4));

  // Order: with eh_proj = [I | 0] only the first half (enorm(embedding)) reaches the block, so the
  // hidden state cannot matter; with [0 | I] only hnorm(hidden) does, so the tokens cannot.
  auto* ds = dynamic_cast<nn::DeepseekForCausalLM*>(lm.get());
  ASSERT_NE(ds, nullptr);
  torch::Tensor w = ds->model->mtp[0]->eh_proj->weight;
  const int64_t D = a.hidden_size;
  const torch::Tensor eye = torch::eye(D);
  const torch::Tensor other_hidden = torch::randn_like(main.hidden);
  w.copy_(torch::cat({eye, torch::zeros({D, D})}, 1));
  EXPECT_TRUE(torch::allclose(lm->mtp_logits(main.hidden, next, pos), lm->mtp_logits(other_hidden, next, pos), 0, 1e-6));
  EXPECT_FALSE(torch::allclose(lm->mtp_logits(main.hidden, next, pos), lm->mtp_logits(main.hidden, next2, pos), 0, 1e-4));
  w.copy_(torch::cat({torch::zeros({D, D}), eye}, 1));
  EXPECT_TRUE(torch::allclose(lm->mtp_logits(main.hidden, next, pos), lm->mtp_logits(main.hidden, next2, pos), 0, 1e-6));
  EXPECT_FALSE(torch::allclose(lm->mtp_logits(main.hidden, next, pos), lm->mtp_logits(other_hidden, next, pos), 0, 1e-4));

  EXPECT_THROW(lm->mtp_logits(main.hidden, next, pos, 1), Error);
  const auto dense = nn::make_causal_lm(preset("tiny-qwen2"));
  EXPECT_THROW(dense->mtp_logits(main.hidden, next, pos), Error);
}

TEST(Forward, HiddenIsPreNormAndTiedHeadUsesTheEmbedding) {
  torch::NoGradGuard no_grad;
  formats::ModelArgs a = preset("tiny-qwen2");
  a.tie_word_embeddings = true;
  const auto lm = loaded(a, "tied");
  auto* dense = dynamic_cast<nn::DenseForCausalLM*>(lm.get());
  ASSERT_NE(dense, nullptr);
  const torch::Tensor tokens = torch::tensor({{1, 2, 3}}, torch::kInt64);
  const nn::Output out = lm->forward(tokens, positions_for(tokens));
  const torch::Tensor h = out.hidden;
  const torch::Tensor normed = h / torch::sqrt(h.pow(2).mean(-1, true) + a.rms_norm_eps);  // norm weight is 1
  const torch::Tensor want = torch::matmul(normed, dense->model->embed_tokens->weight.t());
  EXPECT_TRUE(torch::allclose(out.logits, want, 1e-5, 1e-5));
}

TEST(Forward, Bf16ComputeTracksF32) {
  torch::NoGradGuard no_grad;
  const formats::ModelArgs a = preset("tiny-deepseek-v2-lite");
  const std::string dir = testing::random_checkpoint(a, "bf16");
  const auto reader = formats::CheckpointReader::open(dir);
  auto f32 = nn::make_causal_lm(a);
  auto bf16 = nn::make_causal_lm(a);
  load_state(*f32, reader, torch::kFloat32);
  load_state(*bf16, reader, torch::kBFloat16);
  const torch::Tensor tokens = torch::tensor({{4, 8, 15, 16, 23, 42}}, torch::kInt64);
  const torch::Tensor x = f32->forward(tokens, positions_for(tokens)).logits;
  const torch::Tensor y = bf16->forward(tokens, positions_for(tokens)).logits;
  ASSERT_EQ(y.scalar_type(), torch::kFloat32);
  const double err = (x - y).abs().max().item<double>();
  const double mag = x.abs().max().item<double>();
  EXPECT_LT(err, 0.05 * mag) << "max error " << err << " of " << mag;
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace whale::train
