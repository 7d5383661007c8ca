// Errors as OpenAI's API reports them: an HTTP status and {"error": {"message", "type", "param",
// "code"}}. Handlers throw ApiError; the server turns it (and whale::Error from below) into a reply.
#pragma once

#include <stdexcept>
#include <string>

#include "core/error.h"

namespace whale::server {

class ApiError : public std::runtime_error {
 public:
  ApiError(int status, std::string type, const std::string& message, std::string param = {}, std::string code = {})
      : std::runtime_error(message), status_(status), type_(std::move(type)), param_(std::move(param)),
        code_(std::move(code)) {}
  int status() const { return status_; }
  const std::string& type() const { return type_; }
  const std::string& param() const { return param_; }  // empty: null
  const std::string& code() const { return code_; }    // empty: null

 private:
  int status_;
  std::string type_, param_, code_;
};

// 400 invalid_request_error naming the field.
[[noreturn]] void bad_request(const std::string& param, const std::string& message, const std::string& code = {});

// The JSON body for an error.
std::string error_body(const ApiError& e);
// A whale::Error from the engine or tokenizer as the API error it stands for (input problems 400,
// a full queue 429, shutting down 503, bugs 500).
ApiError to_api_error(const Error& e);

}  // namespace whale::server
