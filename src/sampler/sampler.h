// Sampler: turns one step's logits into a token. Logits processors in the order vLLM and Hugging
// Face apply them (logit bias, repetition/presence/frequency penalties, temperature, top-k, top-p,
// min-p), then a draw from a seeded generator: same seed and inputs, same tokens.
#pragma once

#include <cstdint>
#include <random>
#include <unordered_map>
#include <utility>
#include <vector>

namespace whale::sampler {

struct SamplingParams {
  float temperature = 0.6f;         // 0: greedy
  int32_t top_k = 0;                // 0: off
  float top_p = 1.0f;               // 1: off; keep the smallest set whose probability reaches top_p
  float min_p = 0.0f;               // 0: off; drop tokens below min_p * the best probability
  float repetition_penalty = 1.0f;  // 1: off; seen tokens: positive logits / p, negative * p
  float presence_penalty = 0.0f;    // OpenAI: minus this once for every token generated so far
  float frequency_penalty = 0.0f;   // OpenAI: minus this times the token's count in the output
  std::vector<std::pair<int32_t, float>> logit_bias;  // added to the logits first
  uint64_t seed = 0;
};

// Validates ranges (temperature >= 0, 0 < top_p <= 1, 0 <= min_p <= 1, top_k >= 0,
// repetition_penalty > 0, penalties in [-2, 2], bias token ids inside the vocabulary); throws
// whale::Error naming the parameter.
void validate(const SamplingParams& p, int64_t vocab_size);

// order = the ids [0, n) sorted by logit, best first, equal logits by lower id (+0 and -0 equal):
// the order top-p and min-p walk. A stable radix sort on the logits' bits: 1.8 ms against 15 ms
// for std::sort with an indirect comparison on a 152k vocabulary (it runs once per sampled token,
// for every stream). Exposed for its test.
void sort_by_logit(const float* logits, int64_t n, std::vector<int32_t>& order);

class Sampler {
 public:
  explicit Sampler(SamplingParams params);

  // Tokens of the prompt (the repetition penalty also discounts them).
  void set_prompt(const std::vector<int32_t>& prompt);
  // Picks the next token from `logits` (modified in place) and records it as generated.
  int32_t sample(float* logits, int64_t vocab);
  // Speculative sampling against a one-hot draft (a greedy drafter such as DeepSeek's MTP module):
  // with p the distribution sample() draws from (after bias, penalties, temperature, top-k, top-p,
  // min-p), accepts `draft` with probability min(1, p(draft)/q(draft)) = p(draft), and otherwise
  // draws from normalize(max(0, p - q)) = p without the draft. The token is distributed exactly as
  // sample()'s (Leviathan et al. 2023, Chen et al. 2023); greedy gives the argmax, as sample().
  // Records the token as generated.
  int32_t sample_speculative(float* logits, int64_t vocab, int32_t draft);
  // Records a token chosen elsewhere (e.g. a forced closing tag) so penalties see it.
  void accept(int32_t token);

  const SamplingParams& params() const { return params_; }

 private:
  void apply_penalties(float* logits, int64_t vocab) const;
  // Bias and penalties in place; returns the greedy choice when temperature is 0, else -1.
  int32_t prepare(float* logits, int64_t vocab) const;
  // The truncated candidates (top-k, top-p, min-p): order_[0, n) best first with unnormalised
  // probabilities probs_[0, n); returns n.
  int64_t candidates(const float* logits, int64_t vocab);
  bool truncates() const { return params_.top_k > 0 || params_.top_p < 1.0f || params_.min_p > 0.0f; }

  SamplingParams params_;
  std::mt19937_64 rng_;
  std::unordered_map<int32_t, int32_t> output_counts_;
  std::vector<uint8_t> seen_;  // prompt or output token, for the repetition penalty
  std::vector<int32_t> order_;
  std::vector<float> probs_;
};

}  // namespace whale::sampler
