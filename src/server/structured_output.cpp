// Which field asks for what: response_format {"type": "json_object"} (optionally with llama-server's
// "schema"), {"type": "json_schema", "json_schema": {"schema": ...}}, top-level "json_schema"
// (llama-server) and "grammar" (GBNF). At most one of them per request.
#include "server/structured_output.h"

#include "constrain/grammar.h"
#include "constrain/json_schema.h"
#include "server/api_error.h"
#include "server/json_fields.h"

namespace whale::server {

using nlohmann::json;
using ordered = nlohmann::ordered_json;

std::shared_ptr<const constrain::Vocabulary> constraint_vocabulary(const tokenizer::Tokenizer& tok) {
  std::vector<std::string> bytes(tok.vocab_size());
  std::vector<int32_t> special;
  for (size_t id = 0; id < bytes.size(); ++id) {
    const int32_t i = static_cast<int32_t>(id);
    if (!tok.contains(i)) continue;
    if (tok.is_special(i)) {
      special.push_back(i);
    } else {
      bytes[id] = tok.token_bytes(i);
    }
  }
  std::vector<int32_t> eos;
  if (auto e = tok.eos_id()) eos.push_back(*e);
  return std::make_shared<constrain::Vocabulary>(std::move(bytes), std::move(eos), special);
}

std::shared_ptr<const constrain::Vocabulary> ConstraintVocabulary::get(const tokenizer::Tokenizer& tok) {
  std::call_once(once_, [&] { vocab_ = constraint_vocabulary(tok); });
  return vocab_;
}

namespace {

// Compiles GBNF text, reporting failures against `param`.
std::shared_ptr<constrain::Matcher> compile(const std::string& gbnf, const std::string& param,
                                            const tokenizer::Tokenizer& tok, ConstraintVocabulary& vocab) {
  std::shared_ptr<const constrain::Grammar> g;
  try {
    g = std::make_shared<const constrain::Grammar>(constrain::parse_gbnf(gbnf));
  } catch (const Error& e) {
    bad_request(param, std::string("`") + param + "`: " + e.what());
  }
  return std::make_shared<constrain::Matcher>(g, vocab.get(tok));
}

std::string schema_gbnf(const ordered& schema, const std::string& param) {
  if (!schema.is_object() && !schema.is_boolean()) bad_request(param, "`" + param + "` must be a JSON schema object");
  try {
    return constrain::json_schema_to_gbnf(schema.dump());
  } catch (const Error& e) {
    bad_request(param, std::string("`") + param + "`: " + e.what());
  }
}

}  // namespace

std::shared_ptr<constrain::Matcher> parse_constraint(const json& j, std::string_view body, const tokenizer::Tokenizer& tok,
                                                     ConstraintVocabulary& vocab) {
  auto present = [&](const char* k) { return j.contains(k) && !j.at(k).is_null(); };
  bool rf = present("response_format");
  // A non-string `type` is refused below (nlohmann's value("type", "") would throw a type_error).
  if (rf && string_or_empty(j.at("response_format"), "type") == "text") rf = false;
  const int n = static_cast<int>(rf) + static_cast<int>(present("grammar")) + static_cast<int>(present("json_schema"));
  if (n == 0) return nullptr;
  if (n > 1) {
    bad_request(present("grammar") ? "grammar" : "json_schema",
                "send only one of `response_format`, `grammar` and `json_schema`");
  }
  const ordered o = ordered::parse(body);  // j parsed, so this cannot throw
  if (present("grammar")) {
    if (!j.at("grammar").is_string()) bad_request("grammar", "`grammar` must be a GBNF string");
    return compile(j.at("grammar").get<std::string>(), "grammar", tok, vocab);
  }
  if (present("json_schema")) return compile(schema_gbnf(o.at("json_schema"), "json_schema"), "json_schema", tok, vocab);
  const ordered& f = o.at("response_format");
  if (!f.is_object() || !f.contains("type") || !f.at("type").is_string()) {
    bad_request("response_format", "`response_format` must be an object with a string `type`");
  }
  const std::string type = f.at("type").get<std::string>();
  if (type == "json_object") {
    if (f.contains("schema") && !f.at("schema").is_null()) {  // llama-server's extension
      return compile(schema_gbnf(f.at("schema"), "response_format.schema"), "response_format.schema", tok, vocab);
    }
    return compile(constrain::any_json_object_gbnf(), "response_format", tok, vocab);
  }
  if (type == "json_schema") {
    if (!f.contains("json_schema") || !f.at("json_schema").is_object()) {
      bad_request("response_format.json_schema", "`response_format.json_schema` must be an object with a `schema`");
    }
    const ordered& js = f.at("json_schema");
    if (!js.contains("schema") || js.at("schema").is_null()) {
      return compile(constrain::any_json_object_gbnf(), "response_format.json_schema", tok, vocab);
    }
    return compile(schema_gbnf(js.at("schema"), "response_format.json_schema.schema"), "response_format.json_schema.schema",
                   tok, vocab);
  }
  bad_request("response_format.type", "`response_format.type` must be \"text\", \"json_object\" or \"json_schema\", got \"" + type + "\"");
}

}  // namespace whale::server
