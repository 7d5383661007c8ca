// What a caller asks the engine for, and what it hears back: a stream of events per request
// (reasoning text, answer text, then one finish event with usage).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "constrain/matcher.h"
#include "engine/reasoning_splitter.h"
#include "sampler/logprobs.h"
#include "sampler/sampler.h"

namespace whale::engine {

enum class FinishReason {
  kStop,       // EOS or a stop string
  kLength,     // max_tokens reached, or the context is full
  kCancelled,  // the caller cancelled
};
const char* finish_reason_name(FinishReason r);  // "stop", "length", "cancelled"

struct Usage {
  int64_t prompt_tokens = 0;
  int64_t cached_prompt_tokens = 0;  // prompt tokens whose KV came from the prefix cache
  int64_t completion_tokens = 0;
  int64_t reasoning_tokens = 0;      // completion tokens inside the reasoning
};

struct Event {
  enum class Kind { kReasoning, kAnswer, kFinished };
  Kind kind;
  uint64_t request_id;
  std::string text;                 // kReasoning / kAnswer
  // The tokens this text came from (kReasoning / kAnswer; with a reasoning and an answer event
  // from one token, the first carries it). Tokens whose text never came out (cut by a stop
  // string) are in no event.
  std::vector<int32_t> tokens;
  FinishReason finish = FinishReason::kStop;  // kFinished
  bool context_full = false;        // kFinished with kLength because the context filled up
  Usage usage;                      // kFinished
  // With Request::logprobs >= 0: the records of the tokens generated since the last event, in
  // order (a token whose text is still held, e.g. by a stop-string prefix, comes with a later one;
  // the finish event carries what is left). The end-of-sequence token has none.
  std::vector<sampler::TokenLogprob> logprobs;
};

struct Request {
  std::vector<int32_t> prompt;
  sampler::SamplingParams sampling;
  int64_t max_tokens = 512;
  std::vector<std::string> stop;  // stop strings (not included in the output)
  bool ignore_eos = false;
  ReasoningSplitter::Options reasoning;  // enabled, and whether the prompt opened <think>
  int64_t think_budget = -1;      // >= 0: close the reasoning after this many tokens
  // Structured output: when set, only tokens the grammar allows are sampled (EOS once it is
  // complete, so a constrained output ends with kStop). It applies to the answer: with reasoning
  // that the prompt opened, it starts after the closing tag.
  std::shared_ptr<constrain::Matcher> constraint;
  // With a trigger, the constraint starts only once the answer's bytes contain it (anywhere, or
  // after leading whitespace only when trigger_at_start); the grammar describes what follows it.
  // tool_choice "auto" with strict tools: free text until the model opens a call, then the call's
  // grammar. An answer that never writes the trigger is never constrained.
  std::string constraint_trigger;
  bool trigger_at_start = false;
  int32_t logprobs = -1;          // >= 0: report each token's log-probability and this many alternatives
  std::function<void(const Event&)> on_event;
};

}  // namespace whale::engine
