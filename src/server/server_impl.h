// The server's state shared by its route files (server.cpp: routing, auth, errors, small routes;
// generation.cpp: the completion endpoints). Private to src/server: it includes httplib.h.
#pragma once

#include <httplib.h>

#include <atomic>
#include <mutex>

#include "server/metrics.h"
#include "server/server.h"

namespace whale::server {

struct Server::Impl {
  engine::EngineLoop& loop;
  ServedModel model;
  ServerConfig config;
  Metrics metrics;
  httplib::Server http;
  int port = 0;
  int listen_socket = -1;
  std::atomic<bool> stopping{false};  // streams and waits end their requests
  std::mutex search_mutex;            // one search at a time through config.searcher
};

// The searcher as requests use it.
inline SearchAccess search_access(Server::Impl& s) {
  return {.searcher = s.config.searcher.get(), .mutex = &s.search_mutex, .k = s.config.search_k};
}

// Replies with an OpenAI error body (429 with Retry-After).
void send_error(httplib::Response& res, const class ApiError& e);
// Registers a POST route whose body is read with the server's limit on decoded bytes (chunked,
// gzip, deflate, br) into req.body before `handler` runs. Every POST route goes through it.
void post_route(Server::Impl& s, const std::string& path, httplib::Server::Handler handler);
// POST /v1/chat/completions and /v1/completions.
void handle_generation(Server::Impl& s, const httplib::Request& req, httplib::Response& res, bool chat);

}  // namespace whale::server
