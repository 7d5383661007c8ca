// The converter: walks the tensor table once to plan each GGUF tensor (renamed, experts stacked,
// kv_b split, llama's q/k rows permuted) and fills each one row by row at write time, so only one
// output tensor is ever in memory.
#include "model/gguf_convert.h"

#include <cctype>
#include <cstring>
#include <filesystem>
#include <map>
#include <memory>

#include "core/convert.h"
#include "core/error.h"
#include "core/mapped_file.h"
#include "core/progress.h"
#include "core/quant.h"
#include "core/thread_pool.h"
#include "formats/checkpoint.h"
#include "formats/gguf.h"
#include "formats/gguf_model_args.h"
#include "formats/tensor_table.h"
#include "kernels/weight.h"
#include "model/architecture.h"

namespace whale::model {
namespace {

using core::DType;
using core::Shape;
using formats::TensorKind;
using formats::TensorRole;
using kernels::WeightView;

enum class JobKind {
  kCopy,       // one HF tensor, renamed
  kExperts,    // E HF tensors [out, in] stacked into [E, out, in]
  kKB,         // per head W_uk^T from kv_b_proj: [H, kv_lora_rank, qk_nope]
  kVB,         // per head W_uv from kv_b_proj: [H, v_head_dim, kv_lora_rank]
  kPermute,    // llama q/k: HF's half-split rotary rows reordered to llama.cpp's adjacent pairs
  kRopeFreqs,  // llama3 scaling divisors, computed
};

struct Job {
  GgufTensorPlan plan;
  JobKind kind = JobKind::kCopy;
  std::vector<std::string> sources;  // HF names
  int64_t heads = 0;                 // kPermute: heads sharing the rows
};

bool is_plain(DType t) { return t == DType::kF32 || t == DType::kF16 || t == DType::kBF16; }

DType default_type(const formats::ModelArgs& a) {
  return a.fp8 ? DType::kBF16 : formats::dtype_for_torch(a.torch_dtype);
}

formats::GgufArgsOptions args_options(const ConvertOptions& o) {
  formats::GgufArgsOptions meta;
  meta.keep_mtp = o.keep_mtp;
  return meta;
}

// The mix's type of each job's tensor, given the jobs planned in the checkpoint's own dtype.
std::vector<MixTensor> mix_rows(const formats::ModelArgs& a, const ConvertOptions& o, const std::vector<Job>& jobs,
                                const QuantMix& mix) {
  std::vector<MixTensor> rows;
  for (const Job& j : jobs) rows.push_back({j.plan.name, j.plan.shape, std::string(core::dtype_name(j.plan.dtype))});
  const std::vector<std::string> types = plan_quant_mix(mix, mix_model_of(formats::model_args_to_gguf(a, args_options(o))), rows);
  for (size_t i = 0; i < rows.size(); ++i) rows[i].type = types[i];
  return rows;
}

const QuantMix& find_mix(const std::string& name) {
  const QuantMix* m = find_quant_mix(name);
  if (!m) fail(ErrorKind::kInvalidArgument, "unknown quantization mix \"", name, "\"");
  return *m;
}

std::vector<Job> plan_jobs(const formats::ModelArgs& a, const ConvertOptions& o);

// plan_jobs, with each tensor's dtype taken from the mix when one is asked for.
std::vector<Job> plan_all_jobs(const formats::ModelArgs& a, const ConvertOptions& o) {
  if (o.mix.empty()) return plan_jobs(a, o);
  ConvertOptions plain = o;
  plain.type.reset();
  plain.mix.clear();
  std::vector<Job> jobs = plan_jobs(a, plain);
  const std::vector<DType> dtypes = mix_dtypes(mix_rows(a, plain, jobs, find_mix(o.mix)));
  for (size_t i = 0; i < jobs.size(); ++i) jobs[i].plan.dtype = dtypes[i];
  return jobs;
}

std::vector<Job> plan_jobs(const formats::ModelArgs& a, const ConvertOptions& o) {
  const DType target = o.type.value_or(default_type(a));
  if (!is_plain(target) && !core::can_quantize(target)) {
    fail(ErrorKind::kInvalidArgument, "GGUF weight type ", core::dtype_name(target),
         " (known: f32, f16, bf16, q8_0, q4_0, q4_1, q5_0, q5_1, iq4_nl, iq4_xs, q2_k, q3_k, q4_k, q5_k, q6_k)");
  }
  std::vector<Job> jobs;
  const bool llama_rope = architecture(a).gguf_llama_rope;
  if (llama_rope && a.rope_scaling.type == formats::RopeType::kLlama3) {
    jobs.push_back({{"rope_freqs.weight", Shape{a.head_dim / 2}, DType::kF32}, JobKind::kRopeFreqs, {}, 0});
  }
  std::map<std::string, size_t> stacked;  // gguf name -> job index
  const int64_t H = a.num_attention_heads;
  formats::for_each_tensor(a, [&](const formats::TensorSpec& s) {
    if (s.kind == TensorKind::kScaleInv || (s.mtp && !o.keep_mtp)) return;
    // Norms, biases and the router stay f32 like llama.cpp's converter keeps them.
    const bool keep_f32 = s.shape.ndim() == 1 || s.kind == TensorKind::kRouter;
    const DType dtype = keep_f32 ? DType::kF32 : gguf_matrix_dtype(target, s.shape[s.shape.ndim() - 1]);
    if (s.kind == TensorKind::kExpert) {
      auto [it, fresh] = stacked.try_emplace(s.gguf_name, jobs.size());
      if (fresh) {
        jobs.push_back({{s.gguf_name, Shape{a.n_routed_experts, s.shape[0], s.shape[1]}, dtype}, JobKind::kExperts, {}, 0});
      }
      jobs[it->second].sources.push_back(s.name);
      return;
    }
    if (s.role == TensorRole::kMlaKvB) {
      const int64_t r = a.kv_lora_rank, nope = a.qk_nope_head_dim, v = a.v_head_dim;
      jobs.push_back({{split_kv_b_name(s.gguf_name, "attn_k_b"), Shape{H, r, nope}, gguf_matrix_dtype(target, nope)},
                      JobKind::kKB, {s.name}, H});
      jobs.push_back({{split_kv_b_name(s.gguf_name, "attn_v_b"), Shape{H, v, r}, gguf_matrix_dtype(target, r)},
                      JobKind::kVB, {s.name}, H});
      return;
    }
    if (llama_rope) {
      const bool q = s.role == TensorRole::kGqaQ || s.role == TensorRole::kGqaQBias;
      const bool k = s.role == TensorRole::kGqaK || s.role == TensorRole::kGqaKBias;
      if (q || k) {
        jobs.push_back({{s.gguf_name, s.shape, dtype}, JobKind::kPermute, {s.name}, q ? H : a.num_key_value_heads});
        return;
      }
    }
    jobs.push_back({{s.gguf_name, s.shape, dtype}, JobKind::kCopy, {s.name}, 0});
  });
  return jobs;
}

// Fills output tensors from the checkpoint, decoding each source row to f32 and encoding it.
class Filler {
 public:
  Filler(const formats::ModelArgs& a, std::shared_ptr<formats::CheckpointReader> ckpt, int threads)
      : a_(a), ckpt_(std::move(ckpt)), pool_(threads) {}

  void fill(const Job& j, std::span<std::byte> out) {
    const DType dt = j.plan.dtype;
    const int64_t cols = j.plan.shape[j.plan.shape.ndim() - 1];
    const int64_t row_bytes = core::dtype_bytes(dt, cols);
    const auto dst_row = [&](int64_t r) { return out.data() + r * row_bytes; };
    switch (j.kind) {
      case JobKind::kRopeFreqs: {
        const std::vector<float> f = formats::llama3_rope_freqs(a_);
        std::memcpy(out.data(), f.data(), out.size());
        return;
      }
      case JobKind::kCopy:
        rows(source(j.sources[0]), j.plan.shape[0], dt, dst_row, [](int64_t r) { return r; });
        return;
      case JobKind::kExperts: {
        const int64_t per = j.plan.shape[1];
        for (size_t e = 0; e < j.sources.size(); ++e) {
          rows(source(j.sources[e]), per, dt, [&](int64_t r) { return dst_row(static_cast<int64_t>(e) * per + r); },
               [](int64_t r) { return r; });
        }
        return;
      }
      case JobKind::kPermute: {
        // GGUF row h*hd + 2i + k holds HF row h*hd + k*hd/2 + i (convert_hf_to_gguf.py's permute).
        const WeightView src = source(j.sources[0]);
        const int64_t n = src.w.ndim() == 1 ? src.w.dim(0) : src.rows();
        const int64_t hd = n / j.heads, half = hd / 2;
        const auto hf_row = [hd, half](int64_t g) { return g / hd * hd + (g % hd % 2) * half + (g % hd / 2); };
        if (src.w.ndim() == 1) {  // a bias: the same order over elements
          std::vector<float> v(static_cast<size_t>(n));
          kernels::dequantize_weight(src, v.data());
          auto* o = reinterpret_cast<float*>(out.data());
          for (int64_t g = 0; g < n; ++g) o[g] = v[static_cast<size_t>(hf_row(g))];
          return;
        }
        rows(src, n, dt, dst_row, hf_row);
        return;
      }
      case JobKind::kVB: {
        const int64_t nope = a_.qk_nope_head_dim, v = a_.v_head_dim;
        rows(source(j.sources[0]), a_.num_attention_heads * v, dt, dst_row,
             [=](int64_t g) { return g / v * (nope + v) + nope + g % v; });
        return;
      }
      case JobKind::kKB:
        split_k_b(source(j.sources[0]), dt, dst_row);
        return;
    }
  }

 private:
  WeightView source(const std::string& name) const {
    WeightView w;
    w.w = ckpt_->view(name);
    if (w.w.dtype() == DType::kF8E4M3) {
      w.scale_inv = ckpt_->view(name.substr(0, name.size() - 7) + ".weight_scale_inv");
      w.block = a_.fp8_block_rows;
    }
    return w;
  }

  // Output rows g < n: source row src_row(g), re-encoded in dt at dst(g).
  template <class Dst, class SrcRow>
  void rows(const WeightView& src, int64_t n, DType dt, const Dst& dst, const SrcRow& src_row) {
    if (src.w.ndim() == 1) {
      std::vector<float> v(static_cast<size_t>(src.w.numel()));
      kernels::dequantize_weight(src, v.data());
      core::convert_row(DType::kF32, v.data(), dt, dst(0), src.w.numel());
      return;
    }
    const int64_t cols = src.cols();
    pool_.parallel_for(n, [&](int64_t b, int64_t e, int) {
      std::vector<float> row(static_cast<size_t>(cols));
      for (int64_t g = b; g < e; ++g) {
        kernels::dequantize_weight_row(src, src_row(g), row.data());
        core::convert_row(DType::kF32, row.data(), dt, dst(g), cols);
      }
    });
  }

  // attn_k_b[h][c][i] = kv_b[h*(nope+v) + i][c]: each head's first nope rows, transposed.
  template <class Dst>
  void split_k_b(const WeightView& kv_b, DType dt, const Dst& dst) {
    const int64_t r = a_.kv_lora_rank, nope = a_.qk_nope_head_dim, v = a_.v_head_dim;
    pool_.parallel_for(a_.num_attention_heads, [&](int64_t b, int64_t e, int) {
      std::vector<float> w_uk(static_cast<size_t>(nope * r)), row(static_cast<size_t>(nope));
      for (int64_t h = b; h < e; ++h) {
        for (int64_t i = 0; i < nope; ++i) kernels::dequantize_weight_row(kv_b, h * (nope + v) + i, &w_uk[static_cast<size_t>(i * r)]);
        for (int64_t c = 0; c < r; ++c) {
          for (int64_t i = 0; i < nope; ++i) row[static_cast<size_t>(i)] = w_uk[static_cast<size_t>(i * r + c)];
          core::convert_row(DType::kF32, row.data(), dt, dst(h * r + c), nope);
        }
      }
    });
  }

  const formats::ModelArgs& a_;
  std::shared_ptr<formats::CheckpointReader> ckpt_;
  core::ThreadPool pool_;
};

formats::GgufFileType file_type_of(DType t) {
  switch (t) {
    case DType::kF32: return formats::GgufFileType::kAllF32;
    case DType::kF16: return formats::GgufFileType::kMostlyF16;
    case DType::kBF16: return formats::GgufFileType::kMostlyBF16;
    case DType::kQ8_0: return formats::GgufFileType::kMostlyQ8_0;
    case DType::kQ4_0: return formats::GgufFileType::kMostlyQ4_0;
    case DType::kQ4_K: return formats::GgufFileType::kMostlyQ4_K_S;
    case DType::kQ6_K: return formats::GgufFileType::kMostlyQ6_K;
    case DType::kQ2_K: return formats::GgufFileType::kMostlyQ2_K;
    case DType::kQ3_K: return formats::GgufFileType::kMostlyQ3_K_S;
    case DType::kQ5_K: return formats::GgufFileType::kMostlyQ5_K_S;
    case DType::kQ4_1: return formats::GgufFileType::kMostlyQ4_1;
    case DType::kQ5_0: return formats::GgufFileType::kMostlyQ5_0;
    case DType::kQ5_1: return formats::GgufFileType::kMostlyQ5_1;
    case DType::kIQ4_NL: return formats::GgufFileType::kMostlyIQ4_NL;
    case DType::kIQ4_XS: return formats::GgufFileType::kMostlyIQ4_XS;
    default: fail(ErrorKind::kInvalidArgument, "GGUF weight type ", core::dtype_name(t));
  }
}

void write_with_progress(const formats::GgufWriter& w, const std::string& path, uint64_t total, bool show) {
  if (!show) {
    w.write(path);
    return;
  }
  core::ProgressOptions po;
  po.bytes = true;
  core::Progress bar("writing " + std::filesystem::path(path).filename().string(), static_cast<int64_t>(total), po);
  w.write(path, [&](uint64_t done) { bar.set(static_cast<int64_t>(std::min(done, total))); });
  bar.finish();
}

std::string read_if_exists(const std::filesystem::path& p) {
  return std::filesystem::exists(p) ? core::read_file(p.string()) : std::string();
}

// Every tensor the fills will read exists with the shape config.json implies, so no fill reads
// past a tensor (the same checks load_weights makes).
void check_sources(const formats::ModelArgs& a, const formats::CheckpointReader& ckpt, bool keep_mtp) {
  formats::for_each_tensor(a, [&](const formats::TensorSpec& t) {
    if (t.mtp && !keep_mtp) return;
    const formats::SafetensorsEntry* e = ckpt.find(t.name);
    if (!e) {
      if (t.kind == TensorKind::kScaleInv) return;  // needed only when the weight itself is FP8
      fail(ErrorKind::kNotFound, ckpt.dir(), ": tensor ", t.name, " ", t.shape.str(), " is missing");
    }
    if (!(e->shape == t.shape)) {
      fail(ErrorKind::kFormat, ckpt.dir(), ": tensor ", t.name, " has shape ", e->shape.str(), ", expected ",
           t.shape.str(), " from config.json");
    }
    if (!core::dtype_info(e->dtype).is_float || (t.kind == TensorKind::kScaleInv && e->dtype != DType::kF32)) {
      fail(ErrorKind::kFormat, ckpt.dir(), ": tensor ", t.name, " has dtype ", core::dtype_name(e->dtype));
    }
  });
}

}  // namespace

DType gguf_matrix_dtype(DType target, int64_t row_elems) {
  const auto fits = [row_elems](DType t) { return row_elems % core::dtype_info(t).block_elems == 0; };
  if (fits(target)) return target;
  // llama.cpp's fallbacks (llama-quant.cpp): q4_0 for q2_k/q3_k, q5_0 for q4_k, q5_1 for q5_k, q8_0
  // for q6_k, iq4_nl for iq4_xs.
  if ((target == DType::kQ2_K || target == DType::kQ3_K) && fits(DType::kQ4_0)) return DType::kQ4_0;
  if (target == DType::kQ4_K && fits(DType::kQ5_0)) return DType::kQ5_0;
  if (target == DType::kQ5_K && fits(DType::kQ5_1)) return DType::kQ5_1;
  if (target == DType::kQ6_K && fits(DType::kQ8_0)) return DType::kQ8_0;
  if (target == DType::kIQ4_XS && fits(DType::kIQ4_NL)) return DType::kIQ4_NL;
  return DType::kF16;
}

std::vector<GgufTensorPlan> plan_gguf_tensors(const formats::ModelArgs& args, const ConvertOptions& options) {
  std::vector<GgufTensorPlan> out;
  for (Job& j : plan_all_jobs(args, options)) out.push_back(std::move(j.plan));
  return out;
}

void convert_to_gguf(const std::string& hf_dir, const std::string& out_path, const ConvertOptions& options) {
  namespace fs = std::filesystem;
  const formats::ModelArgs args = formats::load_model_args(hf_dir);
  auto ckpt = std::make_shared<formats::CheckpointReader>(formats::CheckpointReader::open(hf_dir));
  if (!ckpt->has_weights()) fail(ErrorKind::kNotFound, hf_dir, ": no weight files (model.safetensors or an index)");
  const DType target = options.type.value_or(default_type(args));
  check_sources(args, *ckpt, options.keep_mtp);
  const std::vector<Job> jobs = plan_all_jobs(args, options);

  formats::GgufArgsOptions meta = args_options(options);
  meta.name = options.name;
  if (meta.name.empty()) {
    const fs::path dir = fs::absolute(hf_dir).lexically_normal();
    meta.name = dir.has_filename() ? dir.filename().string() : dir.parent_path().filename().string();
  }
  if (options.mix.empty()) {
    meta.file_type = file_type_of(target);
    meta.quantized = core::dtype_info(target).is_block_quant;
  } else {
    meta.file_type = static_cast<formats::GgufFileType>(find_mix(options.mix).file_type);
    meta.quantized = true;
  }
  formats::GgufWriter writer;
  for (auto& [k, v] : formats::model_args_to_gguf(args, meta)) writer.set(k, v);
  const fs::path tok = fs::path(hf_dir) / "tokenizer.json";
  if (fs::exists(tok)) {
    const std::string pre = options.tokenizer_pre.empty() ? formats::gguf_tokenizer_pre(args.family) : options.tokenizer_pre;
    for (auto& [k, v] : formats::tokenizer_to_gguf(core::read_file(tok.string()),
                                                   read_if_exists(fs::path(hf_dir) / "tokenizer_config.json"),
                                                   args.vocab_size, pre, tok.string())) {
      writer.set(k, v);
    }
  }

  auto filler = std::make_shared<Filler>(args, ckpt, options.threads);
  uint64_t total = 0;
  for (const Job& j : jobs) {  // the fills run inside write(), while `jobs` is alive
    total += static_cast<uint64_t>(core::dtype_bytes(j.plan.dtype, j.plan.shape.numel()));
    writer.add_tensor(j.plan.name, j.plan.dtype, j.plan.shape,
                      [filler, &j](std::span<std::byte> out) { filler->fill(j, out); });
  }
  write_with_progress(writer, out_path, total, options.progress);
}

void quantize_gguf(const std::string& in_path, const std::string& out_path, const QuantizeOptions& options) {
  const formats::GgufFile in = formats::GgufFile::open(in_path);
  const DType target = options.type;
  std::vector<DType> mix_types;  // per tensor, in file order, when a mix is asked for
  if (!options.mix.empty()) {
    const QuantMix& mix = find_mix(options.mix);
    std::vector<MixTensor> plan = mix_tensors_of(in);
    const std::vector<std::string> types = plan_quant_mix(mix, mix_model_of(in), plan);
    for (size_t i = 0; i < plan.size(); ++i) plan[i].type = types[i];
    mix_types = mix_dtypes(plan);
  }
  const uint32_t file_type =
      options.mix.empty() ? static_cast<uint32_t>(file_type_of(target)) : find_mix(options.mix).file_type;
  formats::GgufWriter writer;
  for (const auto& [k, v] : in.metadata()) writer.set(k, v);
  writer.set("general.file_type", formats::GgufValue::u32(file_type));
  if (!options.mix.empty() || core::dtype_info(target).is_block_quant) {
    writer.set("general.quantization_version", formats::GgufValue::u32(2));
  }
  auto pool = std::make_shared<core::ThreadPool>(options.threads);
  uint64_t total = 0;
  for (size_t ti = 0; ti < in.tensors().size(); ++ti) {
    const formats::GgufTensorInfo& t = in.tensors()[ti];
    if (!t.dtype) {
      fail(ErrorKind::kUnsupported, in_path, ": tensor ", t.name, " has ggml type ", formats::ggml_type_name(t.ggml_type),
           ", which whale cannot decode");
    }
    const core::Tensor view = in.view(t.name);
    const int64_t cols = t.shape[t.shape.ndim() - 1];
    const bool matrix = t.shape.ndim() >= 2 && t.name.find("ffn_gate_inp") == std::string::npos &&
                        core::dtype_info(*t.dtype).is_float && *t.dtype != DType::kF64;
    const DType dt = !mix_types.empty() ? mix_types[ti] : matrix ? gguf_matrix_dtype(target, cols) : *t.dtype;
    total += static_cast<uint64_t>(core::dtype_bytes(dt, t.shape.numel()));
    if (dt == *t.dtype) {
      writer.add_tensor(t.name, view);
      continue;
    }
    WeightView src;
    src.w = view.reshape(Shape{t.shape.numel() / cols, cols});
    writer.add_tensor(t.name, dt, t.shape, [src, dt, cols, pool](std::span<std::byte> out) {
      const int64_t row_bytes = core::dtype_bytes(dt, cols);
      pool->parallel_for(src.rows(), [&](int64_t b, int64_t e, int) {
        std::vector<float> row(static_cast<size_t>(cols));
        for (int64_t r = b; r < e; ++r) {
          kernels::dequantize_weight_row(src, r, row.data());
          core::convert_row(DType::kF32, row.data(), dt, out.data() + r * row_bytes, cols);
        }
      });
    });
  }
  write_with_progress(writer, out_path, total, options.progress);
}

std::vector<MixTensor> plan_quantize_mix(const std::string& in, const QuantMix& mix) {
  if (std::filesystem::is_directory(in)) {
    const formats::ModelArgs args = formats::load_model_args(in);
    const ConvertOptions o;
    return mix_rows(args, o, plan_jobs(args, o), mix);
  }
  const formats::GgufFile file = formats::GgufFile::open(in);
  std::vector<MixTensor> plan = mix_tensors_of(file);
  const std::vector<std::string> types = plan_quant_mix(mix, mix_model_of(file), plan);
  for (size_t i = 0; i < plan.size(); ++i) plan[i].type = types[i];
  return plan;
}

std::vector<DType> mix_dtypes(const std::vector<MixTensor>& plan) {
  std::vector<DType> out;
  std::map<std::string, std::string> missing;  // ggml type -> first tensor needing it
  for (const MixTensor& t : plan) {
    std::string lower = t.type;
    for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    const std::optional<DType> dt = core::dtype_from_name(lower);
    if (dt && (core::can_quantize(*dt) || is_plain(*dt))) {
      out.push_back(*dt);
    } else {
      missing.try_emplace(t.type, t.name);
      out.push_back(DType::kF32);
    }
  }
  if (!missing.empty()) {
    std::string list;
    for (const auto& [type, name] : missing) list += (list.empty() ? "" : ", ") + type + " (" + name + ")";
    fail(ErrorKind::kUnsupported, "whale cannot encode every type this mix needs: missing ", list,
         "; `whale quantize --dry-run` prints the whole plan");
  }
  return out;
}

}  // namespace whale::model
