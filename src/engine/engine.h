// Engine: requests in, streamed events out. step() = schedule, run the model on one batch,
// post-process each sequence that got logits (sample, detokenize, split reasoning, mark it finished),
// reap the finished ones. Not thread-safe: one thread drives it (the server wraps it in a loop with
// a request queue).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>

#include "engine/block_manager.h"
#include "engine/disk_cache.h"
#include "engine/draft_model.h"
#include "engine/request.h"
#include "engine/runner.h"
#include "engine/scheduler.h"
#include "engine/sequence.h"
#include "engine/spec_chooser.h"
#include "engine/speculative.h"
#include "model/weights.h"
#include "tokenizer/tokenizer.h"

namespace whale::engine {

struct EngineConfig {
  int32_t max_seqs = 8;            // sequences decoding together
  int64_t max_batch_tokens = 256;  // tokens per step (prefill chunks + decodes)
  int32_t block_size = 16;         // positions per KV block
  int64_t max_context = 0;         // per sequence; 0: min(max_position_embeddings, 4096)
  int32_t kv_blocks = 0;           // 0: enough for max_seqs full contexts
  int threads = 0;
  core::DType kv_type = core::DType::kBF16;  // KV cache rows: bf16 or f32 (model::KvCache)
  SpecConfig spec;  // speculative decoding (speculative.h): off unless asked
  // On-disk prefix cache (disk_cache.h): full prompt blocks are saved here as they are computed and
  // read back by later requests (also after a restart). Empty: off.
  std::string cache_dir;
  int64_t cache_bytes = int64_t{10} << 30;
  // Rank 0 of a multi-process run (`whale serve --pp|--ep`): every step also runs on the other
  // ranks (rank_link.h). Speculative decoding and the disk cache are not available then.
  RankLink* link = nullptr;
};

struct EngineStats {
  int64_t running = 0, waiting = 0;
  int64_t prompt_tokens = 0, cached_prompt_tokens = 0, generated_tokens = 0;
  int64_t steps = 0;
  int64_t kv_blocks_total = 0, kv_blocks_free = 0;  // free includes cached blocks no sequence holds
  SpecStats spec;
  DiskCacheStats disk;  // zeros without a cache_dir
  bool spec_on = false, disk_on = false;  // speculative decoding asked for; a disk cache open
};

class Engine {
 public:
  // `tokenizer` may be null: then events carry token ids only (no text, stop strings, reasoning).
  Engine(const model::Weights& weights, const tokenizer::Tokenizer* tokenizer, EngineConfig config);
  ~Engine();

  // Queues a request; throws whale::Error for a prompt that does not fit the context or bad
  // sampling parameters. Returns its id.
  uint64_t add(Request request);
  // Stops a request at the next step; its finish event says kCancelled. Unknown ids are ignored.
  void cancel(uint64_t id);
  // One step; false when there was nothing to do.
  bool step();
  bool idle() const { return sequences_.empty(); }
  void run_until_idle() {
    while (step()) {
    }
  }

  int64_t max_context() const { return max_context_; }
  EngineStats stats() const;
  const model::Weights& weights() const { return w_; }

 private:
  // `draft` >= 0: row of a verify step, sampled with the speculative rule against that draft.
  // `sampled` >= 0: the token sample_rows already drew from `logits` for this sequence.
  void post_process(Sequence& seq, const float* logits, int32_t draft = -1, int32_t sampled = -1);
  void post_process_token(Sequence& seq, const float* logits, int32_t draft, int32_t sampled);
  // Draws the tokens of a step's rows across the pool (sampled_[i] for row i, -1 where
  // post_process must draw itself): with many streams, sampling a 150k vocabulary is a serial
  // share of the step otherwise. A token depends only on its sequence's sampler and logits row.
  void sample_rows(const std::vector<Runner::Logits>& rows);
  // Speculative decoding (speculative.cpp): one verify step for the step's only chunk, a decode;
  // false (nothing done) when it does not apply and the step runs plainly.
  bool speculate(const Chunk& chunk);
  std::vector<int32_t> draft_mtp(Sequence& seq, int32_t k);
  void keep_hidden(const std::vector<Chunk>& chunks);
  // Disk cache: extends an admitted sequence's in-memory prefix hit with blocks read from disk, and
  // saves the full prompt blocks its chunks computed.
  void load_from_disk(Sequence& seq);
  void save_to_disk(Sequence& seq);
  void append(Sequence& seq, int32_t token, const sampler::TokenLogprob* record = nullptr);
  void watch_reasoning_close(Sequence& seq, int32_t token);
  void watch_trigger(Sequence& seq, std::string_view bytes);
  bool mask_logits(constrain::Matcher& c, std::vector<float>& l) const;
  void reap();  // the one place a sequence leaves: finished (or cancelled) ones end here
  // Text through the stop strings and the reasoning splitter: the events it makes, not yet sent.
  std::vector<Event> text_events(Sequence& seq, const std::string& text, bool flush, bool& stopped);
  // Sends events, the pending logprob records riding on the first (kept for later if none).
  void send(Sequence& seq, std::vector<Event> events);

  const model::Weights& w_;
  const tokenizer::Tokenizer* tok_;
  EngineConfig cfg_;
  int64_t max_context_;
  BlockManager blocks_;
  Scheduler scheduler_;
  Runner runner_;
  std::vector<float> logits_buf_;
  std::vector<float> logprob_buf_;  // the raw logits of a request that asked for logprobs
  std::vector<int32_t> sampled_;    // sample_rows' tokens, one per row of the step
  std::map<uint64_t, std::unique_ptr<Sequence>> sequences_;
  std::vector<int32_t> eos_ids_;
  std::vector<int32_t> close_reasoning_;  // tokens of "\n</think>\n\n" for the thinking budget
  std::vector<int32_t> no_token_ids_;     // model outputs that name no token (padding rows, vocab gaps)
  uint64_t next_id_ = 1;
  EngineStats stats_;
  bool spec_mtp_ = false;  // the MTP modules draft (kMtp)
  SpecChooser chooser_;    // SpecConfig::adaptive: speculate or not, by measured cost
  std::unique_ptr<DraftModel> draft_;  // kDraft
  std::vector<float> mtp_chain_, mtp_out_;  // one chained draft step's input and output states
  std::vector<int32_t> drafts_;
  uint64_t oracle_state_ = 0;
  std::unique_ptr<DiskCache> disk_;
  std::vector<uint8_t> disk_rows_;  // one block's rows, [layers][block_size][row bytes]
};

}  // namespace whale::engine
