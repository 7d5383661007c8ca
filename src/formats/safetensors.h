// The safetensors format: a u64 header length, a JSON header naming each tensor's dtype, shape and
// byte range, then the raw data. Reading maps the file and hands out zero-copy views; writing streams.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/dtype.h"
#include "core/tensor.h"

namespace whale::formats {

// "BF16" -> kBF16; nullopt for names safetensors does not define (or whale cannot hold).
std::optional<core::DType> dtype_from_safetensors(std::string_view name);
// kBF16 -> "BF16"; throws whale::Error (kUnsupported) for GGUF block types such as q4_k.
std::string_view safetensors_dtype_name(core::DType t);

struct SafetensorsEntry {
  std::string name;
  core::DType dtype;
  core::Shape shape;
  uint64_t offset;  // from the start of the file
  uint64_t nbytes;
};

class SafetensorsFile {
 public:
  // Maps `path` and validates the whole header against the file size; throws whale::Error naming
  // the file and the defect.
  static SafetensorsFile open(const std::string& path);
  // Parses bytes already in memory (tests, fuzzing); `owner` keeps them alive for views; `name` is
  // used in messages and returned by path().
  static SafetensorsFile parse(std::span<const std::byte> bytes, std::shared_ptr<const void> owner,
                               const std::string& name);

  const std::vector<SafetensorsEntry>& entries() const { return entries_; }  // by data offset
  const SafetensorsEntry* find(std::string_view name) const;
  // A zero-copy view that keeps the file mapped; throws kNotFound naming the tensor and the file.
  // The data is only as aligned as the file lays it out (whale's writer keeps it 8-byte aligned).
  core::Tensor view(std::string_view name) const;
  // "__metadata__" pairs, sorted by key.
  const std::vector<std::pair<std::string, std::string>>& metadata() const { return metadata_; }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  std::span<const std::byte> bytes_;
  std::shared_ptr<const void> owner_;
  std::vector<SafetensorsEntry> entries_;
  std::map<std::string, size_t, std::less<>> index_;  // name -> position in entries_
  std::vector<std::pair<std::string, std::string>> metadata_;
};

class SafetensorsWriter {
 public:
  // Fills a tensor's bytes when write() reaches it, so huge checkpoints stream through one buffer.
  using Fill = std::function<void(std::span<std::byte>)>;
  // A tensor added but not yet written; CheckpointWriter queues the same before sharding.
  struct Pending {
    std::string name;
    core::DType dtype;
    core::Shape shape;
    uint64_t nbytes;
    Fill fill;
  };

  // Throws kInvalidArgument for an empty, non-UTF-8, reserved or duplicate name, and kUnsupported
  // for a dtype safetensors cannot hold.
  void add(std::string name, core::DType dtype, const core::Shape& shape, Fill fill);
  // Copies `t`'s bytes at write() time: a non-owning view must stay valid until then.
  void add(std::string name, const core::Tensor& t);
  void set_metadata(std::string key, std::string value);
  uint64_t data_bytes() const { return data_bytes_; }

  // Writes atomically (core::write_file_atomic), data in insertion order, header padded with spaces
  // to a multiple of 8 bytes. on_progress(bytes_done) runs after each tensor.
  void write(const std::string& path, const std::function<void(uint64_t)>& on_progress = {}) const;

 private:
  std::vector<Pending> pending_;
  std::map<std::string, size_t, std::less<>> names_;
  std::vector<std::pair<std::string, std::string>> metadata_;
  uint64_t data_bytes_ = 0;
};

// True when `s` is well-formed UTF-8 (no overlongs, surrogates or code points past U+10FFFF).
bool is_valid_utf8(std::string_view s);

}  // namespace whale::formats
