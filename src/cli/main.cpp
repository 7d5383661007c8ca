// `whale`: one binary, one subcommand per file. Errors from user input end here as one clear line
// and a non-zero exit; nothing below prints and exits on its own.
#include <cstdio>
#include <exception>

#include "commands.h"
#include "core/error.h"

int main(int argc, char** argv) {
  CLI::App app{"whale: DeepSeek-V3/R1 inference and small-scale training on a CPU"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "whale 0.1.0");
  whale::cli::add_init_command(app);
  whale::cli::add_info_command(app);
  whale::cli::add_chat_command(app);
  whale::cli::add_tokenize_command(app);
  whale::cli::add_tokenizer_command(app);
  whale::cli::add_run_command(app);
  whale::cli::add_logits_command(app);
  whale::cli::add_bench_command(app);
  whale::cli::add_convert_command(app);
  whale::cli::add_quantize_command(app);
  whale::cli::add_serve_command(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  } catch (const whale::Error& e) {
    std::fprintf(stderr, "whale: error: %s\n", e.what());
    return 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "whale: internal error: %s\n", e.what());
    return 3;
  }
  return 0;
}
