// Error bodies and the mapping from whale's error kinds to HTTP statuses.
#include "server/api_error.h"

#include <nlohmann/json.hpp>

#include "engine/engine_loop.h"

namespace whale::server {

void bad_request(const std::string& param, const std::string& message, const std::string& code) {
  throw ApiError(400, "invalid_request_error", message, param, code);
}

std::string error_body(const ApiError& e) {
  nlohmann::json err = {{"message", e.what()}, {"type", e.type()}, {"param", nullptr}, {"code", nullptr}};
  if (!e.param().empty()) err["param"] = e.param();
  if (!e.code().empty()) err["code"] = e.code();
  return nlohmann::json{{"error", err}}.dump();
}

ApiError to_api_error(const Error& e) {
  if (dynamic_cast<const engine::QueueFullError*>(&e)) {
    return ApiError(429, "rate_limit_error", e.what(), {}, "rate_limit_exceeded");
  }
  if (dynamic_cast<const engine::ShuttingDownError*>(&e)) return ApiError(503, "server_error", e.what(), {}, "unavailable");
  switch (e.kind()) {
    case ErrorKind::kInvalidArgument:
    case ErrorKind::kOutOfRange:
    case ErrorKind::kFormat:
    case ErrorKind::kUnsupported:
      return ApiError(400, "invalid_request_error", e.what());
    default:
      return ApiError(500, "server_error", e.what());
  }
}

}  // namespace whale::server
