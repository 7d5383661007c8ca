// Speculative decoding's settings and counters: who drafts (DeepSeek's MTP module, chained for
// k > 1, or a benchmark's oracle replaying a recorded continuation), how many tokens per verify
// step, and what was proposed and accepted at each draft position. The step itself is Engine's
// (speculative.cpp); docs/engine.md ("Speculative decoding") has the exactness argument.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace whale::model {
struct Weights;
}

namespace whale::engine {

enum class SpecMode {
  kOff,
  kMtp,     // the model's MTP module(s) draft (models with num_nextn_predict_layers > 0)
  kDraft,   // a small model with the same tokenizer (SpecConfig::draft) drafts greedily
  kOracle,  // benchmarks only: drafts replay SpecConfig::oracle, each right with probability oracle_p
};

struct SpecConfig {
  SpecMode mode = SpecMode::kOff;
  int32_t k = 1;  // drafts per verify step
  const model::Weights* draft = nullptr;  // kDraft: the draft model (outlives the engine)
  // kOracle: generated token g is drafted as oracle[g] with probability oracle_p, else as a wrong
  // token. With greedy sampling and oracle = the plain greedy continuation, each draft is accepted
  // with probability oracle_p, so a benchmark measures verification and rollback at real dimensions
  // whatever the weights. The MTP modules do not run: the figures are the verify step's and the
  // rollback's alone (a real drafter adds its own cost; `--spec mtp` measures that).
  std::vector<int32_t> oracle;
  double oracle_p = 0.85;
  uint64_t oracle_seed = 0;
  // `--spec auto`: speculate only while it is measured to be faster per token (spec_chooser.h).
  bool adaptive = false;
};

struct SpecStats {
  int64_t steps = 0;    // verify steps
  int64_t plain_steps = 0;  // adaptive: single-sequence decode steps the chooser ran without drafts
  int64_t emitted = 0;  // tokens those steps produced (accepted drafts + one sampled each)
  std::vector<int64_t> proposed, accepted;  // per draft position (0: the first draft)
};

// "off", "mtp", "draft" (the CLI's --spec values); throws whale::Error naming the choices.
SpecMode spec_mode_from_name(std::string_view name);
const char* spec_mode_name(SpecMode mode);

}  // namespace whale::engine
