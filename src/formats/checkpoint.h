// A Hugging Face model directory's weights: one model.safetensors, or shards listed by
// model.safetensors.index.json. Reads them as one tensor namespace; writes them sharded like HF.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "core/tensor.h"
#include "formats/safetensors.h"

namespace whale::formats {

inline constexpr const char* kSafetensorsSingleName = "model.safetensors";
inline constexpr const char* kSafetensorsIndexName = "model.safetensors.index.json";

class CheckpointReader {
 public:
  // Like transformers, prefers model.safetensors over an index when both exist. A directory with
  // neither is valid (config-only) and has_weights() is false; shard files without an index are
  // an error. Throws whale::Error naming the directory, file and tensor at fault.
  static CheckpointReader open(const std::string& dir);

  bool has_weights() const { return !shards_.empty(); }
  std::vector<std::string> tensor_names() const;  // sorted
  // The entry in its shard (offset is from that shard's start); nullptr when absent.
  const SafetensorsEntry* find(std::string_view name) const;
  // Zero-copy; throws kNotFound "tensor X not found in DIR".
  core::Tensor view(std::string_view name) const;
  const std::string& dir() const { return dir_; }
  std::vector<std::string> shard_paths() const;

 private:
  std::string dir_;
  std::vector<SafetensorsFile> shards_;
  std::map<std::string, size_t, std::less<>> where_;  // tensor name -> shard index
};

class CheckpointWriter {
 public:
  // Shards hold at most max_shard_bytes of data, except that a larger tensor gets a shard alone.
  explicit CheckpointWriter(std::string dir, uint64_t max_shard_bytes = 5'000'000'000ull);

  void add(std::string name, core::DType dtype, const core::Shape& shape, SafetensorsWriter::Fill fill);
  // Copies `t`'s bytes at write() time: a non-owning view must stay valid until then.
  void add(std::string name, const core::Tensor& t);

  // Creates the directory if needed and writes model.safetensors (one shard) or
  // model-0000i-of-0000n.safetensors + model.safetensors.index.json, each file atomically, tensors
  // in insertion order. Weight files left by an earlier write under other names are removed only
  // after the new ones are in place, so a reader never sees an incomplete set.
  void write(const std::function<void(uint64_t bytes_done, uint64_t bytes_total)>& on_progress = {}) const;

 private:
  using Pending = SafetensorsWriter::Pending;
  std::string dir_;
  uint64_t max_shard_bytes_;
  std::vector<Pending> pending_;
  std::set<std::string, std::less<>> names_;
};

}  // namespace whale::formats
