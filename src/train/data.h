// Training data from the tasks: documents (pretraining: the question and its worked solution as
// plain text; SFT: the chat-templated prompt and the assistant's reply, loss only on the reply),
// packed whole into fixed-length rows. Every batch is a pure function of (seed, split, step), so a
// resumed run sees exactly the data an uninterrupted one would.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "tokenizer/tokenizer.h"
#include "train/config.h"
#include "train/dialogue.h"
#include "train/tasks/task.h"

namespace whale::train {

struct Example {
  std::vector<int32_t> tokens;
  std::vector<uint8_t> target;  // target[i]: token i is predicted (from token i - 1) and scored
};

// BOS + "{prompt}\n{solution}" + EOS, every token scored.
Example pretrain_example(const tokenizer::Tokenizer& tok, const tasks::Problem& p);
// The chat template's generation prompt for the user message, then the reply the engine would see
// the model write (solution() without the "<think>\n" the template already opened) + EOS; only
// the reply and EOS are scored.
Example sft_example(const tokenizer::Tokenizer& tok, const tasks::Problem& p);

// BOS + "{question}\n{reply}" + EOS (a pretraining document); the question's tokens (BOS, question,
// newline) are scored only with `score_prompt`.
Example document_example(const tokenizer::Tokenizer& tok, const std::string& question, const std::string& reply,
                         bool score_prompt);
// The chat template's rendering of the dialogue's history and last user turn (earlier reasoning
// dropped as the template does), then the reply as in sft_example; only the reply and EOS are scored.
Example dialogue_example(const tokenizer::Tokenizer& tok, const Dialogue& d);

// A response to train on, loss on the response and EOS only. chat: as sft_example (the template's
// generation prompt; a leading "<think>\n" in `response` is the one the template opened); zero:
// BOS + "{prompt}\n" + response, the way pretraining documents read.
Example response_example(const tokenizer::Tokenizer& tok, const std::string& prompt, const std::string& response, bool chat);

struct Batch {
  int64_t rows = 0, len = 0;
  std::vector<int64_t> inputs;     // [rows, len]
  std::vector<int64_t> targets;    // [rows, len]: inputs shifted left by one
  std::vector<float> mask;         // [rows, len]: 1 where the target is scored
  std::vector<uint8_t> real;       // [rows, len]: 1 where the input is a real token (not padding)
  int64_t examples = 0, truncated = 0;
};

// The batch for `step` of `split` (steps of the validation split are the eval batches 0, 1, ...).
// Examples are packed whole, one after another, into rows of len + 1 tokens; a row's tail is
// padding; an example longer than a row is cut (counted in `truncated`). With `pool` (the
// training split of a distillation: the teacher's kept traces), examples are drawn from it
// uniformly instead of being generated.
Batch make_batch(const TrainConfig& c, const tokenizer::Tokenizer& tok, tasks::Split split, int64_t step,
                 const std::vector<Example>* pool = nullptr);

// Rows [begin, end) of `b` (a data-parallel rank's shard of the global batch); `examples` and
// `truncated` stay the whole batch's.
Batch slice_rows(const Batch& b, int64_t begin, int64_t end);

}  // namespace whale::train
