// `whale convert HF_DIR OUT.gguf`: a Hugging Face checkpoint as a GGUF file in llama.cpp's layout
// (deepseek2, qwen2, llama), so llama.cpp and ollama run whale's models.
#include <cstdio>
#include <string>

#include "commands.h"
#include "core/error.h"
#include "model/gguf_convert.h"

namespace whale::cli {

void add_convert_command(CLI::App& app) {
  struct Opts {
    std::string in, out, type = "auto", name, pre;
    bool keep_mtp = false;
    int threads = 0;
  };
  auto opts = std::make_shared<Opts>();
  CLI::App* cmd = app.add_subcommand("convert", "Convert a Hugging Face checkpoint to GGUF (llama.cpp layout)");
  cmd->add_option("hf_dir", opts->in, "Checkpoint directory (config.json + safetensors)")->required();
  cmd->add_option("out", opts->out, "Output .gguf file")->required();
  cmd->add_option("--type", opts->type,
                  "Weight type: auto (as stored; FP8 -> bf16), " + weight_types_help(weight_types()))
      ->check(CLI::IsMember(weight_types({"auto"})));
  cmd->add_flag("--keep-mtp", opts->keep_mtp, "Keep DeepSeek's MTP modules as blk.N.nextn.* (llama.cpp drops them)");
  cmd->add_option("--name", opts->name, "general.name (default: the directory's name)");
  cmd->add_option("--tokenizer-pre", opts->pre, "tokenizer.ggml.pre (default: the family's)");
  cmd->add_option("-t,--threads", opts->threads, "Threads (default: all)");
  cmd->callback([opts] {
    model::ConvertOptions o;
    if (opts->type != "auto") o.type = core::dtype_from_name(opts->type);
    o.keep_mtp = opts->keep_mtp;
    o.name = opts->name;
    o.tokenizer_pre = opts->pre;
    o.threads = opts->threads;
    model::convert_to_gguf(opts->in, opts->out, o);
    std::printf("wrote %s\n", opts->out.c_str());
  });
}

}  // namespace whale::cli
