// Fills each tensor of the table in parallel bands, converts to its stored dtype (FP8 with
// per-128x128-block scales) and streams it through the checkpoint writer, one tensor in memory.
#include "model/random_checkpoint.h"

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <vector>

#include "core/convert.h"
#include "core/error.h"
#include "core/mapped_file.h"
#include "core/progress.h"
#include "core/quant.h"
#include "core/random.h"
#include "core/thread_pool.h"
#include "formats/checkpoint.h"
#include "formats/gguf_model_args.h"
#include "formats/tensor_table.h"
#include "formats/tiny_tokenizer.h"
#include "formats/tokenizer_files.h"

namespace whale::model {
namespace {

using core::DType;
using formats::TensorKind;
using formats::TensorSpec;

struct Generator {
  Generator(const RandomCheckpointOptions& o, core::ThreadPool& p) : opt(o), pool(p) {}
  const RandomCheckpointOptions& opt;
  core::ThreadPool& pool;
  // FP8 scales computed while quantizing a weight, handed to its *_scale_inv entry.
  std::mutex mu;
  std::map<std::string, std::vector<float>> fp8_scales;

  float std_for(const TensorSpec& s) const {
    return s.kind == TensorKind::kRouterBias ? opt.router_bias_std : opt.weight_std;
  }

  // f32 values for elements [begin, end) of tensor `s`.
  void values(const TensorSpec& s, int64_t begin, int64_t end, float* out) const {
    if (s.kind == TensorKind::kNorm) {
      std::fill(out, out + (end - begin), 1.0f);
      return;
    }
    const uint64_t stream = core::hash_seed(opt.seed, s.name);
    const float std = std_for(s);
    for (int64_t i = begin; i < end; ++i) out[i - begin] = std * core::normal01(stream, static_cast<uint64_t>(i));
  }

  void fill_plain(const TensorSpec& s, std::span<std::byte> bytes) {
    const int64_t n = s.shape.numel();
    constexpr int64_t kChunk = 1 << 16;
    const int64_t chunks = (n + kChunk - 1) / kChunk;
    const int64_t esize = core::dtype_info(s.dtype).block_bytes;
    pool.parallel_for(chunks, [&](int64_t c0, int64_t c1, int) {
      std::vector<float> buf(kChunk);
      for (int64_t c = c0; c < c1; ++c) {
        const int64_t b = c * kChunk, e = std::min(n, b + kChunk);
        values(s, b, e, buf.data());
        core::convert_row(DType::kF32, buf.data(), s.dtype, bytes.data() + b * esize, e - b);
      }
    });
  }

  // Quantizes band after band of block rows, keeping the scales for the sibling tensor.
  void fill_fp8(const TensorSpec& s, std::span<std::byte> bytes, int64_t block) {
    const int64_t rows = s.shape[0], cols = s.shape[1];
    const int64_t bands = (rows + block - 1) / block;
    const int64_t scale_cols = (cols + block - 1) / block;
    std::vector<float> scales(static_cast<size_t>(bands * scale_cols));
    pool.parallel_for(bands, [&](int64_t b0, int64_t b1, int) {
      std::vector<float> buf;
      for (int64_t b = b0; b < b1; ++b) {
        const int64_t r0 = b * block, r1 = std::min(rows, r0 + block);
        buf.resize(static_cast<size_t>((r1 - r0) * cols));
        values(s, r0 * cols, r1 * cols, buf.data());
        core::quantize_fp8_blocks(buf.data(), r1 - r0, cols, reinterpret_cast<uint8_t*>(bytes.data()) + r0 * cols,
                                  scales.data() + b * scale_cols, block);
      }
    });
    std::lock_guard<std::mutex> lock(mu);
    fp8_scales[s.name] = std::move(scales);
  }

  void fill_scale(const TensorSpec& scale, const TensorSpec& weight, std::span<std::byte> bytes, int64_t block) {
    std::vector<float> scales;
    {
      std::lock_guard<std::mutex> lock(mu);
      auto it = fp8_scales.find(weight.name);
      if (it != fp8_scales.end()) {
        scales = std::move(it->second);
        fp8_scales.erase(it);
      }
    }
    if (scales.empty()) {  // written out of order: recompute from the same values
      std::vector<std::byte> tmp(static_cast<size_t>(weight.shape.numel()));
      fill_fp8(weight, tmp, block);
      std::lock_guard<std::mutex> lock(mu);
      scales = std::move(fp8_scales[weight.name]);
      fp8_scales.erase(weight.name);
    }
    if (static_cast<int64_t>(scales.size() * sizeof(float)) != static_cast<int64_t>(bytes.size())) {
      fail(ErrorKind::kInternal, "scale tensor ", scale.name, " size mismatch");
    }
    std::memcpy(bytes.data(), scales.data(), bytes.size());
  }
};

// DeepSeek's special tokens around the preset's BOS/EOS ids, with the trained tiny vocabulary when
// it fits (placeholder: one token per byte).
void write_tokenizer(const formats::ModelArgs& args, const std::string& dir, bool placeholder) {
  const int64_t bos = args.bos_token_id >= 0 ? args.bos_token_id : 0;
  const int64_t eos = args.eos_token_ids.empty() ? 1 : args.eos_token_ids[0];
  const auto specials = formats::deepseek_special_tokens(bos, eos);
  for (const auto& s : specials) {
    if (s.id >= args.vocab_size) {
      fail(ErrorKind::kInvalidArgument, "vocab_size ", args.vocab_size, " is too small for token ", s.content, " (id ", s.id, ")");
    }
  }
  const auto path = [&](const char* f) { return (std::filesystem::path(dir) / f).string(); };
  core::write_file_atomic(path("tokenizer.json"),
                          !placeholder && formats::tiny_tokenizer_fits(specials, args.vocab_size)
                              ? formats::tiny_tokenizer_json(specials, args.vocab_size, formats::gguf_tokenizer_pre(args.family))
                              : formats::byte_level_tokenizer_json(specials));
  int64_t bos_token = bos;
  for (const auto& s : specials) {
    if (s.content == "<｜begin▁of▁sentence｜>") bos_token = s.id;
  }
  core::write_file_atomic(path("tokenizer_config.json"),
                          formats::deepseek_tokenizer_config_json(specials, bos_token, eos, args.max_position_embeddings));
}

// Copies a real tokenizer's files after checking that every token id fits the model's vocabulary;
// returns the args with BOS/EOS ids taken from the tokenizer where it names them.
formats::ModelArgs copy_tokenizer(const formats::ModelArgs& args, const std::string& from, const std::string& dir) {
  namespace fs = std::filesystem;
  const fs::path tj = fs::path(from) / "tokenizer.json";
  const fs::path cj = fs::path(from) / "tokenizer_config.json";
  if (!fs::exists(tj)) fail(ErrorKind::kNotFound, tj.string(), ": no tokenizer.json in the --tokenizer directory");
  const std::string tokenizer_json = core::read_file(tj.string());
  const std::string config_json = fs::exists(cj) ? core::read_file(cj.string()) : std::string();
  // tokenizer_to_gguf checks every id (vocabulary and added tokens) against vocab_size and finds
  // the ids of the config's bos/eos token strings.
  formats::GgufMetadata meta;
  try {
    meta = formats::tokenizer_to_gguf(tokenizer_json, config_json, args.vocab_size, "", from);
  } catch (const Error& e) {
    fail(e.kind(), e.what(), " (the model's vocab_size is ", args.vocab_size, ")");
  }
  formats::ModelArgs out = args;
  for (const auto& [key, value] : meta) {
    if (key == "tokenizer.ggml.bos_token_id") out.bos_token_id = value.as_i64();
    if (key == "tokenizer.ggml.eos_token_id") {
      const int64_t eos = value.as_i64();
      if (std::find(out.eos_token_ids.begin(), out.eos_token_ids.end(), eos) == out.eos_token_ids.end()) {
        out.eos_token_ids = {eos};
      }
    }
  }
  formats::validate_model_args(out, from);
  fs::copy_file(tj, fs::path(dir) / "tokenizer.json", fs::copy_options::overwrite_existing);
  if (fs::exists(cj)) {
    fs::copy_file(cj, fs::path(dir) / "tokenizer_config.json", fs::copy_options::overwrite_existing);
  } else {
    fs::remove(fs::path(dir) / "tokenizer_config.json");
  }
  return out;
}

}  // namespace

float random_weight_value(uint64_t seed, const std::string& name, int64_t index, float std) {
  return std * core::normal01(core::hash_seed(seed, name), static_cast<uint64_t>(index));
}

formats::ModelArgs write_random_checkpoint(const formats::ModelArgs& args, const std::string& dir,
                                           const RandomCheckpointOptions& options) {
  formats::validate_model_args(args, "preset");
  if (args.fp8 && args.fp8_block_rows != args.fp8_block_cols) {
    fail(ErrorKind::kUnsupported, "random FP8 checkpoints use square scale blocks");
  }
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) fail(ErrorKind::kIo, dir, ": cannot create directory: ", ec.message());
  const auto path = [&](const char* f) { return (std::filesystem::path(dir) / f).string(); };

  formats::ModelArgs written = args;
  if (!options.tokenizer_dir.empty()) {
    written = copy_tokenizer(args, options.tokenizer_dir, dir);
  } else {
    write_tokenizer(args, dir, options.placeholder_tokenizer);
  }
  core::write_file_atomic(path("config.json"), formats::model_args_to_json(written));
  core::write_file_atomic(path("generation_config.json"),
                          formats::generation_config_json(written.bos_token_id >= 0 ? written.bos_token_id : 0,
                                                          written.eos_token_ids));
  if (options.config_only) return written;

  core::ThreadPool pool(options.threads);
  auto gen = std::make_shared<Generator>(options, pool);
  const std::vector<TensorSpec> table = formats::tensor_table(args);
  formats::CheckpointWriter writer(dir, options.max_shard_bytes);
  const int64_t block = args.fp8_block_rows;
  for (size_t i = 0; i < table.size(); ++i) {
    const TensorSpec& s = table[i];
    if (s.kind == TensorKind::kScaleInv) {
      const TensorSpec& weight = table.at(i - 1);
      writer.add(s.name, s.dtype, s.shape,
                 [gen, &s, &weight, block](std::span<std::byte> b) { gen->fill_scale(s, weight, b, block); });
    } else if (s.dtype == DType::kF8E4M3) {
      writer.add(s.name, s.dtype, s.shape, [gen, &s, block](std::span<std::byte> b) { gen->fill_fp8(s, b, block); });
    } else {
      writer.add(s.name, s.dtype, s.shape, [gen, &s](std::span<std::byte> b) { gen->fill_plain(s, b); });
    }
  }
  std::unique_ptr<core::Progress> bar;
  writer.write([&](uint64_t done, uint64_t total) {
    if (!options.progress) return;
    if (!bar) bar = std::make_unique<core::Progress>("writing " + dir, static_cast<int64_t>(total), core::ProgressOptions{.bytes = true});
    bar->set(static_cast<int64_t>(done));
  });
  if (bar) bar->finish();
  return written;
}

}  // namespace whale::model
