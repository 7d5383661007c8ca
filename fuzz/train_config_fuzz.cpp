// libFuzzer target for the training config files (`whale train pretrain|sft|distill CONFIG`,
// `whale train grpo CONFIG`): any text is a validated config whose schedule gives finite learning
// rates and whose task mix draws problems, or a whale::Error naming the key. The parsers live in
// whale_train_config (no libtorch), the library the training loops link.
// Input: a byte (bit 0: GRPO config, else a training config), then the JSON.
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <string>

#include "core/error.h"
#include "train/config.h"
#include "train/grpo_config.h"

namespace {

void check(bool ok) {
  if (!ok) __builtin_trap();
}

void draw(const std::vector<whale::train::TaskMix>& mix) {
  if (mix.empty()) return;
  for (uint64_t i = 0; i < 3; ++i) {
    const auto p = whale::train::draw_problem(mix, whale::train::tasks::Split::kTrain, i * 0x9e3779b97f4a7c15ull, i + 1);
    (void)p;
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const std::string text(reinterpret_cast<const char*>(data + 1), size - 1);
  try {
    if (data[0] & 1) {
      const whale::train::GrpoConfig c = whale::train::parse_grpo_config(text, "fuzz.json");
      check(c.steps > 0 && c.group_size >= 2 && !c.init.empty());
      draw(c.tasks);
    } else {
      const whale::train::TrainConfig c = whale::train::parse_train_config(text, "fuzz.json");
      check(c.steps > 0);
      for (const int64_t step : {int64_t{0}, c.warmup_steps, c.steps / 2, c.steps - 1}) {
        check(std::isfinite(whale::train::lr_at(c, step)) && std::isfinite(whale::train::mtp_weight_at(c, step)));
      }
      draw(c.tasks);
    }
  } catch (const whale::Error&) {
  }
  return 0;
}
