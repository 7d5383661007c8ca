#include "train/data.h"

#include <algorithm>
#include <span>

#include "core/error.h"
#include "engine/chat_session.h"
#include "train/tasks/rng.h"

namespace whale::train {

namespace {

int32_t required(std::optional<int32_t> id, const char* what) {
  if (!id) fail(ErrorKind::kInvalidArgument, "the tokenizer has no ", what, " token; training data needs one");
  return *id;
}

}  // namespace

Example pretrain_example(const tokenizer::Tokenizer& tok, const tasks::Problem& p) {
  return document_example(tok, p.prompt, tasks::solution(p), /*score_prompt=*/true);
}

Example document_example(const tokenizer::Tokenizer& tok, const std::string& question, const std::string& reply,
                         bool score_prompt) {
  Example e;
  e.tokens.push_back(required(tok.bos_id(), "BOS"));
  const tokenizer::EncodeOptions plain{.add_special = false, .parse_special = false};
  if (score_prompt) {  // one encoding of the whole text, as the documents always were
    const std::vector<int32_t> body = tok.encode(question + "\n" + reply, plain);
    e.tokens.insert(e.tokens.end(), body.begin(), body.end());
    e.target.assign(e.tokens.size(), 1);
  } else {  // the question and its newline apart, so no token straddles the scored boundary
    const std::vector<int32_t> q = tok.encode(question + "\n", plain);
    e.tokens.insert(e.tokens.end(), q.begin(), q.end());
    e.target.assign(e.tokens.size(), 0);
    const std::vector<int32_t> body = tok.encode(reply, plain);
    e.tokens.insert(e.tokens.end(), body.begin(), body.end());
    e.target.resize(e.tokens.size(), 1);
  }
  e.tokens.push_back(required(tok.eos_id(), "EOS"));
  e.target.push_back(1);
  e.target[0] = 0;
  return e;
}

Example dialogue_example(const tokenizer::Tokenizer& tok, const Dialogue& d) {
  std::vector<tokenizer::ChatMessage> messages = d.history;
  messages.push_back({.role = "user", .content = d.user});
  engine::Request r;
  engine::prepare_chat_prompt(tok, messages, /*thinking=*/true, r);
  std::string reply = d.reply;
  static constexpr std::string_view kOpen = "<think>\n";
  if (r.reasoning.starts_in_reasoning && reply.starts_with(kOpen)) reply.erase(0, kOpen.size());
  Example e;
  e.tokens = r.prompt;
  e.target.assign(e.tokens.size(), 0);
  const std::vector<int32_t> body = tok.encode(reply, {.add_special = false, .parse_special = true});
  e.tokens.insert(e.tokens.end(), body.begin(), body.end());
  e.tokens.push_back(required(tok.eos_id(), "EOS"));
  e.target.resize(e.tokens.size(), 1);
  return e;
}

Example response_example(const tokenizer::Tokenizer& tok, const std::string& prompt, const std::string& response, bool chat) {
  Example e;
  std::string reply = response;
  if (chat) {
    engine::Request r;
    const tokenizer::ChatMessage user{.role = "user", .content = prompt};
    engine::prepare_chat_prompt(tok, std::span<const tokenizer::ChatMessage>(&user, 1), /*thinking=*/true, r);
    static constexpr std::string_view kOpen = "<think>\n";
    if (r.reasoning.starts_in_reasoning && reply.starts_with(kOpen)) reply.erase(0, kOpen.size());
    e.tokens = r.prompt;
  } else {
    e.tokens.push_back(required(tok.bos_id(), "BOS"));
    const std::vector<int32_t> q = tok.encode(prompt + "\n", {.add_special = false, .parse_special = false});
    e.tokens.insert(e.tokens.end(), q.begin(), q.end());
  }
  e.target.assign(e.tokens.size(), 0);
  const std::vector<int32_t> body = tok.encode(reply, {.add_special = false, .parse_special = chat});
  e.tokens.insert(e.tokens.end(), body.begin(), body.end());
  e.tokens.push_back(required(tok.eos_id(), "EOS"));
  e.target.resize(e.tokens.size(), 1);
  return e;
}

Example sft_example(const tokenizer::Tokenizer& tok, const tasks::Problem& p) {
  return response_example(tok, p.prompt, tasks::solution(p), /*chat=*/true);
}

Batch make_batch(const TrainConfig& c, const tokenizer::Tokenizer& tok, tasks::Split split, int64_t step,
                 const std::vector<Example>* pool) {
  if (pool && split == tasks::Split::kTrain && pool->empty()) fail(ErrorKind::kInvalidArgument, "no training examples to draw from");
  if (c.tasks.empty()) fail(ErrorKind::kInvalidArgument, "training config has no tasks");
  const int64_t pad = tok.eos_id().value_or(0);
  Batch b;
  b.rows = c.batch_size;
  b.len = c.seq_len;
  const int64_t row_len = c.seq_len + 1;
  b.inputs.assign(b.rows * b.len, pad);
  b.targets.assign(b.rows * b.len, pad);
  b.mask.assign(b.rows * b.len, 0.0f);
  b.real.assign(b.rows * b.len, 0);

  // One stream of problems per (seed, split, step): draw a task by weight, then one problem of it.
  uint64_t state = tasks::mix64(c.seed ^ tasks::mix64(0x9e3779b97f4a7c15ull * (static_cast<uint64_t>(step) + 1) +
                                                      static_cast<uint64_t>(split)));
  auto next = [&]() {
    state = tasks::mix64(state + 0x9e3779b97f4a7c15ull);
    return state;
  };
  std::vector<int32_t> row;
  std::vector<uint8_t> row_target;
  std::optional<Example> carry;
  for (int64_t r = 0; r < b.rows; ++r) {
    row.clear();
    row_target.clear();
    for (;;) {
      if (!carry) {
        const uint64_t pick_bits = next();
        const uint64_t seed = next();
        if (pool && split == tasks::Split::kTrain) {
          carry = (*pool)[pick_bits % pool->size()];
        } else {
          const tasks::Problem p = draw_problem(c.tasks, split, pick_bits, seed);
          // With the default data mix this is p.prompt and solution(p), as before "data" existed.
          const Dialogue d = training_dialogue(c.data, c.tasks, split, p, tasks::mix64(seed + 1), c.kind == RunKind::kSft);
          switch (c.kind) {
            case RunKind::kPretrain: carry = document_example(tok, d.user, d.reply, c.data.score_prompt); break;
            case RunKind::kSft: carry = dialogue_example(tok, d); break;
            case RunKind::kDistill:  // validation: the reference solution in the student's prompt format
              carry = response_example(tok, p.prompt, tasks::solution(p), c.distill.prompt == "chat");
              break;
          }
        }
        ++b.examples;
      }
      const int64_t room = row_len - static_cast<int64_t>(row.size());
      const int64_t n = static_cast<int64_t>(carry->tokens.size());
      if (n <= room) {
        row.insert(row.end(), carry->tokens.begin(), carry->tokens.end());
        row_target.insert(row_target.end(), carry->target.begin(), carry->target.end());
        carry.reset();
        continue;
      }
      if (row.empty()) {  // longer than a whole row: cut it
        row.insert(row.end(), carry->tokens.begin(), carry->tokens.begin() + room);
        row_target.insert(row_target.end(), carry->target.begin(), carry->target.begin() + room);
        carry.reset();
        ++b.truncated;
      }
      break;  // the example waits for the next row
    }
    const int64_t used = static_cast<int64_t>(row.size());
    for (int64_t t = 0; t < b.len; ++t) {
      const int64_t i = r * b.len + t;
      if (t < used) {
        b.inputs[i] = row[t];
        b.real[i] = 1;
      }
      if (t + 1 < used) {
        b.targets[i] = row[t + 1];
        b.mask[i] = row_target[t + 1] ? 1.0f : 0.0f;
      }
    }
  }
  return b;
}

Batch slice_rows(const Batch& b, int64_t begin, int64_t end) {
  Batch s = b;
  s.rows = end - begin;
  const auto from = begin * b.len, to = end * b.len;
  s.inputs.assign(b.inputs.begin() + from, b.inputs.begin() + to);
  s.targets.assign(b.targets.begin() + from, b.targets.begin() + to);
  s.mask.assign(b.mask.begin() + from, b.mask.begin() + to);
  s.real.assign(b.real.begin() + from, b.real.begin() + to);
  return s;
}

}  // namespace whale::train
