// Sequence: one request's state inside the engine: its tokens (prompt, then generated), how many
// have their KV computed, its cache slot and block table, its sampler, the text pipeline
// (detokenizer -> stop strings -> reasoning splitter) that turns tokens into events, and why it
// finished: set wherever it ends, read once when Engine::step reaps it.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "engine/block_manager.h"
#include "engine/reasoning_splitter.h"
#include "engine/request.h"
#include "engine/stop_matcher.h"
#include "sampler/sampler.h"
#include "tokenizer/stream_decoder.h"

namespace whale::engine {

struct Sequence {
  Sequence(uint64_t id_, Request r, const tokenizer::Tokenizer* tok)
      : id(id_),
        req(std::move(r)),
        tokens(req.prompt),
        n_prompt(static_cast<int64_t>(req.prompt.size())),
        sampler(req.sampling),
        stop(req.stop),
        splitter(tok ? req.reasoning : ReasoningSplitter::Options{.enabled = false}) {
    if (tok) detok.emplace(*tok, /*skip_special=*/true);  // BOS/EOS text never reaches the user
    reasoning_closed = !(req.reasoning.enabled && req.reasoning.starts_in_reasoning);
    constraint_on = req.constraint && reasoning_closed && req.constraint_trigger.empty();
    sampler.set_prompt(req.prompt);
    usage.prompt_tokens = n_prompt;
  }

  int64_t generated() const { return static_cast<int64_t>(tokens.size()) - n_prompt; }
  int64_t uncomputed() const { return static_cast<int64_t>(tokens.size()) - n_computed; }
  bool finished() const { return finish.has_value(); }
  // Ends the sequence (the first reason wins); it stays alive until the end of the step.
  void end(FinishReason reason, bool full = false) {
    if (finished()) return;
    finish = reason;
    context_full = full;
  }

  uint64_t id;
  Request req;
  std::vector<int32_t> tokens;
  int64_t n_prompt;
  int64_t n_computed = 0;   // positions [0, n_computed) have KV in the cache
  int32_t slot = -1;        // cache slot while admitted
  BlockTable block_table;   // its KV blocks while admitted (BlockManager fills and frees it)
  std::optional<FinishReason> finish;  // set when it ended; reaped after the step
  bool context_full = false;           // finish is kLength because the context filled up
  bool budget_closed = false;  // the thinking budget already forced the closing tag
  bool cancelled = false;     // asked to stop: ends as kCancelled at the next reap
  bool constraint_on = false;  // req.constraint masks the logits (the reasoning, if any, closed)
  bool reasoning_closed = true;  // no reasoning opened by the prompt, or its closing tag was generated
  std::string reasoning_tail;  // the last bytes generated while waiting for the closing tag
  std::string trigger_tail;    // the answer's last bytes while waiting for req.constraint_trigger
  bool trigger_missed = false;  // trigger_at_start and the answer began otherwise
  sampler::Sampler sampler;
  std::optional<tokenizer::StreamDecoder> detok;
  StopMatcher stop;
  ReasoningSplitter splitter;
  Usage usage;
  std::vector<sampler::TokenLogprob> logprobs;  // records not yet sent with an event
  std::vector<int32_t> unsent_ids;  // generated ids whose text has not come out yet (held back)
  // MTP drafting: the main model's final hidden states of positions [mtp_pos, n_computed) whose
  // MTP-layer cache rows are not written yet (row p needs h_p and token p + 1): [rows, hidden].
  int64_t mtp_pos = 0;
  std::vector<float> mtp_hidden;
  // Disk cache: prompt blocks [0, disk_blocks) are on disk (or were offered to it), and the chain and
  // check hashes of the prefix they cover.
  int64_t disk_blocks = 0;
  int64_t disk_known = 0;  // blocks the admission found in memory or on disk
  uint64_t disk_chain = 0, disk_check = 0;
};

}  // namespace whale::engine
