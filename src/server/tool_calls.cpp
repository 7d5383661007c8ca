// Tool calls per family. DeepSeek-V3/R1:
//   <｜tool▁calls▁begin｜><｜tool▁call▁begin｜>function<｜tool▁sep｜>NAME\n```json\nARGS\n```<｜tool▁call▁end｜>
//   ("\n" and more calls) <｜tool▁calls▁end｜>
// Qwen3, Qwen2.5: <tool_call>\n{"name": NAME, "arguments": ARGS}\n</tool_call> per call, "\n" between.
// Llama-3.1: the whole answer is one {"name": NAME, "parameters": ARGS} (after <|python_tag|> when the
// model uses it), then <|eot_id|>.
#include "server/tool_calls.h"

#include <random>
#include <utility>

#include "constrain/grammar.h"
#include "constrain/json_schema.h"
#include "server/api_error.h"
#include "server/json_fields.h"
#include "tokenizer/chat_template_tools.h"

namespace whale::server {

using nlohmann::json;
using ordered = nlohmann::ordered_json;
using tokenizer::ChatFamily;

namespace {

constexpr std::string_view kCallsBegin = "<｜tool▁calls▁begin｜>";
constexpr std::string_view kCallsEnd = "<｜tool▁calls▁end｜>";
constexpr std::string_view kCallBegin = "<｜tool▁call▁begin｜>";
constexpr std::string_view kCallEnd = "<｜tool▁call▁end｜>";
constexpr std::string_view kSep = "<｜tool▁sep｜>";
constexpr std::string_view kQwenBegin = "<tool_call>";
constexpr std::string_view kQwenEnd = "</tool_call>";
constexpr std::string_view kPythonTag = "<|python_tag|>";
constexpr int kMaxParallel = 4;  // calls a forced grammar allows in one turn

bool deepseek(ChatFamily f) { return f == ChatFamily::kDeepSeekV3 || f == ChatFamily::kDeepSeekR1; }
bool llama31(ChatFamily f) { return f == ChatFamily::kLlama31; }

std::string call_id() {
  static thread_local std::mt19937_64 rng{std::random_device{}()};
  static const char* hex = "0123456789abcdef";
  std::string id = "call_";
  for (int i = 0; i < 24; ++i) id += hex[rng() % 16];
  return id;
}

bool valid_name(const std::string& n) {
  if (n.empty() || n.size() > 64) return false;
  for (char c : n) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_' && c != '-') return false;
  }
  return true;
}

// Prefixes every rule name in GBNF text (identifiers outside literals, classes and comments), so
// several schema grammars can live in one.
std::string prefix_rules(std::string_view g, const std::string& prefix) {
  std::string out;
  for (size_t i = 0; i < g.size();) {
    const char c = g[i];
    if (c == '"' || c == '[') {
      const char close = c == '"' ? '"' : ']';
      size_t k = i + 1;
      while (k < g.size() && g[k] != close) k += g[k] == '\\' ? 2 : 1;
      out.append(g.substr(i, k + 1 - i));
      i = k + 1;
    } else if (c == '#') {
      const size_t k = g.find('\n', i);
      i = k == std::string_view::npos ? g.size() : k;
    } else if (std::isalpha(static_cast<unsigned char>(c))) {
      size_t k = i;
      while (k < g.size() && (std::isalnum(static_cast<unsigned char>(g[k])) || g[k] == '-' || g[k] == '_')) ++k;
      out += prefix;
      out.append(g.substr(i, k - i));
      i = k;
    } else {
      out += c;
      ++i;
    }
  }
  return out;
}

const ordered* find_tool(const ordered& tools, const std::string& name) {
  for (const ordered& t : tools) {
    if (t["function"]["name"] == name) return &t;
  }
  return nullptr;
}

}  // namespace

namespace {

// The calls' GBNF. `triggered`: the grammar of what follows the family's call trigger (see
// TriggeredGrammar). `strict_only`: tools without `strict: true` take any JSON object.
std::string call_gbnf(ChatFamily family, const ordered& tools, const std::vector<std::string>& names, bool parallel,
                      bool triggered, bool strict_only) {
  std::string rules, alts;
  for (size_t i = 0; i < names.size(); ++i) {
    const ordered* t = find_tool(tools, names[i]);
    const ordered& f = (*t)["function"];
    const std::string prefix = "t" + std::to_string(i) + "-";
    const std::string param = "tools[" + std::to_string(t - &tools[0]) + "].function.parameters";
    const bool schema_given = f.contains("parameters") && !f["parameters"].is_null() &&
                              (!strict_only || (f.contains("strict") && f["strict"] == true));
    std::string schema;
    try {
      schema = schema_given ? constrain::json_schema_to_gbnf(f["parameters"].dump()) : constrain::any_json_object_gbnf();
    } catch (const Error& e) {
      bad_request(param, "`" + param + "`: " + e.what());
    }
    rules += prefix_rules(schema, prefix) + "\n";
    const std::string& n = names[i];
    if (!alts.empty()) alts += " | ";
    if (deepseek(family)) {
      alts += constrain::gbnf_literal(n + "\n```json\n");
    } else if (llama31(family)) {
      alts += constrain::gbnf_literal((triggered ? "" : "{\"name\": \"") + n + "\", \"parameters\": ");
    } else {
      alts += constrain::gbnf_literal("{\"name\": \"" + n + "\", \"arguments\": ");
    }
    alts += " " + prefix + "root";
  }
  const std::string more = parallel ? " (\"\\n\" call){0," + std::to_string(kMaxParallel - 1) + "}" : "";
  std::string top;
  if (deepseek(family)) {
    top = "root ::= " + (triggered ? std::string() : constrain::gbnf_literal(std::string(kCallsBegin)) + " ") + "call" + more + " " +
          constrain::gbnf_literal(std::string(kCallsEnd)) + "\ncall ::= " +
          constrain::gbnf_literal(std::string(kCallBegin) + "function" + std::string(kSep)) + " (" + alts + ") " +
          constrain::gbnf_literal("\n```" + std::string(kCallEnd)) + "\n";
  } else if (llama31(family)) {  // one call: the template has no way to write several
    top = "root ::= (" + alts + ") " + constrain::gbnf_literal("}") + "\n";
  } else {
    top = "root ::= " + (triggered ? constrain::gbnf_literal("\n") + " body" : std::string("call")) + more + "\ncall ::= " +
          constrain::gbnf_literal(std::string(kQwenBegin) + "\n") + " body\nbody ::= (" + alts + ") " +
          constrain::gbnf_literal("}\n" + std::string(kQwenEnd)) + "\n";
  }
  return top + rules;
}

std::vector<std::string> tool_names(const ordered& tools) {
  std::vector<std::string> names;
  for (const ordered& t : tools) names.push_back(t["function"]["name"].get<std::string>());
  return names;
}

}  // namespace

std::string tool_call_gbnf(ChatFamily family, const ordered& tools, const std::vector<std::string>& names, bool parallel) {
  return call_gbnf(family, tools, names, parallel, /*triggered=*/false, /*strict_only=*/false);
}

TriggeredGrammar strict_tools_gbnf(ChatFamily family, const ordered& tools, bool parallel) {
  TriggeredGrammar t;
  if (deepseek(family)) {
    t.trigger = std::string(kCallsBegin);
  } else if (llama31(family)) {
    t.trigger = "{\"name\": \"";
    t.at_start = true;
    parallel = false;
  } else {
    t.trigger = std::string(kQwenBegin);
  }
  t.gbnf = call_gbnf(family, tools, tool_names(tools), parallel, /*triggered=*/true, /*strict_only=*/true);
  return t;
}

ToolSetup parse_tools(const json& j, std::string_view body, const tokenizer::Tokenizer& tok, ConstraintVocabulary& vocab) {
  ToolSetup s;
  auto present = [&](const char* k) { return j.contains(k) && !j.at(k).is_null(); };
  const bool has_tools = present("tools") && !(j.at("tools").is_array() && j.at("tools").empty());
  if (!has_tools) {
    if (present("tool_choice")) bad_request("tool_choice", "`tool_choice` is only allowed when `tools` are given");
    return s;
  }
  const ordered all = ordered::parse(body);
  const ordered& tools = all.at("tools");
  if (!tools.is_array()) bad_request("tools", "`tools` must be an array of {\"type\": \"function\", \"function\": {...}}");
  if (tools.size() > 128) bad_request("tools", "`tools` may list at most 128 functions");
  std::vector<std::string> names;
  for (size_t i = 0; i < tools.size(); ++i) {
    const std::string at = "tools[" + std::to_string(i) + "]";
    const ordered& t = tools[i];
    if (!t.is_object() || string_or_empty(t, "type") != "function") bad_request(at + ".type", "`" + at + ".type` must be \"function\"");
    if (!t.contains("function") || !t["function"].is_object()) bad_request(at + ".function", "`" + at + ".function` must be an object");
    const ordered& f = t["function"];
    if (!f.contains("name") || !f["name"].is_string() || !valid_name(f["name"].get<std::string>())) {
      bad_request(at + ".function.name", "`" + at + ".function.name` must be 1-64 characters of a-z, A-Z, 0-9, _ and -");
    }
    const std::string name = f["name"].get<std::string>();
    if (std::find(names.begin(), names.end(), name) != names.end()) {
      bad_request(at + ".function.name", "`" + at + ".function.name`: \"" + name + "\" is listed twice");
    }
    names.push_back(name);
    if (f.contains("description") && !f["description"].is_null() && !f["description"].is_string()) {
      bad_request(at + ".function.description", "`" + at + ".function.description` must be a string");
    }
    if (f.contains("parameters") && !f["parameters"].is_null() && !f["parameters"].is_object()) {
      bad_request(at + ".function.parameters", "`" + at + ".function.parameters` must be a JSON schema object");
    }
    if (f.contains("strict") && !f["strict"].is_null() && !f["strict"].is_boolean()) {
      bad_request(at + ".function.strict", "`" + at + ".function.strict` must be true or false");
    }
  }
  s.family = tok.chat_template().family();
  if (s.family == ChatFamily::kLlama3) {
    bad_request("tools", std::string("the model's chat template (") + tokenizer::chat_family_name(s.family) +
                             ") has no tool-call format; tools work with DeepSeek-V3/R1, Qwen3, Qwen2.5 and Llama-3.1 templates");
  }
  s.tools_json = tools.dump();
  bool parallel = true;
  if (present("parallel_tool_calls")) {
    if (!j.at("parallel_tool_calls").is_boolean()) bad_request("parallel_tool_calls", "`parallel_tool_calls` must be true or false");
    parallel = j.at("parallel_tool_calls").get<bool>();
  }
  std::vector<std::string> forced;
  std::string choice = "auto";
  if (present("tool_choice")) {
    const json& c = j.at("tool_choice");
    if (c.is_string()) {
      choice = c.get<std::string>();
      if (choice != "none" && choice != "auto" && choice != "required") {
        bad_request("tool_choice", "`tool_choice` must be \"none\", \"auto\", \"required\" or {\"type\": \"function\", \"function\": {\"name\": ...}}");
      }
    } else if (c.is_object() && string_or_empty(c, "type") == "function" && c.contains("function") && c["function"].is_object() &&
               c["function"].contains("name") && c["function"]["name"].is_string()) {
      const std::string name = c["function"]["name"].get<std::string>();
      if (std::find(names.begin(), names.end(), name) == names.end()) {
        bad_request("tool_choice", "`tool_choice` names the function \"" + name + "\", which is not in `tools`");
      }
      choice = "named";
      forced = {name};
    } else {
      bad_request("tool_choice", "`tool_choice` must be \"none\", \"auto\", \"required\" or {\"type\": \"function\", \"function\": {\"name\": ...}}");
    }
  }
  s.parse_output = choice != "none";
  if (choice == "required") forced = names;
  const auto matcher = [&](const std::string& gbnf) {
    std::shared_ptr<const constrain::Grammar> g;
    try {
      g = std::make_shared<const constrain::Grammar>(constrain::parse_gbnf(gbnf));
    } catch (const Error& e) {
      bad_request("tools", std::string("`tools`: ") + e.what());
    }
    return std::make_shared<constrain::Matcher>(g, vocab.get(tok));
  };
  const bool any_strict = std::any_of(tools.begin(), tools.end(), [](const ordered& t) {
    return t["function"].contains("strict") && t["function"]["strict"] == true;
  });
  if (!forced.empty()) {
    s.forced = matcher(tool_call_gbnf(s.family, tools, forced, parallel && choice == "required" && !llama31(s.family)));
  } else if (choice == "auto" && any_strict) {
    const TriggeredGrammar t = strict_tools_gbnf(s.family, tools, parallel);
    s.strict = matcher(t.gbnf);
    s.strict_trigger = t.trigger;
    s.strict_at_start = t.at_start;
  }
  return s;
}

std::string tools_system_prompt(const ToolSetup& s) {
  if (!deepseek(s.family) || s.tools_json.empty() || !s.parse_output) return {};
  std::string out = "You can call the following functions:\n";
  for (const ordered& t : ordered::parse(s.tools_json)) out += tokenizer::jinja_tojson(t.dump()) + "\n";
  out += "\nTo call functions, reply with:\n" + std::string(kCallsBegin) + std::string(kCallBegin) + "function" + std::string(kSep) +
         "NAME\n```json\nARGUMENTS\n```" + std::string(kCallEnd) + std::string(kCallsEnd);
  return out;
}

std::vector<tokenizer::ToolCall> parse_message_tool_calls(const json& m, const std::string& at) {
  std::vector<tokenizer::ToolCall> out;
  auto it = m.find("tool_calls");
  if (it == m.end() || it->is_null()) return out;
  const std::string p = at + ".tool_calls";
  if (!it->is_array()) bad_request(p, "`" + p + "` must be an array");
  for (size_t i = 0; i < it->size(); ++i) {
    const json& c = (*it)[i];
    const std::string ci = p + "[" + std::to_string(i) + "]";
    if (!c.is_object() || !c.contains("function") || !c["function"].is_object()) {
      bad_request(ci, "`" + ci + "` must be {\"id\", \"type\": \"function\", \"function\": {\"name\", \"arguments\"}}");
    }
    const json& f = c["function"];
    if (!f.contains("name") || !f["name"].is_string()) bad_request(ci + ".function.name", "`" + ci + ".function.name` must be a string");
    tokenizer::ToolCall call;
    call.name = f["name"].get<std::string>();
    if (c.contains("id") && c["id"].is_string()) call.id = c["id"].get<std::string>();
    if (f.contains("arguments") && f["arguments"].is_string()) {
      call.arguments = f["arguments"].get<std::string>();
    } else if (f.contains("arguments") && f["arguments"].is_object()) {
      call.arguments = f["arguments"].dump();
    } else {
      bad_request(ci + ".function.arguments", "`" + ci + ".function.arguments` must be a JSON string");
    }
    out.push_back(std::move(call));
  }
  return out;
}

namespace {

// JSON-looking text trimmed of surrounding whitespace.
std::string_view trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

// One DeepSeek call from just after <｜tool▁call▁begin｜> up to (not including) its end marker.
bool parse_deepseek_call(std::string_view s, tokenizer::ToolCall& c) {
  const size_t sep = s.find(kSep);
  if (sep == std::string_view::npos) return false;
  s.remove_prefix(sep + kSep.size());
  const size_t nl = s.find('\n');
  c.name = std::string(trim(s.substr(0, nl)));
  std::string_view args = nl == std::string_view::npos ? std::string_view() : s.substr(nl + 1);
  args = trim(args);
  if (args.starts_with("```json")) args.remove_prefix(7);
  else if (args.starts_with("```")) args.remove_prefix(3);
  if (args.ends_with("```")) args.remove_suffix(3);
  c.arguments = std::string(trim(args));
  return !c.name.empty();
}

bool parse_qwen_call(std::string_view s, tokenizer::ToolCall& c, const char* key = "arguments") {
  const json j = json::parse(trim(s), nullptr, false);
  if (!j.is_object() || !j.contains("name") || !j["name"].is_string()) return false;
  c.name = j["name"].get<std::string>();
  const json args = j.contains(key) ? j[key] : j.value("arguments", json::object());
  c.arguments = args.is_string() ? args.get<std::string>() : args.dump();
  return true;
}

// The end of the JSON object that `s` starts with ('{'), or npos while it is unfinished.
size_t object_end(std::string_view s) {
  int depth = 0;
  bool in_string = false;
  for (size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    if (in_string) {
      if (c == '\\') ++i;
      else if (c == '"') in_string = false;
    } else if (c == '"') {
      in_string = true;
    } else if (c == '{' || c == '[') {
      ++depth;
    } else if ((c == '}' || c == ']') && --depth == 0) {
      return i + 1;
    }
  }
  return std::string_view::npos;
}

// Llama-3.1: the answer (leading whitespace aside) is one call object, after <|python_tag|> or not.
ParsedOutput parse_llama31(std::string_view text) {
  ParsedOutput out;
  std::string_view s = text;
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  if (s.starts_with(kPythonTag)) s.remove_prefix(kPythonTag.size());
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  if (!s.starts_with('{')) {
    out.content = std::string(text);
    return out;
  }
  out.markup = true;
  ParsedCall pc;
  const size_t end = object_end(s);
  if (end == std::string_view::npos) return out;  // unfinished
  pc.complete = true;
  const json j = json::parse(s.substr(0, end), nullptr, false);
  const bool call = j.is_object() && j.contains("name") && j["name"].is_string() &&
                    ((j.contains("parameters") && j["parameters"].is_object()) || (j.contains("arguments") && j["arguments"].is_object()));
  if (!call) {  // JSON, but not a call: the model's answer
    out.content = std::string(text);
    out.markup = false;
    return out;
  }
  parse_qwen_call(s.substr(0, end), pc.call, "parameters");
  pc.call.id = call_id();
  out.calls.push_back(std::move(pc));
  return out;
}

}  // namespace

ParsedOutput parse_tool_calls(ChatFamily family, std::string_view text) {
  if (llama31(family)) return parse_llama31(text);
  ParsedOutput out;
  const bool ds = deepseek(family);
  const std::string_view open = ds ? kCallBegin : kQwenBegin, close = ds ? kCallEnd : kQwenEnd;
  size_t start = ds ? std::min(text.find(kCallsBegin), text.find(kCallBegin)) : text.find(kQwenBegin);
  if (start == std::string_view::npos) {
    out.content = std::string(text);
    return out;
  }
  out.markup = true;
  out.content = std::string(text.substr(0, start));
  for (size_t at = text.find(open, start); at != std::string_view::npos; at = text.find(open, at)) {
    at += open.size();
    const size_t end = text.find(close, at);
    ParsedCall pc;
    pc.complete = end != std::string_view::npos;
    const std::string_view body = text.substr(at, pc.complete ? end - at : std::string_view::npos);
    if (!(ds ? parse_deepseek_call(body, pc.call) : parse_qwen_call(body, pc.call))) break;
    pc.call.id = call_id();
    out.calls.push_back(std::move(pc));
    if (!out.calls.back().complete) break;
    at = end + close.size();
  }
  return out;
}

json tool_calls_json(const std::vector<ParsedCall>& calls) {
  json out = json::array();
  for (const ParsedCall& c : calls) {
    out.push_back({{"id", c.call.id}, {"type", "function"}, {"function", {{"name", c.call.name}, {"arguments", c.call.arguments}}}});
  }
  return out;
}

std::vector<json> ToolCallStream::feed(std::string_view text) {
  std::vector<json> out;
  if (llama31(family_) && !in_calls_) {  // a call is the whole answer: decided by its first characters
    if (!plain_) {
      held_ += text;
      std::string_view t = held_;
      while (!t.empty() && std::isspace(static_cast<unsigned char>(t.front()))) t.remove_prefix(1);
      if (t.empty() || (t.size() < kPythonTag.size() && kPythonTag.starts_with(t))) return out;
      if (t.starts_with('{') || t.starts_with(kPythonTag)) {
        in_calls_ = true;
        calls_ = std::exchange(held_, {});
        return emit(false);
      }
      plain_ = true;
      out.push_back({{"content", std::exchange(held_, {})}});
      return out;
    }
    if (!text.empty()) out.push_back({{"content", std::string(text)}});
    return out;
  }
  if (!in_calls_) {
    held_ += text;
    const bool ds = deepseek(family_);
    size_t start = ds ? std::min(held_.find(kCallsBegin), held_.find(kCallBegin)) : held_.find(kQwenBegin);
    std::string content;
    if (start != std::string::npos) {
      content = held_.substr(0, start);
      calls_ = held_.substr(start);
      held_.clear();
      in_calls_ = true;
    } else {
      // Hold back the longest tail that could begin a marker.
      size_t keep = 0;
      for (std::string_view m : ds ? std::vector<std::string_view>{kCallsBegin, kCallBegin} : std::vector<std::string_view>{kQwenBegin}) {
        for (size_t k = std::min(m.size() - 1, held_.size()); k > keep; --k) {
          if (std::string_view(held_).substr(held_.size() - k) == m.substr(0, k)) {
            keep = k;
            break;
          }
        }
      }
      content = held_.substr(0, held_.size() - keep);
      held_.erase(0, held_.size() - keep);
    }
    if (!content.empty()) out.push_back({{"content", content}});
    if (!in_calls_) return out;
  } else {
    calls_ += text;
  }
  for (json& d : emit(false)) out.push_back(std::move(d));
  return out;
}

std::vector<json> ToolCallStream::emit(bool final) {
  std::vector<json> out;
  const ParsedOutput p = parse_tool_calls(family_, calls_);
  for (; sent_ < p.calls.size() && (final || p.calls[sent_].complete); ++sent_) {
    const tokenizer::ToolCall& c = p.calls[sent_].call;
    const int index = static_cast<int>(sent_);
    out.push_back({{"tool_calls", json::array({{{"index", index}, {"id", c.id}, {"type", "function"},
                                                 {"function", {{"name", c.name}, {"arguments", ""}}}}})}});
    out.push_back({{"tool_calls", json::array({{{"index", index}, {"function", {{"arguments", c.arguments}}}}})}});
  }
  return out;
}

std::vector<json> ToolCallStream::finish() {
  if (!in_calls_) {
    std::vector<json> out;
    if (!held_.empty()) out.push_back({{"content", held_}});
    held_.clear();
    return out;
  }
  std::vector<json> out = emit(true);
  // Markup that never became a call is the model's text after all: do not lose it.
  if (sent_ == 0 && !calls_.empty()) out.push_back({{"content", calls_}});
  return out;
}

}  // namespace whale::server
