// Small helpers shared by the commands that run a model from token ids.
#pragma once

#include <CLI/CLI.hpp>
#include <cstdint>
#include <memory>
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

// --cache-dir DIR and --cache-size SIZE of run and serve: the engine's on-disk prefix cache.
void add_disk_cache_options(CLI::App* cmd, std::string& dir, std::string& size);

// --spec (auto|mtp|draft|off), --spec-k and --draft of run, chat and serve.
struct SpecOptions {
  std::string mode = "auto", draft;
  int32_t k = 1;
};
void add_spec_options(CLI::App* cmd, SpecOptions& o, const std::string& default_help);
// The draft model --spec draft (or --draft with --spec auto) asks for, loaded with `load`; null
// otherwise. Its tokenizer must be the main model's, id for id (an error names the first difference).
std::unique_ptr<model::Weights> load_draft_model(const SpecOptions& o, const std::string& main_path,
                                                 const model::LoadOptions& load);
// The engine's SpecConfig for those options: "auto" is draft when a draft model is given, else mtp
// when the model has MTP modules, else off.
engine::SpecConfig spec_config(const SpecOptions& o, const model::Weights& w, const model::Weights* draft = nullptr);
// One line on what speculation did (acceptance per draft position, tokens per verify step), or "".
std::string spec_summary(const engine::EngineConfig& cfg, const engine::EngineStats& s);

// The model `whale chat` and `whale serve` run without an argument: $WHALE_MODEL, else
// models/default under the current directory or beside the binary's build directory.
std::string default_model_path();

// Index of the largest value (lowest index on ties).
int32_t argmax(const float* x, int64_t n);

}  // namespace whale::cli
