// Routing and everything around the completion endpoints: the API key check, OpenAI-shaped errors
// for unknown routes (404), wrong methods (405), oversized bodies (413, counted after decoding)
// and unknown content encodings (415), the small GET routes, and request counting for /metrics.
#include "server/server.h"

#include <sys/socket.h>

#include <nlohmann/json.hpp>

#include "server/api_error.h"
#include "server/llama_routes.h"
#include "server/server_impl.h"
#include "server/web_ui.h"

namespace whale::server {
namespace {

using nlohmann::json;

// Each path the server answers, and its method. DeepSeek's API answers both with and without the
// /v1 prefix; so does whale.
struct Route {
  const char* path;
  const char* method;
};
constexpr Route kRoutes[] = {
    {"/", "GET"},
    {"/health", "GET"},
    {"/metrics", "GET"},
    {"/v1/models", "GET"},
    {"/models", "GET"},
    {"/v1/chat/completions", "POST"},
    {"/chat/completions", "POST"},
    {"/v1/completions", "POST"},
    {"/completions", "POST"},
    {"/beta/chat/completions", "POST"},  // DeepSeek's beta base URL (prefix completion, FIM)
    {"/beta/completions", "POST"},
    // llama-server's own API (llama_routes.cpp)
    {"/v1/health", "GET"},
    {"/props", "GET"},
    {"/slots", "GET"},
    {"/tokenize", "POST"},
    {"/detokenize", "POST"},
    {"/apply-template", "POST"},
    {"/completion", "POST"},
    {"/infill", "POST"},
};

const Route* find_route(const std::string& path) {
  for (const Route& r : kRoutes) {
    if (path == r.path) return &r;
  }
  if (path.rfind("/v1/models/", 0) == 0 || path.rfind("/models/", 0) == 0) return &kRoutes[3];
  return nullptr;
}

// Needs no key: the page (it asks for one itself) and the liveness probe.
bool is_public(const std::string& path) { return path == "/" || path == "/health" || path == "/v1/health"; }

// Compares in time independent of where the first difference is.
bool same_key(const std::string& a, const std::string& b) {
  if (a.size() != b.size()) return false;
  unsigned char diff = 0;
  for (size_t i = 0; i < a.size(); ++i) diff |= static_cast<unsigned char>(a[i] ^ b[i]);
  return diff == 0;
}

json model_entry(const std::string& id, int64_t created, const std::string& root) {
  return {{"id", id}, {"object", "model"}, {"created", created}, {"owned_by", "whale"}, {"root", root}};
}

// A compressed body may inflate at most this many times its size once past kRatioFreeBytes
// (small bodies never trip it; the decoded limit bounds the rest).
constexpr size_t kMaxInflation = 100;
constexpr size_t kRatioFreeBytes = 1u << 20;
// A body over the limit is still read (and dropped) up to this many times the limit, so that
// clients which send everything before reading (most do) get the 413 instead of a reset; past it,
// or for a compressed body that inflates past it, the connection is closed unread.
constexpr size_t kDrainFactor = 16;

// The body of a POST, read through httplib's content reader so the limit applies to the decoded
// bytes whatever the transfer encoding (Content-Length, chunked) and content encoding (gzip,
// deflate, br: httplib inflates while streaming). Reading stops at the first byte over the limit.
std::string read_body(const httplib::Request& req, httplib::Response& res, const httplib::ContentReader& reader,
                      size_t limit) {
  const std::string encoding = req.get_header_value("Content-Encoding");
  const bool compressed = !encoding.empty() && encoding != "identity";
  if (compressed && encoding != "gzip" && encoding != "deflate" && encoding != "br") {
    res.set_header("Connection", "close");
    throw ApiError(415, "invalid_request_error",
                   "Content-Encoding \"" + encoding + "\" is not supported; use gzip, deflate, br or none", {},
                   "unsupported_content_encoding");
  }
  const size_t sent = req.has_header("Content-Length") ? req.get_header_value<uint64_t>("Content-Length") : 0;
  std::string body;
  const char* over = nullptr;
  size_t dropped = 0;
  const bool ok = reader([&](const char* data, size_t n) {
    if (over) {  // draining: nothing more is kept
      dropped += n;
      return dropped <= kDrainFactor * limit;
    }
    const size_t size = body.size() + n;
    if (size > limit) {
      over = "The request body is too large";
    } else if (compressed && sent > 0 && size > kRatioFreeBytes && size > kMaxInflation * sent) {
      over = "The compressed request body inflates more than 100 times its size";
      return false;  // a bomb is not drained
    }
    if (over) {
      body.clear();
      body.shrink_to_fit();
      dropped = size;
      return true;
    }
    body.append(data, n);
    return true;
  });
  if (over || res.status == 413) {
    if (!ok) res.set_header("Connection", "close");  // the rest of the body is never read
    throw ApiError(413, "invalid_request_error",
                   std::string(over ? over : "The request body is too large") + " (the limit is " +
                       std::to_string(limit) + " bytes after decoding)",
                   {}, "request_too_large");
  }
  if (!ok) {
    res.set_header("Connection", "close");
    throw ApiError(400, "invalid_request_error",
                   "The request body could not be read (malformed chunked encoding or compressed data)");
  }
  return body;
}

}  // namespace

void send_error(httplib::Response& res, const ApiError& e) {
  res.status = e.status();
  if (e.status() == 429) res.set_header("Retry-After", "1");  // a slot frees as soon as any answer ends
  res.set_content(error_body(e), "application/json");
}

void post_route(Server::Impl& s, const std::string& path, httplib::Server::Handler handler) {
  s.http.Post(path, httplib::Server::HandlerWithContentReader(
                        [&s, handler = std::move(handler)](const httplib::Request& req, httplib::Response& res,
                                                           const httplib::ContentReader& reader) {
                          // The request is httplib's own non-const object; handlers read the body
                          // where they always do.
                          const_cast<httplib::Request&>(req).body = read_body(req, res, reader, s.config.max_body_bytes);
                          handler(req, res);
                        }));
}

Server::Server(engine::EngineLoop& loop, ServedModel model, ServerConfig config)
    : impl_(new Impl{loop, std::move(model), std::move(config), {}, {}, 0}) {
  Impl& s = *impl_;
  const int threads = s.config.http_threads > 0 ? s.config.http_threads : static_cast<int>(s.config.max_pending) + 16;
  s.http.new_task_queue = [threads] { return new httplib::ThreadPool(static_cast<size_t>(threads)); };
  s.http.set_payload_max_length(s.config.max_body_bytes);
  s.http.set_keep_alive_timeout(5);
  // SO_REUSEADDR only: httplib's default SO_REUSEPORT would let a second server bind the same port
  // silently. Remember the socket to widen its listen backlog after bind (httplib listens with 5,
  // which drops connections when many clients arrive at once).
  s.http.set_socket_options([&s](int sock) {
    int yes = 1;
    ::setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
    s.listen_socket = sock;
  });

  s.http.set_pre_routing_handler([&s](const httplib::Request& req, httplib::Response& res) {
    const Route* route = find_route(req.path);
    if (!s.config.cors_origin.empty()) {  // --cors: every reply, errors included, and the preflight
      res.set_header("Access-Control-Allow-Origin", s.config.cors_origin);
      if (s.config.cors_origin != "*") res.set_header("Vary", "Origin");
      if (route && req.method == "OPTIONS") {
        res.status = 204;
        res.set_header("Access-Control-Allow-Methods", std::string(route->method) + ", OPTIONS");
        res.set_header("Access-Control-Allow-Headers", "Authorization, Content-Type, Content-Encoding");
        res.set_header("Access-Control-Max-Age", "86400");
        return httplib::Server::HandlerResponse::Handled;
      }
    }
    if (!route) {  // answered before httplib reads (unbounded) a body nobody wants
      if (req.has_header("Content-Length") || req.has_header("Transfer-Encoding")) res.set_header("Connection", "close");
      send_error(res, ApiError(404, "invalid_request_error", "Unknown route " + req.method + " " + req.path, {}, "unknown_url"));
      return httplib::Server::HandlerResponse::Handled;
    }
    if (req.method != route->method && !(req.method == "HEAD" && std::string(route->method) == "GET")) {
      res.set_header("Allow", route->method);
      if (req.has_header("Content-Length") || req.has_header("Transfer-Encoding")) res.set_header("Connection", "close");
      send_error(res, ApiError(405, "invalid_request_error",
                               req.method + " is not allowed on " + req.path + "; use " + route->method));
      return httplib::Server::HandlerResponse::Handled;
    }
    // A declared length far over the limit is refused before reading (httplib would read it all;
    // up to kDrainFactor times the limit it does, and the client gets its 413 cleanly).
    if (req.has_header("Content-Length") &&
        req.get_header_value<uint64_t>("Content-Length") > kDrainFactor * s.config.max_body_bytes) {
      res.set_header("Connection", "close");
      send_error(res, ApiError(413, "invalid_request_error",
                               "The request body is too large (the limit is " + std::to_string(s.config.max_body_bytes) +
                                   " bytes)",
                               {}, "request_too_large"));
      return httplib::Server::HandlerResponse::Handled;
    }
    if (!s.config.api_key.empty() && !is_public(req.path)) {
      const std::string auth = req.get_header_value("Authorization");
      const std::string prefix = "Bearer ";
      const bool ok = auth.rfind(prefix, 0) == 0 && same_key(auth.substr(prefix.size()), s.config.api_key);
      if (!ok) {
        send_error(res, ApiError(401, "invalid_request_error",
                                 auth.empty() ? "Missing API key: send the header \"Authorization: Bearer KEY\"."
                                              : "Incorrect API key provided.",
                                 {}, "invalid_api_key"));
        return httplib::Server::HandlerResponse::Handled;
      }
    }
    return httplib::Server::HandlerResponse::Unhandled;
  });

  // Statuses httplib sets itself (no route, body too large, unreadable request) get an OpenAI body.
  s.http.set_error_handler(httplib::Server::HandlerWithResponse([](const httplib::Request& req, httplib::Response& res) {
    if (!res.body.empty()) return httplib::Server::HandlerResponse::Unhandled;
    if (res.status == 404) {
      send_error(res, ApiError(404, "invalid_request_error", "Unknown route " + req.method + " " + req.path, {}, "unknown_url"));
    } else if (res.status == 413) {
      send_error(res, ApiError(413, "invalid_request_error", "The request body is too large", {}, "request_too_large"));
    } else {
      send_error(res, ApiError(res.status, res.status >= 500 ? "server_error" : "invalid_request_error",
                               "HTTP error " + std::to_string(res.status)));
    }
    return httplib::Server::HandlerResponse::Handled;
  }));

  s.http.set_exception_handler([](const httplib::Request&, httplib::Response& res, std::exception_ptr ep) {
    try {
      std::rethrow_exception(ep);
    } catch (const ApiError& e) {
      send_error(res, e);
    } catch (const Error& e) {
      send_error(res, to_api_error(e));
    } catch (const std::exception& e) {
      send_error(res, ApiError(500, "server_error", std::string("internal error: ") + e.what()));
    }
  });

  s.http.set_logger([&s](const httplib::Request& req, const httplib::Response& res) {
    s.metrics.count_request(find_route(req.path) ? find_route(req.path)->path : "other", res.status);
  });

  s.http.Get("/", [](const httplib::Request&, httplib::Response& res) {
    res.set_content(std::string(index_html()), "text/html; charset=utf-8");
  });
  const auto health = [&s](const httplib::Request&, httplib::Response& res) {
    const engine::LoopStats st = s.loop.stats();
    res.set_content(json{{"status", s.stopping ? "stopping" : "ok"}, {"model", s.model.id}, {"running", st.running},
                         {"queued", st.waiting}}.dump(),
                    "application/json");
  };
  s.http.Get("/health", health);
  s.http.Get("/v1/health", health);  // llama-server answers both
  s.http.Get("/metrics", [&s](const httplib::Request&, httplib::Response& res) {
    res.set_content(s.metrics.render(s.loop.stats()), "text/plain; version=0.0.4");
  });
  const auto models = [&s](const httplib::Request&, httplib::Response& res) {
    json data = json::array();
    for (const std::string& id : {s.model.id, std::string(kChatAlias), std::string(kReasonerAlias)}) {
      data.push_back(model_entry(id, s.model.created, s.model.id));
    }
    res.set_content(json{{"object", "list"}, {"data", data}}.dump(), "application/json");
  };
  s.http.Get("/v1/models", models);
  s.http.Get("/models", models);
  const auto one_model = [&s](const httplib::Request& req, httplib::Response& res) {
    const std::string id = req.matches[1];
    if (id != s.model.id && id != kChatAlias && id != kReasonerAlias) {
      throw ApiError(404, "invalid_request_error", "The model `" + id + "` does not exist", "model", "model_not_found");
    }
    res.set_content(model_entry(id, s.model.created, s.model.id).dump(), "application/json");
  };
  s.http.Get(R"(/v1/models/(.+))", one_model);
  s.http.Get(R"(/models/(.+))", one_model);
  for (const char* path : {"/v1/chat/completions", "/chat/completions", "/beta/chat/completions"}) {
    post_route(s, path, [&s](const httplib::Request& req, httplib::Response& res) { handle_generation(s, req, res, true); });
  }
  for (const char* path : {"/v1/completions", "/completions", "/beta/completions"}) {
    post_route(s, path, [&s](const httplib::Request& req, httplib::Response& res) { handle_generation(s, req, res, false); });
  }
  add_llama_routes(s);
}

Server::~Server() { stop(); }

int Server::bind() {
  Impl& s = *impl_;
  if (s.config.port == 0) {
    s.port = s.http.bind_to_any_port(s.config.host);
    if (s.port < 0) fail(ErrorKind::kIo, "cannot listen on ", s.config.host, " (any port)");
  } else {
    if (!s.http.bind_to_port(s.config.host, s.config.port)) {
      fail(ErrorKind::kIo, "cannot listen on ", s.config.host, ":", s.config.port, " (in use, or not an address of this machine)");
    }
    s.port = s.config.port;
  }
  if (s.listen_socket >= 0) ::listen(s.listen_socket, SOMAXCONN);
  return s.port;
}

void Server::run() { impl_->http.listen_after_bind(); }

void Server::stop() {
  impl_->stopping = true;
  impl_->http.stop();
}

}  // namespace whale::server
