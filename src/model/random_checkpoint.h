// Random-weight checkpoints in Hugging Face layout at any preset's real dimensions: how tests and
// benchmarks get models of true size with nothing downloaded.
#pragma once

#include <cstdint>
#include <string>

#include "formats/model_args.h"

namespace whale::model {

struct RandomCheckpointOptions {
  uint64_t seed = 0;
  float weight_std = 0.02f;         // matrices and embeddings ~ N(0, std^2); norms are 1
  float router_bias_std = 0.01f;    // e_score_correction_bias
  bool config_only = false;         // write config + tokenizer files, no weights
  uint64_t max_shard_bytes = 5'000'000'000ull;
  int threads = 0;                  // 0: all hardware threads
  bool progress = true;
  // A directory with a real tokenizer.json (+ tokenizer_config.json) to copy instead of writing
  // one; every token id must be below vocab_size, and BOS/EOS ids follow the tokenizer's.
  std::string tokenizer_dir;
  // One token per byte instead of the trained tiny vocabulary (which is used wherever it fits).
  bool placeholder_tokenizer = false;
};

// Writes config.json, generation_config.json, tokenizer.json, tokenizer_config.json and (unless
// config_only) the safetensors shards into `dir`. Values depend only on (seed, tensor name).
// Returns the args config.json got: `args`, with BOS/EOS ids from options.tokenizer_dir's tokenizer.
formats::ModelArgs write_random_checkpoint(const formats::ModelArgs& args, const std::string& dir,
                                           const RandomCheckpointOptions& options);

// The value random element `index` of tensor `name` gets before storage rounding (for tests).
float random_weight_value(uint64_t seed, const std::string& name, int64_t index, float std);

}  // namespace whale::model
