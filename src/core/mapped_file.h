// MappedFile: a whole file mapped read-only, so tensors can be zero-copy views of a checkpoint.
// Also the atomic-write helper every writer uses, so a failed write never clobbers a good file.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>

namespace whale::core {

class MappedFile {
 public:
  // Maps `path` read-only; throws whale::Error (kNotFound / kIo) naming the path. If the file is
  // truncated while mapped, a read past its new end (SIGBUS) prints an error naming it and exits 1.
  static std::shared_ptr<MappedFile> open(const std::string& path);
  ~MappedFile();
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  const std::byte* data() const { return data_; }
  uint64_t size() const { return size_; }
  std::span<const std::byte> bytes() const { return {data_, static_cast<size_t>(size_)}; }
  const std::string& path() const { return path_; }

 private:
  MappedFile() = default;
  std::string path_;
  std::byte* data_ = nullptr;
  uint64_t size_ = 0;
};

// Reads a whole (small) file into a string; throws whale::Error naming the path.
std::string read_file(const std::string& path);

// Writes `path` atomically: `write` fills a temporary file beside it, which is flushed, synced and
// renamed over `path` only if `write` returns normally, then the directory is synced. On any
// exception the temporary is removed and `path` is untouched (a whale::Error's message then ends
// by saying so). Temporaries left by killed writers of `path` are removed first.
void write_file_atomic(const std::string& path, const std::function<void(std::FILE*)>& write);
// Convenience: atomically write a string.
void write_file_atomic(const std::string& path, std::string_view contents);
// fwrite that throws whale::Error on a short write.
void write_all(std::FILE* f, const void* data, size_t n, const std::string& what);

}  // namespace whale::core
