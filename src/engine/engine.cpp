// The step loop, the per-token post-processing (which only marks a sequence finished) and the reap
// that ends finished sequences once nothing else holds them.
#include "engine/engine.h"

#include <algorithm>
#include <chrono>
#include <cstring>
#include <limits>

#include "core/error.h"
#include "core/log.h"
#include "model/architecture.h"

namespace whale::engine {

const char* finish_reason_name(FinishReason r) {
  switch (r) {
    case FinishReason::kStop: return "stop";
    case FinishReason::kLength: return "length";
    case FinishReason::kCancelled: return "cancelled";
  }
  return "stop";
}

namespace {

int64_t context_of(const model::Weights& w, const EngineConfig& c) {
  return c.max_context > 0 ? c.max_context : std::min<int64_t>(w.args.max_position_embeddings, 4096);
}

int32_t blocks_of(const model::Weights& w, const EngineConfig& c) {
  if (c.kv_blocks > 0) return c.kv_blocks;
  return static_cast<int32_t>(c.max_seqs * ((context_of(w, c) + c.block_size - 1) / c.block_size));
}

}  // namespace

Engine::Engine(const model::Weights& weights, const tokenizer::Tokenizer* tokenizer, EngineConfig config)
    : w_(weights),
      tok_(tokenizer),
      cfg_(config),
      max_context_(context_of(weights, config)),
      blocks_(blocks_of(weights, config), config.block_size),
      scheduler_(blocks_, config.max_seqs, config.max_batch_tokens),
      runner_(weights, blocks_of(weights, config), config.block_size, config.max_seqs, max_context_, config.threads,
              config.kv_type, config.link) {
  if (cfg_.link && cfg_.spec.mode != SpecMode::kOff) {
    fail(ErrorKind::kUnsupported, "speculative decoding (--spec) is not available across MPI ranks (--pp/--ep): use --spec off");
  }
  if (cfg_.link && !cfg_.cache_dir.empty()) {
    fail(ErrorKind::kUnsupported, "the disk cache (--cache-dir) is not available across MPI ranks (--pp/--ep)");
  }
  if (max_context_ > w_.args.max_position_embeddings) {
    fail(ErrorKind::kInvalidArgument, "context ", max_context_, " exceeds the model's ", w_.args.max_position_embeddings);
  }
  if (static_cast<int64_t>(blocks_.n_blocks()) * cfg_.block_size < max_context_) {
    fail(ErrorKind::kInvalidArgument, "the KV cache (", blocks_.n_blocks(), " blocks of ", cfg_.block_size,
         ") cannot hold one full context of ", max_context_);
  }
  if (cfg_.spec.mode != SpecMode::kOff) {
    if (cfg_.spec.k < 1) fail(ErrorKind::kInvalidArgument, "speculative decoding needs k >= 1 drafts, got ", cfg_.spec.k);
    const bool has_mtp = w_.arch && w_.arch->mtp && w_.args.num_nextn_predict_layers > 0;
    if (cfg_.spec.mode == SpecMode::kMtp && !has_mtp) {
      fail(ErrorKind::kInvalidArgument, "--spec mtp: the model has no MTP modules (num_nextn_predict_layers is ",
           w_.args.num_nextn_predict_layers, ")");
    }
    spec_mtp_ = cfg_.spec.mode == SpecMode::kMtp;
    if (cfg_.spec.mode == SpecMode::kDraft) {
      if (!cfg_.spec.draft) fail(ErrorKind::kInvalidArgument, "--spec draft needs a draft model (--draft MODEL)");
      if (cfg_.spec.draft->args.max_position_embeddings < max_context_) {
        fail(ErrorKind::kInvalidArgument, "the draft model's context (", cfg_.spec.draft->args.max_position_embeddings,
             ") is shorter than the engine's ", max_context_);
      }
      draft_ = std::make_unique<DraftModel>(*cfg_.spec.draft, max_context_, cfg_.kv_type);
    }
    runner_.set_want_hidden(spec_mtp_);
    oracle_state_ = cfg_.spec.oracle_seed;
  }
  if (!cfg_.cache_dir.empty()) {
    const PagedKvCache& kv = runner_.cache();
    const KvFormat format{.model_id = model_fingerprint(w_),
                          .kv_dtype = static_cast<uint32_t>(kv.dtype()),
                          .block_size = static_cast<uint32_t>(cfg_.block_size),
                          .layers = static_cast<uint32_t>(model::kv_layers(w_.args)),
                          .row_width = static_cast<uint32_t>(kv.row_width()),
                          .row_bytes = static_cast<uint32_t>(kv.row_width() * model::kv_type_bytes(kv.dtype()))};
    disk_ = std::make_unique<DiskCache>(cfg_.cache_dir, cfg_.cache_bytes, format);
    disk_rows_.resize(static_cast<size_t>(disk_->block_bytes()));
    scheduler_.set_prefix_extender([this](Sequence& seq) { load_from_disk(seq); });
  }
  for (int64_t e : w_.args.eos_token_ids) eos_ids_.push_back(static_cast<int32_t>(e));
  if (tok_) {
    if (auto e = tok_->eos_id()) eos_ids_.push_back(*e);
    close_reasoning_ = tok_->encode("\n</think>\n\n", {.add_special = false});
    for (int32_t id = 0; id < w_.args.vocab_size; ++id) {
      if (!tok_->contains(id)) no_token_ids_.push_back(id);
    }
  }
}

Engine::~Engine() = default;

uint64_t Engine::add(Request request) {
  if (request.prompt.empty()) fail(ErrorKind::kInvalidArgument, "empty prompt");
  const int64_t n = static_cast<int64_t>(request.prompt.size());
  if (n >= max_context_) {
    fail(ErrorKind::kOutOfRange, "the prompt has ", n, " tokens but the context holds ", max_context_,
         " (prompt plus at least one generated token)");
  }
  for (int32_t t : request.prompt) {
    if (t < 0 || t >= w_.args.vocab_size) {
      fail(ErrorKind::kOutOfRange, "prompt token ", t, " is outside the vocabulary [0, ", w_.args.vocab_size, ")");
    }
  }
  if (request.max_tokens <= 0) fail(ErrorKind::kInvalidArgument, "max_tokens must be positive");
  sampler::validate(request.sampling, w_.args.vocab_size);
  const uint64_t id = next_id_++;
  auto seq = std::make_unique<Sequence>(id, std::move(request), tok_);
  scheduler_.add(seq.get());
  stats_.prompt_tokens += n;
  sequences_.emplace(id, std::move(seq));
  return id;
}

void Engine::cancel(uint64_t id) {
  auto it = sequences_.find(id);
  if (it != sequences_.end()) it->second->cancelled = true;
}

bool Engine::step() {
  reap();  // requests cancelled since the last step leave before they take a place in the batch
  const std::vector<Chunk> chunks = scheduler_.schedule();
  if (chunks.empty()) return false;
  // A single sequence's decode step may speculate; `--spec auto` times both kinds and keeps the cheaper.
  const bool single_decode = cfg_.spec.mode != SpecMode::kOff && chunks.size() == 1 && chunks[0].n == 1 &&
                             scheduler_.n_running() == 1 && scheduler_.n_waiting() == 0;
  const bool try_spec = single_decode && (!cfg_.spec.adaptive || chooser_.speculate_next());
  const auto t0 = std::chrono::steady_clock::now();
  const int64_t emitted_before = stats_.spec.emitted;
  if (try_spec && speculate(chunks[0])) {
    ++stats_.steps;
    if (disk_) save_to_disk(*chunks[0].seq);
    if (cfg_.spec.adaptive) {
      chooser_.record(true, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(),
                      stats_.spec.emitted - emitted_before);
    }
    reap();
    return true;
  }
  const bool time_plain = single_decode && cfg_.spec.adaptive && !try_spec;
  const std::vector<Runner::Logits>& rows = runner_.run(chunks);
  ++stats_.steps;
  if (spec_mtp_) keep_hidden(chunks);
  scheduler_.computed(chunks);
  if (disk_) {
    for (const Chunk& c : chunks) save_to_disk(*c.seq);
  }
  sample_rows(rows);
  for (size_t i = 0; i < rows.size(); ++i) post_process(*rows[i].seq, rows[i].row, -1, sampled_[i]);
  if (time_plain) {
    chooser_.record(false, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(), 1);
    ++stats_.spec.plain_steps;
  }
  reap();
  return true;
}

std::vector<Event> Engine::text_events(Sequence& seq, const std::string& text, bool flush, bool& stopped) {
  std::string safe = seq.stop.feed(text, stopped);
  if (flush && !stopped) safe += seq.stop.finish();
  ReasoningSplitter::Piece piece = seq.splitter.feed(safe);
  if (flush || stopped) {
    ReasoningSplitter::Piece rest = seq.splitter.finish();
    piece.reasoning += rest.reasoning;
    piece.answer += rest.answer;
  }
  std::vector<Event> out;
  if (!piece.reasoning.empty()) out.push_back({.kind = Event::Kind::kReasoning, .request_id = seq.id, .text = piece.reasoning});
  if (!piece.answer.empty()) out.push_back({.kind = Event::Kind::kAnswer, .request_id = seq.id, .text = piece.answer});
  return out;
}

void Engine::send(Sequence& seq, std::vector<Event> events) {
  if (!seq.req.on_event || events.empty()) return;
  if (!seq.logprobs.empty()) {
    events.front().logprobs = std::move(seq.logprobs);
    seq.logprobs.clear();
  }
  if (!seq.unsent_ids.empty() && events.front().tokens.empty()) {  // the ids whose text this is
    events.front().tokens = std::move(seq.unsent_ids);
    seq.unsent_ids.clear();
  }
  for (const Event& e : events) seq.req.on_event(e);
}

void Engine::append(Sequence& seq, int32_t token, const sampler::TokenLogprob* record) {
  seq.tokens.push_back(token);
  ++seq.usage.completion_tokens;
  ++stats_.generated_tokens;
  const bool was_reasoning = seq.splitter.in_reasoning();
  bool stopped = false;
  std::vector<Event> events;
  if (seq.detok) {
    seq.unsent_ids.push_back(token);
    events = text_events(seq, seq.detok->push(token), false, stopped);
  } else {
    events.push_back({.kind = Event::Kind::kAnswer, .request_id = seq.id, .tokens = {token}});
  }
  const bool reasoning = was_reasoning || seq.splitter.in_reasoning();
  if (reasoning) ++seq.usage.reasoning_tokens;
  if (seq.req.constraint && !seq.constraint_on && tok_) {
    if (seq.reasoning_closed) {
      watch_trigger(seq, tok_->token_bytes(token));
    } else {
      watch_reasoning_close(seq, token);
    }
  }
  if (seq.req.logprobs >= 0) {
    sampler::TokenLogprob r = record ? *record : sampler::TokenLogprob{.token = token, .forced = true};
    r.reasoning = reasoning;
    seq.logprobs.push_back(std::move(r));
  }
  send(seq, std::move(events));
  if (stopped) seq.end(FinishReason::kStop);
}

// A constraint starts after the reasoning's closing tag, found in the token bytes themselves
// (the splitter's view lags behind the stop-string and UTF-8 hold-backs).
void Engine::watch_reasoning_close(Sequence& seq, int32_t token) {
  const std::string& tag = seq.req.reasoning.close_tag;
  seq.reasoning_tail += tok_->token_bytes(token);
  const size_t at = seq.reasoning_tail.find(tag);
  if (at == std::string::npos) {
    if (seq.reasoning_tail.size() > tag.size()) seq.reasoning_tail.erase(0, seq.reasoning_tail.size() - tag.size());
    return;
  }
  seq.reasoning_closed = true;
  const std::string after = seq.reasoning_tail.substr(at + tag.size());
  seq.reasoning_tail.clear();
  if (!seq.req.constraint_trigger.empty()) {
    watch_trigger(seq, after);
    return;
  }
  seq.constraint_on = true;
  // Bytes after the tag in the same token(s) (a forced "\n</think>\n\n"): the grammar sees them if it
  // allows them; whitespace it does not allow is left out of its view.
  seq.req.constraint->accept_bytes(after);
}

// The constraint's trigger in the answer's token bytes: the grammar starts right after it, and
// sees the bytes after it that came in the same token.
void Engine::watch_trigger(Sequence& seq, std::string_view bytes) {
  const std::string& trigger = seq.req.constraint_trigger;
  if (trigger.empty() || seq.trigger_missed) return;
  std::string& tail = seq.trigger_tail;
  tail += bytes;
  size_t at;
  if (seq.req.trigger_at_start) {
    at = tail.find_first_not_of(" \t\r\n");
    if (at == std::string::npos) return;
    const std::string_view v = std::string_view(tail).substr(at);
    if (!(v.size() < trigger.size() ? trigger.starts_with(v) : v.starts_with(trigger))) {
      seq.trigger_missed = true;
      tail.clear();
      return;
    }
    if (v.size() < trigger.size()) return;
  } else {
    at = tail.find(trigger);
    if (at == std::string::npos) {
      if (tail.size() > trigger.size()) tail.erase(0, tail.size() - trigger.size());
      return;
    }
  }
  seq.constraint_on = true;
  seq.req.constraint->accept_bytes(std::string_view(tail).substr(at + trigger.size()));
  tail.clear();
}

void Engine::sample_rows(const std::vector<Runner::Logits>& rows) {
  sampled_.assign(rows.size(), -1);
  // Rows with logprobs or an active constraint keep to post_process (the engine's buffers, the
  // matcher); the rest are independent: each sequence owns its sampler (penalties, seeded draws).
  const auto parallel = [](const Sequence& s) { return s.req.logprobs < 0 && !s.constraint_on; };
  if (std::count_if(rows.begin(), rows.end(), [&](const Runner::Logits& r) { return parallel(*r.seq); }) < 2) return;
  const int64_t V = w_.args.vocab_size;
  runner_.pool().parallel_for(static_cast<int64_t>(rows.size()), [&](int64_t b, int64_t e, int) {
    thread_local std::vector<float> l;  // grows once per thread
    for (int64_t i = b; i < e; ++i) {
      Sequence& seq = *rows[static_cast<size_t>(i)].seq;
      if (!parallel(seq)) continue;
      l.assign(rows[static_cast<size_t>(i)].row, rows[static_cast<size_t>(i)].row + V);
      for (int32_t id : no_token_ids_) l[static_cast<size_t>(id)] = -std::numeric_limits<float>::infinity();
      sampled_[static_cast<size_t>(i)] = seq.sampler.sample(l.data(), V);
    }
  });
}

// Ends the sequence (sets its finish reason) at EOS, a stop string, max_tokens or a full context;
// the reap at the end of the step does the rest.
void Engine::post_process(Sequence& seq, const float* logits, int32_t draft, int32_t sampled) {
  try {
    post_process_token(seq, logits, draft, sampled);
  } catch (const constrain::GrammarTooAmbiguous& e) {
    // Found only now, on these bytes: the answer so far stands, cut as if by max_tokens.
    core::log_warn("request ", seq.id, ": structured output stopped: ", e.what());
    if (!seq.finished()) seq.end(FinishReason::kLength);
  }
}

void Engine::post_process_token(Sequence& seq, const float* logits, int32_t draft, int32_t sampled) {
  constrain::Matcher* c = seq.constraint_on ? seq.req.constraint.get() : nullptr;
  int32_t token = sampled;
  if (token < 0) {
    std::vector<float>& l = logits_buf_;  // reused: no allocation per token
    l.assign(logits, logits + w_.args.vocab_size);
    // Outputs that name no token (checkpoints round vocab_size up past the tokenizer): never pick them.
    for (int32_t id : no_token_ids_) l[static_cast<size_t>(id)] = -std::numeric_limits<float>::infinity();
    if (seq.req.logprobs >= 0) logprob_buf_.assign(l.begin(), l.end());  // before bias, penalties, temperature
    if (c && !mask_logits(*c, l)) {  // the vocabulary cannot continue the grammar
      seq.end(FinishReason::kLength);
      return;
    }
    token = draft >= 0 ? seq.sampler.sample_speculative(l.data(), w_.args.vocab_size, draft)
                       : seq.sampler.sample(l.data(), w_.args.vocab_size);
  }
  const bool eos = (c || !seq.req.ignore_eos) && std::find(eos_ids_.begin(), eos_ids_.end(), token) != eos_ids_.end();
  if (c) c->accept_token(token);
  if (eos) {
    ++seq.usage.completion_tokens;
    ++stats_.generated_tokens;
    seq.end(FinishReason::kStop);
    return;
  }
  if (seq.req.logprobs >= 0) {
    const sampler::TokenLogprob record =
        sampler::token_logprob(logprob_buf_.data(), w_.args.vocab_size, token, seq.req.logprobs);
    append(seq, token, &record);
  } else {
    append(seq, token);
  }
  if (seq.finished()) return;  // a stop string ended it
  // Thinking budget: past it, force the closing tag; the model continues with the answer.
  if (seq.req.think_budget >= 0 && !seq.budget_closed && seq.splitter.in_reasoning() &&
      seq.usage.reasoning_tokens >= seq.req.think_budget && !close_reasoning_.empty()) {
    seq.budget_closed = true;
    for (int32_t t : close_reasoning_) {
      append(seq, t);
      seq.sampler.accept(t);
      if (seq.finished()) return;
    }
  }
  if (seq.generated() >= seq.req.max_tokens) {
    seq.end(FinishReason::kLength);
  } else if (static_cast<int64_t>(seq.tokens.size()) >= max_context_) {
    seq.end(FinishReason::kLength, /*full=*/true);
  }
}

// Disallowed tokens get -inf; false when no token is allowed.
bool Engine::mask_logits(constrain::Matcher& c, std::vector<float>& l) const {
  const std::vector<uint64_t>& mask = c.mask();
  const size_t n_mask = mask.size() * 64;
  bool any = false;
  for (size_t id = 0; id < l.size(); ++id) {
    if (id < n_mask && ((mask[id >> 6] >> (id & 63)) & 1u)) {
      any = any || l[id] != -std::numeric_limits<float>::infinity();
    } else {
      l[id] = -std::numeric_limits<float>::infinity();
    }
  }
  return any;
}

// The one place a sequence leaves: flush its text, free its blocks and slot, tell the caller, erase.
void Engine::reap() {
  for (auto it = sequences_.begin(); it != sequences_.end();) {
    Sequence& seq = *it->second;
    if (seq.cancelled) seq.end(FinishReason::kCancelled);
    if (!seq.finished()) {
      ++it;
      continue;
    }
    bool stopped = false;
    if (seq.detok && *seq.finish != FinishReason::kStop) {
      send(seq, text_events(seq, seq.detok->flush(), true, stopped));
    } else if (seq.detok) {
      send(seq, text_events(seq, "", true, stopped));
    }
    scheduler_.remove(&seq);  // before the event: a caller reading stats() sees it gone
    stats_.cached_prompt_tokens += seq.usage.cached_prompt_tokens;
    if (seq.req.on_event) {
      seq.req.on_event({.kind = Event::Kind::kFinished, .request_id = seq.id, .finish = *seq.finish,
                        .context_full = seq.context_full, .usage = seq.usage, .logprobs = std::move(seq.logprobs)});
    }
    it = sequences_.erase(it);
  }
}

EngineStats Engine::stats() const {
  EngineStats s = stats_;
  s.running = scheduler_.n_running();
  s.waiting = scheduler_.n_waiting();
  s.kv_blocks_total = blocks_.n_blocks();
  s.kv_blocks_free = blocks_.available();
  if (disk_) s.disk = disk_->stats();
  s.spec_on = cfg_.spec.mode != SpecMode::kOff;
  s.disk_on = disk_ != nullptr;
  return s;
}

// Blocks past the in-memory hit, read from disk while each next one is there and intact. The prefix
// stops one token short of the prompt (the last token is computed for its logits), as in memory.
void Engine::load_from_disk(Sequence& seq) {
  const int64_t bs = cfg_.block_size;
  const int64_t limit = (static_cast<int64_t>(seq.tokens.size()) - 1) / bs;
  int64_t i = seq.n_computed / bs;
  seq.disk_known = i;
  if (i >= limit || seq.n_computed % bs != 0) return;
  const std::span<const int32_t> tokens(seq.tokens);
  uint64_t chain = 0, check = 0;
  for (int64_t j = 0; j < i; ++j) {
    const auto block = tokens.subspan(static_cast<size_t>(j * bs), static_cast<size_t>(bs));
    chain = BlockManager::chain_hash(chain, block);
    check = check_hash(check, block);
  }
  PagedKvCache& kv = runner_.cache();
  kv.bind(seq.slot, &seq.block_table);
  const int64_t layers = disk_->format().layers, row = disk_->format().row_bytes;
  for (; i < limit; ++i) {
    const auto block = tokens.subspan(static_cast<size_t>(i * bs), static_cast<size_t>(bs));
    chain = BlockManager::chain_hash(chain, block);
    check = check_hash(check, block);
    if (!disk_->contains(chain)) break;
    if (!blocks_.grow(seq.block_table, (i + 1) * bs)) break;
    if (!disk_->load(chain, check, block, disk_rows_)) {
      blocks_.shrink(seq.block_table, i * bs);
      break;
    }
    const uint8_t* src = disk_rows_.data();
    for (int64_t l = 0; l < layers; ++l) {
      for (int64_t p = i * bs; p < (i + 1) * bs; ++p, src += row) {
        std::memcpy(kv.row_data(l, seq.slot, p), src, static_cast<size_t>(row));
      }
    }
    seq.n_computed = (i + 1) * bs;
  }
  seq.disk_known = seq.n_computed / bs;
  blocks_.seal(seq.block_table, tokens, seq.n_computed);
}

// Full blocks inside the prompt are written as soon as they are computed, so a long prompt is saved
// even if its request is cancelled or the server stops mid-answer. A block the admission found (in
// memory or on disk) is written only if its file is missing; a block past that is written even over
// an existing file, which may be the damaged or foreign one that stopped the walk.
void Engine::save_to_disk(Sequence& seq) {
  const int64_t bs = cfg_.block_size;
  const int64_t full = std::min(seq.n_computed, seq.n_prompt) / bs;
  if (seq.disk_blocks >= full) return;
  const std::span<const int32_t> tokens(seq.tokens);
  PagedKvCache& kv = runner_.cache();
  kv.bind(seq.slot, &seq.block_table);
  const int64_t layers = disk_->format().layers, row = disk_->format().row_bytes;
  for (int64_t i = seq.disk_blocks; i < full; ++i) {
    const auto block = tokens.subspan(static_cast<size_t>(i * bs), static_cast<size_t>(bs));
    seq.disk_chain = BlockManager::chain_hash(seq.disk_chain, block);
    seq.disk_check = check_hash(seq.disk_check, block);
    seq.disk_blocks = i + 1;
    if (i < seq.disk_known && disk_->contains(seq.disk_chain)) continue;
    uint8_t* dst = disk_rows_.data();
    for (int64_t l = 0; l < layers; ++l) {
      for (int64_t p = i * bs; p < (i + 1) * bs; ++p, dst += row) {
        std::memcpy(dst, kv.row_data(l, seq.slot, p), static_cast<size_t>(row));
      }
    }
    disk_->store(seq.disk_chain, seq.disk_check, block, disk_rows_);
  }
}

}  // namespace whale::engine
