// The tokenizer of a pretraining/SFT run (RUN_DIR/tokenizer): copied from the config's tokenizer
// directory or the init checkpoint, or written for the tiny trained vocabulary.
#pragma once

#include <string>

#include "formats/model_args.h"
#include "train/config.h"

namespace whale::train {

// Writes RUN_DIR/tokenizer and returns its path. Throws whale::Error (kNotFound) when a source
// file is missing, (kInvalidArgument) when the model's vocabulary or special ids cannot hold the
// tiny tokenizer.
std::string prepare_tokenizer(const TrainConfig& c, const formats::ModelArgs& a, const std::string& run_dir);

}  // namespace whale::train
