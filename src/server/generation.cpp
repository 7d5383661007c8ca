// The completion endpoints: a parsed request goes to the engine loop; its events come back as one
// JSON reply or as SSE chunks (reasoning and answer never share a chunk). A stream whose client
// has gone (a failed write, an unwritable socket) cancels its sequence at once.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <ctime>
#include <nlohmann/json.hpp>
#include <random>
#include <utility>

#include "constrain/matcher.h"
#include "server/api_error.h"
#include "server/server_impl.h"

namespace whale::server {
namespace {

using nlohmann::json;
using engine::Event;

constexpr auto kPoll = std::chrono::milliseconds(100);
constexpr double kKeepAliveSeconds = 2.0;  // SSE comment while nothing happens (also probes the client)

std::string random_id(const char* prefix) {
  static thread_local std::mt19937_64 rng{std::random_device{}()};
  static const char* hex = "0123456789abcdef";
  std::string id = prefix;
  for (int i = 0; i < 24; ++i) id += hex[rng() % 16];
  return id;
}

json usage_json(const engine::Usage& u) {
  return {{"prompt_tokens", u.prompt_tokens},
          {"completion_tokens", u.completion_tokens},
          {"total_tokens", u.prompt_tokens + u.completion_tokens},
          {"prompt_tokens_details", {{"cached_tokens", u.cached_prompt_tokens}}},
          {"completion_tokens_details", {{"reasoning_tokens", u.reasoning_tokens}}},
          {"prompt_cache_hit_tokens", u.cached_prompt_tokens},
          {"prompt_cache_miss_tokens", u.prompt_tokens - u.cached_prompt_tokens}};
}

// Log-probabilities in OpenAI's shapes. A token's text is its bytes (a piece of a multi-byte
// character shows as U+FFFD; `bytes` has it exactly); -inf (a token that cannot occur) is -9999,
// OpenAI's floor.
using Records = std::vector<sampler::TokenLogprob>;

double logprob_value(float lp) { return std::isfinite(lp) ? static_cast<double>(lp) : -9999.0; }

// Valid UTF-8 (the completions' top_logprobs dict is keyed by it: equal texts keep the best).
std::string token_string(const tokenizer::Tokenizer& tok, int32_t id) { return tok.decode(std::span<const int32_t>(&id, 1)); }

json chat_logprob(const tokenizer::Tokenizer& tok, int32_t id, float lp) {
  json bytes = json::array();
  for (unsigned char c : tok.token_bytes(id)) bytes.push_back(static_cast<int>(c));
  return {{"token", token_string(tok, id)}, {"logprob", logprob_value(lp)}, {"bytes", std::move(bytes)}};
}

// Chat: {"content": [...]} for the answer's tokens; reasoning tokens (thinking on) go to a
// "reasoning_content" list beside it, as the reply splits its text.
json chat_logprobs(const tokenizer::Tokenizer& tok, const Records& records) {
  json content = json::array(), reasoning = json::array();
  for (const sampler::TokenLogprob& r : records) {
    json e = chat_logprob(tok, r.token, r.logprob);
    json top = json::array();
    for (const sampler::TopLogprob& t : r.top) top.push_back(chat_logprob(tok, t.token, t.logprob));
    e["top_logprobs"] = std::move(top);
    (r.reasoning ? reasoning : content).push_back(std::move(e));
  }
  json out = {{"content", std::move(content)}, {"refusal", nullptr}};
  if (!reasoning.empty()) out["reasoning_content"] = std::move(reasoning);
  return out;
}

// Completions: parallel lists; text_offset is each token's byte offset in the generated text,
// continued across stream chunks through `offset`.
json completion_logprobs(const tokenizer::Tokenizer& tok, const Records& records, int64_t& offset) {
  json tokens = json::array(), lps = json::array(), tops = json::array(), offsets = json::array();
  for (const sampler::TokenLogprob& r : records) {
    tokens.push_back(token_string(tok, r.token));
    lps.push_back(logprob_value(r.logprob));
    json top = json::object();
    for (const sampler::TopLogprob& t : r.top) {
      const std::string key = token_string(tok, t.token);
      if (!top.contains(key)) top[key] = logprob_value(t.logprob);
    }
    tops.push_back(std::move(top));
    offsets.push_back(offset);
    offset += static_cast<int64_t>(tok.token_bytes(r.token).size());
  }
  return {{"tokens", std::move(tokens)}, {"token_logprobs", std::move(lps)}, {"top_logprobs", std::move(tops)},
          {"text_offset", std::move(offsets)}};
}

const char* finish_name(const Event& e) {
  return e.finish == engine::FinishReason::kLength ? "length" : "stop";
}

// What every reply and chunk of one request shares.
struct Reply {
  bool chat;
  std::string id, model;
  int64_t created;
  const tokenizer::Tokenizer* tok = nullptr;  // set when the request asked for logprobs

  json base(const char* object) const {
    return {{"id", id}, {"object", object}, {"created", created}, {"model", model}, {"system_fingerprint", "whale"}};
  }
  // One streamed chunk of choice `index` carrying `delta` (chat) or `text` (completions).
  json chunk(size_t index, json delta_or_text, const json& finish_reason, json logprobs = nullptr) const {
    json c = base(chat ? "chat.completion.chunk" : "text_completion");
    json choice = {{"index", index}, {"logprobs", std::move(logprobs)}, {"finish_reason", finish_reason}};
    choice[chat ? "delta" : "text"] = std::move(delta_or_text);
    c["choices"] = json::array({choice});
    return c;
  }
};

// Text from a random or byte-level model may hold invalid UTF-8 (the decoder replaces it; this is
// the belt to its braces): never let a reply fail to serialize.
std::string dump(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }
std::string sse(const json& j) { return "data: " + dump(j) + "\n\n"; }

using Handles = std::vector<std::shared_ptr<engine::RequestHandle>>;

// n choices share one prompt: counted once (choice 0's, with its cache hits); the completions add up.
void add_usage(engine::Usage& total, const engine::Usage& u, bool first) {
  if (first) {
    total.prompt_tokens = u.prompt_tokens;
    total.cached_prompt_tokens = u.cached_prompt_tokens;
  }
  total.completion_tokens += u.completion_tokens;
  total.reasoning_tokens += u.reasoning_tokens;
}

void reply_whole(Server::Impl& s, const GenerationRequest& g, const Reply& r, const Handles& hs,
                 std::vector<Event> early, httplib::Response& res) {
  json choices = json::array();
  engine::Usage usage;
  for (size_t i = 0; i < hs.size(); ++i) {  // the others keep generating meanwhile; their events wait
    std::string reasoning, answer;
    Records records;
    std::vector<Event> events = i == 0 ? std::move(early) : std::vector<Event>{};
    for (bool done = false; !done;) {
      if (s.stopping) {
        for (const auto& h : hs) s.loop.cancel(*h);
      }
      if (events.empty()) events = hs[i]->wait(kPoll);
      for (const Event& e : events) {
        if (e.kind == Event::Kind::kReasoning) reasoning += e.text;
        if (e.kind == Event::Kind::kAnswer) answer += e.text;
        records.insert(records.end(), e.logprobs.begin(), e.logprobs.end());
        if (e.kind != Event::Kind::kFinished) continue;
        if (e.finish == engine::FinishReason::kCancelled) {
          for (const auto& h : hs) s.loop.cancel(*h);
          throw engine::ShuttingDownError();
        }
        json logprobs = nullptr;
        int64_t offset = 0;
        if (r.tok) logprobs = r.chat ? chat_logprobs(*r.tok, records) : completion_logprobs(*r.tok, records, offset);
        json choice = {{"index", i}, {"logprobs", std::move(logprobs)}, {"finish_reason", finish_name(e)}};
        if (r.chat) {
          json msg = {{"role", "assistant"}, {"content", answer}};
          if (g.thinking) msg["reasoning_content"] = reasoning;
          if (g.tools.parse_output) {  // the call markup becomes message.tool_calls
            const ParsedOutput p = parse_tool_calls(g.tools.family, answer);
            if (!p.calls.empty()) {
              msg["content"] = p.content.empty() ? json(nullptr) : json(p.content);
              msg["tool_calls"] = tool_calls_json(p.calls);
              if (e.finish == engine::FinishReason::kStop) choice["finish_reason"] = "tool_calls";
            }
          }
          choice["message"] = std::move(msg);
        } else {
          choice["text"] = answer;
        }
        choices.push_back(std::move(choice));
        add_usage(usage, e.usage, i == 0);
        done = true;
        break;
      }
      events.clear();
    }
  }
  json body = r.base(r.chat ? "chat.completion" : "text_completion");
  body["choices"] = std::move(choices);
  body["usage"] = usage_json(usage);
  add_grounding_fields(body, g.grounding);
  res.set_content(dump(body), "application/json");
}

struct StreamState {
  Reply reply;
  bool include_usage, thinking;
  Handles handles;
  Grounding grounding;       // search_results and notices: one chunk with no choices before the first
  std::vector<Event> early;  // choice 0's events read before the others were submitted
  std::vector<std::shared_ptr<ToolCallStream>> tools;  // per choice: answer text -> delta.tool_calls
  bool started = false, finished = false;
  std::vector<bool> done;            // per choice: its finish chunk was sent
  std::vector<int64_t> text_offset;  // per choice: completions' logprobs.text_offset so far
  engine::Usage usage;
  std::chrono::steady_clock::time_point last_write = std::chrono::steady_clock::now();
};

// The SSE text for a batch of choice `index`'s events; adjacent pieces of the same kind become one
// chunk. After the last choice's finish: the usage chunk (if asked) and [DONE].
std::string stream_text(StreamState& st, size_t index, const std::vector<Event>& events) {
  std::string out;
  const Reply& r = st.reply;
  if (!st.started && r.chat) {
    if (st.grounding.searched || !st.grounding.notices.empty()) {
      json c = r.base("chat.completion.chunk");
      c["choices"] = json::array();
      add_grounding_fields(c, st.grounding);
      out += sse(c);
    }
    for (size_t i = 0; i < st.handles.size(); ++i) out += sse(r.chunk(i, {{"role", "assistant"}, {"content", ""}}, nullptr));
  }
  st.started = true;
  std::string pending;
  Records records;  // logprob records riding with the pending text
  Event::Kind pending_kind = Event::Kind::kAnswer;
  const auto logprobs = [&]() -> json {
    if (!r.tok) return nullptr;
    json l = r.chat ? chat_logprobs(*r.tok, records) : completion_logprobs(*r.tok, records, st.text_offset[index]);
    records.clear();
    return l;
  };
  auto flush = [&] {
    if (pending.empty()) return;
    if (!r.chat) {
      out += sse(r.chunk(index, pending, nullptr, logprobs()));
    } else if (!st.tools.empty() && pending_kind == Event::Kind::kAnswer) {
      json l = logprobs();  // rides on the first delta this text makes
      for (json& d : st.tools[index]->feed(pending)) out += sse(r.chunk(index, std::move(d), nullptr, std::exchange(l, nullptr)));
    } else {
      out += sse(r.chunk(index, {{pending_kind == Event::Kind::kReasoning ? "reasoning_content" : "content", pending}},
                         nullptr, logprobs()));
    }
    pending.clear();
  };
  for (const Event& e : events) {
    if (e.kind == Event::Kind::kFinished) {
      flush();
      if (e.finish == engine::FinishReason::kCancelled) {  // the server is shutting down
        st.finished = true;
        out += sse(json::parse(error_body(ApiError(503, "server_error", "the server is shutting down", {}, "unavailable"))));
        out += "data: [DONE]\n\n";
        break;
      }
      records = e.logprobs;  // tokens whose text never came out (held, then cut by the finish)
      const char* finish = finish_name(e);
      if (!st.tools.empty()) {
        for (json& d : st.tools[index]->finish()) out += sse(r.chunk(index, std::move(d), nullptr));
        if (st.tools[index]->saw_calls() && e.finish == engine::FinishReason::kStop) finish = "tool_calls";
      }
      out += sse(r.chunk(index, r.chat ? json::object() : json(""), finish, records.empty() ? json(nullptr) : logprobs()));
      add_usage(st.usage, e.usage, index == 0);
      st.done[index] = true;
      if (std::find(st.done.begin(), st.done.end(), false) == st.done.end()) {
        st.finished = true;
        if (st.include_usage) {
          json u = r.base(r.chat ? "chat.completion.chunk" : "text_completion");
          u["choices"] = json::array();
          u["usage"] = usage_json(st.usage);
          out += sse(u);
        }
        out += "data: [DONE]\n\n";
      }
      break;
    }
    if (e.kind != pending_kind) flush();
    pending_kind = e.kind;
    pending += e.text;
    records.insert(records.end(), e.logprobs.begin(), e.logprobs.end());
  }
  flush();
  return out;
}

void reply_stream(Server::Impl& s, const GenerationRequest& g, const Reply& r, Handles hs, std::vector<Event> early,
                  httplib::Response& res) {
  auto st = std::make_shared<StreamState>(
      StreamState{r, g.include_usage, g.thinking, std::move(hs), g.grounding, std::move(early)});
  st->done.assign(st->handles.size(), false);
  st->text_offset.assign(st->handles.size(), 0);
  if (r.chat && g.tools.parse_output) {
    for (size_t i = 0; i < st->handles.size(); ++i) st->tools.push_back(std::make_shared<ToolCallStream>(g.tools.family));
  }
  res.set_header("Cache-Control", "no-cache");
  res.set_header("X-Accel-Buffering", "no");
  Server::Impl* sp = &s;
  const auto cancel_all = [sp](StreamState& state) {
    for (const auto& h : state.handles) sp->loop.cancel(*h);
  };
  res.set_chunked_content_provider(
      "text/event-stream",
      [st, sp, cancel_all](size_t, httplib::DataSink& sink) {
        const auto gone = [&] {
          cancel_all(*st);
          sp->metrics.count_disconnect();
          st->finished = true;  // nothing more is owed to this client
          return false;
        };
        if (sp->stopping) cancel_all(*st);
        // One choice waits the whole poll; with several, each waits a slice.
        const auto slice = st->handles.size() == 1 ? kPoll : std::chrono::milliseconds(10);
        std::vector<std::pair<size_t, std::vector<Event>>> batches;
        for (size_t i = 0; i < st->handles.size(); ++i) {
          if (st->done[i]) continue;
          std::vector<Event> events = i == 0 && !st->early.empty() ? std::move(st->early) : st->handles[i]->wait(slice);
          st->early.clear();
          if (!events.empty()) batches.emplace_back(i, std::move(events));
        }
        if (!sink.is_writable()) return gone();
        const auto now = std::chrono::steady_clock::now();
        std::string text;
        if (!st->started) text = stream_text(*st, 0, {});
        for (const auto& [i, events] : batches) {
          if (!st->finished) text += stream_text(*st, i, events);
        }
        if (text.empty() && std::chrono::duration<double>(now - st->last_write).count() > kKeepAliveSeconds) {
          text = ": keep-alive\n\n";
        }
        if (!text.empty()) {
          if (!sink.write(text.data(), text.size())) return gone();
          st->last_write = now;
        }
        if (st->finished) sink.done();
        return true;
      },
      [st, sp, cancel_all](bool) {
        if (!st->finished) {  // the connection ended before the stream did
          cancel_all(*st);
          sp->metrics.count_disconnect();
        }
      });
}

}  // namespace

void handle_generation(Server::Impl& s, const httplib::Request& req, httplib::Response& res, bool chat) {
  GenerationRequest g =
      chat ? parse_chat_request(req.body, s.model, search_access(s)) : parse_completion_request(req.body, s.model);
  const int64_t n = static_cast<int64_t>(g.request.prompt.size());
  if (n >= s.model.max_context) {
    // OpenAI's wording, with every limit named; max_tokens only when it is below the context.
    const int64_t asked = g.request.max_tokens;
    bad_request(chat ? "messages" : "prompt",
                "This model's maximum context length is " + std::to_string(s.model.max_context) + " tokens, but the " +
                    (chat ? "messages take " : "prompt takes ") + std::to_string(n) +
                    " tokens (the context must also hold at least one generated token" +
                    (asked < s.model.max_context ? "; max_tokens asks for " + std::to_string(asked) : std::string()) +
                    "). Please reduce the length of the " + (chat ? "messages" : "prompt") + ".",
                "context_length_exceeded");
  }
  const Reply r{chat, random_id(chat ? "chatcmpl-" : "cmpl-"), g.model, static_cast<int64_t>(std::time(nullptr)),
                g.request.logprobs >= 0 ? s.model.tokenizer : nullptr};
  // n choices: choice i samples with seed + i. The others are submitted once choice 0 has an event
  // (its prompt is computed, its full blocks sealed in the prefix cache), so they reuse those blocks.
  Handles hs;
  std::vector<Event> early;
  // Each choice needs its own grammar state: copies taken before choice 0 advances its matcher.
  std::vector<std::shared_ptr<constrain::Matcher>> matchers;
  for (int i = 1; i < g.n && g.request.constraint; ++i) matchers.push_back(std::make_shared<constrain::Matcher>(*g.request.constraint));
  try {
    engine::Request first = g.request;
    hs.push_back(s.loop.submit(std::move(first)));
    if (g.n > 1) {
      for (int polls = 0; polls < 100 && early.empty() && !s.stopping; ++polls) early = hs[0]->wait(kPoll);
    }
    for (int i = 1; i < g.n; ++i) {
      engine::Request other = g.request;
      other.sampling.seed += static_cast<uint64_t>(i);
      if (other.constraint) other.constraint = matchers[static_cast<size_t>(i - 1)];
      hs.push_back(s.loop.submit(std::move(other)));
    }
  } catch (...) {
    for (const auto& h : hs) s.loop.cancel(*h);
    throw;
  }
  if (g.stream) {
    reply_stream(s, g, r, std::move(hs), std::move(early), res);
  } else {
    reply_whole(s, g, r, hs, std::move(early), res);
  }
}

}  // namespace whale::server
