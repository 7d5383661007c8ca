// Tokenizer from a GGUF file's tokenizer.ggml.* metadata: rebuilds the tokenizer.json and
// tokenizer_config.json they came from (the inverse of formats::tokenizer_to_gguf) and loads those.
#include <cstdint>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <unordered_set>

#include "core/error.h"
#include "core/log.h"
#include "formats/gguf.h"
#include "formats/tokenizer_families.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/tokenizer_impl.h"
#include "tokenizer/utf8.h"

namespace whale::tokenizer {
namespace {

// Plain json, not ordered_json: ordered_json's object lookups are linear in a 150k-token vocabulary.
using nlohmann::json;

// llama.cpp's token types (gguf-py constants.py TokenType).
enum TokenType : int64_t { kNormal = 1, kUnknown = 2, kControl = 3, kUserDefined = 4, kUnused = 5, kByte = 6 };

const formats::GgufValue& array_of(const formats::GgufFile& file, const char* key, formats::GgufValueType elem) {
  const formats::GgufValue& v = file.get(key);
  if (v.type() != formats::GgufValueType::kArray || (v.array_type() != elem && !v.as_array().empty())) {
    fail(ErrorKind::kFormat, file.path(), ": ", key, " must be an array of ", formats::gguf_value_type_name(elem));
  }
  return v;
}

// GGUF strings are UTF-8 by the spec, but the bytes are the file's: text that is not would reach
// tokenizer.json's JSON and fail there without naming the key (a fuzzer found it).
const std::string& utf8_checked(const formats::GgufFile& file, const std::string& text, const char* key, size_t index = SIZE_MAX) {
  if (const size_t at = utf8_invalid_offset(text); at != text.size()) {
    fail(ErrorKind::kFormat, file.path(), ": ", key, index == SIZE_MAX ? "" : cat("[", index, "]"), " is not valid UTF-8 (byte ", at, ")");
  }
  return text;
}

std::string string_of(const formats::GgufFile& file, const char* key) {
  const formats::GgufValue& v = file.get(key);
  if (v.type() != formats::GgufValueType::kString) fail(ErrorKind::kFormat, file.path(), ": ", key, " must be a string");
  return utf8_checked(file, v.as_string(), key);
}

// A token id key, checked against the vocabulary.
std::optional<int64_t> token_id_of(const formats::GgufFile& file, const char* key, size_t n_tokens) {
  const formats::GgufValue* v = file.find(key);
  if (!v) return std::nullopt;
  const int64_t id = v->as_i64();
  if (id < 0 || static_cast<uint64_t>(id) >= n_tokens) {
    fail(ErrorKind::kFormat, file.path(), ": ", key, " = ", id, " is outside the vocabulary of ", n_tokens, " tokens");
  }
  return id;
}

bool flag_of(const formats::GgufFile& file, const char* key) {
  const formats::GgufValue* v = file.find(key);
  return v && v->as_bool();
}

// The chat family a GGUF without tokenizer.chat_template most likely had (older converters did not
// copy it), as llama.cpp falls back to a built-in template: by the pre-tokenizer, and whether the
// vocabulary has a <think> token (DeepSeek-R1 vs V3 share one pre-tokenizer; Qwen3 vs Qwen2.5 too)
// or a <|python_tag|> token (Llama-3.1 and later vs the original Llama-3).
std::optional<ChatFamily> fallback_chat_family(std::string_view pre, bool has_think, bool has_python_tag) {
  if (pre == "deepseek-v3") return has_think ? ChatFamily::kDeepSeekR1 : ChatFamily::kDeepSeekV3;
  if (pre == "deepseek-r1-qwen") return ChatFamily::kDeepSeekR1;
  if (pre == "qwen2") return has_think ? ChatFamily::kQwen3 : ChatFamily::kQwen25;
  if (pre == "llama-bpe" || pre == "llama3" || pre == "llama-v3") return has_python_tag ? ChatFamily::kLlama31 : ChatFamily::kLlama3;
  return std::nullopt;
}

}  // namespace

Tokenizer Tokenizer::from_gguf(const formats::GgufFile& file) {
  const std::string& where = file.path();
  const std::string model = string_of(file, "tokenizer.ggml.model");
  if (model != "gpt2") {
    fail(ErrorKind::kUnsupported, where, ": tokenizer.ggml.model \"", model, "\" is not supported (known: gpt2, byte-level BPE)");
  }
  const std::string pre = file.find("tokenizer.ggml.pre") ? string_of(file, "tokenizer.ggml.pre") : "";
  const formats::TokenizerFamily* family = formats::find_tokenizer_family(pre);
  if (!family) {
    fail(ErrorKind::kUnsupported, where, ": tokenizer.ggml.pre \"", pre, "\" is not a pre-tokenizer whale knows (known: ",
         formats::known_tokenizer_pres(), ")");
  }
  const auto& tokens = array_of(file, "tokenizer.ggml.tokens", formats::GgufValueType::kString).as_array();
  const formats::GgufValue* types_value = file.find("tokenizer.ggml.token_type");
  if (types_value && (types_value->type() != formats::GgufValueType::kArray || types_value->as_array().size() != tokens.size())) {
    fail(ErrorKind::kFormat, where, ": tokenizer.ggml.token_type must be an array of ", tokens.size(), " token types");
  }

  json vocab = json::object();
  json added = json::array();
  std::unordered_set<std::string_view> seen;
  for (size_t i = 0; i < tokens.size(); ++i) {
    const int64_t type = types_value ? types_value->as_array()[i].as_i64() : kNormal;
    const std::string& text = utf8_checked(file, tokens[i].as_string(), "tokenizer.ggml.tokens", i);
    switch (type) {
      case kNormal: case kUnknown: case kByte:
        if (!seen.insert(text).second) fail(ErrorKind::kFormat, where, ": tokenizer.ggml.tokens has \"", text, "\" twice");
        vocab[text] = i;
        break;
      case kControl: case kUserDefined:
        // GGUF keeps no lstrip/rstrip/normalized flags; the supported families use none of them.
        added.push_back({{"id", i}, {"content", text}, {"single_word", false}, {"lstrip", false}, {"rstrip", false},
                         {"normalized", false}, {"special", type == kControl}});
        break;
      case kUnused:
        break;  // "[PAD{i}]" slots between the tokenizer's vocabulary and the model's
      default:
        fail(ErrorKind::kFormat, where, ": tokenizer.ggml.token_type[", i, "] = ", type, " is not a token type (1..6)");
    }
  }
  json merges = json::array();
  if (file.find("tokenizer.ggml.merges")) {
    const auto& ms = array_of(file, "tokenizer.ggml.merges", formats::GgufValueType::kString).as_array();
    for (size_t i = 0; i < ms.size(); ++i) merges.push_back(utf8_checked(file, ms[i].as_string(), "tokenizer.ggml.merges", i));
  }

  const auto bos = token_id_of(file, "tokenizer.ggml.bos_token_id", tokens.size());
  const auto eos = token_id_of(file, "tokenizer.ggml.eos_token_id", tokens.size());
  json single = json::array();
  json specials = json::object();
  const auto add_special = [&](const char* name, int64_t id) {
    single.push_back({{"SpecialToken", {{"id", name}, {"type_id", 0}}}});
    specials[name] = {{"id", name}, {"ids", {id}}, {"tokens", {tokens[static_cast<size_t>(id)].as_string()}}};
  };
  if (bos && flag_of(file, "tokenizer.ggml.add_bos_token")) add_special("bos", *bos);
  single.push_back({{"Sequence", {{"id", "A"}, {"type_id", 0}}}});
  if (eos && flag_of(file, "tokenizer.ggml.add_eos_token")) add_special("eos", *eos);

  json tj;
  tj["version"] = "1.0";
  tj["added_tokens"] = std::move(added);
  tj["normalizer"] = json::parse(family->normalizer_json);
  tj["pre_tokenizer"] = json::parse(family->pre_tokenizer_json);
  tj["post_processor"] = {{"type", "TemplateProcessing"}, {"single", std::move(single)}, {"special_tokens", std::move(specials)}};
  tj["decoder"] = {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"trim_offsets", false}, {"use_regex", false}};
  tj["model"] = {{"type", "BPE"}, {"ignore_merges", family->ignore_merges}, {"vocab", std::move(vocab)},
                 {"merges", std::move(merges)}};

  json cj = json::object();
  if (bos) cj["bos_token"] = tokens[static_cast<size_t>(*bos)].as_string();
  if (eos) cj["eos_token"] = tokens[static_cast<size_t>(*eos)].as_string();
  if (file.find("tokenizer.chat_template")) cj["chat_template"] = string_of(file, "tokenizer.chat_template");
  Tokenizer t = from_json(tj.dump(), cj.dump(), where);
  if (!file.find("tokenizer.chat_template")) {
    Impl& m = *t.impl_;
    if (const auto fam = fallback_chat_family(pre, m.text_to_id.count("<think>") > 0, m.text_to_id.count("<|python_tag|>") > 0)) {
      m.chat = std::make_unique<ChatTemplate>(*fam, m.bos_token, m.eos_token);
      core::log_warn(where, ": no tokenizer.chat_template; using the built-in ", chat_family_name(*fam),
                     " template (from tokenizer.ggml.pre \"", pre, "\")");
    } else {
      m.chat_error = cat(where, ": no tokenizer.chat_template, and tokenizer.ggml.pre \"", pre,
                         "\" names no family whose template whale has built in (deepseek-v3, deepseek-r1-qwen, "
                         "qwen2, llama-bpe); chat needs a GGUF with its template");
    }
  }
  return t;
}

Tokenizer load_tokenizer(const std::string& model_path) {
  namespace fs = std::filesystem;
  if (!fs::is_directory(model_path) && fs::path(model_path).extension() == ".gguf") {
    return Tokenizer::from_gguf(formats::GgufFile::open(model_path));
  }
  return Tokenizer::from_dir(model_path);
}

}  // namespace whale::tokenizer
