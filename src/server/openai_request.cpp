// Field-by-field parsing of chat and completion bodies. Unknown fields are ignored (clients send
// metadata such as `user`), except those whose meaning whale cannot honour (tools, best_of>1):
// those are a 400 rather than a silently different answer.
#include "server/openai_request.h"

#include "engine/chat_session.h"

#include <algorithm>
#include <nlohmann/json.hpp>
#include <optional>
#include <random>

#include "server/api_error.h"
#include "server/json_fields.h"
#include "server/structured_output.h"
#include "tokenizer/chat_prompt.h"

namespace whale::server {
namespace {

using nlohmann::json;

// Resolves the model name; returns the thinking default it implies.
bool resolve_model(const json& j, const ServedModel& m, std::string& name) {
  const json* v = field(j, "model");
  if (!v) {
    name = m.id;
    return true;
  }
  if (!v->is_string()) bad_request("model", "`model` must be a string");
  name = v->get<std::string>();
  if (name == kChatAlias) return false;
  if (name == kReasonerAlias || name == m.id) return true;
  throw ApiError(404, "invalid_request_error",
                 "The model `" + name + "` does not exist. This server runs `" + m.id + "` (also reachable as `" +
                     kChatAlias + "` with thinking off and `" + kReasonerAlias + "` with thinking on).",
                 "model", "model_not_found");
}

void reject_unsupported(const json& j) {
  if (auto n = integer(j, "best_of"); n && *n != 1) bad_request("best_of", "only best_of=1 is supported");
  if (field(j, "functions")) bad_request("functions", "functions are not supported");
  if (boolean(j, "echo").value_or(false)) bad_request("echo", "echo is not supported");
}

// Chat: `logprobs: bool` and `top_logprobs: 0..20` (which needs logprobs). Completions: `logprobs:
// 0..20`, the number of alternatives (OpenAI allows 5, DeepSeek's FIM and vLLM 20).
int32_t parse_logprobs(const json& j, bool chat) {
  const int32_t kMax = sampler::kMaxTopLogprobs;
  const std::string range = "[0, " + std::to_string(kMax) + "]";
  if (!chat) {
    const json* v = field(j, "logprobs");
    if (!v) return -1;
    if (!v->is_number_integer() || v->get<int64_t>() < 0 || v->get<int64_t>() > kMax) {
      bad_request("logprobs", "`logprobs` must be an integer in " + range + " (the number of alternatives per token)");
    }
    return static_cast<int32_t>(v->get<int64_t>());
  }
  const bool on = boolean(j, "logprobs").value_or(false);
  const std::optional<int64_t> top = integer(j, "top_logprobs");
  if (top && (*top < 0 || *top > kMax)) bad_request("top_logprobs", "`top_logprobs` must be in " + range);
  if (top && !on) bad_request("top_logprobs", "`top_logprobs` needs `logprobs: true`");
  return on ? static_cast<int32_t>(top.value_or(0)) : -1;
}

// Sampling fields, stream flags, max_tokens and stop: shared by both endpoints.
void parse_common(const json& j, const ServedModel& m, GenerationRequest& g) {
  reject_unsupported(j);
  engine::Request& r = g.request;
  r.sampling = m.defaults;
  if (auto t = number(j, "temperature")) r.sampling.temperature = static_cast<float>(*t);
  if (auto p = number(j, "top_p")) r.sampling.top_p = static_cast<float>(*p);
  if (auto k = integer(j, "top_k")) r.sampling.top_k = static_cast<int32_t>(*k);
  if (auto p = number(j, "min_p")) r.sampling.min_p = static_cast<float>(*p);
  if (auto p = number(j, "presence_penalty")) r.sampling.presence_penalty = static_cast<float>(*p);
  if (auto p = number(j, "frequency_penalty")) r.sampling.frequency_penalty = static_cast<float>(*p);
  if (auto p = number(j, "repetition_penalty")) r.sampling.repetition_penalty = static_cast<float>(*p);
  if (const json* s = field(j, "seed")) {
    if (!s->is_number_integer()) bad_request("seed", "`seed` must be an integer");
    r.sampling.seed = s->is_number_unsigned() ? s->get<uint64_t>() : static_cast<uint64_t>(s->get<int64_t>());
  } else {
    r.sampling.seed = std::random_device{}() | (static_cast<uint64_t>(std::random_device{}()) << 32);
  }
  if (const json* lb = field(j, "logit_bias")) {
    if (!lb->is_object()) bad_request("logit_bias", "`logit_bias` must be an object of token id -> bias");
    for (const auto& [key, value] : lb->items()) {
      size_t used = 0;
      long long id = -1;
      try {
        id = std::stoll(key, &used);
      } catch (const std::exception&) {
        used = 0;
      }
      if (used != key.size() || id < 0 || id >= m.vocab_size) {
        bad_request("logit_bias", "`logit_bias` key \"" + key + "\" is not a token id in [0, " + std::to_string(m.vocab_size) + ")");
      }
      if (!value.is_number() || value.get<double>() < -100 || value.get<double>() > 100) {
        bad_request("logit_bias", "`logit_bias` values must be numbers in [-100, 100]");
      }
      r.sampling.logit_bias.emplace_back(static_cast<int32_t>(id), value.get<float>());
    }
  }
  if (auto n = integer(j, "n")) {
    if (*n < 1 || *n > kMaxChoices) bad_request("n", "`n` must be in [1, " + std::to_string(kMaxChoices) + "]");
    g.n = static_cast<int>(*n);
  }
  r.ignore_eos = boolean(j, "ignore_eos").value_or(false);  // vLLM's extension (benchmarks, tests)
  g.stream = boolean(j, "stream").value_or(false);
  if (const json* so = field(j, "stream_options")) {
    if (!so->is_object()) bad_request("stream_options", "`stream_options` must be an object");
    g.include_usage = boolean(*so, "include_usage").value_or(false);
  }
  std::optional<int64_t> max_tokens = integer(j, "max_completion_tokens");
  if (!max_tokens) max_tokens = integer(j, "max_tokens");
  if (max_tokens && *max_tokens <= 0) bad_request("max_tokens", "`max_tokens` must be at least 1");
  if (!max_tokens) {  // llama-server's name; -1: no limit
    max_tokens = integer(j, "n_predict");
    if (max_tokens && (*max_tokens == 0 || *max_tokens < -1)) bad_request("n_predict", "`n_predict` must be -1 or at least 1");
    if (max_tokens == -1) max_tokens.reset();
  }
  // Without a limit the answer may run until the context is full (finish_reason "length").
  r.max_tokens = max_tokens.value_or(m.max_context);
  if (const json* s = field(j, "stop")) {
    if (s->is_string()) {
      r.stop.push_back(s->get<std::string>());
    } else if (s->is_array() && s->size() <= 16) {
      for (const json& e : *s) {
        if (!e.is_string()) bad_request("stop", "`stop` must be a string or an array of strings");
        r.stop.push_back(e.get<std::string>());
      }
    } else {
      bad_request("stop", "`stop` must be a string or an array of at most 16 strings");
    }
    for (const std::string& s2 : r.stop) {
      if (s2.empty()) bad_request("stop", "`stop` strings must not be empty");
    }
  }
  try {
    sampler::validate(r.sampling, m.vocab_size);
  } catch (const Error& e) {
    // The message starts with the field's name ("top_p must be in (0, 1], got 2").
    const std::string what = e.what();
    bad_request(what.substr(0, what.find(' ')), what);
  }
}

// The thinking switch: DeepSeek-style `thinking: {"type": ...}`, vLLM/Qwen-style `enable_thinking`
// or `chat_template_kwargs.enable_thinking`; else the model name's default.
bool parse_thinking(const json& j, bool by_model, int64_t& budget) {
  bool on = by_model;
  if (const json* t = field(j, "thinking")) {
    if (!t->is_object() || !t->contains("type") || !(*t)["type"].is_string()) {
      bad_request("thinking", "`thinking` must be an object {\"type\": \"enabled\" | \"disabled\"}");
    }
    const std::string type = (*t)["type"].get<std::string>();
    if (type != "enabled" && type != "disabled") bad_request("thinking", "`thinking.type` must be \"enabled\" or \"disabled\"");
    on = type == "enabled";
    if (auto b = integer(*t, "budget_tokens")) budget = *b;
  }
  if (const json* kw = field(j, "chat_template_kwargs")) {
    if (!kw->is_object()) bad_request("chat_template_kwargs", "`chat_template_kwargs` must be an object");
    if (auto e = boolean(*kw, "enable_thinking")) on = *e;
  }
  if (auto e = boolean(j, "enable_thinking")) on = *e;
  if (auto b = integer(j, "thinking_budget")) budget = *b;
  if (budget < -1 || (budget == -1 && field(j, "thinking_budget"))) {
    bad_request("thinking_budget", "`thinking_budget` must be >= 0");
  }
  return on;
}

// A message's content: a string, or OpenAI's array of parts: text parts (joined), and in user
// messages file parts {"type": "file", "file": {...}}, read into `files` in their order.
std::string content_text(const json& msg, size_t i, const std::string& role, std::vector<search::Attachment>& files) {
  const std::string param = "messages[" + std::to_string(i) + "].content";
  const json* c = field(msg, "content");
  if (!c) return {};
  if (c->is_string()) return c->get<std::string>();
  if (!c->is_array()) bad_request(param, "`" + param + "` must be a string or an array of text parts");
  std::string text;
  for (size_t k = 0; k < c->size(); ++k) {
    const json& part = (*c)[k];
    if (part.is_object() && string_or_empty(part, "type") == "file") {
      const std::string at = param + "[" + std::to_string(k) + "]";
      if (role != "user") bad_request(at, "`" + at + "`: file parts are allowed in user messages only");
      files.push_back(read_file_part(part, at));
      continue;
    }
    if (!part.is_object() || string_or_empty(part, "type") != "text" || !part.contains("text") || !part["text"].is_string()) {
      bad_request(param, "`" + param + "`: only parts {\"type\": \"text\", \"text\": ...} and {\"type\": \"file\", \"file\": ...} are supported");
    }
    text += part["text"].get<std::string>();
  }
  return text;
}

// DeepSeek's beta `prefix: true` may mark only the last message, an assistant one: the model
// continues it. Sets `prefix` when it does.
// files[i]: message i's file parts, read.
std::vector<tokenizer::ChatMessage> parse_messages(const json& j, bool& prefix,
                                                   std::vector<std::vector<search::Attachment>>& files) {
  const json* ms = field(j, "messages");
  if (!ms) bad_request("messages", "`messages` is required");
  if (!ms->is_array() || ms->empty()) bad_request("messages", "`messages` must be a non-empty array");
  std::vector<tokenizer::ChatMessage> out;
  for (size_t i = 0; i < ms->size(); ++i) {
    const json& m = (*ms)[i];
    const std::string at = "messages[" + std::to_string(i) + "]";
    if (!m.is_object()) bad_request(at, "`" + at + "` must be an object");
    const json* role = field(m, "role");
    if (!role || !role->is_string()) bad_request(at + ".role", "`" + at + ".role` must be a string");
    std::string r = role->get<std::string>();
    if (r == "developer") r = "system";
    if (r == "ipython") r = "tool";  // Llama-3.1's name for a tool result
    if (r != "system" && r != "user" && r != "assistant" && r != "tool") {
      bad_request(at + ".role", "`" + at + ".role` \"" + r + "\" is not one of system, user, assistant, tool");
    }
    // Clients append the returned message, reasoning_content included (DeepSeek's docs: ignored in
    // plain turns). It reaches the template, which uses it where the family's does (Qwen3, after the
    // last user turn); DeepSeek-R1's and V3's templates drop earlier reasoning.
    std::optional<std::string> reasoning;
    if (const json* rc = field(m, "reasoning_content")) {
      if (!rc->is_string()) bad_request(at + ".reasoning_content", "`" + at + ".reasoning_content` must be a string or null");
      if (r == "assistant") reasoning = rc->get<std::string>();
    }
    files.emplace_back();
    out.push_back({r, content_text(m, i, r, files.back()), std::move(reasoning)});
    if (boolean(m, "prefix").value_or(false)) {
      if (i + 1 != ms->size() || r != "assistant") {
        bad_request(at + ".prefix", "`" + at + ".prefix` is allowed only on the last message, and only when it is an assistant message");
      }
      prefix = true;
    }
    if (r == "assistant") out.back().tool_calls = parse_message_tool_calls(m, at);
    if (r == "tool" && field(m, "tool_call_id") && m["tool_call_id"].is_string()) {
      out.back().tool_call_id = m["tool_call_id"].get<std::string>();
    }
  }
  return out;
}

// The prompt for `prefix: true`: the earlier messages with the generation prompt, then the last
// assistant message left open. With thinking on, its reasoning_content continues the reasoning
// (opened here if the template did not), and a non-empty content closes the reasoning and starts
// the answer; with thinking off only the content is used.
void prepare_prefix_prompt(const tokenizer::Tokenizer& tok, const std::vector<tokenizer::ChatMessage>& messages,
                           bool thinking, engine::Request& r, bool special_in_content) {
  const tokenizer::ChatMessage& last = messages.back();
  // The turns before the prefix as prepare_chat_prompt encodes them (client text stays text).
  tokenizer::ChatPrompt head =
      tokenizer::encode_chat(tok, std::span(messages.data(), messages.size() - 1),
                             {.add_generation_prompt = true, .enable_thinking = thinking}, special_in_content);
  const std::string& prompt = head.text;
  // Whether the template opened the reasoning (R1's "<think>\n"), as prepare_chat_prompt decides.
  const size_t at = prompt.rfind("<think>");
  const bool opened = at != std::string::npos && prompt.find("</think>", at) == std::string::npos &&
                      prompt.find_first_not_of(" \r\n", at + 7) == std::string::npos;
  r.reasoning.enabled = opened;
  r.reasoning.starts_in_reasoning = opened;
  std::string tail;  // the assistant's own prefix: its tags and text keep their tokens
  if (thinking) {
    const std::string reasoning = last.reasoning_content.value_or("");
    bool open = opened;
    if (!open && !reasoning.empty()) {
      tail += "<think>\n";
      open = true;
    }
    tail += reasoning;
    if (open && !last.content.empty()) {
      tail += "\n</think>\n\n";
      open = false;
    }
    r.reasoning.enabled = true;
    r.reasoning.starts_in_reasoning = open;
  }
  tail += last.content;
  r.prompt = std::move(head.ids);
  const std::vector<int32_t> more = tok.encode(tail, {.add_special = false, .parse_special = true});
  r.prompt.insert(r.prompt.end(), more.begin(), more.end());
}

// Fill-in-the-middle: each family's tokens, in prefix-suffix-middle order.
struct FimTokens {
  const char* prefix;
  const char* suffix;
  const char* middle;
};
constexpr FimTokens kFimFamilies[] = {
    {"<｜fim▁begin｜>", "<｜fim▁hole｜>", "<｜fim▁end｜>"},  // DeepSeek-V3, DeepSeek-Coder
    {"<|fim_prefix|>", "<|fim_suffix|>", "<|fim_middle|>"},  // Qwen2.5-Coder, Qwen3
};

// BOS (as the tokenizer adds it), FIM prefix token, prompt, suffix token, suffix, middle token; the
// user's text never parses special tokens. A 400 naming the model when its tokenizer has no FIM tokens.
std::vector<int32_t> fim_prompt(const ServedModel& m, const std::string& prefix, const std::string& suffix) {
  const tokenizer::Tokenizer& tok = *m.tokenizer;
  for (const FimTokens& f : kFimFamilies) {
    const auto p = tok.token_id(f.prefix), s = tok.token_id(f.suffix), e = tok.token_id(f.middle);
    if (!p || !s || !e) continue;
    std::vector<int32_t> out = tok.encode("", {.add_special = true, .parse_special = false});
    const auto append = [&](const std::string& text) {
      const std::vector<int32_t> ids = tok.encode(text, {.add_special = false, .parse_special = false});
      out.insert(out.end(), ids.begin(), ids.end());
    };
    out.push_back(*p);
    append(prefix);
    out.push_back(*s);
    append(suffix);
    out.push_back(*e);
    return out;
  }
  bad_request("suffix", "The model `" + m.id + "` has no fill-in-the-middle tokens (<｜fim▁begin｜>/<｜fim▁hole｜>/<｜fim▁end｜> "
                        "or <|fim_prefix|>/<|fim_suffix|>/<|fim_middle|>), so `suffix` (FIM) is not available");
}

}  // namespace

GenerationRequest parse_chat_request(std::string_view body, const ServedModel& m, const SearchAccess& search) {
  const json j = parse_body_object(body);
  GenerationRequest g;
  const bool by_model = resolve_model(j, m, g.model);
  bool prefix = false;
  std::vector<std::vector<search::Attachment>> files;
  std::vector<tokenizer::ChatMessage> messages = parse_messages(j, prefix, files);
  if (field(j, "suffix")) bad_request("suffix", "`suffix` (FIM) belongs to /beta/completions, not chat");
  parse_common(j, m, g);
  engine::Request& r = g.request;
  r.logprobs = parse_logprobs(j, true);
  const bool thinking = parse_thinking(j, by_model, r.think_budget);
  g.tools = parse_tools(j, body, *m.tokenizer, *m.constraint_vocab);
  if (std::string sys = tools_system_prompt(g.tools); !sys.empty()) {
    messages.insert(messages.begin(), {"system", sys, std::nullopt});
    files.insert(files.begin(), std::vector<search::Attachment>{});  // not `{}`: that inserts no element
  }
  // The template's own special tokens become single tokens; special-token text in the client's
  // contents (search results and files included) stays text unless --special-in-content.
  const auto build = [&](const std::vector<tokenizer::ChatMessage>& msgs, engine::Request& out) {
    if (prefix) {
      prepare_prefix_prompt(*m.tokenizer, msgs, thinking, out, m.special_in_content);
    } else {
      engine::prepare_chat_prompt(*m.tokenizer, msgs, thinking, out, m.special_in_content, g.tools.tools_json);
    }
  };
  try {
    g.grounding = ground_messages(j, messages, files, search, m.max_context, [&](const auto& msgs) {
      engine::Request probe;
      build(msgs, probe);
      return static_cast<int64_t>(probe.prompt.size());
    });
    build(messages, r);
  } catch (const Error& e) {
    bad_request("messages", e.what());
  }
  g.thinking = r.reasoning.enabled;
  r.constraint = parse_constraint(j, body, *m.tokenizer, *m.constraint_vocab);
  if (g.tools.forced) {
    if (r.constraint) bad_request("tool_choice", "a forced `tool_choice` cannot be combined with `response_format`, `grammar` or `json_schema`");
    r.constraint = g.tools.forced;
  } else if (g.tools.strict && !r.constraint) {  // with response_format etc., that constraint wins
    r.constraint = g.tools.strict;
    r.constraint_trigger = g.tools.strict_trigger;
    r.trigger_at_start = g.tools.strict_at_start;
  }
  return g;
}

RenderedChat render_chat_template(std::string_view body, const ServedModel& m, const SearchAccess& search) {
  const json j = parse_body_object(body);
  std::string name;
  const bool by_model = resolve_model(j, m, name);
  bool prefix = false;  // /apply-template renders the turns as given; a prefix flag changes nothing
  std::vector<std::vector<search::Attachment>> files;
  std::vector<tokenizer::ChatMessage> messages = parse_messages(j, prefix, files);
  int64_t budget = -1;
  const bool thinking = parse_thinking(j, by_model, budget);
  try {
    RenderedChat out;
    // The cut counts tokens as a chat request would.
    out.grounding = ground_messages(j, messages, files, search, m.max_context, [&](const auto& msgs) {
      engine::Request probe;
      engine::prepare_chat_prompt(*m.tokenizer, msgs, thinking, probe, m.special_in_content);
      return static_cast<int64_t>(probe.prompt.size());
    });
    out.prompt = m.tokenizer->chat_template().render(messages, {.add_generation_prompt = true, .enable_thinking = thinking});
    return out;
  } catch (const Error& e) {
    bad_request("messages", e.what());
  }
}

GenerationRequest parse_completion_request(std::string_view body, const ServedModel& m) {
  const json j = parse_body_object(body);
  GenerationRequest g;
  resolve_model(j, m, g.model);
  for (const char* k : {"tools", "tool_choice"}) {
    if (field(j, k)) bad_request(k, std::string("`") + k + "` is a chat field: use /v1/chat/completions");
  }
  if (boolean(j, "web_search").value_or(false)) bad_request("web_search", "`web_search` is a chat field: use /v1/chat/completions");
  parse_common(j, m, g);
  engine::Request& r = g.request;
  r.logprobs = parse_logprobs(j, false);
  const json* p = field(j, "prompt");
  if (!p) bad_request("prompt", "`prompt` is required");
  if (p->is_array() && p->size() == 1 && (*p)[0].is_string()) p = &(*p)[0];
  if (const json* suffix = field(j, "suffix")) {
    if (!suffix->is_string()) bad_request("suffix", "`suffix` must be a string");
    if (!p->is_string()) bad_request("prompt", "`prompt` must be a string when `suffix` (FIM) is given");
    r.prompt = fim_prompt(m, p->get<std::string>(), suffix->get<std::string>());
  } else if (p->is_string()) {
    // Raw text from a client: special-token text stays text.
    try {
      r.prompt = m.tokenizer->encode(p->get<std::string>(), {.add_special = true, .parse_special = false});
    } catch (const Error& e) {
      bad_request("prompt", e.what());
    }
  } else if (p->is_array() && !p->empty() && std::all_of(p->begin(), p->end(), [](const json& e) { return e.is_number_integer(); })) {
    for (const json& e : *p) {
      const int64_t id = e.get<int64_t>();
      if (id < 0 || id >= m.vocab_size) bad_request("prompt", "`prompt` token " + std::to_string(id) + " is outside the vocabulary");
      r.prompt.push_back(static_cast<int32_t>(id));
    }
  } else {
    bad_request("prompt", "`prompt` must be a string, a one-string array or an array of token ids");
  }
  if (r.prompt.empty()) bad_request("prompt", "`prompt` is empty (and this tokenizer adds no BOS token)");
  r.reasoning.enabled = false;
  g.thinking = false;
  r.constraint = parse_constraint(j, body, *m.tokenizer, *m.constraint_vocab);
  return g;
}

}  // namespace whale::server
