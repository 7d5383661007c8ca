// Server: whale's OpenAI/DeepSeek-compatible HTTP API over one shared EngineLoop: chat and text
// completions (streamed as SSE or whole), models, health, Prometheus metrics, optional API key,
// llama-server's native routes, and the web chat page at "/".
#pragma once

#include <cstddef>
#include <memory>
#include <string>

#include "engine/engine_loop.h"
#include "search/search.h"
#include "server/openai_request.h"

namespace whale::server {

struct ServerConfig {
  std::string host = "127.0.0.1";  // loopback unless asked otherwise
  int port = 8080;                 // 0: any free port (see Server::bind)
  std::string api_key;             // non-empty: every /v1 and /metrics request needs "Bearer KEY"
  size_t max_body_bytes = 4u << 20;  // larger bodies are a 413
  int http_threads = 0;            // 0: enough for the loop's queue plus a few idle connections
  int64_t max_pending = 64;        // what the loop was built with (sizes the thread pool)
  std::string cors_origin;         // non-empty: Access-Control-Allow-Origin on replies, OPTIONS preflight
  int64_t total_slots = 1;         // the engine's max_seqs (llama-server's /props and /slots)
  std::string model_path;          // what /props reports
  // `whale serve --search INDEX|URL`: what `web_search: true` searches (null: such requests are a
  // 400); search_k documents per search.
  std::shared_ptr<search::Searcher> searcher;
  int search_k = 5;
};

class Server {
 public:
  // `loop` and `model.tokenizer` must outlive the server.
  Server(engine::EngineLoop& loop, ServedModel model, ServerConfig config);
  ~Server();

  // Binds the socket; returns the port (the chosen one when config.port is 0). Throws whale::Error.
  int bind();
  // Serves until stop() (from another thread or a signal handler's helper thread).
  void run();
  void stop();

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace whale::server
