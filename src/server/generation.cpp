// The completion endpoints: a parsed request goes to the engine loop; its events come back as one
// JSON reply or as SSE chunks (reasoning and answer never share a chunk). A stream whose client
// has gone (a failed write, an unwritable socket) cancels its sequence at once.
#include <chrono>
#include <ctime>
#include <nlohmann/json.hpp>
#include <random>

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

const char* finish_name(const Event& e) {
  return e.finish == engine::FinishReason::kLength ? "length" : "stop";
}

// What every reply and chunk of one request shares.
struct Reply {
  bool chat;
  std::string id, model;
  int64_t created;

  json base(const char* object) const {
    return {{"id", id}, {"object", object}, {"created", created}, {"model", model}, {"system_fingerprint", "whale"}};
  }
  // One streamed chunk carrying `delta` (chat) or `text` (completions).
  json chunk(json delta_or_text, const json& finish_reason) const {
    json c = base(chat ? "chat.completion.chunk" : "text_completion");
    json choice = {{"index", 0}, {"logprobs", nullptr}, {"finish_reason", finish_reason}};
    choice[chat ? "delta" : "text"] = std::move(delta_or_text);
    c["choices"] = json::array({choice});
    return c;
  }
};

// Text from a random or byte-level model may hold invalid UTF-8 (the decoder replaces it; this is
// the belt to its braces): never let a reply fail to serialize.
std::string dump(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }
std::string sse(const json& j) { return "data: " + dump(j) + "\n\n"; }

void reply_whole(Server::Impl& s, const GenerationRequest& g, const Reply& r,
                 const std::shared_ptr<engine::RequestHandle>& h, httplib::Response& res) {
  std::string reasoning, answer;
  for (;;) {
    if (s.stopping) s.loop.cancel(*h);
    for (const Event& e : h->wait(kPoll)) {
      if (e.kind == Event::Kind::kReasoning) reasoning += e.text;
      if (e.kind == Event::Kind::kAnswer) answer += e.text;
      if (e.kind != Event::Kind::kFinished) continue;
      if (e.finish == engine::FinishReason::kCancelled) throw engine::ShuttingDownError();
      json body = r.base(r.chat ? "chat.completion" : "text_completion");
      json choice = {{"index", 0}, {"logprobs", nullptr}, {"finish_reason", finish_name(e)}};
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
      body["choices"] = json::array({choice});
      body["usage"] = usage_json(e.usage);
      res.set_content(dump(body), "application/json");
      return;
    }
  }
}

struct StreamState {
  Reply reply;
  bool include_usage, thinking;
  std::shared_ptr<engine::RequestHandle> handle;
  std::shared_ptr<ToolCallStream> tools;  // parses answer text into delta.tool_calls
  bool started = false, finished = false;
  std::chrono::steady_clock::time_point last_write = std::chrono::steady_clock::now();
};

// The SSE text for a batch of events; adjacent pieces of the same kind become one chunk.
std::string stream_text(StreamState& st, const std::vector<Event>& events) {
  std::string out;
  const Reply& r = st.reply;
  if (!st.started && r.chat) out += sse(r.chunk({{"role", "assistant"}, {"content", ""}}, nullptr));
  st.started = true;
  std::string pending;
  Event::Kind pending_kind = Event::Kind::kAnswer;
  auto flush = [&] {
    if (pending.empty()) return;
    if (!r.chat) {
      out += sse(r.chunk(pending, nullptr));
    } else if (st.tools && pending_kind == Event::Kind::kAnswer) {
      for (json& d : st.tools->feed(pending)) out += sse(r.chunk(std::move(d), nullptr));
    } else {
      out += sse(r.chunk({{pending_kind == Event::Kind::kReasoning ? "reasoning_content" : "content", pending}}, nullptr));
    }
    pending.clear();
  };
  for (const Event& e : events) {
    if (e.kind == Event::Kind::kFinished) {
      flush();
      st.finished = true;
      if (e.finish == engine::FinishReason::kCancelled) {  // the server is shutting down
        out += sse(json::parse(error_body(ApiError(503, "server_error", "the server is shutting down", {}, "unavailable"))));
      } else {
        const char* finish = finish_name(e);
        if (st.tools) {
          for (json& d : st.tools->finish()) out += sse(r.chunk(std::move(d), nullptr));
          if (st.tools->saw_calls() && e.finish == engine::FinishReason::kStop) finish = "tool_calls";
        }
        out += sse(r.chunk(r.chat ? json::object() : json(""), finish));
        if (st.include_usage) {
          json u = r.base(r.chat ? "chat.completion.chunk" : "text_completion");
          u["choices"] = json::array();
          u["usage"] = usage_json(e.usage);
          out += sse(u);
        }
      }
      out += "data: [DONE]\n\n";
      break;
    }
    if (e.kind != pending_kind) flush();
    pending_kind = e.kind;
    pending += e.text;
  }
  flush();
  return out;
}

void reply_stream(Server::Impl& s, const GenerationRequest& g, const Reply& r,
                  std::shared_ptr<engine::RequestHandle> h, httplib::Response& res) {
  auto st = std::make_shared<StreamState>(StreamState{r, g.include_usage, g.thinking, std::move(h)});
  if (r.chat && g.tools.parse_output) st->tools = std::make_shared<ToolCallStream>(g.tools.family);
  res.set_header("Cache-Control", "no-cache");
  res.set_header("X-Accel-Buffering", "no");
  Server::Impl* sp = &s;
  res.set_chunked_content_provider(
      "text/event-stream",
      [st, sp](size_t, httplib::DataSink& sink) {
        const auto gone = [&] {
          sp->loop.cancel(*st->handle);
          sp->metrics.count_disconnect();
          st->finished = true;  // nothing more is owed to this client
          return false;
        };
        if (sp->stopping) sp->loop.cancel(*st->handle);
        std::vector<Event> events = st->handle->wait(kPoll);
        if (!sink.is_writable()) return gone();
        const auto now = std::chrono::steady_clock::now();
        std::string text;
        if (!events.empty() || !st->started) {
          text = stream_text(*st, events);
        } else if (std::chrono::duration<double>(now - st->last_write).count() > kKeepAliveSeconds) {
          text = ": keep-alive\n\n";
        }
        if (!text.empty()) {
          if (!sink.write(text.data(), text.size())) return gone();
          st->last_write = now;
        }
        if (st->finished) sink.done();
        return true;
      },
      [st, sp](bool) {
        if (!st->finished) {  // the connection ended before the stream did
          sp->loop.cancel(*st->handle);
          sp->metrics.count_disconnect();
        }
      });
}

}  // namespace

void handle_generation(Server::Impl& s, const httplib::Request& req, httplib::Response& res, bool chat) {
  GenerationRequest g = chat ? parse_chat_request(req.body, s.model) : parse_completion_request(req.body, s.model);
  const int64_t n = static_cast<int64_t>(g.request.prompt.size());
  if (n >= s.model.max_context) {
    bad_request(chat ? "messages" : "prompt",
                "This model's maximum context length is " + std::to_string(s.model.max_context) + " tokens, but the " +
                    (chat ? "messages" : "prompt") + " take " + std::to_string(n) +
                    " tokens (the context must also hold at least one generated token).",
                "context_length_exceeded");
  }
  const Reply r{chat, random_id(chat ? "chatcmpl-" : "cmpl-"), g.model, static_cast<int64_t>(std::time(nullptr))};
  const bool stream = g.stream;
  std::shared_ptr<engine::RequestHandle> h = s.loop.submit(std::move(g.request));
  if (stream) {
    reply_stream(s, g, r, std::move(h), res);
  } else {
    reply_whole(s, g, r, h, res);
  }
}

}  // namespace whale::server
