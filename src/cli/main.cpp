// `whale`: one binary, one subcommand per file. Errors from user input end here as one clear line
// and a non-zero exit; nothing below prints and exits on its own.
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>

#include "commands.h"
#include "core/error.h"
#include "kernels/cpu_features.h"

namespace {

// libtorch's float32 matmuls go through the system BLAS. Debian's OpenBLAS 0.3.21 does not know
// this generation of CPUs and falls back to an SSE3 kernel unless told the core type, which it
// reads once when it loads, before main: so the training commands set it and start over.
void prefer_openblas_core(char** argv) {
  if (argv[1] == nullptr || (std::strcmp(argv[1], "train") != 0 && std::strcmp(argv[1], "eval") != 0)) return;
  if (std::getenv("OPENBLAS_CORETYPE") != nullptr) return;
  const auto& f = whale::kernels::cpu_features();
  const char* core = f.avx512f && f.avx512bw && f.avx512vl ? "SkylakeX" : f.avx2 && f.fma ? "Haswell" : nullptr;
  if (core == nullptr) return;
  ::setenv("OPENBLAS_CORETYPE", core, 1);
  ::execv("/proc/self/exe", argv);  // on failure, carry on with the default kernel
}

}  // namespace

int main(int argc, char** argv) {
  prefer_openblas_core(argv);
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
  whale::cli::add_train_command(app);
  whale::cli::add_eval_command(app);
  whale::cli::add_index_command(app);
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
