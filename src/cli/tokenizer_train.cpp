// `whale tokenizer train --vocab N --out DIR FILES...`: a byte-level BPE tokenizer for small models,
// with DeepSeek's special tokens and chat template, readable by whale and by Hugging Face loaders.
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "commands.h"
#include "tokenizer/bpe_trainer.h"
#include "tokenizer/tokenizer.h"

namespace whale::cli {

void add_tokenizer_command(CLI::App& app) {
  struct Opts {
    size_t vocab = 4096;
    std::string out, pre = "default";
    std::vector<std::string> files;
  };
  auto opts = std::make_shared<Opts>();
  CLI::App* group = app.add_subcommand("tokenizer", "Tokenizer tools");
  group->require_subcommand(1);
  CLI::App* train = group->add_subcommand("train", "Train a byte-level BPE tokenizer on text files");
  train->add_option("--vocab", opts->vocab, "Vocabulary size, byte and special tokens included")->required();
  train->add_option("--out", opts->out, "Directory to write tokenizer.json and tokenizer_config.json to")->required();
  train->add_option("--pre", opts->pre, "Pre-tokenizer: default (digits in groups of up to 3), digits-han (single digits, single Han characters)")
      ->check(CLI::IsMember({"default", "digits-han"}));
  train->add_option("files", opts->files, "UTF-8 text files to train on")->required();
  train->callback([opts] {
    tokenizer::BpeTrainOptions o;
    o.vocab_size = opts->vocab;
    if (opts->pre == "digits-han") o.pattern = tokenizer::kDigitHanPattern;
    tokenizer::train_tokenizer_files(opts->files, o, opts->out);
    const auto tok = tokenizer::Tokenizer::from_dir(opts->out);  // prove it loads
    std::printf("wrote %s/tokenizer.json (%zu tokens)\n", opts->out.c_str(), tok.vocab_size());
  });
}

}  // namespace whale::cli
