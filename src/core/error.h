// whale::Error, the one typed exception for failures caused by user input (files, flags, JSON),
// and whale::cat, which builds the messages. Callers at the edge (CLI, server) catch and report.
#pragma once

#include <sstream>
#include <stdexcept>
#include <string>
#include <utility>

namespace whale {

enum class ErrorKind {
  kInvalidArgument,  // a flag, field or value the caller gave is wrong
  kNotFound,         // a file, tensor or key that should exist does not
  kIo,               // the OS refused a read, write, map or rename
  kFormat,           // a file's bytes do not follow its format
  kUnsupported,      // valid, but not something whale implements
  kOutOfRange,       // a position, index or length past a limit (context full, bad token id)
  kInternal,         // a bug in whale
};

const char* error_kind_name(ErrorKind kind);

class Error : public std::runtime_error {
 public:
  Error(ErrorKind kind, const std::string& message) : std::runtime_error(message), kind_(kind) {}
  ErrorKind kind() const { return kind_; }

 private:
  ErrorKind kind_;
};

// cat("tensor ", name, " has ", n, " dims") -> one string; any streamable argument.
template <class... Args>
std::string cat(const Args&... args) {
  std::ostringstream out;
  (out << ... << args);
  return out.str();
}

template <class... Args>
[[noreturn]] void fail(ErrorKind kind, const Args&... args) {
  throw Error(kind, cat(args...));
}

}  // namespace whale
