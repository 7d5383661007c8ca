// Hugging Face checkpoint directories: index validation on read, greedy sharding and the
// index JSON on write, and the clean-up of weight files an earlier write left behind.
#include "formats/checkpoint.h"

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <regex>
#include <system_error>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/mapped_file.h"

namespace whale::formats {
namespace {

namespace fs = std::filesystem;
using Json = nlohmann::json;

bool is_file(const fs::path& p) {
  std::error_code ec;
  return fs::is_regular_file(p, ec);
}

// Names transformers gives weight files, so a rewrite can tell its own stale files from others.
bool is_hf_weight_file(const std::string& name) {
  static const std::regex kShard(R"(model-\d{5}-of-\d{5}\.safetensors)");
  return name == kSafetensorsSingleName || name == kSafetensorsIndexName || std::regex_match(name, kShard);
}

std::string shard_name(size_t i, size_t n) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "model-%05zu-of-%05zu.safetensors", i + 1, n);
  return buf;
}

// Shard file names must stay inside the checkpoint directory.
void check_shard_name(const std::string& file, const std::string& tensor, const std::string& index) {
  const fs::path p(file);
  bool escapes = file.empty() || p.is_absolute();
  for (const fs::path& part : p) escapes = escapes || part == "..";
  if (escapes) {
    fail(ErrorKind::kFormat, index, ": weight_map maps tensor \"", tensor, "\" to \"", file,
         "\", which is not a file name inside the checkpoint directory");
  }
}

}  // namespace

CheckpointReader CheckpointReader::open(const std::string& dir) {
  std::error_code ec;
  if (!fs::exists(dir, ec)) fail(ErrorKind::kNotFound, "checkpoint directory ", dir, " does not exist");
  if (!fs::is_directory(dir, ec)) fail(ErrorKind::kInvalidArgument, "checkpoint path ", dir, " is not a directory");

  CheckpointReader out;
  out.dir_ = dir;
  const fs::path single = fs::path(dir) / kSafetensorsSingleName;
  const fs::path index = fs::path(dir) / kSafetensorsIndexName;
  if (is_file(single)) {
    out.shards_.push_back(SafetensorsFile::open(single.string()));
    for (const SafetensorsEntry& e : out.shards_[0].entries()) out.where_.emplace(e.name, 0);
    return out;
  }
  if (!is_file(index)) {
    for (const fs::directory_entry& e : fs::directory_iterator(dir, ec)) {
      if (is_hf_weight_file(e.path().filename().string())) {
        fail(ErrorKind::kFormat, "checkpoint directory ", dir, " has shard ", e.path().filename().string(),
             " but no ", kSafetensorsIndexName);
      }
    }
    return out;  // config-only directory
  }

  const std::string index_path = index.string();
  Json root;
  try {
    root = Json::parse(core::read_file(index_path));
  } catch (const Json::exception& e) {
    fail(ErrorKind::kFormat, index_path, ": not valid JSON: ", e.what());
  }
  if (!root.is_object()) fail(ErrorKind::kFormat, index_path, ": must be a JSON object");
  const auto wm = root.find("weight_map");
  if (wm == root.end() || !wm->is_object()) {
    fail(ErrorKind::kFormat, index_path, ": \"weight_map\" must be an object of tensor name -> shard file");
  }
  if (wm->empty()) fail(ErrorKind::kFormat, index_path, ": \"weight_map\" is empty");

  std::map<std::string, std::string> file_of;  // tensor -> shard file name
  std::map<std::string, std::string> first_tensor_in;  // shard file -> one tensor naming it, for errors
  for (const auto& [tensor, file] : wm->items()) {
    if (!file.is_string()) {
      fail(ErrorKind::kFormat, index_path, ": weight_map value for tensor \"", tensor, "\" must be a file name, got ",
           file.dump());
    }
    const std::string& f = file.get_ref<const std::string&>();
    check_shard_name(f, tensor, index_path);
    file_of.emplace(tensor, f);
    first_tensor_in.emplace(f, tensor);
  }
  std::map<std::string, size_t> shard_of_file;
  for (const auto& [f, tensor] : first_tensor_in) {
    const fs::path p = fs::path(dir) / f;
    if (!is_file(p)) {
      fail(ErrorKind::kNotFound, index_path, ": shard ", p.string(), " (holding tensor \"", tensor,
           "\") does not exist");
    }
    shard_of_file.emplace(f, out.shards_.size());
    out.shards_.push_back(SafetensorsFile::open(p.string()));
  }
  for (const auto& [tensor, f] : file_of) {
    const size_t s = shard_of_file.at(f);
    if (!out.shards_[s].find(tensor)) {
      fail(ErrorKind::kFormat, index_path, ": tensor \"", tensor, "\" is listed in shard ", f,
           " but that file does not contain it");
    }
    out.where_.emplace(tensor, s);
  }
  return out;
}

std::vector<std::string> CheckpointReader::tensor_names() const {
  std::vector<std::string> names;
  names.reserve(where_.size());
  for (const auto& [name, shard] : where_) names.push_back(name);
  return names;
}

const SafetensorsEntry* CheckpointReader::find(std::string_view name) const {
  const auto it = where_.find(name);
  return it == where_.end() ? nullptr : shards_[it->second].find(name);
}

core::Tensor CheckpointReader::view(std::string_view name) const {
  const auto it = where_.find(name);
  if (it == where_.end()) fail(ErrorKind::kNotFound, "tensor ", name, " not found in ", dir_);
  return shards_[it->second].view(name);
}

std::vector<std::string> CheckpointReader::shard_paths() const {
  std::vector<std::string> paths;
  for (const SafetensorsFile& s : shards_) paths.push_back(s.path());
  return paths;
}

CheckpointWriter::CheckpointWriter(std::string dir, uint64_t max_shard_bytes)
    : dir_(std::move(dir)), max_shard_bytes_(max_shard_bytes) {
  if (max_shard_bytes_ == 0) fail(ErrorKind::kInvalidArgument, "max_shard_bytes must be positive");
}

void CheckpointWriter::add(std::string name, core::DType dtype, const core::Shape& shape,
                           SafetensorsWriter::Fill fill) {
  if (name.empty() || !is_valid_utf8(name)) {
    fail(ErrorKind::kInvalidArgument, "checkpoint tensor name must be non-empty UTF-8, got \"", name, "\"");
  }
  if (names_.count(name)) fail(ErrorKind::kInvalidArgument, "tensor ", name, " added twice to checkpoint ", dir_);
  safetensors_dtype_name(dtype);  // throws kUnsupported for block types
  if (!fill) fail(ErrorKind::kInvalidArgument, "tensor ", name, " has no fill function");
  const auto nbytes = static_cast<uint64_t>(core::dtype_bytes(dtype, shape.numel()));
  names_.insert(name);
  pending_.push_back(Pending{std::move(name), dtype, shape, nbytes, std::move(fill)});
}

void CheckpointWriter::add(std::string name, const core::Tensor& t) {
  if (!t.is_contiguous()) fail(ErrorKind::kInvalidArgument, "tensor ", name, " is not contiguous");
  if (!t.defined()) fail(ErrorKind::kInvalidArgument, "tensor ", name, " has no data");
  add(std::move(name), t.dtype(), t.shape(), [t](std::span<std::byte> out) {
    if (!out.empty()) std::memcpy(out.data(), t.raw(), out.size());
  });
}

void CheckpointWriter::write(const std::function<void(uint64_t, uint64_t)>& on_progress) const {
  // Greedy in insertion order, like transformers' shard_checkpoint: start a new shard when the
  // next tensor would overflow a non-empty one.
  std::vector<std::vector<const Pending*>> shards(1);
  uint64_t shard_bytes = 0, total = 0;
  for (const Pending& p : pending_) {
    if (!shards.back().empty() && shard_bytes + p.nbytes > max_shard_bytes_) {
      shards.emplace_back();
      shard_bytes = 0;
    }
    shards.back().push_back(&p);
    shard_bytes += p.nbytes;
    total += p.nbytes;
  }

  std::error_code ec;
  fs::create_directories(dir_, ec);
  if (ec) fail(ErrorKind::kIo, "cannot create checkpoint directory ", dir_, ": ", ec.message());

  std::set<std::string> written;
  Json weight_map = Json::object();
  uint64_t done = 0;
  if (on_progress) on_progress(0, total);  // lets a progress bar start its clock before the first tensor
  for (size_t i = 0; i < shards.size(); ++i) {
    const std::string file = shards.size() == 1 ? kSafetensorsSingleName : shard_name(i, shards.size());
    SafetensorsWriter w;
    w.set_metadata("format", "pt");  // transformers refuses safetensors whose format is not pt/tf/flax/mlx
    for (const Pending* p : shards[i]) {
      w.add(p->name, p->dtype, p->shape, p->fill);
      weight_map[p->name] = file;
    }
    const uint64_t base = done;
    w.write((fs::path(dir_) / file).string(), [&](uint64_t d) {
      done = base + d;
      if (on_progress) on_progress(done, total);
    });
    written.insert(file);
  }
  if (shards.size() > 1) {
    Json index = {{"metadata", {{"total_size", total}}}, {"weight_map", weight_map}};
    core::write_file_atomic((fs::path(dir_) / kSafetensorsIndexName).string(), index.dump(2) + "\n");
    written.insert(kSafetensorsIndexName);
  }

  std::vector<fs::path> stale;
  for (const fs::directory_entry& e : fs::directory_iterator(dir_, ec)) {
    const std::string name = e.path().filename().string();
    if (is_hf_weight_file(name) && !written.count(name)) stale.push_back(e.path());
  }
  for (const fs::path& p : stale) {
    std::error_code rm;
    fs::remove(p, rm);
    if (rm) fail(ErrorKind::kIo, "cannot remove stale weight file ", p.string(), ": ", rm.message());
  }
}

}  // namespace whale::formats
