// `whale tokenize MODEL TEXT`: the token ids (and pieces) a model's tokenizer gives for a text or,
// with --template, for a chat rendered with the model's chat template.
#include <cstdio>
#include <memory>
#include <string>

#include "commands.h"
#include "core/error.h"
#include "core/mapped_file.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/utf8.h"

namespace whale::cli {
namespace {

// A token's bytes for a terminal: control characters escaped, bytes of a split character as <0xNN>.
std::string printable(const std::string& bytes) {
  std::string out;
  size_t i = 0;
  while (i < bytes.size()) {
    char32_t cp;
    const size_t n = tokenizer::utf8_decode(bytes, i, &cp);
    if (n == 0) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "<0x%02X>", static_cast<unsigned char>(bytes[i]));
      out += buf;
      ++i;
      continue;
    }
    if (cp == '\n') {
      out += "\\n";
    } else if (cp == '\t') {
      out += "\\t";
    } else if (cp == '\r') {
      out += "\\r";
    } else if (cp == '\\') {
      out += "\\\\";
    } else if (cp < 0x20 || cp == 0x7F) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02X", static_cast<unsigned>(cp));
      out += buf;
    } else {
      out.append(bytes, i, n);
    }
    i += n;
  }
  return out;
}

}  // namespace

void add_tokenize_command(CLI::App& app) {
  struct Opts {
    std::string model, text, chat_file;
    bool ids_only = false, count_only = false, no_special = false, no_generation_prompt = false,
         no_thinking = false, literal_special = false;
  };
  auto opts = std::make_shared<Opts>();
  CLI::App* cmd = app.add_subcommand("tokenize", "Print the token ids of a text (or a chat) for a model's tokenizer");
  cmd->add_option("model", opts->model, "Model directory with tokenizer.json (and tokenizer_config.json)")->required();
  cmd->add_option("text", opts->text, "Text to tokenize");
  cmd->add_option("--template", opts->chat_file,
                  "Render this chat (JSON: [{\"role\",\"content\"}...] or {\"messages\": [...]}) with the model's "
                  "chat template, then tokenize it");
  cmd->add_flag("--ids", opts->ids_only, "Print only the ids, space-separated on one line");
  cmd->add_flag("--count", opts->count_only, "Print only the number of tokens");
  cmd->add_flag("--no-special", opts->no_special, "Do not add BOS/EOS the tokenizer would add");
  cmd->add_flag("--literal-special", opts->literal_special,
                "Treat special-token strings in the text as plain text instead of special tokens");
  cmd->add_flag("--no-generation-prompt", opts->no_generation_prompt, "With --template: no generation prompt");
  cmd->add_flag("--no-thinking", opts->no_thinking, "With --template: render thinking off (Qwen3, R1)");
  cmd->callback([opts] {
    const tokenizer::Tokenizer tok = tokenizer::load_tokenizer(opts->model);
    std::string text = opts->text;
    tokenizer::EncodeOptions enc{.add_special = !opts->no_special, .parse_special = !opts->literal_special};
    if (!opts->chat_file.empty()) {
      if (!opts->text.empty()) fail(ErrorKind::kInvalidArgument, "give either TEXT or --template, not both");
      const auto messages = tokenizer::parse_chat_messages(core::read_file(opts->chat_file), opts->chat_file);
      text = tok.chat_template().render(messages, {.add_generation_prompt = !opts->no_generation_prompt,
                                                   .enable_thinking = !opts->no_thinking});
      enc = {.add_special = false, .parse_special = true};  // the template writes BOS itself
    }
    const std::vector<int32_t> ids = tok.encode(text, enc);
    if (opts->count_only) {
      std::printf("%zu\n", ids.size());
    } else if (opts->ids_only) {
      for (size_t i = 0; i < ids.size(); ++i) std::printf(i ? " %d" : "%d", ids[i]);
      std::printf("\n");
    } else {
      for (int32_t id : ids) std::printf("%d\t%s\n", id, printable(tok.token_bytes(id)).c_str());
    }
  });
}

}  // namespace whale::cli
