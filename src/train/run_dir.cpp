#include "train/run_dir.h"

#include <malloc.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/mapped_file.h"
#include "train/torch_io.h"

namespace whale::train {

namespace fs = std::filesystem;

void keep_freed_memory() {
  mallopt(M_MMAP_THRESHOLD, 1 << 30);
  mallopt(M_TRIM_THRESHOLD, 1 << 30);
}

void check_run_dir(const std::string& run_dir, bool resume) {
  const fs::path latest = fs::path(run_dir) / "checkpoints" / "latest";
  if (!resume && (fs::exists(latest) || fs::exists(fs::path(run_dir) / "metrics.jsonl"))) {
    fail(ErrorKind::kInvalidArgument, "run directory ", run_dir,
         " already holds a run; pass --resume to continue it or choose another directory");
  }
  if (resume && !fs::exists(latest)) fail(ErrorKind::kNotFound, "--resume: ", run_dir, " has no checkpoint (", latest.string(), ")");
}

std::string latest_checkpoint(const std::string& run_dir) {
  const fs::path dir = fs::path(run_dir) / "checkpoints";
  if (!fs::exists(dir / "latest")) return "";
  std::string name = core::read_file((dir / "latest").string());
  while (!name.empty() && (name.back() == '\n' || name.back() == '\r')) name.pop_back();
  if (name.empty() || !fs::is_directory(dir / name)) {
    fail(ErrorKind::kFormat, (dir / "latest").string(), " names no checkpoint directory (\"", name, "\")");
  }
  return (dir / name).string();
}

void write_checkpoint(const std::string& run_dir, int64_t step, const std::function<void(const fs::path&)>& fill) {
  const fs::path dir = fs::path(run_dir) / "checkpoints";
  const std::string name = "step-" + std::to_string(step);
  const fs::path tmp = dir / (name + ".tmp");
  fs::remove_all(tmp);
  fs::create_directories(tmp);
  try {  // a failed write (a full disk) leaves the previous checkpoint and no half-written folder
    fill(tmp);
  } catch (...) {
    std::error_code ec;
    fs::remove_all(tmp, ec);
    throw;
  }
  fs::remove_all(dir / name);
  fs::rename(tmp, dir / name);
  // The switch to the new checkpoint is the atomic replacement of `latest`; older ones go after.
  core::write_file_atomic((dir / "latest").string(), name + "\n");
  for (const auto& e : fs::directory_iterator(dir)) {
    if (e.is_directory() && e.path().filename().string() != name) fs::remove_all(e.path());
  }
}

void trim_metrics(const fs::path& metrics, int64_t step) {
  std::ifstream in(metrics);
  std::string line, kept;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    try {
      if (nlohmann::json::parse(line).at("step").get<int64_t>() <= step) kept += line + "\n";
    } catch (const nlohmann::json::exception&) {
      break;  // a line cut by the kill
    }
  }
  core::write_file_atomic(metrics.string(), kept);
}

void copy_tokenizer_files(const std::string& from, const fs::path& to) {
  for (const char* f : {"tokenizer.json", "tokenizer_config.json", "generation_config.json"}) {
    const fs::path src = fs::path(from) / f;
    if (fs::exists(src)) fs::copy_file(src, to / f, fs::copy_options::overwrite_existing);
  }
}

void write_final_model(const std::string& run_dir, const torch::nn::Module& module, formats::ModelArgs args,
                       const std::string& dtype, const std::string& tokenizer_dir) {
  const fs::path final_dir = fs::path(run_dir) / "model";
  const fs::path tmp = fs::path(run_dir) / "model.tmp";
  fs::remove_all(tmp);
  fs::create_directories(tmp);
  args.torch_dtype = dtype;
  try {
    save_state(module, args, tmp.string());
    copy_tokenizer_files(tokenizer_dir, tmp);
  } catch (...) {
    std::error_code ec;
    fs::remove_all(tmp, ec);
    throw;
  }
  fs::remove_all(final_dir);
  fs::rename(tmp, final_dir);
}

}  // namespace whale::train
