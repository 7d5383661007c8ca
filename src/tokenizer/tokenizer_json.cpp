// Builds a Tokenizer from tokenizer.json + tokenizer_config.json. Every component type is checked:
// one whale does not implement is an error naming it, never a silent difference in ids.
#include <filesystem>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/mapped_file.h"
#include "tokenizer/tokenizer_impl.h"

namespace whale::tokenizer {
namespace {

using nlohmann::json;

const json& field(const json& j, const char* name, const std::string& where) {
  const auto it = j.find(name);
  if (it == j.end()) fail(ErrorKind::kFormat, where, ": missing field \"", name, "\"");
  return *it;
}

std::string type_of(const json& j, const std::string& where) {
  if (!j.is_object() || !j.contains("type") || !j["type"].is_string()) {
    fail(ErrorKind::kFormat, where, ": expected an object with a string \"type\"");
  }
  return j["type"].get<std::string>();
}

std::unique_ptr<Normalizer> make_normalizer(const json& j, const std::string& where) {
  if (j.is_null()) return nullptr;
  const std::string type = type_of(j, where);
  if (type == "NFC") return std::make_unique<NfcNormalizer>();
  if (type == "Sequence") {
    std::vector<std::unique_ptr<Normalizer>> steps;
    const json& list = field(j, "normalizers", where);
    for (size_t i = 0; i < list.size(); ++i) {
      if (auto n = make_normalizer(list[i], where + ".normalizers[" + std::to_string(i) + "]")) {
        steps.push_back(std::move(n));
      }
    }
    if (steps.empty()) return nullptr;
    return std::make_unique<SequenceNormalizer>(std::move(steps));
  }
  fail(ErrorKind::kUnsupported, where, ": normalizer type \"", type, "\" is not supported (known: NFC, Sequence)");
}

SplitBehavior split_behavior(const std::string& s, const std::string& where) {
  if (s == "Isolated") return SplitBehavior::kIsolated;
  if (s == "Removed") return SplitBehavior::kRemoved;
  if (s == "MergedWithPrevious") return SplitBehavior::kMergedWithPrevious;
  if (s == "MergedWithNext") return SplitBehavior::kMergedWithNext;
  if (s == "Contiguous") return SplitBehavior::kContiguous;
  fail(ErrorKind::kFormat, where, ": unknown split behavior \"", s, "\"");
}

std::string escape_literal(const std::string& s) {
  std::string out = "\\Q" + s + "\\E";
  return s.find("\\E") == std::string::npos ? out : throw Error(ErrorKind::kUnsupported, "split string contains \\E");
}

std::unique_ptr<PreTokenizer> make_pre_tokenizer(const json& j, const std::string& where, bool* byte_level) {
  if (j.is_null()) return nullptr;
  const std::string type = type_of(j, where);
  if (type == "Sequence") {
    std::vector<std::unique_ptr<PreTokenizer>> steps;
    const json& list = field(j, "pretokenizers", where);
    for (size_t i = 0; i < list.size(); ++i) {
      if (auto p = make_pre_tokenizer(list[i], where + ".pretokenizers[" + std::to_string(i) + "]", byte_level)) {
        steps.push_back(std::move(p));
      }
    }
    return std::make_unique<SequencePreTokenizer>(std::move(steps));
  }
  if (type == "Split") {
    const json& pat = field(j, "pattern", where);
    std::string source;
    if (pat.contains("Regex")) {
      source = pat["Regex"].get<std::string>();
    } else if (pat.contains("String")) {
      source = escape_literal(pat["String"].get<std::string>());
    } else {
      fail(ErrorKind::kFormat, where, ".pattern: expected Regex or String");
    }
    return std::make_unique<SplitPreTokenizer>(Regex(source, where + ".pattern"),
                                               split_behavior(field(j, "behavior", where).get<std::string>(), where),
                                               j.value("invert", false));
  }
  if (type == "ByteLevel") {
    *byte_level = true;
    return std::make_unique<ByteLevelPreTokenizer>(j.value("add_prefix_space", false), j.value("use_regex", true));
  }
  if (type == "Digits") return make_digits_pre_tokenizer(j.value("individual_digits", false));
  fail(ErrorKind::kUnsupported, where, ": pre-tokenizer type \"", type,
       "\" is not supported (known: Sequence, Split, ByteLevel, Digits)");
}

std::string token_content(const json& j) {
  if (j.is_string()) return j.get<std::string>();
  if (j.is_object() && j.contains("content") && j["content"].is_string()) return j["content"].get<std::string>();
  return {};
}

// Ids the post-processor adds around one sequence: (prefix, suffix).
void make_post_processor(const json& j, const std::string& where, Tokenizer::Impl& m) {
  if (j.is_null()) return;
  const std::string type = type_of(j, where);
  if (type == "ByteLevel") return;  // offsets only
  if (type == "Sequence") {
    const json& list = field(j, "processors", where);
    for (size_t i = 0; i < list.size(); ++i) make_post_processor(list[i], where + ".processors[" + std::to_string(i) + "]", m);
    return;
  }
  if (type == "TemplateProcessing") {
    const json& single = field(j, "single", where);
    const json& specials = j.value("special_tokens", json::object());
    bool seen_sequence = false;
    for (const json& item : single) {
      if (item.contains("Sequence")) {
        seen_sequence = true;
      } else if (item.contains("SpecialToken")) {
        const std::string name = item["SpecialToken"].value("id", "");
        if (!specials.contains(name)) fail(ErrorKind::kFormat, where, ": special token \"", name, "\" not in special_tokens");
        for (const json& id : specials[name].value("ids", json::array())) {
          (seen_sequence ? m.suffix_ids : m.prefix_ids).push_back(id.get<int32_t>());
        }
      }
    }
    return;
  }
  fail(ErrorKind::kUnsupported, where, ": post-processor type \"", type,
       "\" is not supported (known: ByteLevel, TemplateProcessing, Sequence)");
}

std::vector<std::pair<std::string, std::string>> read_merges(const json& merges, const std::string& where) {
  std::vector<std::pair<std::string, std::string>> out;
  out.reserve(merges.size());
  std::string a, b;
  for (size_t i = 0; i < merges.size(); ++i) {
    const json& m = merges[i];
    std::string ta, tb;
    if (m.is_string()) {  // "a b": tokenizers < 0.20
      const std::string& s = m.get_ref<const std::string&>();
      const size_t sp = s.find(' ');
      if (sp == std::string::npos) fail(ErrorKind::kFormat, where, "[", i, "]: expected \"left right\"");
      ta = s.substr(0, sp);
      const size_t sp2 = s.find(' ', sp + 1);
      tb = s.substr(sp + 1, sp2 == std::string::npos ? std::string::npos : sp2 - sp - 1);
    } else if (m.is_array() && m.size() == 2 && m[0].is_string() && m[1].is_string()) {
      ta = m[0].get<std::string>();
      tb = m[1].get<std::string>();
    } else {
      fail(ErrorKind::kFormat, where, "[", i, "]: expected a string or a pair of strings");
    }
    if (!text_to_bytes(ta, &a) || !text_to_bytes(tb, &b)) {
      fail(ErrorKind::kFormat, where, "[", i, "]: not byte-level text");
    }
    out.emplace_back(a, b);
  }
  return out;
}

}  // namespace

Tokenizer Tokenizer::from_json(std::string_view tokenizer_json, std::string_view config_json,
                               const std::string& context) {
  auto m = std::make_unique<Impl>();
  m->context = context;
  json tj, cj = json::object();
  try {
    tj = json::parse(tokenizer_json);
    if (!config_json.empty()) cj = json::parse(config_json);
  } catch (const json::exception& e) {
    fail(ErrorKind::kFormat, context, ": not valid JSON: ", e.what());
  }
  try {
    const std::string tj_name = context + " tokenizer.json";
    const json& model = field(tj, "model", tj_name);
    const std::string model_type = model.value("type", "BPE");
    if (model_type != "BPE") {
      fail(ErrorKind::kUnsupported, tj_name, ": model type \"", model_type, "\" is not supported (known: BPE)");
    }
    if (model.value("byte_fallback", false)) fail(ErrorKind::kUnsupported, tj_name, ": model.byte_fallback is not supported");
    for (const char* k : {"continuing_subword_prefix", "end_of_word_suffix"}) {
      if (model.contains(k) && model[k].is_string() && !model[k].get<std::string>().empty()) {
        fail(ErrorKind::kUnsupported, tj_name, ": model.", k, " is not supported");
      }
    }
    bool byte_level = false;
    m->normalizer = make_normalizer(tj.value("normalizer", json()), tj_name + " normalizer");
    m->pre_tokenizer = make_pre_tokenizer(tj.value("pre_tokenizer", json()), tj_name + " pre_tokenizer", &byte_level);
    if (!byte_level) fail(ErrorKind::kUnsupported, tj_name, ": only byte-level BPE (a ByteLevel pre-tokenizer) is supported");
    const json& dec = tj.value("decoder", json());
    if (!dec.is_null() && type_of(dec, tj_name + " decoder") != "ByteLevel") {
      fail(ErrorKind::kUnsupported, tj_name, ": decoder type \"", dec["type"].get<std::string>(),
           "\" is not supported (known: ByteLevel)");
    }

    const json& vocab = field(model, "vocab", tj_name + " model");
    std::unordered_map<std::string, int32_t> text_vocab, byte_vocab;
    text_vocab.reserve(vocab.size());
    byte_vocab.reserve(vocab.size());
    std::string bytes;
    for (const auto& [t, id] : vocab.items()) {
      if (!id.is_number_integer() || id.get<int64_t>() < 0 || id.get<int64_t>() > (1 << 24)) {
        fail(ErrorKind::kFormat, tj_name, ": model.vocab[\"", t, "\"] must be an id in [0, 2^24]");
      }
      text_vocab.emplace(t, id.get<int32_t>());
      if (text_to_bytes(t, &bytes)) byte_vocab.emplace(bytes, id.get<int32_t>());
    }
    const auto merges = read_merges(model.value("merges", json::array()), tj_name + " model.merges");
    m->model = std::make_unique<BpeModel>(std::move(byte_vocab), merges, model.value("ignore_merges", false), tj_name);

    for (const json& a : tj.value("added_tokens", json::array())) {
      AddedToken t;
      t.content = field(a, "content", tj_name + " added_tokens").get<std::string>();
      t.id = field(a, "id", tj_name + " added_tokens").get<int32_t>();
      if (t.id < 0 || t.id > (1 << 24)) fail(ErrorKind::kFormat, tj_name, ": added token id ", t.id, " out of range");
      t.special = a.value("special", false);
      t.lstrip = a.value("lstrip", false);
      t.rstrip = a.value("rstrip", false);
      t.single_word = a.value("single_word", false);
      t.normalized = a.value("normalized", false);
      m->added.push_back(std::move(t));
    }
    m->index_tokens(text_vocab);

    make_post_processor(tj.value("post_processor", json()), tj_name + " post_processor", *m);
    const std::string cfg_name = context + " tokenizer_config.json";
    m->bos_token = token_content(cj.value("bos_token", json()));
    m->eos_token = token_content(cj.value("eos_token", json()));
    if (!m->bos_token.empty()) {
      const auto it = m->text_to_id.find(m->bos_token);
      if (it == m->text_to_id.end()) fail(ErrorKind::kFormat, cfg_name, ": bos_token \"", m->bos_token, "\" is not a token");
      m->bos = it->second;
    }
    if (!m->eos_token.empty()) {
      const auto it = m->text_to_id.find(m->eos_token);
      if (it == m->text_to_id.end()) fail(ErrorKind::kFormat, cfg_name, ": eos_token \"", m->eos_token, "\" is not a token");
      m->eos = it->second;
    }
    // transformers' LlamaTokenizerFast rebuilds the post-processor from add_bos_token/add_eos_token
    // (DeepSeek-V3/R1 and the R1 distills use this class), so BOS comes from the config there.
    const std::string cls = cj.value("tokenizer_class", "");
    if (cls == "LlamaTokenizerFast" || cls == "LlamaTokenizer") {
      m->prefix_ids.clear();
      m->suffix_ids.clear();
      if (cj.value("add_bos_token", true) && m->bos) m->prefix_ids.push_back(*m->bos);
      if (cj.value("add_eos_token", false) && m->eos) m->suffix_ids.push_back(*m->eos);
    }

    const json& tmpl = cj.value("chat_template", json());
    std::string source;
    if (tmpl.is_string()) {
      source = tmpl.get<std::string>();
    } else if (tmpl.is_array()) {
      for (const json& t : tmpl) {
        if (t.value("name", "") == "default") source = t.value("template", "");
      }
    }
    if (source.empty()) {
      m->chat_error = cfg_name + ": no chat_template";
    } else {
      try {
        m->chat = std::make_unique<ChatTemplate>(ChatTemplate::from_jinja(source, m->bos_token, m->eos_token, cfg_name));
      } catch (const Error& e) {
        m->chat_error = e.what();
      }
    }
  } catch (const json::exception& e) {
    fail(ErrorKind::kFormat, context, ": unexpected JSON shape: ", e.what());
  }
  return Tokenizer(std::move(m));
}

Tokenizer Tokenizer::from_dir(const std::string& dir) {
  namespace fs = std::filesystem;
  const fs::path tj = fs::path(dir) / "tokenizer.json";
  const fs::path cj = fs::path(dir) / "tokenizer_config.json";
  if (!fs::exists(tj)) fail(ErrorKind::kNotFound, tj.string(), ": no tokenizer.json in the model directory");
  const std::string tokenizer_json = core::read_file(tj.string());
  const std::string config_json = fs::exists(cj) ? core::read_file(cj.string()) : std::string();
  return from_json(tokenizer_json, config_json, dir);
}

}  // namespace whale::tokenizer
