// log-softmax of one row and its top entries: a max pass, a sum pass (in double: a 150k-token
// vocabulary of float terms loses digits), and a bounded insertion list for the top n (n <= 20).
#include "sampler/logprobs.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace whale::sampler {

TokenLogprob token_logprob(const float* logits, int64_t vocab, int32_t token, int n_top) {
  float mx = -std::numeric_limits<float>::infinity();
  for (int64_t i = 0; i < vocab; ++i) mx = std::max(mx, logits[i]);
  double z = 0;
  for (int64_t i = 0; i < vocab; ++i) z += std::exp(static_cast<double>(logits[i]) - mx);
  const double log_z = mx + std::log(z);
  const auto lp = [&](int64_t i) { return static_cast<float>(static_cast<double>(logits[i]) - log_z); };

  TokenLogprob out;
  out.token = token;
  out.logprob = lp(token);
  const int64_t n = std::clamp<int64_t>(n_top, 0, std::min<int64_t>(vocab, kMaxTopLogprobs));
  if (n == 0) return out;
  // Kept sorted best first; a candidate enters when it beats the last (strictly: ties keep the lower id).
  std::vector<int32_t> best;
  best.reserve(static_cast<size_t>(n) + 1);
  for (int64_t i = 0; i < vocab; ++i) {
    if (static_cast<int64_t>(best.size()) == n && !(logits[i] > logits[best.back()])) continue;
    auto pos = std::upper_bound(best.begin(), best.end(), i, [&](int64_t a, int32_t b) { return logits[a] > logits[b]; });
    best.insert(pos, static_cast<int32_t>(i));
    if (static_cast<int64_t>(best.size()) > n) best.pop_back();
  }
  out.top.reserve(best.size());
  for (int32_t t : best) out.top.push_back({t, lp(t)});
  return out;
}

}  // namespace whale::sampler
