// Sums over the tensor table. Active parameters count every tensor of the main stack except routed
// experts and the input embedding, plus num_experts_per_tok experts of each MoE layer.
#include "model/model_info.h"

#include <cstdio>

#include "formats/tensor_table.h"
#include "model/architecture.h"

namespace whale::model {

ModelSummary summarize(const formats::ModelArgs& args) {
  ModelSummary s;
  int64_t routed_params = 0;  // all routed experts of the main stack
  int64_t embedding_params = 0;
  formats::for_each_tensor(args, [&](const formats::TensorSpec& t) {
    ++s.n_tensors;
    s.bytes_by_dtype[t.dtype] += core::dtype_bytes(t.dtype, t.shape.numel());
    if (t.kind == formats::TensorKind::kScaleInv) return;
    const int64_t n = t.shape.numel();
    if (t.mtp) {
      s.mtp_params += n;
      return;
    }
    s.total_params += n;
    if (t.kind == formats::TensorKind::kExpert) routed_params += n;
    // An embedding lookup reads one row, so, as DeepSeek's reports do, it is not counted active.
    if (t.kind == formats::TensorKind::kEmbedding) embedding_params += n;
  });
  s.active_params = s.total_params - routed_params - embedding_params;
  if (args.n_routed_experts > 0) {
    s.active_params += routed_params / args.n_routed_experts * args.num_experts_per_tok;
  }

  const Architecture& arch = architecture(args);
  const int64_t layers = args.num_hidden_layers;
  constexpr int64_t kBytes = 2;  // bf16/f16 cache entries
  s.kv_values_per_token = layers * arch.kv_row_width(args);
  s.mha_kv_bytes_per_token = layers * arch.mha_row_width(args) * kBytes;
  s.kv_bytes_per_token = s.kv_values_per_token * kBytes;
  return s;
}

std::string format_count(int64_t n) {
  // Three significant digits: 671B, 36.6B, 2.45B, 15.7M.
  const char* suffix[] = {"", "K", "M", "B", "T"};
  double d = static_cast<double>(n);
  int u = 0;
  while (d >= 1000.0 && u < 4) {
    d /= 1000.0;
    ++u;
  }
  char buf[32];
  if (u == 0) {
    std::snprintf(buf, sizeof buf, "%lld", static_cast<long long>(n));
  } else {
    std::snprintf(buf, sizeof buf, "%.*f%s", d < 10 ? 2 : (d < 100 ? 1 : 0), d, suffix[u]);
  }
  return buf;
}

}  // namespace whale::model
