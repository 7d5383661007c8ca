// The `whale` subcommands: each file adds one subcommand to the CLI11 app.
#pragma once

#include <CLI/CLI.hpp>

#include <string>
#include <vector>

namespace whale::cli {

// The weight types --quant and --type accept (dtype names), after a command's own words such as
// "keep" or "auto"; one list so a new dtype reaches every command.
inline std::vector<std::string> weight_types(std::vector<std::string> words = {}) {
  for (const char* t : {"f32", "f16", "bf16", "q8_0", "q4_0", "q4_1", "q5_0", "q5_1", "q2_k", "q3_k", "q4_k", "q5_k", "q6_k", "iq4_nl",
                        "iq4_xs"}) {
    words.emplace_back(t);
  }
  return words;
}
// The names joined with ", " for a --help line.
inline std::string weight_types_help(const std::vector<std::string>& names) {
  std::string s;
  for (const std::string& n : names) s += (s.empty() ? "" : ", ") + n;
  return s;
}

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
void add_index_command(CLI::App& app);

}  // namespace whale::cli
