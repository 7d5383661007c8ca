// Named model configurations: the real dimensions of the DeepSeek family and the R1-Distill
// students (for random-weight checkpoints at true size), and tiny versions of each family for tests.
#pragma once

#include <string>
#include <vector>

#include "formats/model_args.h"

namespace whale::model {

struct Preset {
  std::string name;
  std::string description;
  formats::ModelArgs args;
};

const std::vector<Preset>& presets();
// Throws whale::Error (kNotFound) listing the known names.
const Preset& find_preset(const std::string& name);

}  // namespace whale::model
