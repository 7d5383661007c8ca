// Chi-square tests for the sampling tests: the statistic's upper tail (the regularized upper
// incomplete gamma function, by its series below a + 1 and its continued fraction above), a
// goodness-of-fit test against known probabilities and a two-sample test of equal distributions.
// Categories too rare for the approximation are pooled into one bin.
#pragma once

#include <cmath>
#include <cstdint>
#include <map>
#include <vector>

namespace whale::testing_util {

// Q(a, x) = Γ(a, x) / Γ(a).
inline double gamma_q(double a, double x) {
  if (x <= 0) return 1.0;
  const double log_pre = -x + a * std::log(x) - std::lgamma(a);
  if (x < a + 1) {  // P(a, x) by its series, Q = 1 - P
    double term = 1.0 / a, sum = term;
    for (int n = 1; n < 100000 && std::fabs(term) > std::fabs(sum) * 1e-15; ++n) {
      term *= x / (a + n);
      sum += term;
    }
    return 1.0 - sum * std::exp(log_pre);
  }
  // Lentz's continued fraction for Q.
  const double tiny = 1e-300;
  double b = x + 1 - a, c = 1 / tiny, d = 1 / b, h = d;
  for (int i = 1; i < 100000; ++i) {
    const double an = -i * (i - a);
    b += 2;
    d = an * d + b;
    if (std::fabs(d) < tiny) d = tiny;
    c = b + an / c;
    if (std::fabs(c) < tiny) c = tiny;
    d = 1 / d;
    const double del = d * c;
    h *= del;
    if (std::fabs(del - 1) < 1e-15) break;
  }
  return std::exp(log_pre) * h;
}

// P(X >= x) for X ~ chi-square with `dof` degrees of freedom.
inline double chi2_sf(double x, int dof) { return gamma_q(dof / 2.0, x / 2.0); }

// Goodness of fit of `counts` (token -> count) to `p` (token -> probability, summing to 1):
// categories expected fewer than 5 times are pooled. Returns the p-value.
inline double chi2_fit(const std::map<int32_t, int64_t>& counts, const std::map<int32_t, double>& p, int64_t n) {
  double stat = 0, pooled_exp = 0, pooled_obs = 0;
  int bins = 0;
  for (const auto& [tok, prob] : p) {
    const double e = prob * static_cast<double>(n);
    const auto it = counts.find(tok);
    const double o = it == counts.end() ? 0.0 : static_cast<double>(it->second);
    if (e < 5) {
      pooled_exp += e, pooled_obs += o;
      continue;
    }
    stat += (o - e) * (o - e) / e;
    ++bins;
  }
  for (const auto& [tok, c] : counts) {  // tokens p says are impossible
    if (!p.count(tok)) pooled_obs += static_cast<double>(c);
  }
  if (pooled_exp > 0) {
    stat += (pooled_obs - pooled_exp) * (pooled_obs - pooled_exp) / pooled_exp;
    ++bins;
  } else if (pooled_obs > 0) {
    return 0.0;  // an impossible token was drawn
  }
  return bins > 1 ? chi2_sf(stat, bins - 1) : 1.0;
}

// Two samples of the same size: are they draws from one distribution? Categories seen fewer than
// 10 times in both together are pooled. Returns the p-value.
inline double chi2_same(const std::map<int32_t, int64_t>& a, const std::map<int32_t, int64_t>& b) {
  std::map<int32_t, std::pair<double, double>> all;
  for (const auto& [t, c] : a) all[t].first += static_cast<double>(c);
  for (const auto& [t, c] : b) all[t].second += static_cast<double>(c);
  double stat = 0, pa = 0, pb = 0;
  int bins = 0;
  for (const auto& [t, ab] : all) {
    if (ab.first + ab.second < 10) {
      pa += ab.first, pb += ab.second;
      continue;
    }
    stat += (ab.first - ab.second) * (ab.first - ab.second) / (ab.first + ab.second);
    ++bins;
  }
  if (pa + pb > 0) {
    stat += (pa - pb) * (pa - pb) / (pa + pb);
    ++bins;
  }
  return bins > 1 ? chi2_sf(stat, bins - 1) : 1.0;
}

}  // namespace whale::testing_util
