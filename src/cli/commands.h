// The `whale` subcommands: each file adds one subcommand to the CLI11 app.
#pragma once

#include <CLI/CLI.hpp>

namespace whale::cli {

void add_init_command(CLI::App& app);
void add_info_command(CLI::App& app);
void add_chat_command(CLI::App& app);
void add_tokenize_command(CLI::App& app);
void add_tokenizer_command(CLI::App& app);
void add_run_command(CLI::App& app);
void add_logits_command(CLI::App& app);
void add_bench_command(CLI::App& app);
void add_convert_command(CLI::App& app);
void add_quantize_command(CLI::App& app);
void add_serve_command(CLI::App&);
void add_train_command(CLI::App& app);
void add_eval_command(CLI::App& app);

}  // namespace whale::cli
