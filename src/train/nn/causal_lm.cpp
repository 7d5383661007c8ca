// CausalLM's shared input checks and the family dispatch of make_causal_lm.
#include "train/nn/causal_lm.h"

#include "core/error.h"
#include "train/nn/deepseek.h"
#include "train/nn/dense.h"

namespace whale::train::nn {

Output CausalLM::mtp_forward(const torch::Tensor&, const torch::Tensor&, const torch::Tensor&, int k) {
  fail(ErrorKind::kUnsupported, args_.model_type, " model has no MTP module ", k);
}

void CausalLM::check_tokens(const torch::Tensor& tokens, const torch::Tensor& positions) const {
  if (tokens.dim() != 2 || tokens.scalar_type() != torch::kInt64) {
    fail(ErrorKind::kInvalidArgument, "tokens must be [B, T] int64");
  }
  if (!positions.sizes().equals(tokens.sizes()) || positions.scalar_type() != torch::kInt64) {
    fail(ErrorKind::kInvalidArgument, "positions must be int64 with the tokens' shape [B, T]");
  }
  if (tokens.numel() == 0) return;
  const int64_t lo = tokens.min().item<int64_t>();
  const int64_t hi = tokens.max().item<int64_t>();
  if (lo < 0 || hi >= args_.vocab_size) {
    fail(ErrorKind::kOutOfRange, "token id ", lo < 0 ? lo : hi, " outside the vocabulary [0, ", args_.vocab_size, ")");
  }
  if (positions.min().item<int64_t>() < 0) fail(ErrorKind::kOutOfRange, "negative position");
}

std::shared_ptr<CausalLM> make_causal_lm(const formats::ModelArgs& args) {
  formats::validate_model_args(args, "ModelArgs");
  if (args.is_deepseek()) return std::make_shared<DeepseekForCausalLM>(args);
  return std::make_shared<DenseForCausalLM>(args);
}

}  // namespace whale::train::nn
