#include "train/grpo_advantages.h"

#include <cmath>
#include <numeric>

namespace whale::train {

std::vector<double> group_advantages(const std::vector<double>& r, GrpoVariant variant) {
  const double n = static_cast<double>(r.size());
  const double mean = std::accumulate(r.begin(), r.end(), 0.0) / n;
  double var = 0;
  for (double x : r) var += (x - mean) * (x - mean);
  const double sd = std::sqrt(var / n);
  std::vector<double> a(r.size());
  for (size_t i = 0; i < r.size(); ++i) {
    a[i] = variant == GrpoVariant::kDrGrpo ? r[i] - mean : (r[i] - mean) / (sd + 1e-6);
  }
  return a;
}

double k3(double logp, double ref_logp) {
  const double d = ref_logp - logp;
  return std::exp(d) - d - 1.0;
}

GroupSelection select_groups(const std::vector<double>& rewards, int64_t group_size, GrpoVariant variant) {
  GroupSelection s;
  const size_t G = static_cast<size_t>(group_size);
  for (size_t g = 0; g * G < rewards.size(); ++g) {
    bool same = true;
    for (size_t k = 1; k < G; ++k) same = same && rewards[g * G + k] == rewards[g * G];
    s.uniform += same;
    if (!(same && variant == GrpoVariant::kDapo)) s.kept.push_back(g);
  }
  return s;
}

double overlong_reward(int64_t length, int64_t max_tokens, int64_t buffer, double penalty) {
  if (buffer <= 0 || length <= max_tokens - buffer) return 0.0;
  return penalty * static_cast<double>(max_tokens - buffer - length) / static_cast<double>(buffer);
}

}  // namespace whale::train
