// Test helpers: a tiny random DeepSeek-V3 checkpoint (R1 chat template, so reasoning is exercised)
// written once per test binary, a whale server over it on an ephemeral loopback port, and an SSE
// client that can hang up mid-stream.
#pragma once

#include <httplib.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "../test_files.h"
#include "engine/engine.h"
#include "engine/engine_loop.h"
#include "model/presets.h"
#include "model/random_checkpoint.h"
#include "model/weights.h"
#include "server/server.h"
#include "tokenizer/tokenizer.h"

namespace whale::server::testing {

using nlohmann::json;

struct TinyModel {
  std::string dir;
  model::Weights weights;
  tokenizer::Tokenizer tok;
  std::string tokenizer_json, tokenizer_config_json;  // its files, for variants with another template

  static const TinyModel& get() {
    static const TinyModel m = make();
    return m;
  }

  // The tiny model's tokenizer with `jinja` as its chat_template (bos and eos unchanged).
  static tokenizer::Tokenizer with_template(const std::string& jinja) {
    json cj = json::parse(get().tokenizer_config_json);
    cj["chat_template"] = jinja;
    return tokenizer::Tokenizer::from_json(get().tokenizer_json, cj.dump(), "tiny tokenizer, other template");
  }

 private:
  static TinyModel make() {
    namespace fs = std::filesystem;
    const std::string dir = ::whale::testing::fresh_temp_path("server").string();
    model::RandomCheckpointOptions o;
    o.progress = false;
    o.weight_std = 0.08f;  // varied tokens from random weights
    model::write_random_checkpoint(model::find_preset("tiny-deepseek-v3").args, dir, o);
    TinyModel m{dir, model::load_weights(dir), tokenizer::Tokenizer::from_dir(dir), ::whale::testing::read_bytes(dir + "/tokenizer.json"),
                ::whale::testing::read_bytes(dir + "/tokenizer_config.json")};
    fs::remove_all(dir);  // everything is loaded (weights are copied or mapped; mapped files stay valid)
    return m;
  }
};

struct LiveOptions {
  int32_t max_seqs = 8;
  int64_t context = 512;
  int64_t max_pending = 64;
  std::string api_key;
  size_t max_body_bytes = 1 << 20;
  bool special_in_content = false;
  std::string cors_origin;
  const tokenizer::Tokenizer* tok = nullptr;  // the model's own when null (another chat template)
  std::shared_ptr<search::Searcher> searcher;  // what web_search requests search (none: a 400)
  int search_k = 5;
  std::string cache_dir;  // the engine's on-disk prefix cache (none when empty)
  engine::SpecConfig spec;  // speculative decoding (off)
};

class LiveServer {
 public:
  explicit LiveServer(LiveOptions o = {})
      : engine_(TinyModel::get().weights, o.tok ? o.tok : &TinyModel::get().tok,
                {.max_seqs = o.max_seqs, .max_batch_tokens = 128, .max_context = o.context, .threads = 2,
                 .spec = o.spec, .cache_dir = o.cache_dir}),
        loop_(engine_, {.max_pending = o.max_pending}),
        server_(loop_, served(engine_, o.special_in_content, o.tok),
                {.host = "127.0.0.1", .port = 0, .api_key = o.api_key, .max_body_bytes = o.max_body_bytes,
                 .max_pending = o.max_pending, .cors_origin = o.cors_origin, .total_slots = o.max_seqs,
                 .searcher = o.searcher, .search_k = o.search_k}) {
    port_ = server_.bind();
    thread_ = std::thread([this] { server_.run(); });
  }
  ~LiveServer() {
    loop_.shutdown();
    server_.stop();
    thread_.join();
  }

  int port() const { return port_; }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  engine::EngineLoop& loop() { return loop_; }
  std::unique_ptr<httplib::Client> client() const {
    auto c = std::make_unique<httplib::Client>("127.0.0.1", port_);
    c->set_read_timeout(60, 0);
    return c;
  }
  // Waits until nothing is queued or running (a cancelled stream finishes at the engine's next step).
  bool wait_idle(double seconds = 10) const {
    const auto end = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
    while (std::chrono::steady_clock::now() < end) {
      const engine::LoopStats s = const_cast<engine::EngineLoop&>(loop_).stats();
      if (s.pending == 0 && s.running == 0 && s.waiting == 0) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return false;
  }

  static ServedModel served(const engine::Engine& e, bool special_in_content = false, const tokenizer::Tokenizer* tok = nullptr) {
    ServedModel m;
    m.special_in_content = special_in_content;
    m.id = "tiny";
    m.tokenizer = tok ? tok : &TinyModel::get().tok;
    m.max_context = e.max_context();
    m.vocab_size = TinyModel::get().weights.args.vocab_size;
    m.created = 1700000000;
    return m;
  }

 private:
  engine::Engine engine_;
  engine::EngineLoop loop_;
  Server server_;
  int port_ = 0;
  std::thread thread_;
};

// POST `body` to `path`, expecting 200; the parsed reply (a test failure and {} otherwise).
inline json post_ok(LiveServer& s, const std::string& path, const json& body) {
  auto res = s.client()->Post(path, body.dump(), "application/json");
  EXPECT_TRUE(res);
  if (!res) return {};
  EXPECT_EQ(res->status, 200) << res->body;
  return json::parse(res->body);
}

// The prompt tokens the server should count for `messages` (the oracle for usage.prompt_tokens).
inline int64_t prompt_tokens(const std::vector<tokenizer::ChatMessage>& messages, bool thinking) {
  const tokenizer::Tokenizer& tok = TinyModel::get().tok;
  const std::string p = tok.chat_template().render(messages, {.add_generation_prompt = true, .enable_thinking = thinking});
  return static_cast<int64_t>(tok.encode(p, {.add_special = false, .parse_special = true}).size());
}

struct SseResult {
  int status = 0;
  std::vector<json> chunks;  // parsed data: lines, [DONE] excluded
  bool done = false;         // saw data: [DONE]
  std::string body;          // everything received
  std::string error;         // httplib's error ("Success" when none)
};

// POSTs `body` and reads the SSE stream; after `hang_up_after` chunks (>= 0) closes the connection.
inline SseResult post_stream(int port, const std::string& path, const json& body, int hang_up_after = -1,
                             const std::string& api_key = "") {
  SseResult out;
  httplib::Client c("127.0.0.1", port);
  c.set_read_timeout(60, 0);
  httplib::Request req;
  req.method = "POST";
  req.path = path;
  req.body = body.dump();
  req.set_header("Content-Type", "application/json");
  if (!api_key.empty()) req.set_header("Authorization", "Bearer " + api_key);
  std::string pending;
  req.content_receiver = [&](const char* data, size_t n, uint64_t, uint64_t) {
    out.body.append(data, n);
    pending.append(data, n);
    size_t end;
    while ((end = pending.find("\n\n")) != std::string::npos) {
      const std::string event = pending.substr(0, end);
      pending.erase(0, end + 2);
      if (event.rfind("data: ", 0) != 0) continue;  // comments (keep-alives)
      const std::string payload = event.substr(6);
      if (payload == "[DONE]") {
        out.done = true;
      } else {
        out.chunks.push_back(json::parse(payload));
      }
    }
    return hang_up_after < 0 || static_cast<int>(out.chunks.size()) < hang_up_after;
  };
  auto res = c.send(req);
  if (res) out.status = res->status;
  out.error = httplib::to_string(res.error());
  return out;
}

}  // namespace whale::server::testing
