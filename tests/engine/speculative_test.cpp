// Speculative decoding in the engine against plain decoding with the same engine (itself checked
// against model::forward in engine_test): greedy tokens and every logprob record (the raw logits'
// log-softmax, compared bit for bit) identical on each tiny DeepSeek preset with an MTP module (V3;
// V2 and V2-Lite MLA with one added), f32 and q8_0 (packed kernels) weights, k = 1..3 drafts, MTP,
// draft-model and oracle drafts, several prompts, blocks of 4 positions (every verify step crosses blocks);
// several sequences at once; preemption; every block given back. Sampling: the first generated
// tokens' distribution over many seeds equals plain sampling's by a chi-square test, and drafts that
// are always accepted (the wrong rule) fail it.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "../sampler/chi_square.h"
#include "core/error.h"
#include "engine/engine.h"
#include "engine/spec_chooser.h"
#include "model/presets.h"
#include "model/random_checkpoint.h"
#include "model/weights.h"

namespace whale::engine {
namespace {

struct Model {
  std::string name;
  std::unique_ptr<model::Weights> w;
};

class SpeculativeTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    namespace fs = std::filesystem;
    root_ = (fs::temp_directory_path() / ("whale_spec_" + std::to_string(::getpid()))).string();
    models_ = new std::vector<Model>();
    for (const char* preset : {"tiny-deepseek-v3", "tiny-deepseek-v2", "tiny-deepseek-v2-lite"}) {
      formats::ModelArgs a = model::find_preset(preset).args;
      a.num_nextn_predict_layers = 1;  // V3 has it; the V2 presets get one so both MLA forms are covered
      model::RandomCheckpointOptions o;
      o.progress = false;
      o.weight_std = 0.08f;
      o.placeholder_tokenizer = true;
      const std::string dir = root_ + "/" + preset;
      write_random_checkpoint(a, dir, o);
      models_->push_back({preset, std::make_unique<model::Weights>(model::load_weights(dir))});
      if (std::string(preset) == "tiny-deepseek-v3") {
        model::LoadOptions q;
        q.quant = core::DType::kQ8_0;
        models_->push_back({std::string(preset) + " q8_0", std::make_unique<model::Weights>(model::load_weights(dir, q))});
      }
    }
  }
  static void TearDownTestSuite() {
    delete models_;
    models_ = nullptr;
    std::filesystem::remove_all(root_);
  }

  struct Out {
    std::vector<int32_t> tokens;
    std::vector<sampler::TokenLogprob> logprobs;
    bool finished = false;
  };

  static Request request(const std::vector<int32_t>& prompt, int64_t n, Out* out, float temperature = 0.0f,
                         uint64_t seed = 0) {
    Request r;
    r.prompt = prompt;
    r.max_tokens = n;
    r.ignore_eos = true;
    r.sampling.temperature = temperature;
    r.sampling.top_p = 1.0f;
    r.sampling.seed = seed;
    r.reasoning.enabled = false;
    r.logprobs = temperature == 0.0f ? sampler::kMaxTopLogprobs : -1;  // 20 alternatives, bit for bit
    r.on_event = [out](const Event& e) {
      out->tokens.insert(out->tokens.end(), e.tokens.begin(), e.tokens.end());
      out->logprobs.insert(out->logprobs.end(), e.logprobs.begin(), e.logprobs.end());
      if (e.kind == Event::Kind::kFinished) out->finished = true;
    };
    return r;
  }

  static std::vector<int32_t> prompt_of(int n, int seed) {
    std::vector<int32_t> p = {256};
    for (int i = 1; i < n; ++i) p.push_back(static_cast<int32_t>((i * 37 + seed * 101) % 250 + 1));
    return p;
  }

  // Runs the prompts together (max_seqs of them at once) and returns each one's output.
  static std::vector<Out> run(const model::Weights& w, const std::vector<std::vector<int32_t>>& prompts,
                              const std::vector<int64_t>& n, EngineConfig cfg, EngineStats* stats = nullptr) {
    Engine e(w, nullptr, cfg);
    std::vector<Out> outs(prompts.size());
    for (size_t i = 0; i < prompts.size(); ++i) e.add(request(prompts[i], n[i], &outs[i]));
    e.run_until_idle();
    const EngineStats s = e.stats();
    EXPECT_EQ(s.kv_blocks_free, s.kv_blocks_total) << "blocks not given back";
    if (stats) *stats = s;
    for (const Out& o : outs) EXPECT_TRUE(o.finished);
    return outs;
  }

  static void expect_same(const Out& spec, const Out& plain) {
    ASSERT_EQ(spec.tokens, plain.tokens);
    ASSERT_EQ(spec.logprobs.size(), plain.logprobs.size());
    for (size_t i = 0; i < spec.logprobs.size(); ++i) {
      const sampler::TokenLogprob &a = spec.logprobs[i], &b = plain.logprobs[i];
      ASSERT_EQ(a.token, b.token) << "token " << i;
      // Bit-equal: the same logits row gives the same log-softmax.
      ASSERT_EQ(a.logprob, b.logprob) << "token " << i;
      ASSERT_EQ(a.top.size(), b.top.size());
      for (size_t j = 0; j < a.top.size(); ++j) {
        ASSERT_EQ(a.top[j].token, b.top[j].token);
        ASSERT_EQ(a.top[j].logprob, b.top[j].logprob) << "token " << i << " alternative " << j;
      }
    }
  }

  static inline std::string root_;
  static inline std::vector<Model>* models_ = nullptr;
};

TEST_F(SpeculativeTest, GreedyEqualsPlainDecodingBitForBit) {
  const std::vector<std::vector<int32_t>> prompts = {prompt_of(5, 1), prompt_of(13, 2), prompt_of(30, 3)};
  const int64_t n = 41;
  for (const Model& m : *models_) {
    for (const auto& p : prompts) {
      const EngineConfig plain_cfg{.max_seqs = 1, .max_batch_tokens = 16, .block_size = 4, .max_context = 128, .threads = 1};
      const Out plain = run(*m.w, {p}, {n}, plain_cfg)[0];
      ASSERT_EQ(static_cast<int64_t>(plain.tokens.size()), n);
      for (int32_t k : {1, 2, 3}) {
        for (SpecMode mode : {SpecMode::kMtp, SpecMode::kOracle}) {
          SCOPED_TRACE(testing::Message() << m.name << ", prompt " << p.size() << ", k " << k << ", " << spec_mode_name(mode));
          EngineConfig cfg = plain_cfg;
          cfg.spec = {.mode = mode, .k = k, .oracle = plain.tokens, .oracle_p = 0.6, .oracle_seed = static_cast<uint64_t>(k)};
          EngineStats s;
          const Out spec = run(*m.w, {p}, {n}, cfg, &s)[0];
          expect_same(spec, plain);
          EXPECT_GT(s.spec.steps, 0);
          ASSERT_EQ(s.spec.proposed.size(), static_cast<size_t>(k));
          int64_t accepted = 0;
          for (int64_t a : s.spec.accepted) accepted += a;
          // Every verify step emits its accepted drafts plus one token; the first token came from prefill.
          EXPECT_EQ(s.spec.emitted, s.spec.steps + accepted);
          EXPECT_LE(s.spec.emitted, n - 1);
          if (mode == SpecMode::kOracle) {
            EXPECT_GT(accepted, 0);
            EXPECT_LT(s.spec.accepted[0], s.spec.proposed[0]);
            EXPECT_LT(s.spec.steps, n - 1);  // fewer verify steps than tokens: the drafts paid
          }
        }
      }
    }
  }
}

TEST_F(SpeculativeTest, OracleAlwaysRightAcceptsEveryDraft) {
  const Model& m = models_->front();
  const auto p = prompt_of(9, 4);
  const EngineConfig plain_cfg{.max_seqs = 1, .block_size = 4, .max_context = 128, .threads = 1};
  const Out plain = run(*m.w, {p}, {40}, plain_cfg)[0];
  EngineConfig cfg = plain_cfg;
  cfg.spec = {.mode = SpecMode::kOracle, .k = 3, .oracle = plain.tokens, .oracle_p = 1.0};
  EngineStats s;
  expect_same(run(*m.w, {p}, {40}, cfg, &s)[0], plain);
  // 39 tokens after the first in steps of 4 (3 drafts + 1): 9 full steps, then 3 tokens left
  // (k is cut to what max_tokens leaves: 2 drafts).
  EXPECT_EQ(s.spec.steps, 10);
  EXPECT_EQ(s.spec.emitted, 39);
  EXPECT_EQ(s.spec.accepted[0], s.spec.proposed[0]);
  EXPECT_EQ(s.spec.accepted[2], s.spec.proposed[2]);
}

// `--spec auto` (adaptive): the engine alternates plain and speculative steps as the chooser decides;
// switching in the middle of a sequence (the MTP hidden state kept by plain steps) changes nothing.
TEST_F(SpeculativeTest, AdaptiveSwitchingEqualsPlainDecodingBitForBit) {
  for (const Model& m : *models_) {
    const auto p = prompt_of(11, 5);
    const EngineConfig plain_cfg{.max_seqs = 1, .max_batch_tokens = 16, .block_size = 4, .max_context = 128, .threads = 1};
    const Out plain = run(*m.w, {p}, {41}, plain_cfg)[0];
    for (int32_t k : {1, 2}) {
      SCOPED_TRACE(testing::Message() << m.name << ", k " << k);
      EngineConfig cfg = plain_cfg;
      cfg.spec = {.mode = SpecMode::kMtp, .k = k, .adaptive = true};
      EngineStats s;
      expect_same(run(*m.w, {p}, {41}, cfg, &s)[0], plain);
      EXPECT_GE(s.spec.plain_steps, 4) << "the chooser measures plain steps first";
      EXPECT_GE(s.spec.steps, 4) << "and speculative ones";
    }
  }
}

// The chooser on made-up costs: it measures both arms, then keeps to the cheaper per token, re-measuring
// the other once in explore_every steps, and follows a change of costs.
TEST(SpecChooser, KeepsTheCheaperArmPerTokenAndFollowsAChange) {
  SpecChooser c({.warm = 4, .explore_every = 32, .alpha = 0.2});
  // Speculation: 1.5 s a step for 2 tokens (0.75 s/token) vs plain 1 s/token: speculate.
  auto run = [&c](int steps, double spec_s, int64_t spec_tokens, double plain_s) {
    int speculated = 0;
    for (int i = 0; i < steps; ++i) {
      const bool s = c.speculate_next();
      speculated += s;
      c.record(s, s ? spec_s : plain_s, s ? spec_tokens : 1);
    }
    return speculated;
  };
  const int first = run(200, 1.5, 2, 1.0);
  EXPECT_GE(first, 200 - 4 - 200 / 32 - 1);  // all but the plain warm-up and the explorations
  EXPECT_LE(first, 200 - 4);
  EXPECT_NEAR(c.seconds_per_token(true), 0.75, 1e-9);
  EXPECT_NEAR(c.seconds_per_token(false), 1.0, 1e-9);
  // Drafts stop paying (every draft rejected: 1 token per 1.5 s step): after the spec arm's average
  // catches up through its re-measurements, it decodes plainly.
  run(200, 1.5, 1, 1.0);
  const int later = run(200, 1.5, 1, 1.0);
  EXPECT_LE(later, 200 / 32 + 1);
  EXPECT_GT(later, 0) << "it keeps re-measuring";
}

TEST_F(SpeculativeTest, SeveralSequencesAndPreemption) {
  const Model& m = models_->front();
  const std::vector<std::vector<int32_t>> prompts = {prompt_of(7, 5), prompt_of(19, 6), prompt_of(11, 7)};
  const std::vector<int64_t> n = {12, 30, 45};
  std::vector<Out> alone;
  for (size_t i = 0; i < prompts.size(); ++i) {
    alone.push_back(run(*m.w, {prompts[i]}, {n[i]}, {.max_seqs = 1, .block_size = 4, .max_context = 96, .threads = 1})[0]);
  }
  // Roomy cache, then one so small that sequences are preempted and recomputed.
  for (int32_t blocks : {0, 20}) {
   for (SpecMode mode : {SpecMode::kMtp, SpecMode::kDraft}) {
    SCOPED_TRACE(testing::Message() << "kv_blocks " << blocks << ", " << spec_mode_name(mode));
    EngineConfig cfg{.max_seqs = 3, .max_batch_tokens = 16, .block_size = 4, .max_context = 64, .kv_blocks = blocks, .threads = 1};
    cfg.spec = {.mode = mode, .k = 2, .draft = (*models_)[2].w.get()};
    EngineStats s;
    const std::vector<Out> together = run(*m.w, prompts, n, cfg, &s);
    for (size_t i = 0; i < prompts.size(); ++i) EXPECT_EQ(together[i].tokens, alone[i].tokens) << "request " << i;
    EXPECT_GT(s.spec.steps, 0);  // the last one alone speculates
   }
  }
}

// Draft-model speculation: the main model drafting for itself (every greedy draft accepted), and
// other random models of the same vocabulary (V2 for V3, V2-Lite for V3, V3 for V2) accepting at
// random; outputs identical to plain decoding, bit for bit.
TEST_F(SpeculativeTest, DraftModelEqualsPlainDecoding) {
  const std::vector<std::vector<int32_t>> prompts = {prompt_of(5, 11), prompt_of(22, 12)};
  const std::vector<std::pair<size_t, size_t>> pairs = {{0, 0}, {0, 2}, {0, 3}, {2, 0}};  // (main, draft) in models_
  for (const auto& [mi, di] : pairs) {
    const Model& m = (*models_)[mi];
    const Model& d = (*models_)[di];
    for (const auto& p : prompts) {
      const EngineConfig plain_cfg{.max_seqs = 1, .max_batch_tokens = 16, .block_size = 4, .max_context = 128, .threads = 1};
      const Out plain = run(*m.w, {p}, {37}, plain_cfg)[0];
      for (int32_t k : {1, 3}) {
        SCOPED_TRACE(testing::Message() << m.name << " drafted by " << d.name << ", prompt " << p.size() << ", k " << k);
        EngineConfig cfg = plain_cfg;
        cfg.spec = {.mode = SpecMode::kDraft, .k = k, .draft = d.w.get()};
        EngineStats s;
        expect_same(run(*m.w, {p}, {37}, cfg, &s)[0], plain);
        EXPECT_GT(s.spec.steps, 0);
        if (mi == di) {
          for (int32_t j = 0; j < k; ++j) EXPECT_EQ(s.spec.accepted[j], s.spec.proposed[j]) << "draft " << j;
        }
      }
    }
  }
}

TEST_F(SpeculativeTest, MtpNeedsMtpModules) {
  formats::ModelArgs a = model::find_preset("tiny-qwen2").args;
  model::RandomCheckpointOptions o;
  o.progress = false;
  o.placeholder_tokenizer = true;
  const std::string dir = root_ + "/qwen";
  write_random_checkpoint(a, dir, o);
  const model::Weights w = model::load_weights(dir);
  EngineConfig cfg{.max_seqs = 1, .max_context = 64, .threads = 1};
  cfg.spec.mode = SpecMode::kMtp;
  EXPECT_THROW(Engine(w, nullptr, cfg), Error);
  // The oracle drafts for any model.
  const auto p = prompt_of(6, 8);
  const Out plain = run(w, {p}, {20}, {.max_seqs = 1, .block_size = 4, .max_context = 64, .threads = 1})[0];
  cfg.block_size = 4;
  cfg.spec = {.mode = SpecMode::kOracle, .k = 2, .oracle = plain.tokens, .oracle_p = 0.7};
  expect_same(run(w, {p}, {20}, cfg)[0], plain);
}

// The first generated tokens under temperature sampling, over many seeds: speculative (oracle drafts
// of the greedy continuation, so drafts are often right and often wrong) and plain must draw from
// one distribution (chi-square, p > 0.001) at each of the first positions a verify step decides.
TEST_F(SpeculativeTest, SamplingKeepsTheDistribution) {
  const Model& m = models_->front();
  const auto p = prompt_of(6, 9);
  const int64_t n = 4;
  const Out greedy = run(*m.w, {p}, {n}, {.max_seqs = 1, .max_context = 32, .threads = 1})[0];
  constexpr int kSeeds = 1500;
  const float temperature = 0.6f;
  std::vector<std::map<int32_t, int64_t>> plain(n), spec(n);
  std::map<int32_t, int64_t> spec_joint, plain_joint;
  auto sample_run = [&](const EngineConfig& cfg, uint64_t seed) {
    Engine e(*m.w, nullptr, cfg);
    Out o;
    e.add(request(p, n, &o, temperature, seed));
    e.run_until_idle();
    return o.tokens;
  };
  for (int s = 0; s < kSeeds; ++s) {
    EngineConfig cfg{.max_seqs = 1, .max_context = 32, .threads = 1};
    const std::vector<int32_t> a = sample_run(cfg, static_cast<uint64_t>(s));
    cfg.spec = {.mode = SpecMode::kOracle, .k = 2, .oracle = greedy.tokens, .oracle_p = 1.0};
    const std::vector<int32_t> b = sample_run(cfg, static_cast<uint64_t>(s) + 1000003);
    ASSERT_EQ(a.size(), static_cast<size_t>(n));
    ASSERT_EQ(b.size(), static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) ++plain[i][a[i]], ++spec[i][b[i]];
    ++plain_joint[a[1] * 512 + a[2]];
    ++spec_joint[b[1] * 512 + b[2]];
  }
  for (int64_t i = 0; i < n; ++i) {
    SCOPED_TRACE(testing::Message() << "generated token " << i);
    EXPECT_GT(testing_util::chi2_same(spec[i], plain[i]), 1e-3);
    // The drafts are not the distribution: always accepting them (a wrong rule) is detected.
    EXPECT_LT(testing_util::chi2_same({{greedy.tokens[i], kSeeds}}, plain[i]), 1e-3);
  }
  EXPECT_GT(testing_util::chi2_same(spec_joint, plain_joint), 1e-3);
}

}  // namespace
}  // namespace whale::engine
