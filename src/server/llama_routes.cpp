// llama-server's own API beside the OpenAI one, in the shapes its README documents: /tokenize,
// /detokenize, /apply-template, /props, /slots (read-only) and /completion (whole or streamed as
// `data: {"content", "stop"}` events). Native fields whale does not implement are named in the
// X-Whale-Ignored-Fields header; those that would change the answer's meaning are a 400.
#include <array>
#include <chrono>
#include <nlohmann/json.hpp>
#include <random>
#include <set>

#include "server/api_error.h"
#include "server/json_fields.h"
#include "server/llama_routes.h"
#include "server/server_impl.h"
#include "tokenizer/utf8.h"

namespace whale::server {
namespace {

using nlohmann::json;
using engine::Event;
using Clock = std::chrono::steady_clock;

constexpr auto kPoll = std::chrono::milliseconds(100);

// llama-server's boolean options with their defaults.
bool flag(const json& j, const char* name, bool fallback) { return boolean(j, name).value_or(fallback); }

std::string dump(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

// A token id from a client, checked against the vocabulary.
int32_t token_id(const json& e, const ServedModel& m, const char* param) {
  if (!e.is_number_integer() || e.get<int64_t>() < 0 || e.get<int64_t>() >= m.vocab_size) {
    bad_request(param, std::string("`") + param + "` holds " + e.dump() + ", not a token id in [0, " +
                           std::to_string(m.vocab_size) + ")");
  }
  return static_cast<int32_t>(e.get<int64_t>());
}

// POST /tokenize {content, add_special=false, parse_special=true, with_pieces=false}.
json tokenize(const json& j, const ServedModel& m) {
  const json* c = field(j, "content");
  if (!c || !c->is_string()) bad_request("content", "`content` (a string) is required");
  std::vector<int32_t> ids;
  try {
    ids = m.tokenizer->encode(c->get<std::string>(),
                              {.add_special = flag(j, "add_special", false), .parse_special = flag(j, "parse_special", true)});
  } catch (const Error& e) {
    bad_request("content", e.what());
  }
  json tokens = json::array();
  const bool pieces = flag(j, "with_pieces", false);
  for (int32_t id : ids) {
    if (!pieces) {
      tokens.push_back(id);
      continue;
    }
    // The piece as a string when it is valid UTF-8 by itself, else its bytes (llama-server's rule).
    const std::string& bytes = m.tokenizer->token_bytes(id);
    json piece;
    if (tokenizer::utf8_invalid_offset(bytes) == bytes.size()) {
      piece = bytes;
    } else {
      piece = json::array();
      for (unsigned char b : bytes) piece.push_back(b);
    }
    tokens.push_back({{"id", id}, {"piece", piece}});
  }
  return {{"tokens", tokens}};
}

// POST /detokenize {tokens}.
json detokenize(const json& j, const ServedModel& m) {
  const json* t = field(j, "tokens");
  if (!t || !t->is_array()) bad_request("tokens", "`tokens` (an array of token ids) is required");
  std::vector<int32_t> ids;
  for (const json& e : *t) ids.push_back(token_id(e, m, "tokens"));
  return {{"content", m.tokenizer->decode(ids)}};
}

// Fields of /completion whale reads; anything else is reported as ignored.
const std::set<std::string>& known_completion_fields() {
  static const std::set<std::string> known = {
      "prompt", "n_predict", "max_tokens", "temperature", "top_k", "top_p", "min_p", "seed", "stop", "stream",
      "repeat_penalty", "presence_penalty", "frequency_penalty", "ignore_eos", "logit_bias", "cache_prompt", "n_probs",
      "model", "grammar", "json_schema", "return_tokens"};
  return known;
}

struct Completion {
  engine::Request request;
  bool stream = false;
  bool return_tokens = false;  // the whole reply's `tokens` (streamed chunks always carry theirs)
  int64_t n_predict = -1;
  std::string prompt_text;
  std::vector<std::string> ignored;
};

// The prompt: a string, token ids, or a mix of both. As in llama-server, special-token text is
// parsed (the client writes the whole prompt, e.g. /apply-template's output) and the tokenizer's
// BOS goes first when the prompt starts with a string, unless that string already starts with it.
std::vector<int32_t> completion_prompt(const json& p, const ServedModel& m) {
  std::vector<int32_t> out;
  const tokenizer::Tokenizer& tok = *m.tokenizer;
  const auto text = [&](const std::string& s, bool first) {
    const bool has_bos = tok.bos_id() && s.starts_with(tok.token_text(*tok.bos_id()));
    try {
      const std::vector<int32_t> ids = tok.encode(s, {.add_special = first && !has_bos, .parse_special = true});
      out.insert(out.end(), ids.begin(), ids.end());
    } catch (const Error& e) {
      bad_request("prompt", e.what());
    }
  };
  if (p.is_string()) {
    text(p.get<std::string>(), true);
  } else if (p.is_array() && !p.empty()) {
    for (size_t i = 0; i < p.size(); ++i) {
      if (p[i].is_string()) {
        text(p[i].get<std::string>(), i == 0);
      } else if (p[i].is_number_integer()) {
        out.push_back(token_id(p[i], m, "prompt"));
      } else {
        bad_request("prompt", "`prompt` arrays hold strings and token ids (several prompts at once are not supported)");
      }
    }
  } else {
    bad_request("prompt", "`prompt` must be a string, token ids, or a mix of both");
  }
  if (out.empty()) bad_request("prompt", "`prompt` is empty");
  return out;
}

Completion parse_completion(const json& j, const ServedModel& m) {
  Completion c;
  for (const auto& [key, value] : j.items()) {
    if (!known_completion_fields().count(key)) c.ignored.push_back(key);
  }
  if (field(j, "grammar") || field(j, "json_schema")) {
    bad_request(field(j, "grammar") ? "grammar" : "json_schema",
                "constrained decoding (`grammar`, `json_schema`) is not supported on /completion");
  }
  if (auto n = integer(j, "n_probs"); n && *n > 0) bad_request("n_probs", "`n_probs` is not supported (token probabilities)");
  if (const json* mdl = field(j, "model"); mdl && !mdl->is_string()) bad_request("model", "`model` must be a string");
  const json* p = field(j, "prompt");
  if (!p) bad_request("prompt", "`prompt` is required");
  engine::Request& r = c.request;
  r.prompt = completion_prompt(*p, m);
  c.prompt_text = m.tokenizer->decode(r.prompt);
  r.sampling = m.defaults;
  if (auto t = number(j, "temperature")) r.sampling.temperature = static_cast<float>(std::max(0.0, *t));  // < 0: greedy
  if (auto k = integer(j, "top_k")) r.sampling.top_k = static_cast<int32_t>(std::max<int64_t>(0, *k));  // <= 0: off
  if (auto v = number(j, "top_p")) r.sampling.top_p = static_cast<float>(*v);
  if (auto v = number(j, "min_p")) r.sampling.min_p = static_cast<float>(*v);
  if (auto v = number(j, "repeat_penalty")) r.sampling.repetition_penalty = static_cast<float>(*v);
  if (auto v = number(j, "presence_penalty")) r.sampling.presence_penalty = static_cast<float>(*v);
  if (auto v = number(j, "frequency_penalty")) r.sampling.frequency_penalty = static_cast<float>(*v);
  const std::optional<int64_t> seed = integer(j, "seed");
  if (seed && *seed >= 0) {
    r.sampling.seed = static_cast<uint64_t>(*seed);
  } else {
    r.sampling.seed = std::random_device{}() | (static_cast<uint64_t>(std::random_device{}()) << 32);
  }
  if (const json* lb = field(j, "logit_bias")) {
    // llama-server's [[id, bias]] (bias false: never) or OpenAI's {"id": bias}.
    const auto add = [&](const json& id, const json& bias) {
      const int32_t t = token_id(id.is_string() ? json(std::stoll(id.get<std::string>())) : id, m, "logit_bias");
      if (bias.is_boolean() && !bias.get<bool>()) {
        r.sampling.logit_bias.emplace_back(t, -100.0f);
      } else if (bias.is_number() && std::abs(bias.get<double>()) <= 100) {
        r.sampling.logit_bias.emplace_back(t, bias.get<float>());
      } else {
        bad_request("logit_bias", "`logit_bias` biases must be numbers in [-100, 100] or false");
      }
    };
    try {
      if (lb->is_array()) {
        for (const json& e : *lb) {
          if (!e.is_array() || e.size() != 2) bad_request("logit_bias", "`logit_bias` must be [[token id, bias], ...]");
          add(e[0], e[1]);
        }
      } else if (lb->is_object()) {
        for (const auto& [k, v] : lb->items()) add(json(k), v);
      } else {
        bad_request("logit_bias", "`logit_bias` must be [[token id, bias], ...] or {\"token id\": bias}");
      }
    } catch (const std::logic_error&) {  // std::stoll on a key that is not a number
      bad_request("logit_bias", "`logit_bias` keys must be token ids");
    }
  }
  r.ignore_eos = flag(j, "ignore_eos", false);
  c.stream = flag(j, "stream", false);
  c.return_tokens = flag(j, "return_tokens", false);
  flag(j, "cache_prompt", true);  // accepted: whale's prefix cache is always on
  std::optional<int64_t> n = integer(j, "n_predict");
  if (!n) n = integer(j, "max_tokens");
  if (n && *n < -1) bad_request("n_predict", "`n_predict` must be -1 (no limit), 0 or more");
  c.n_predict = n.value_or(-1);
  r.max_tokens = c.n_predict < 0 ? m.max_context : c.n_predict;
  if (const json* s = field(j, "stop")) {
    if (s->is_string()) {
      r.stop.push_back(s->get<std::string>());
    } else if (s->is_array()) {
      for (const json& e : *s) {
        if (!e.is_string() || e.get<std::string>().empty()) bad_request("stop", "`stop` must be an array of non-empty strings");
        r.stop.push_back(e.get<std::string>());
      }
    } else {
      bad_request("stop", "`stop` must be an array of strings");
    }
  }
  try {
    sampler::validate(r.sampling, m.vocab_size);
  } catch (const Error& e) {
    const std::string what = e.what();
    const std::string param = what.substr(0, what.find(' '));
    bad_request(param == "repetition_penalty" ? "repeat_penalty" : param, what);
  }
  r.reasoning.enabled = false;
  return c;
}

json generation_settings(const ServedModel& m, const engine::Request* r, int64_t n_predict) {
  const sampler::SamplingParams& p = r ? r->sampling : m.defaults;
  return {{"n_ctx", m.max_context},
          {"model", m.id},
          {"params",
           {{"n_predict", n_predict},
            {"seed", r ? p.seed : 4294967295ull},
            {"temperature", p.temperature},
            {"top_k", p.top_k},
            {"top_p", p.top_p},
            {"min_p", p.min_p},
            {"repeat_penalty", p.repetition_penalty},
            {"presence_penalty", p.presence_penalty},
            {"frequency_penalty", p.frequency_penalty},
            {"stop", r ? json(r->stop) : json::array()},
            {"ignore_eos", r ? r->ignore_eos : false},
            {"n_probs", 0},
            {"samplers", {"penalties", "top_k", "top_p", "min_p", "temperature"}}}}};
}

// What a completion has produced so far, and when.
struct Progress {
  std::string content;
  std::vector<int32_t> tokens;  // the ids `content` came from
  Clock::time_point submitted = Clock::now(), first, last;
  bool any = false;

  void add(const Event& e) {
    if (!any) first = Clock::now();
    any = true;
    last = Clock::now();
    content += e.text;
    tokens.insert(tokens.end(), e.tokens.begin(), e.tokens.end());
  }
};

json final_object(const ServedModel& m, const Completion& c, const Progress& pr, const Event& done, bool stream) {
  const double prompt_ms = std::chrono::duration<double, std::milli>((pr.any ? pr.first : Clock::now()) - pr.submitted).count();
  const double predicted_ms = pr.any ? std::chrono::duration<double, std::milli>(pr.last - pr.first).count() : 0.0;
  const int64_t predicted = done.usage.completion_tokens;
  const int64_t evaluated = done.usage.prompt_tokens - done.usage.cached_prompt_tokens;
  // The engine does not say which ended a stopped answer; with stop strings given, "word".
  const char* stop_type = done.finish == engine::FinishReason::kLength ? "limit" : c.request.stop.empty() ? "eos" : "word";
  json timings = {{"prompt_n", evaluated},
                  {"prompt_ms", prompt_ms},
                  {"prompt_per_token_ms", evaluated > 0 ? prompt_ms / static_cast<double>(evaluated) : 0.0},
                  {"prompt_per_second", prompt_ms > 0 ? 1000.0 * static_cast<double>(evaluated) / prompt_ms : 0.0},
                  {"predicted_n", predicted},
                  {"predicted_ms", predicted_ms},
                  {"predicted_per_token_ms", predicted > 0 ? predicted_ms / static_cast<double>(predicted) : 0.0},
                  {"predicted_per_second", predicted_ms > 0 ? 1000.0 * static_cast<double>(predicted) / predicted_ms : 0.0}};
  return {{"index", 0},
          {"content", stream ? "" : pr.content},
          // As llama-server: with return_tokens, the ids of `content`; a stream's chunks carried them.
          {"tokens", c.return_tokens && !stream ? json(pr.tokens) : json::array()},
          {"id_slot", 0},
          {"stop", true},
          {"model", m.id},
          {"tokens_predicted", predicted},
          {"tokens_evaluated", done.usage.prompt_tokens},
          {"generation_settings", generation_settings(m, &c.request, c.n_predict)},
          {"prompt", c.prompt_text},
          {"has_new_line", pr.content.find('\n') != std::string::npos},
          {"truncated", done.context_full},
          {"stop_type", stop_type},
          {"stopping_word", ""},
          {"tokens_cached", done.usage.cached_prompt_tokens},
          {"timings", timings}};
}

void completion(Server::Impl& s, const json& j, httplib::Response& res) {
  auto c = std::make_shared<Completion>(parse_completion(j, s.model));
  if (!c->ignored.empty()) {
    std::string names;
    for (const std::string& k : c->ignored) names += (names.empty() ? "" : ", ") + k;
    res.set_header("X-Whale-Ignored-Fields", names);
  }
  const int64_t n = static_cast<int64_t>(c->request.prompt.size());
  if (n >= s.model.max_context) {
    bad_request("prompt", "the prompt takes " + std::to_string(n) + " tokens; the context holds " +
                              std::to_string(s.model.max_context) + " (with at least one generated token" +
                              (c->n_predict > 0 ? "; n_predict asks for " + std::to_string(c->n_predict) : std::string()) + ")",
                "context_length_exceeded");
  }
  if (c->n_predict == 0) {  // nothing to generate (llama-server only warms its cache)
    Event done{Event::Kind::kFinished, 0, {}, {}, engine::FinishReason::kLength, false, {}};
    done.usage.prompt_tokens = n;
    res.set_content(dump(final_object(s.model, *c, Progress{}, done, false)), "application/json");
    return;
  }
  auto pr = std::make_shared<Progress>();
  engine::Request request = c->request;
  std::shared_ptr<engine::RequestHandle> h = s.loop.submit(std::move(request));
  if (!c->stream) {
    for (;;) {
      if (s.stopping) s.loop.cancel(*h);
      for (const Event& e : h->wait(kPoll)) {
        if (e.kind != Event::Kind::kFinished) {
          pr->add(e);
          continue;
        }
        if (e.finish == engine::FinishReason::kCancelled) throw engine::ShuttingDownError();
        res.set_content(dump(final_object(s.model, *c, *pr, e, false)), "application/json");
        return;
      }
    }
  }
  res.set_header("Cache-Control", "no-cache");
  res.set_header("X-Accel-Buffering", "no");
  auto finished = std::make_shared<bool>(false);
  Server::Impl* sp = &s;
  res.set_chunked_content_provider(
      "text/event-stream",
      [sp, c, pr, h, finished](size_t, httplib::DataSink& sink) {
        if (sp->stopping) sp->loop.cancel(*h);
        const std::vector<Event> events = h->wait(kPoll);
        if (!sink.is_writable()) {
          sp->loop.cancel(*h);
          *finished = true;
          return false;
        }
        std::string out;
        for (const Event& e : events) {
          if (e.kind != Event::Kind::kFinished) {
            pr->add(e);
            out += "data: " + dump({{"index", 0}, {"content", e.text}, {"tokens", e.tokens}, {"stop", false}, {"id_slot", 0}}) + "\n\n";
            continue;
          }
          *finished = true;
          if (e.finish == engine::FinishReason::kCancelled) {
            out += "data: " + error_body(ApiError(503, "server_error", "the server is shutting down", {}, "unavailable")) + "\n\n";
          } else {
            out += "data: " + dump(final_object(sp->model, *c, *pr, e, true)) + "\n\n";
          }
          break;
        }
        if (!out.empty() && !sink.write(out.data(), out.size())) {
          sp->loop.cancel(*h);
          *finished = true;
          return false;
        }
        if (*finished) sink.done();
        return true;
      },
      [sp, h, finished](bool) {
        if (!*finished) sp->loop.cancel(*h);
      });
}

json props(Server::Impl& s) {
  const tokenizer::Tokenizer& tok = *s.model.tokenizer;
  json slot = generation_settings(s.model, nullptr, -1);
  slot["id"] = 0;
  slot["id_task"] = -1;
  slot["speculative"] = false;
  slot["is_processing"] = false;
  slot["prompt"] = "";
  std::string chat_template;
  try {
    chat_template = tok.chat_template().source();
  } catch (const Error&) {  // a tokenizer without a template: chat is a 400, the rest works
  }
  return {{"default_generation_settings", slot},
          {"total_slots", s.config.total_slots},
          {"model_path", s.config.model_path},
          {"model_alias", s.model.id},
          {"chat_template", chat_template},
          {"chat_template_caps", json::object()},
          {"modalities", {{"vision", false}, {"audio", false}}},
          {"bos_token", tok.bos_id() ? tok.token_text(*tok.bos_id()) : ""},
          {"eos_token", tok.eos_id() ? tok.token_text(*tok.eos_id()) : ""},
          {"build_info", "whale"},
          {"web_search", s.config.searcher != nullptr},  // whale's: `web_search: true` is available
          {"is_sleeping", false}};
}

// One entry per slot (the engine's sequences): the first `running` are busy.
json slots(Server::Impl& s) {
  const engine::LoopStats st = s.loop.stats();
  json out = json::array();
  for (int64_t i = 0; i < s.config.total_slots; ++i) {
    json slot = generation_settings(s.model, nullptr, -1);
    slot["id"] = i;
    slot["id_task"] = -1;
    slot["speculative"] = false;
    slot["is_processing"] = i < st.running;
    out.push_back(std::move(slot));
  }
  return out;
}

// POST /infill: the FIM prompt from input_prefix/input_suffix/input_extra/prompt, then /completion.
void infill(Server::Impl& s, json j, httplib::Response& res) {
  const auto text = [&](const char* name) {
    const json* v = field(j, name);
    if (v && !v->is_string()) bad_request(name, std::string("`") + name + "` must be a string");
    return v ? v->get<std::string>() : std::string();
  };
  std::vector<std::pair<std::string, std::string>> extra;
  if (const json* e = field(j, "input_extra")) {
    if (!e->is_array()) bad_request("input_extra", "`input_extra` must be an array of {\"filename\", \"text\"}");
    for (const json& chunk : *e) {
      if (!chunk.is_object() || !chunk.value("text", json()).is_string()) {
        bad_request("input_extra", "`input_extra` must be an array of {\"filename\", \"text\"}");
      }
      extra.emplace_back(string_or_empty(chunk, "filename"), chunk["text"].get<std::string>());
    }
  }
  std::optional<std::vector<int32_t>> ids;
  try {
    ids = infill_prompt(*s.model.tokenizer, text("input_prefix"), text("input_suffix"), text("prompt"), extra);
  } catch (const Error& e) {
    bad_request("input_prefix", e.what());
  }
  if (!ids) {
    throw ApiError(400, "invalid_request_error",
                   "model `" + s.model.id + "` has no FIM tokens (its tokenizer has neither DeepSeek's <｜fim▁begin｜> "
                   "nor Qwen's <|fim_prefix|>); use /completion",
                   {}, "unsupported");
  }
  for (const char* k : {"input_prefix", "input_suffix", "input_extra"}) j.erase(k);
  j["prompt"] = *ids;
  completion(s, j, res);
}

}  // namespace

std::optional<std::vector<int32_t>> infill_prompt(const tokenizer::Tokenizer& tok, const std::string& prefix,
                                                  const std::string& suffix, const std::string& middle,
                                                  const std::vector<std::pair<std::string, std::string>>& extra) {
  // Each family's three FIM tokens, in prefix/suffix/middle order.
  static const std::vector<std::array<const char*, 3>> kFim = {{"<｜fim▁begin｜>", "<｜fim▁hole｜>", "<｜fim▁end｜>"},
                                                               {"<|fim_prefix|>", "<|fim_suffix|>", "<|fim_middle|>"}};
  for (const auto& names : kFim) {
    const auto pre = tok.token_id(names[0]), suf = tok.token_id(names[1]), mid = tok.token_id(names[2]);
    if (!pre || !suf || !mid) continue;
    std::vector<int32_t> out;
    if (tok.bos_id()) out.push_back(*tok.bos_id());
    // Client text: no added token may match inside it (a FIM or turn token spelled out stays text).
    const auto plain = [&](const std::string& t) {
      const std::pair<size_t, size_t> all{0, t.size()};
      const std::vector<int32_t> ids = tok.encode(t, {.add_special = false, .parse_special = false, .plain = {&all, 1}});
      out.insert(out.end(), ids.begin(), ids.end());
    };
    for (const auto& [file, body] : extra) plain((file.empty() ? "" : file + "\n") + body + "\n");
    out.push_back(*pre);
    plain(prefix);
    out.push_back(*suf);
    plain(suffix);
    out.push_back(*mid);
    plain(middle);
    return out;
  }
  return std::nullopt;
}

void add_llama_routes(Server::Impl& s) {
  const auto json_reply = [](httplib::Response& res, const json& j) { res.set_content(dump(j), "application/json"); };
  post_route(s, "/tokenize", [&s, json_reply](const httplib::Request& req, httplib::Response& res) {
    json_reply(res, tokenize(parse_body_object(req.body), s.model));
  });
  post_route(s, "/detokenize", [&s, json_reply](const httplib::Request& req, httplib::Response& res) {
    json_reply(res, detokenize(parse_body_object(req.body), s.model));
  });
  post_route(s, "/apply-template", [&s, json_reply](const httplib::Request& req, httplib::Response& res) {
    const RenderedChat rc = render_chat_template(req.body, s.model, search_access(s));
    json reply = {{"prompt", rc.prompt}};
    add_grounding_fields(reply, rc.grounding);
    json_reply(res, reply);
  });
  post_route(s, "/completion", [&s](const httplib::Request& req, httplib::Response& res) {
    completion(s, parse_body_object(req.body), res);
  });
  post_route(s, "/infill", [&s](const httplib::Request& req, httplib::Response& res) { infill(s, parse_body_object(req.body), res); });
  s.http.Get("/props", [&s, json_reply](const httplib::Request&, httplib::Response& res) { json_reply(res, props(s)); });
  s.http.Get("/slots", [&s, json_reply](const httplib::Request&, httplib::Response& res) { json_reply(res, slots(s)); });
}

}  // namespace whale::server
