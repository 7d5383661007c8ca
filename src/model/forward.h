// The forward pass interface shared by every family: a batch of tokens (many per sequence for
// prefill, one per sequence for decode) with explicit positions and cache sequences in, logits
// and final hidden states out. No globals: weights, cache, scratch and threads are all passed in.
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

#include "core/thread_pool.h"
#include "kernels/attention_work.h"
#include "kernels/rope.h"
#include "model/kv_cache.h"
#include "model/moe_gate.h"
#include "model/weights.h"

namespace whale::model {

struct Batch {
  std::vector<int32_t> tokens;     // [T]
  std::vector<int32_t> positions;  // [T] position of each token in its sequence
  std::vector<int32_t> seq_ids;    // [T] cache sequence of each token
  int64_t size() const { return static_cast<int64_t>(tokens.size()); }
  void add(int32_t token, int32_t position, int32_t seq) {
    tokens.push_back(token);
    positions.push_back(position);
    seq_ids.push_back(seq);
  }
};

enum class MlaMode {
  kNaive,     // decompress per-head K and V from the latent: the oracle, and the prefill path
  kAbsorbed,  // fold kv_b_proj into the query and output: attend in the 512-d latent (decode)
  kAuto,      // per sequence, whichever costs less for its chunk (absorbed for decode and short
              // chunks at depth, naive for long prompt chunks): for caches whose rows only feed
              // drafts or a benchmark's context, since a token's bits then depend on its chunk
};

struct ForwardOptions {
  MlaMode mla = MlaMode::kNaive;
  bool want_hidden = false;   // keep the final hidden states (pre-norm), e.g. for MTP drafting
  bool want_routing = false;  // keep the routed experts of every MoE layer (tests, load statistics)
  // Batch rows to compute logits for (the head is a vocab-sized matmul: prefill needs only each
  // sequence's last row). Empty: every row.
  std::vector<int32_t> logit_rows;
  // MLA by batch row (overrides `mla` when not empty): 1 = naive, 0 = absorbed. The engine marks
  // prompt positions naive and generated ones absorbed, so each token's path (and bits) follows
  // its role, not the batch it shares or how its prompt was chunked.
  std::vector<uint8_t> mla_naive_rows;
  // Pipeline stage (engine/pipeline.h): run main-stack layers [layer_begin, layer_end) only
  // (layer_end < 0: to the last). A stage past layer 0 starts from `input_hidden` ([T, D], the
  // previous stage's residual stream) instead of the embeddings; a stage that stops before the last
  // layer leaves its residual stream in ForwardOutput::hidden and computes no logits.
  int64_t layer_begin = 0, layer_end = -1;
  const float* input_hidden = nullptr;
  // Expert parallelism (engine/expert_parallel.h): this process runs routed experts [expert_begin,
  // expert_end) only (expert_end < 0: all) and the shared experts only with shared_experts; then
  // combine_experts turns its partial MoE output [T, D] (n values) into the sum over all processes,
  // in place and identically on every process.
  int64_t expert_begin = 0, expert_end = -1;
  bool shared_experts = true;
  std::function<void(float* partial, int64_t n)> combine_experts;
};

struct ForwardOutput {
  std::vector<float> logits;  // [T, vocab], or [logit_rows.size(), vocab] when rows were chosen
  std::vector<float> hidden;  // [T, hidden] before the final norm, when want_hidden
  // With want_routing, the routed experts chosen per layer of the main stack: routing[layer][t * k
  // + j] (empty for dense layers); otherwise empty.
  std::vector<std::vector<int32_t>> routing;
};

// Reusable buffers: grown on demand, never shrunk, so steady decoding allocates nothing new (the
// forward pass keeps no other buffer from layer to layer or step to step; forward_test counts).
// T = tokens in the batch, D = hidden, H = heads, KV = KV heads, d = head dim, r = kv_lora_rank,
// n = one sequence's cached positions, E = routed experts, k = experts per token.
struct Scratch {
  std::vector<float> x, h, out;        // residual stream, normed input, sublayer output: [T, D]
  std::vector<float> q, attn;          // queries [T, H*d_qk], attention output [T, H*d_v]
  std::vector<float> k, v;             // GQA keys and values: [T, KV*d]
  std::vector<float> kv, lat;          // MLA [c_kv | k_pe]: [T, r + d_rope]; c_q: [T, q_lora_rank]
  std::vector<float> lat_q, lat_o;     // absorbed MLA: [T, H, r + d_rope] queries, [T, H, r] outputs
  std::vector<float> mla_latent;       // naive MLA, one sequence: cached [c_kv | k_pe] as f32 [n, r + d_rope]
  std::vector<float> mla_full;         //   kv_b(c_kv) [n, H*(d_nope + d_v)]
  std::vector<float> mla_heads;        //   per position and head [k_nope | k_pe | v]: [n, H, d_qk + d_v]
  std::vector<const float*> rows;      // one sequence's cache rows: [n] (f32 cache)
  std::vector<const uint16_t*> rows16;  //   the same for a bf16 cache
  std::vector<const float*> head_rows;  // naive MLA: each head's rows in mla_heads: [H, n]
  std::vector<int32_t> seqs;           // the batch's distinct sequences
  std::vector<int32_t> mla_naive_seqs;        // MLA kAuto: the sequences attended naive
  std::vector<int32_t> mla_absorbed_tokens;   //   the batch rows attended absorbed
  std::vector<float> mla_q_rows, mla_o_rows;  //   their queries and outputs, gathered: [Ta, H*d_qk], [Ta, H*d_v]
  kernels::AttentionWork attention;    // one layer's query sets
  kernels::RopeTable rope;             // rebuilt every call (d/2 values) into the same storage
  std::vector<float> router;           // router logits: [T, E]
  Routing gate;                        // one token's routing, and route_token's working space
  std::vector<int32_t> expert_idx;     // chosen experts: [T, k]
  std::vector<float> expert_weight;    // their gate weights: [T, k]
  std::vector<int64_t> expert_start;   // [E + 1]: expert e's pairs are [start[e], start[e+1]) below
  std::vector<int64_t> expert_fill;    // [E] fill cursors while grouping
  std::vector<int64_t> expert_tok;     // token of each (token, expert) pair, grouped by expert: [T*k]
  std::vector<float> expert_gate;      // its gate weight: [T*k]
  std::vector<float> moe_in, moe_out;  // one expert's gathered tokens and its output: [n_e, D]
  std::vector<float> mlp_gate, mlp_up;  // [T, width]
  std::vector<float> mtp_in, mtp_emb;  // MTP: [enorm(emb) | hnorm(h)] [T, 2D], embeddings [T, D]
  std::vector<float> head_in;          // normed final hidden states: [rows, D]

  // Bytes held by all the buffers above (they only grow: an unchanged total means none was
  // reallocated). Lists every member: add new ones there.
  size_t reserved_bytes() const;
};

// Whether naive attention costs less than absorbed for a sequence's chunk of T tokens at positions
// [n - T, n). Both project the chunk's own T latents through kv_b (naive decompresses them,
// absorbed folds kv_b into their queries and outputs); naive also decompresses the n - T cached
// latents before the chunk ((n - T)·r·H·(d_nope + d_v) multiply-adds in the linear kernel and the
// copies around it), then attends per head with keys of d_qk and values of d_v, where absorbed
// attends with keys of r + d_rope and values of r (Σ_t (pos_t + 1) key rows per head either way).
// So naive pays for a prompt's first chunk and long chunks at depth, never for a decode step or a
// short chunk at depth. kDecompressPerAttention: a decompression multiply-add's cost relative to
// one of the attention kernel's, measured on V2-Lite Q4_K_M (docs/kernels.md, "MLA at depth").
bool mla_naive_pays(const formats::ModelArgs& a, int64_t T, int64_t n);

// Runs all layers of the main stack; writes this batch's rows into `cache`.
void forward(const Weights& w, const Batch& batch, KvCache& cache, const ForwardOptions& opt, Scratch& scratch,
             core::ThreadPool& pool, ForwardOutput& out);

// DeepSeek MTP module `k`: from the main model's final hidden states at the batch positions and the
// tokens one step ahead, the draft logits for two steps ahead ([T, vocab], or [logit_rows.size(),
// vocab] when opt.logit_rows chooses rows). `hidden_out`, when given, receives the module's own
// output states before its head norm ([T, hidden]): the `hidden` a chained next draft step takes.
void mtp_forward(const Weights& w, const Batch& next, const std::vector<float>& hidden, int64_t k, KvCache& cache,
                 const ForwardOptions& opt, Scratch& scratch, core::ThreadPool& pool, std::vector<float>& logits,
                 std::vector<float>* hidden_out = nullptr);

}  // namespace whale::model
