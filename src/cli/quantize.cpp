// `whale quantize IN OUT --type T`: re-encode a GGUF file's weight matrices (or convert a Hugging
// Face directory straight to that type).
#include <cstdio>
#include <filesystem>
#include <string>

#include "commands.h"
#include "core/error.h"
#include "model/gguf_convert.h"

namespace whale::cli {

void add_quantize_command(CLI::App& app) {
  struct Opts {
    std::string in, out, type;
    int threads = 0;
  };
  auto opts = std::make_shared<Opts>();
  CLI::App* cmd = app.add_subcommand("quantize", "Re-encode a GGUF file's weight matrices in another type");
  cmd->add_option("in", opts->in, "Input .gguf file (or a Hugging Face checkpoint directory)")->required();
  cmd->add_option("out", opts->out, "Output .gguf file")->required();
  cmd->add_option("--type", opts->type, weight_types_help(weight_types()))
      ->required()
      ->check(CLI::IsMember(weight_types()));
  cmd->add_option("-t,--threads", opts->threads, "Threads (default: all)");
  cmd->callback([opts] {
    const core::DType type = *core::dtype_from_name(opts->type);
    if (std::filesystem::is_directory(opts->in)) {
      model::ConvertOptions o;
      o.type = type;
      o.threads = opts->threads;
      model::convert_to_gguf(opts->in, opts->out, o);
    } else {
      model::QuantizeOptions o;
      o.type = type;
      o.threads = opts->threads;
      model::quantize_gguf(opts->in, opts->out, o);
    }
    std::printf("wrote %s\n", opts->out.c_str());
  });
}

}  // namespace whale::cli
