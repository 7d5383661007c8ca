// The libtorch reference model's interface: one CausalLM per checkpoint family, built from
// ModelArgs, with parameter names equal to the Hugging Face tensor names (see formats/tensor_table.h).
#pragma once

#include <cstdint>
#include <map>
#include <memory>

#include <torch/torch.h>

#include "formats/model_args.h"

namespace whale::train::nn {

struct Output {
  torch::Tensor logits;  // [B, T, vocab] float32
  torch::Tensor hidden;  // [B, T, hidden]: the last block's output before the final norm (MTP input)
};

// One MoE layer's routing for the N = B*T tokens of a forward, in token order.
struct Routing {
  torch::Tensor ids;      // [N, top_k] int64, chosen experts, highest selection score first
  torch::Tensor weights;  // [N, top_k] float32, the combine weights (autograd graph kept)
  torch::Tensor scores;   // [N, n_routed_experts] float32 affinities s (softmax or sigmoid, unbiased)
};

class CausalLM : public torch::nn::Module {
 public:
  explicit CausalLM(formats::ModelArgs args) : args_(std::move(args)) {}
  ~CausalLM() override = default;

  // tokens, positions: [B, T] int64 (positions explicit; attention is causal over the T tokens).
  // Throws whale::Error kOutOfRange for a token id outside the vocabulary.
  virtual Output forward(const torch::Tensor& tokens, const torch::Tensor& positions) = 0;

  // MTP module k (layer num_hidden_layers + k): from the hidden state at t (pre-norm, [B, T, D]) and
  // the token at t + 1 ([B, T]), logits for t + 2 and the module's own pre-norm hidden state (the
  // input of module k + 1). Throws kUnsupported when the model has no such module.
  virtual Output mtp_forward(const torch::Tensor& hidden, const torch::Tensor& next_tokens,
                             const torch::Tensor& positions, int k = 0);
  torch::Tensor mtp_logits(const torch::Tensor& hidden, const torch::Tensor& next_tokens,
                           const torch::Tensor& positions, int k = 0) {
    return mtp_forward(hidden, next_tokens, positions, k).logits;
  }

  // Routing of each MoE layer (by layer index; MTP modules after the main stack) as of the latest
  // forward / mtp_forward through it. Empty for dense families.
  virtual std::map<int64_t, Routing> routing() const { return {}; }

  const formats::ModelArgs& args() const { return args_; }

 protected:
  void check_tokens(const torch::Tensor& tokens, const torch::Tensor& positions) const;

 private:
  formats::ModelArgs args_;
};

// Validates `args` (formats::validate_model_args) and builds the family's model with freshly
// initialised parameters (float32); fill it with train::load_state.
std::shared_ptr<CausalLM> make_causal_lm(const formats::ModelArgs& args);

}  // namespace whale::train::nn
