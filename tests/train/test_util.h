// Helpers for the libtorch tests: temporary directories and tiny random checkpoints.
#pragma once

#include <unistd.h>

#include <filesystem>
#include <string>

#include "formats/model_args.h"
#include "model/presets.h"
#include "model/random_checkpoint.h"

namespace whale::train::testing {

inline std::string temp_dir(const std::string& name) {
  const std::filesystem::path p =
      std::filesystem::temp_directory_path() / ("whale_train_test_" + name + "_" + std::to_string(::getpid()));
  std::filesystem::remove_all(p);
  return p.string();
}

// Writes a random checkpoint of `args` (seed 0) into a fresh temp dir and returns it.
inline std::string random_checkpoint(const formats::ModelArgs& args, const std::string& name) {
  const std::string dir = temp_dir(name);
  model::RandomCheckpointOptions o;
  o.progress = false;
  o.threads = 1;
  model::write_random_checkpoint(args, dir, o);
  return dir;
}

inline const formats::ModelArgs& preset(const std::string& name) { return model::find_preset(name).args; }

}  // namespace whale::train::testing
