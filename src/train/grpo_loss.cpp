#include "train/grpo_loss.h"

#include <algorithm>
#include <numeric>

namespace whale::train {

std::vector<MicroBatch> pack_micro_batches(const std::vector<UpdateRow>& rows, int64_t pad, size_t micro) {
  std::vector<int64_t> order(rows.size());
  std::iota(order.begin(), order.end(), 0);
  auto len = [&](int64_t i) { return static_cast<int64_t>(rows[i].prompt->size() + rows[i].completion->size()); };
  std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) { return len(a) < len(b); });
  std::vector<MicroBatch> out;
  for (size_t from = 0; from < order.size(); from += micro) {
    const size_t to = std::min(order.size(), from + micro);
    const int64_t n = static_cast<int64_t>(to - from);
    int64_t T = 0;
    for (size_t j = from; j < to; ++j) T = std::max(T, len(order[j]));
    MicroBatch m;
    m.tokens = torch::full({n, T}, pad, torch::kInt64);
    m.mask = torch::zeros({n, T - 1});
    std::vector<double> a;
    auto tok_acc = m.tokens.accessor<int64_t, 2>();
    auto mask_acc = m.mask.accessor<float, 2>();
    for (int64_t i = 0; i < n; ++i) {
      const UpdateRow& row = rows[order[from + i]];
      a.push_back(row.advantage);
      int64_t t = 0;
      for (int32_t id : *row.prompt) tok_acc[i][t++] = id;
      for (int32_t id : *row.completion) {
        mask_acc[i][t - 1] = 1.0f;  // logits at t-1 predict the completion token at t
        tok_acc[i][t++] = id;
      }
    }
    m.positions = torch::arange(T, torch::kInt64).unsqueeze(0).expand({n, T}).contiguous();
    m.A = torch::tensor(a, torch::kFloat64).to(torch::kFloat32).unsqueeze(1);  // [n, 1]
    m.ntok = m.mask.sum(1).clamp_min(1.0);
    out.push_back(std::move(m));
  }
  return out;
}

std::vector<UpdateRow> backward_rows(const std::vector<UpdateRow>& rows, bool skip_uniform_groups) {
  std::vector<UpdateRow> out;
  for (const UpdateRow& r : rows) {
    if (!(skip_uniform_groups && r.uniform_group)) out.push_back(r);
  }
  return out;
}

torch::Tensor token_logp(const torch::Tensor& logits, const torch::Tensor& tokens) {
  const torch::Tensor lp = torch::log_softmax(logits.slice(1, 0, logits.size(1) - 1).to(torch::kFloat32), -1);
  return lp.gather(-1, tokens.slice(1, 1, tokens.size(1)).unsqueeze(-1)).squeeze(-1);
}

PolicyLoss policy_loss(const MicroBatch& m, const torch::Tensor& logp, const LossSpec& spec) {
  PolicyLoss l;
  const torch::Tensor old_logp = m.old_logp.defined() ? m.old_logp : logp.detach();
  l.ratio = torch::exp(logp - old_logp);
  const torch::Tensor surr =
      torch::min(l.ratio * m.A, torch::clamp(l.ratio, 1.0 - spec.clip_low, 1.0 + spec.clip_high) * m.A);
  torch::Tensor per_token = -surr;
  if (m.ref_logp.defined()) {
    const torch::Tensor d = m.ref_logp - logp;
    l.kl = torch::exp(d) - d - 1.0;
    per_token = per_token + spec.beta * l.kl;
  }
  switch (spec.variant) {
    case GrpoVariant::kGrpo:
      l.loss = (per_token * m.mask).sum(1).div(m.ntok).sum() / static_cast<double>(spec.rows);
      break;
    case GrpoVariant::kDapo:
      l.loss = (per_token * m.mask).sum() / spec.tokens;
      break;
    case GrpoVariant::kDrGrpo:
      l.loss = (per_token * m.mask).sum() / static_cast<double>(spec.rows * spec.max_tokens);
      break;
  }
  return l;
}

void add_loss_stats(LossStats& s, const MicroBatch& m, const torch::Tensor& logits, const torch::Tensor& logp,
                    const PolicyLoss& l, const LossSpec& spec) {
  torch::NoGradGuard no_grad;
  const double tokens = spec.tokens;
  s.loss += l.loss.item<double>();
  s.sampled_logp += (logp.detach() * m.mask).sum().item<double>() / tokens;
  if (l.kl.defined()) s.kl += (l.kl * m.mask).sum().item<double>() / tokens;
  const torch::Tensor clipped = ((l.ratio < 1.0 - spec.clip_low) | (l.ratio > 1.0 + spec.clip_high)).to(torch::kFloat32);
  s.clip_fraction += (clipped * m.mask).sum().item<double>() / tokens;
  const torch::Tensor lp = torch::log_softmax(logits.slice(1, 0, logits.size(1) - 1).to(torch::kFloat32), -1);
  s.entropy += ((-(lp.exp() * lp).sum(-1)) * m.mask).sum().item<double>() / tokens;
}

}  // namespace whale::train
