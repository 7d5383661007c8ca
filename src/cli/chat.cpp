// `whale chat`: the conversation front end. The engine and the shipped default model arrive with
// later work; until then it says exactly what is missing and how to make a model.
#include <cstdio>
#include <filesystem>
#include <string>

#include "commands.h"
#include "core/error.h"

namespace whale::cli {

void add_chat_command(CLI::App& app) {
  auto model = std::make_shared<std::string>();
  CLI::App* cmd = app.add_subcommand("chat", "Chat with a model (default: the model shipped under models/)");
  cmd->add_option("model", *model, "Model directory (Hugging Face layout) or .gguf file");
  cmd->callback([model] {
    const std::string path = model->empty() ? std::string("models/whale-default") : *model;
    if (!std::filesystem::exists(path)) {
      fail(ErrorKind::kNotFound, "no model at ", path,
           ". The default model has not been trained yet. Make a random-weight model to try the tools:\n"
           "  whale init --preset tiny-deepseek-v3 --out /tmp/tiny && whale info /tmp/tiny");
    }
    fail(ErrorKind::kUnsupported, "chat needs the generation engine, which is not built yet; ",
         "`whale info ", path, "` shows what the model is");
  });
}

}  // namespace whale::cli
