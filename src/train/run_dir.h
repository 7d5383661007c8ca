// The parts of a training run directory every loop shares (docs/training.md "The run directory"):
// refusing to overwrite a run, atomic checkpoints with a `latest` pointer, trimming metrics on
// resume, and the final model with its tokenizer files.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>

#include <torch/torch.h>

#include "formats/model_args.h"

namespace whale::train {

// Every training step allocates and frees the same large activations: keep freed memory in the
// heap instead of returning it to the kernel (page clearing cost ~15% of a step here).
void keep_freed_memory();

// Throws when `run_dir` already holds a run and !resume, or holds none and resume.
void check_run_dir(const std::string& run_dir, bool resume);

// RUN_DIR/checkpoints/<latest>, or "" when there is none.
std::string latest_checkpoint(const std::string& run_dir);

// Writes checkpoints/step-N: `fill` writes into a fresh temporary directory, which is then renamed;
// `latest` is replaced atomically; older checkpoints are removed last.
void write_checkpoint(const std::string& run_dir, int64_t step, const std::function<void(const std::filesystem::path&)>& fill);

// Keeps the metrics lines whose "step" is <= step (a line cut by a kill ends the file).
void trim_metrics(const std::filesystem::path& metrics, int64_t step);

// tokenizer.json, tokenizer_config.json, generation_config.json from `from` (those present) into `to`.
void copy_tokenizer_files(const std::string& from, const std::filesystem::path& to);

// RUN_DIR/model: `module` as an HF checkpoint in `dtype` with the tokenizer files, written to
// model.tmp and renamed.
void write_final_model(const std::string& run_dir, const torch::nn::Module& module, formats::ModelArgs args,
                       const std::string& dtype, const std::string& tokenizer_dir);

}  // namespace whale::train
