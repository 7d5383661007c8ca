// Small helpers shared by the commands that run a model from token ids.
#pragma once

#include <CLI/CLI.hpp>
#include <cstdint>
#include <string>
#include <vector>

#include "engine/engine.h"
#include "engine/speculative.h"
#include "model/weights.h"

namespace whale::cli {

// "1,2, 3" -> {1, 2, 3}; throws whale::Error naming the bad entry.
std::vector<int32_t> parse_token_ids(const std::string& text);

// LoadOptions from --quant ("keep" or a dtype name) and --threads.
model::LoadOptions load_options(const std::string& quant, int threads);

// The --kv-type option (bf16 or f32) of run, chat, serve and bench, into `value`.
void add_kv_type_option(CLI::App* cmd, std::string& value);

// --spec (auto|mtp|off) and --spec-k of run, chat and serve, into `mode` and `k`.
void add_spec_options(CLI::App* cmd, std::string& mode, int32_t& k, const std::string& default_help);
// The engine's SpecConfig for those options: "auto" is mtp when the model has MTP modules.
engine::SpecConfig spec_config(const std::string& mode, int32_t k, const model::Weights& w);
// One line on what speculation did (acceptance per draft position, tokens per verify step), or "".
std::string spec_summary(const engine::EngineConfig& cfg, const engine::EngineStats& s);

// The model `whale chat` and `whale serve` run without an argument: $WHALE_MODEL, else
// models/default under the current directory or beside the binary's build directory.
std::string default_model_path();

// Index of the largest value (lowest index on ties).
int32_t argmax(const float* x, int64_t n);

}  // namespace whale::cli
