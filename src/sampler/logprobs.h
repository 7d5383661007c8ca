// Log-probabilities reported to callers (OpenAI's `logprobs` / `top_logprobs`): the log-softmax of
// the model's raw logits (impossible tokens masked, before bias, penalties and temperature).
#pragma once

#include <cstdint>
#include <vector>

namespace whale::sampler {

struct TopLogprob {
  int32_t token;
  float logprob;
};

// One generated token: its log-probability and the most likely alternatives, best first.
struct TokenLogprob {
  int32_t token = -1;
  float logprob = 0.0f;
  std::vector<TopLogprob> top;
  bool reasoning = false;  // the token is part of the reasoning (set by the engine)
  bool forced = false;     // not sampled (the thinking budget's closing tag): logprob 0, no top
};

// The largest number of alternatives a caller may ask for (OpenAI's limit).
inline constexpr int kMaxTopLogprobs = 20;

// log-softmax over `logits[0, vocab)` (-inf entries have probability 0): `token`'s value and the
// `n_top` best tokens (ties: lower id first). Two passes over the vocabulary, no allocation beyond
// the result.
TokenLogprob token_logprob(const float* logits, int64_t vocab, int32_t token, int n_top);

}  // namespace whale::sampler
