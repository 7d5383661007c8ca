// The schema walk: each subschema becomes a GBNF rule; shared rules (ws, string, number, the
// depth-bounded generic JSON value) are emitted once at the end.
#include "constrain/json_schema.h"

#include <algorithm>
#include <array>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <vector>

#include "constrain/grammar.h"
#include "core/error.h"

namespace whale::constrain {
namespace {

using json = nlohmann::ordered_json;
constexpr int kGenericDepth = 8;

std::string generic_rules() {
  std::string g;
  g += "ws ::= ( \" \" | \"\\n\" [ \\t]{0,20} )?\n";
  g += "char ::= [^\"\\\\\\x00-\\x1F] | \"\\\\\" ( [\"\\\\/bfnrt] | \"u\" [0-9a-fA-F]{4} )\n";
  g += "string ::= \"\\\"\" char* \"\\\"\"\n";
  g += "integer ::= \"-\"? ( \"0\" | [1-9] [0-9]{0,15} )\n";
  g += "number ::= integer ( \".\" [0-9]{1,16} )? ( [eE] [-+]? [0-9]{1,2} )?\n";
  g += "boolean ::= \"true\" | \"false\"\n";
  g += "null ::= \"null\"\n";
  for (int d = 0; d <= kGenericDepth; ++d) {
    const std::string k = std::to_string(d), n = std::to_string(d + 1);
    if (d == kGenericDepth) {
      g += "value-" + k + " ::= string | number | boolean | null\n";
      break;
    }
    g += "value-" + k + " ::= object-" + k + " | array-" + k + " | string | number | boolean | null\n";
    g += "object-" + k + " ::= \"{\" ws ( string ws \":\" ws value-" + n + " ws ( \",\" ws string ws \":\" ws value-" + n +
         " ws )* )? \"}\"\n";
    g += "array-" + k + " ::= \"[\" ws ( value-" + n + " ws ( \",\" ws value-" + n + " ws )* )? \"]\"\n";
  }
  return g;
}

class Compiler {
 public:
  explicit Compiler(json root) : root_(std::move(root)) {}

  std::string run() {
    const std::string top = visit(root_, "#");
    return "root ::= " + top + "\n" + rules_ + generic_rules();
  }

 private:
  [[noreturn]] static void unsupported(const std::string& keyword, const std::string& path, const std::string& why = "") {
    fail(ErrorKind::kUnsupported, "unsupported JSON schema keyword '", keyword, "' at ", path, why.empty() ? "" : ": ", why);
  }
  [[noreturn]] static void invalid(const std::string& keyword, const std::string& path, const std::string& why) {
    fail(ErrorKind::kInvalidArgument, "invalid JSON schema keyword '", keyword, "' at ", path, ": ", why);
  }

  std::string add_rule(const std::string& body) {
    const std::string name = "s" + std::to_string(counter_++);
    rules_ += name + " ::= " + body + "\n";
    return name;
  }

  static size_t count(const json& s, const char* key, const std::string& path) {
    const json& v = s.at(key);
    if (!v.is_number_integer() || v.get<int64_t>() < 0 || v.get<int64_t>() > 10000) {
      invalid(key, path, "must be an integer in [0, 10000]");
    }
    return v.get<size_t>();
  }

  static std::string repeat(const std::string& x, size_t min, std::optional<size_t> max) {
    if (!max) return min == 0 ? "( " + x + " )*" : "( " + x + " ){" + std::to_string(min) + ",}";
    return "( " + x + " ){" + std::to_string(min) + "," + std::to_string(*max) + "}";
  }

  std::string visit(const json& s, const std::string& path) {
    // One level of recursion per nested schema: a request nesting thousands of them would overflow
    // the stack of the thread compiling it.
    struct Depth {
      int& d;
      explicit Depth(int& x) : d(++x) {}
      ~Depth() { --d; }
    } depth(depth_);
    if (depth_ > kMaxSchemaDepth) invalid("schema", path, "schemas nest deeper than " + std::to_string(kMaxSchemaDepth) + " levels");
    if (s.is_boolean()) {
      if (s.get<bool>()) return "value-0";
      invalid("false", path, "a false schema matches nothing");
    }
    if (!s.is_object()) invalid("schema", path, "a schema must be an object");
    static const std::set<std::string> kKnown = {"type", "properties", "required", "additionalProperties", "items",
                                                 "minItems", "maxItems", "minLength", "maxLength", "enum", "const",
                                                 "anyOf", "$ref", "$defs", "definitions", "title", "description",
                                                 "default", "examples", "$schema", "$id", "$comment"};
    for (const auto& [k, v] : s.items()) {
      if (!kKnown.count(k)) unsupported(k, path);
    }
    if (s.contains("$ref")) return ref(s.at("$ref"), path);
    if (s.contains("const")) return gbnf_literal(s.at("const").dump());
    if (s.contains("enum")) {
      const json& e = s.at("enum");
      if (!e.is_array() || e.empty()) invalid("enum", path, "must be a non-empty array");
      std::string body;
      for (const json& v : e) body += (body.empty() ? "" : " | ") + gbnf_literal(v.dump());
      return add_rule(body);
    }
    if (s.contains("anyOf")) {
      const json& a = s.at("anyOf");
      if (!a.is_array() || a.empty()) invalid("anyOf", path, "must be a non-empty array");
      std::string body;
      for (size_t i = 0; i < a.size(); ++i) body += (i ? " | " : "") + visit(a[i], path + "/anyOf/" + std::to_string(i));
      return add_rule(body);
    }
    std::vector<std::string> types;
    if (s.contains("type")) {
      const json& t = s.at("type");
      if (t.is_string()) {
        types.push_back(t.get<std::string>());
      } else if (t.is_array() && !t.empty()) {
        for (const json& x : t) {
          if (!x.is_string()) invalid("type", path, "must be a string or an array of strings");
          types.push_back(x.get<std::string>());
        }
      } else {
        invalid("type", path, "must be a string or an array of strings");
      }
    } else if (s.contains("properties")) {
      types.push_back("object");
    } else if (s.contains("items")) {
      types.push_back("array");
    } else {
      return "value-0";
    }
    std::string body;
    for (const std::string& t : types) body += (body.empty() ? "" : " | ") + typed(t, s, path);
    return types.size() == 1 ? body : add_rule(body);
  }

  std::string ref(const json& r, const std::string& path) {
    if (!r.is_string() || r.get<std::string>().rfind("#", 0) != 0) unsupported("$ref", path, "only local references (\"#/...\") are supported");
    const std::string target = r.get<std::string>();
    auto it = refs_.find(target);
    if (it != refs_.end()) return it->second;
    const json* node = &root_;
    try {
      const std::string pointer = target.substr(1);
      node = &root_.at(json::json_pointer(pointer));
    } catch (const std::exception&) {
      invalid("$ref", path, "'" + target + "' names nothing in this schema");
    }
    const std::string name = "ref" + std::to_string(counter_++);
    refs_[target] = name;  // before visiting: recursive schemas refer to themselves
    const std::string body = visit(*node, target);
    rules_ += name + " ::= " + body + "\n";
    return name;
  }

  std::string typed(const std::string& t, const json& s, const std::string& path) {
    if (t == "string") {
      if (!s.contains("minLength") && !s.contains("maxLength")) return "string";
      const size_t min = s.contains("minLength") ? count(s, "minLength", path) : 0;
      std::optional<size_t> max;
      if (s.contains("maxLength")) max = count(s, "maxLength", path);
      if (max && *max < min) invalid("maxLength", path, "is below minLength");
      return add_rule("\"\\\"\" " + repeat("char", min, max) + " \"\\\"\"");
    }
    if (t == "number" || t == "integer" || t == "boolean" || t == "null") return t;
    if (t == "array") {
      const std::string item = s.contains("items") ? visit(s.at("items"), path + "/items") : "value-0";
      const size_t min = s.contains("minItems") ? count(s, "minItems", path) : 0;
      std::optional<size_t> max;
      if (s.contains("maxItems")) max = count(s, "maxItems", path);
      if (max && *max < min) invalid("maxItems", path, "is below minItems");
      if (max && *max == 0) return add_rule("\"[\" ws \"]\"");
      const std::string more = repeat("\",\" ws " + item + " ws", min == 0 ? 0 : min - 1,
                                      max ? std::optional<size_t>(*max - 1) : std::nullopt);
      if (min == 0) return add_rule("\"[\" ws ( " + item + " ws " + more + " )? \"]\"");
      return add_rule("\"[\" ws " + item + " ws " + more + " \"]\"");
    }
    if (t == "object") return object(s, path);
    invalid("type", path, "unknown type '" + t + "'");
  }

  std::string object(const json& s, const std::string& path) {
    const json* ap = s.contains("additionalProperties") ? &s.at("additionalProperties") : nullptr;
    if (ap && !ap->is_boolean() && !ap->is_object()) invalid("additionalProperties", path, "must be a boolean or a schema");
    if (!s.contains("properties")) {
      if (s.contains("required") && !s.at("required").empty()) unsupported("required", path, "required keys need 'properties'");
      if (!ap || (ap->is_boolean() && ap->get<bool>())) return "object-0";
      if (ap->is_boolean()) return add_rule("\"{\" ws \"}\"");
      unsupported("additionalProperties", path, "a schema for extra keys needs 'properties'");
    }
    const json& props = s.at("properties");
    if (!props.is_object()) invalid("properties", path, "must be an object");
    std::set<std::string> required;
    if (s.contains("required")) {
      const json& r = s.at("required");
      if (!r.is_array()) invalid("required", path, "must be an array of names");
      for (const json& n : r) {
        if (!n.is_string()) invalid("required", path, "must be an array of names");
        if (!props.contains(n.get<std::string>())) {
          unsupported("required", path, "'" + n.get<std::string>() + "' is not in 'properties'");
        }
        required.insert(n.get<std::string>());
      }
    }
    std::vector<std::pair<std::string, bool>> kv;  // rule of "key": value, required
    for (const auto& [k, v] : props.items()) {
      const std::string value = visit(v, path + "/properties/" + k);
      kv.emplace_back(add_rule(gbnf_literal(json(k).dump()) + " ws \":\" ws " + value + " ws"), required.count(k) > 0);
    }
    // rest(i, comma): the properties from i on, where comma says one came before.
    const size_t n = kv.size();
    std::vector<std::array<std::string, 2>> rest(n + 1);
    rest[n] = {"", ""};
    for (size_t i = n; i-- > 0;) {
      for (int c = 0; c < 2; ++c) {
        const std::string take = (c ? "\",\" ws " : "") + kv[i].first + (rest[i + 1][1].empty() ? "" : " " + rest[i + 1][1]);
        std::string body = kv[i].second ? take : "( " + take + " )" + (rest[i + 1][c].empty() ? " | " : " | " + rest[i + 1][c]);
        if (!kv[i].second && rest[i + 1][c].empty()) body = "( " + take + " )?";
        rest[i][static_cast<size_t>(c)] = add_rule(body);
      }
    }
    return add_rule("\"{\" ws " + (n ? rest[0][0] + " " : "") + "\"}\"");
  }

  static constexpr int kMaxSchemaDepth = 128;
  json root_;
  int depth_ = 0;
  std::string rules_;
  std::map<std::string, std::string> refs_;
  int counter_ = 0;
};

// Every rule name in `gbnf` with `prefix` in front (literals, classes, counts and comments untouched).
std::string prefix_rules(const std::string& gbnf, std::string_view prefix) {
  if (prefix.empty()) return gbnf;
  auto name_char = [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
  };
  std::string out;
  for (size_t i = 0; i < gbnf.size();) {
    const char c = gbnf[i];
    if (c == '"' || c == '[' || c == '{' || c == '#') {
      const char close = c == '"' ? '"' : c == '[' ? ']' : c == '{' ? '}' : '\n';
      size_t j = i + 1;
      while (j < gbnf.size() && gbnf[j] != close) j += (gbnf[j] == '\\' && c != '#') ? 2 : 1;
      j = std::min(j + 1, gbnf.size());
      out.append(gbnf, i, j - i);
      i = j;
    } else if (name_char(c)) {
      size_t j = i;
      while (j < gbnf.size() && name_char(gbnf[j])) ++j;
      out += prefix;
      out.append(gbnf, i, j - i);
      i = j;
    } else {
      out += c;
      ++i;
    }
  }
  return out;
}

}  // namespace

std::string json_schema_to_gbnf(std::string_view schema_json, std::string_view rule_prefix) {
  json schema;
  try {
    schema = json::parse(schema_json);
  } catch (const json::exception& e) {  // parse errors, and numbers past a double (out_of_range)
    fail(ErrorKind::kInvalidArgument, "JSON schema is not valid JSON: ", e.what());
  }
  return prefix_rules(Compiler(std::move(schema)).run(), rule_prefix);
}

std::string any_json_object_gbnf() { return "root ::= object-0\n" + generic_rules(); }

}  // namespace whale::constrain
