#include "train/run_tokenizer.h"

#include <filesystem>

#include "core/error.h"
#include "core/mapped_file.h"
#include "formats/generation_config.h"
#include "formats/gguf_model_args.h"
#include "formats/tiny_tokenizer.h"
#include "formats/tokenizer_files.h"

namespace whale::train {

namespace fs = std::filesystem;

namespace {

const char* kTokenizerFiles[] = {"tokenizer.json", "tokenizer_config.json", "generation_config.json"};

}  // namespace

std::string prepare_tokenizer(const TrainConfig& c, const formats::ModelArgs& a, const std::string& run_dir) {
  const fs::path dir = fs::path(run_dir) / "tokenizer";
  fs::create_directories(dir);
  const std::string from = !c.tokenizer.empty() ? c.tokenizer : c.kind != RunKind::kPretrain ? c.init : "";
  if (!from.empty()) {
    for (const char* f : kTokenizerFiles) {
      const fs::path src = fs::path(from) / f;
      if (fs::exists(src)) {
        core::write_file_atomic((dir / f).string(), core::read_file(src.string()));
      } else if (std::string(f) != "generation_config.json") {
        fail(ErrorKind::kNotFound, "tokenizer file ", src.string(), " not found");
      }
    }
    // Sampling defaults travel with the model: R1's advice when the source has none.
    if (!fs::exists(dir / "generation_config.json") && a.bos_token_id >= 0) {
      core::write_file_atomic((dir / "generation_config.json").string(),
                              formats::generation_config_json(a.bos_token_id, a.eos_token_ids));
    }
    return dir.string();
  }
  if (a.bos_token_id < 0 || a.eos_token_ids.empty()) {
    fail(ErrorKind::kInvalidArgument, "the model config needs bos_token_id and eos_token_id for the tiny tokenizer");
  }
  const auto specials = formats::deepseek_special_tokens(a.bos_token_id, a.eos_token_ids[0]);
  if (!formats::tiny_tokenizer_fits(specials, a.vocab_size)) {
    fail(ErrorKind::kInvalidArgument, "vocab_size ", a.vocab_size, " is too small for the tiny tokenizer (",
         formats::tiny_tokenizer_merge_count(), " merges + 256 bytes + specials)");
  }
  core::write_file_atomic((dir / "tokenizer.json").string(),
                          formats::tiny_tokenizer_json(specials, a.vocab_size, formats::gguf_tokenizer_pre(a.family)));
  core::write_file_atomic((dir / "tokenizer_config.json").string(),
                          formats::deepseek_tokenizer_config_json(specials, a.bos_token_id, a.eos_token_ids[0],
                                                                  a.max_position_embeddings));
  core::write_file_atomic((dir / "generation_config.json").string(),
                          formats::generation_config_json(a.bos_token_id, a.eos_token_ids));
  return dir.string();
}

}  // namespace whale::train
