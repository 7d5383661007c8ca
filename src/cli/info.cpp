// `whale info PATH`: what a checkpoint (HF directory, with or without weights) or GGUF file holds:
// architecture, parameters total/active, bytes per dtype, KV-cache cost per token, tensors.
#include <cstdio>
#include <filesystem>
#include <map>
#include <string>

#include "commands.h"
#include "core/error.h"
#include "core/progress.h"
#include "dist_run.h"
#include "formats/checkpoint.h"
#include "formats/gguf.h"
#include "formats/model_args.h"
#include "formats/tensor_table.h"
#include "model/architecture.h"
#include "model/model_info.h"

namespace whale::cli {
namespace {

std::string bytes_str(int64_t b) { return core::Progress::format_bytes(static_cast<double>(b)); }

void print_kv(int64_t values, int64_t bytes, int64_t mha_bytes, const char* what) {
  std::printf("kv cache:   %s per token (%lld values in bf16, the default; --kv-type f32 doubles it; %s); "
              "standard multi-head attention: %s per token (%.1fx)\n",
              bytes_str(bytes).c_str(), static_cast<long long>(values), what, bytes_str(mha_bytes).c_str(),
              bytes > 0 ? static_cast<double>(mha_bytes) / static_cast<double>(bytes) : 0.0);
}

void info_hf(const std::string& dir, bool verbose) {
  const formats::ModelArgs a = formats::load_model_args(dir);
  const model::ModelSummary s = model::summarize(a);
  const model::Architecture& arch = model::architecture(a);
  std::printf("model:      %s (%s)\n", dir.c_str(), a.model_type.c_str());
  std::printf("shape:      %lld layers", static_cast<long long>(a.num_hidden_layers));
  if (a.num_nextn_predict_layers > 0) std::printf(" + %lld MTP", static_cast<long long>(a.num_nextn_predict_layers));
  std::printf(", hidden %lld, %lld heads, vocab %lld, context %lld\n", static_cast<long long>(a.hidden_size),
              static_cast<long long>(a.num_attention_heads), static_cast<long long>(a.vocab_size),
              static_cast<long long>(a.max_position_embeddings));
  if (arch.attention == model::Attention::kMla) {
    std::printf("attention:  MLA, q_lora %lld, kv_lora %lld, head dims nope %lld / rope %lld / v %lld\n",
                static_cast<long long>(a.q_lora_rank), static_cast<long long>(a.kv_lora_rank),
                static_cast<long long>(a.qk_nope_head_dim), static_cast<long long>(a.qk_rope_head_dim),
                static_cast<long long>(a.v_head_dim));
    if (a.n_routed_experts > 0) {
      std::printf("moe:        %lld routed experts, %lld per token, %lld shared; %s scores, %s (%lld groups, top %lld); "
                  "first %lld layers dense\n",
                  static_cast<long long>(a.n_routed_experts), static_cast<long long>(a.num_experts_per_tok),
                  static_cast<long long>(a.n_shared_experts), formats::scoring_func_name(a.scoring_func), formats::topk_method_name(a.topk_method),
                  static_cast<long long>(a.n_group), static_cast<long long>(a.topk_group),
                  static_cast<long long>(a.first_k_dense_replace));
    }
  } else {
    std::printf("attention:  GQA, %lld KV heads, head dim %lld%s\n", static_cast<long long>(a.num_key_value_heads),
                static_cast<long long>(a.head_dim), a.attention_bias ? ", qkv bias" : "");
  }
  if (a.rope_scaling.type != formats::RopeType::kNone) {
    std::printf("rope:       theta %g, %s x%g from %lld\n", a.rope_theta, formats::rope_type_name(a.rope_scaling.type),
                a.rope_scaling.factor, static_cast<long long>(a.rope_scaling.original_max_position_embeddings));
  }
  std::printf("parameters: %s total, %s active per token", model::format_count(s.total_params).c_str(),
              model::format_count(s.active_params).c_str());
  if (s.mtp_params > 0) std::printf(", %s in MTP modules", model::format_count(s.mtp_params).c_str());
  std::printf("\n");
  print_kv(s.kv_values_per_token, s.kv_bytes_per_token, s.mha_kv_bytes_per_token, arch.kv_row_contents);

  const formats::CheckpointReader ckpt = formats::CheckpointReader::open(dir);
  std::map<core::DType, int64_t> bytes = s.bytes_by_dtype;
  const char* source = "as the config describes; no weight files";
  if (ckpt.has_weights()) {
    bytes.clear();
    int64_t missing = 0, misshaped = 0;
    for (const formats::TensorSpec& t : formats::tensor_table(a)) {
      const formats::SafetensorsEntry* e = ckpt.find(t.name);
      if (!e) {
        if (++missing <= 5) std::printf("missing:    %s %s\n", t.name.c_str(), t.shape.str().c_str());
      } else if (!(e->shape == t.shape)) {
        if (++misshaped <= 5) {
          std::printf("misshaped:  %s is %s, config says %s\n", t.name.c_str(), e->shape.str().c_str(), t.shape.str().c_str());
        }
      }
    }
    for (const std::string& name : ckpt.tensor_names()) {
      const formats::SafetensorsEntry* e = ckpt.find(name);
      bytes[e->dtype] += static_cast<int64_t>(e->nbytes);
    }
    std::printf("weights:    %zu tensors in %zu file(s); %lld missing, %lld misshaped\n", ckpt.tensor_names().size(),
                ckpt.shard_paths().size(), static_cast<long long>(missing), static_cast<long long>(misshaped));
    source = "in the files";
  }
  int64_t total = 0;
  std::printf("storage:   ");
  for (const auto& [dt, b] : bytes) {
    std::printf(" %s %s,", std::string(core::dtype_name(dt)).c_str(), bytes_str(b).c_str());
    total += b;
  }
  std::printf(" total %s (%s)\n", bytes_str(total).c_str(), source);
  if (verbose) {
    for (const formats::TensorSpec& t : formats::tensor_table(a)) {
      std::printf("  %-60s %-8s %s\n", t.name.c_str(), std::string(core::dtype_name(t.dtype)).c_str(), t.shape.str().c_str());
    }
  }
}

int64_t meta_int(const formats::GgufFile& g, const std::string& key, int64_t fallback) {
  const formats::GgufValue* v = g.find(key);
  return v ? static_cast<int64_t>(v->as_u64()) : fallback;
}

void info_gguf(const std::string& path, bool verbose) {
  const formats::GgufFile g = formats::GgufFile::open(path);
  const formats::GgufValue* archv = g.find("general.architecture");
  const std::string arch = archv ? archv->as_string() : "unknown";
  std::printf("model:      %s (GGUF v%u, architecture %s)\n", path.c_str(), g.version(), arch.c_str());
  const int64_t layers = meta_int(g, arch + ".block_count", 0);
  const int64_t n_expert = meta_int(g, arch + ".expert_count", 0);
  const int64_t n_used = meta_int(g, arch + ".expert_used_count", 0);
  int64_t total = 0, experts = 0;
  std::map<std::string, int64_t> bytes;
  for (const formats::GgufTensorInfo& t : g.tensors()) {
    const int64_t n = t.shape.numel();
    total += n;
    if (t.name.find("_exps.") != std::string::npos) experts += n;
    bytes[std::string(formats::ggml_type_name(t.ggml_type))] += static_cast<int64_t>(t.nbytes);
  }
  const int64_t active = n_expert > 0 ? total - experts + experts / n_expert * n_used : total;
  std::printf("shape:      %lld layers, hidden %lld, %lld heads, %zu tensors, %zu metadata keys\n",
              static_cast<long long>(layers), static_cast<long long>(meta_int(g, arch + ".embedding_length", 0)),
              static_cast<long long>(meta_int(g, arch + ".attention.head_count", 0)), g.tensors().size(),
              g.metadata().size());
  std::printf("parameters: %s total, %s active per token\n", model::format_count(total).c_str(),
              model::format_count(active).c_str());
  const int64_t heads = meta_int(g, arch + ".attention.head_count", 0);
  const int64_t kv_lora = meta_int(g, arch + ".attention.kv_lora_rank", 0);
  if (kv_lora > 0) {
    const int64_t rope = meta_int(g, arch + ".rope.dimension_count", 0);
    const int64_t kdim = meta_int(g, arch + ".attention.key_length_mla", meta_int(g, arch + ".attention.key_length", 0));
    const int64_t vdim = meta_int(g, arch + ".attention.value_length_mla", meta_int(g, arch + ".attention.value_length", 0));
    print_kv(layers * (kv_lora + rope), layers * (kv_lora + rope) * 2, layers * heads * (kdim + vdim) * 2,
             "MLA latent + rope key");
  } else if (heads > 0) {
    const int64_t kv_heads = meta_int(g, arch + ".attention.head_count_kv", heads);
    const int64_t hd = meta_int(g, arch + ".attention.key_length", meta_int(g, arch + ".embedding_length", 0) / heads);
    print_kv(layers * 2 * kv_heads * hd, layers * 2 * kv_heads * hd * 2, layers * 2 * heads * hd * 2,
             "K and V per KV head");
  }
  int64_t sum = 0;
  std::printf("storage:   ");
  for (const auto& [name, b] : bytes) {
    std::printf(" %s %s,", name.c_str(), bytes_str(b).c_str());
    sum += b;
  }
  std::printf(" total %s\n", bytes_str(sum).c_str());
  if (verbose) {
    for (const auto& [key, value] : g.metadata()) std::printf("  %-50s %s\n", key.c_str(), value.to_display().c_str());
    for (const formats::GgufTensorInfo& t : g.tensors()) {
      std::printf("  %-50s %-6s %s\n", t.name.c_str(), std::string(formats::ggml_type_name(t.ggml_type)).c_str(),
                  t.shape.str().c_str());
    }
  }
}

}  // namespace

void add_info_command(CLI::App& app) {
  struct Opts {
    std::string path;
    bool verbose = false;
    int ranks = 0;           // --ranks N with --pp or --ep: memory per rank (dist_run.h)
    bool pp = false, ep = false;
  };
  auto opts = std::make_shared<Opts>();
  CLI::App* cmd = app.add_subcommand("info", "Describe a checkpoint directory or a .gguf file");
  cmd->add_option("path", opts->path, "Hugging Face model directory or .gguf file")->required();
  cmd->add_flag("-v,--verbose", opts->verbose, "List every tensor (and GGUF metadata)");
  cmd->add_option("--ranks", opts->ranks, "With --pp or --ep: the memory each of N MPI ranks needs")->check(CLI::Range(1, 4096));
  cmd->add_flag("--pp", opts->pp, "--ranks splits the layers (pipeline parallelism)");
  cmd->add_flag("--ep", opts->ep, "--ranks splits the routed experts (expert parallelism)");
  cmd->callback([opts] {
    namespace fs = std::filesystem;
    if (!fs::exists(opts->path)) fail(ErrorKind::kNotFound, opts->path, ": no such file or directory");
    if (fs::is_directory(opts->path)) {
      info_hf(opts->path, opts->verbose);
    } else {
      info_gguf(opts->path, opts->verbose);
    }
    if (opts->ranks > 0 || opts->pp || opts->ep) {
      if (opts->ranks < 1 || opts->pp == opts->ep) fail(ErrorKind::kInvalidArgument, "give --ranks N with one of --pp and --ep");
      print_rank_memory(opts->path, opts->ranks, opts->pp);
    }
  });
}

}  // namespace whale::cli
