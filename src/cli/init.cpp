// `whale init`: write a random-weight checkpoint of a preset's dimensions (or list the presets).
#include <cstdio>
#include <iostream>
#include <optional>
#include <string>

#include "commands.h"
#include "core/error.h"
#include "model/architecture.h"
#include "model/model_info.h"
#include "model/presets.h"
#include "model/random_checkpoint.h"

namespace whale::cli {

void add_init_command(CLI::App& app) {
  struct Opts {
    std::string preset;
    std::string out;
    std::optional<int64_t> layers;
    std::optional<int64_t> mtp_layers;
    std::string dtype;
    std::string tokenizer;
    bool placeholder_tokenizer = false;
    uint64_t seed = 0;
    bool config_only = false;
    bool list = false;
    int threads = 0;
  };
  auto opts = std::make_shared<Opts>();
  CLI::App* cmd = app.add_subcommand("init", "Write a checkpoint with random weights at a preset's real dimensions");
  cmd->add_option("--preset", opts->preset, "Preset name (see --list-presets)");
  cmd->add_option("--out", opts->out, "Output directory (Hugging Face layout)");
  cmd->add_option("--layers", opts->layers, "Keep only the first N decoder layers")->check(CLI::Range(1, 4096));
  cmd->add_option("--mtp-layers", opts->mtp_layers, "Number of MTP modules (default: the preset's)")->check(CLI::Range(0, 16));
  cmd->add_option("--dtype", opts->dtype, "Weight dtype: f32, bf16 or fp8 (default: the preset's)")
      ->check(CLI::IsMember({"f32", "bf16", "f16", "fp8"}));
  cmd->add_option("--tokenizer", opts->tokenizer,
                  "Copy tokenizer.json + tokenizer_config.json from this directory (e.g. a real model's); "
                  "BOS/EOS ids follow it")
      ->check(CLI::ExistingDirectory);
  cmd->add_flag("--placeholder-tokenizer", opts->placeholder_tokenizer,
                "One token per byte instead of the trained small vocabulary")
      ->excludes("--tokenizer");
  cmd->add_option("--seed", opts->seed, "Random seed");
  cmd->add_option("-t,--threads", opts->threads, "Threads (default: all)");
  cmd->add_flag("--config-only", opts->config_only, "Write only config and tokenizer files");
  cmd->add_flag("--list-presets", opts->list, "List presets, one per line, name first");
  cmd->callback([opts] {
    if (opts->list) {
      for (const auto& p : model::presets()) {
        const auto s = model::summarize(p.args);
        std::printf("%-22s %s, %s params, %s active\n", p.name.c_str(), p.description.c_str(),
                    model::format_count(s.total_params).c_str(), model::format_count(s.active_params).c_str());
      }
      return;
    }
    if (opts->preset.empty()) fail(ErrorKind::kInvalidArgument, "--preset is required (see whale init --list-presets)");
    if (opts->out.empty()) fail(ErrorKind::kInvalidArgument, "--out DIR is required");
    formats::ModelArgs args = model::find_preset(opts->preset).args;
    if (opts->layers) {
      args.num_hidden_layers = *opts->layers;
      args.first_k_dense_replace = std::min(args.first_k_dense_replace, args.num_hidden_layers);
    }
    const model::Architecture& arch = model::architecture(args);
    if (opts->mtp_layers) {
      if (!arch.mtp && *opts->mtp_layers > 0) {
        fail(ErrorKind::kInvalidArgument, "--mtp-layers: ", args.model_type, " models have no MTP modules");
      }
      args.num_nextn_predict_layers = *opts->mtp_layers;
    }
    if (!opts->dtype.empty()) {
      args.fp8 = opts->dtype == "fp8";
      if (args.fp8 && !arch.fp8) {
        fail(ErrorKind::kInvalidArgument, "--dtype fp8: only DeepSeek checkpoints come in block-scaled FP8");
      }
      args.torch_dtype = opts->dtype == "f32" ? "float32" : opts->dtype == "f16" ? "float16" : "bfloat16";
    }
    model::RandomCheckpointOptions ro;
    ro.seed = opts->seed;
    ro.config_only = opts->config_only;
    ro.threads = opts->threads;
    ro.tokenizer_dir = opts->tokenizer;
    ro.placeholder_tokenizer = opts->placeholder_tokenizer;
    const formats::ModelArgs written = model::write_random_checkpoint(args, opts->out, ro);
    if (written.bos_token_id != args.bos_token_id || written.eos_token_ids != args.eos_token_ids) {
      std::printf("note: bos/eos token ids set from the tokenizer: bos %lld, eos %lld\n",
                  static_cast<long long>(written.bos_token_id),
                  static_cast<long long>(written.eos_token_ids.empty() ? -1 : written.eos_token_ids[0]));
    }
    const auto s = model::summarize(args);
    std::printf("wrote %s: %s (%lld layers), %s parameters%s\n", opts->out.c_str(), opts->preset.c_str(),
                static_cast<long long>(args.num_hidden_layers), model::format_count(s.total_params).c_str(),
                opts->config_only ? " (config only)" : "");
  });
}

}  // namespace whale::cli
