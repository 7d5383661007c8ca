// `whale quantize IN OUT --type T`: re-encode a GGUF file's weight matrices (or convert a Hugging
// Face directory straight to that type), in one type or in one of llama-quantize's mixes.
#include <cstdio>
#include <filesystem>
#include <string>

#include "commands.h"
#include "core/error.h"
#include "model/gguf_convert.h"
#include "model/quant_mix.h"

namespace whale::cli {
namespace {

// "[1536, 8960]" in GGUF's ne order, as llama-quantize prints shapes.
std::string ne_string(const core::Shape& s) {
  std::string out = "[";
  for (int i = s.ndim() - 1; i >= 0; --i) out += std::to_string(s[i]) + (i > 0 ? ", " : "");
  return out + "]";
}

}  // namespace

void add_quantize_command(CLI::App& app) {
  struct Opts {
    std::string in, out, type;
    int threads = 0;
    bool dry_run = false;
  };
  auto opts = std::make_shared<Opts>();
  std::vector<std::string> types = weight_types();
  std::string mixes;
  for (const model::QuantMix& m : model::quant_mixes()) {
    types.emplace_back(m.name);
    mixes += (mixes.empty() ? "" : ", ") + std::string(m.name);
  }
  CLI::App* cmd = app.add_subcommand("quantize", "Re-encode a GGUF file's weight matrices in another type");
  cmd->add_option("in", opts->in, "Input .gguf file (or a Hugging Face checkpoint directory)")->required();
  cmd->add_option("out", opts->out, "Output .gguf file (not written with --dry-run)");
  cmd->add_option("--type", opts->type,
                  "One type for every matrix: " + weight_types_help(weight_types()) +
                      "; or a llama-quantize mix, a type per tensor: " + mixes)
      ->required()
      ->check(CLI::IsMember(types));
  cmd->add_flag("--dry-run", opts->dry_run, "Print each tensor's name, shape (GGUF order) and type; write nothing");
  cmd->add_option("-t,--threads", opts->threads, "Threads (default: all)");
  cmd->callback([opts] {
    const model::QuantMix* mix = model::find_quant_mix(opts->type);
    if (opts->dry_run) {
      if (!mix) fail(ErrorKind::kInvalidArgument, "--dry-run needs a mix (", opts->type, " is one type for every matrix)");
      for (const model::MixTensor& t : model::plan_quantize_mix(opts->in, *mix)) {
        std::printf("%s\t%s\t%s\n", t.name.c_str(), ne_string(t.shape).c_str(), t.type.c_str());
      }
      return;
    }
    if (opts->out.empty()) fail(ErrorKind::kInvalidArgument, "quantize: the output file is required (or --dry-run)");
    const bool dir = std::filesystem::is_directory(opts->in);
    if (dir) {
      model::ConvertOptions o;
      if (mix) o.mix = mix->name;
      else o.type = *core::dtype_from_name(opts->type);
      o.threads = opts->threads;
      model::convert_to_gguf(opts->in, opts->out, o);
    } else {
      model::QuantizeOptions o;
      if (mix) o.mix = mix->name;
      else o.type = *core::dtype_from_name(opts->type);
      o.threads = opts->threads;
      model::quantize_gguf(opts->in, opts->out, o);
    }
    std::printf("wrote %s\n", opts->out.c_str());
  });
}

}  // namespace whale::cli
