// llama-server's native routes (/tokenize, /detokenize, /apply-template, /props, /slots,
// /completion, /infill), registered on the server beside the OpenAI ones.
#pragma once

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "server/server_impl.h"

namespace whale::server {

void add_llama_routes(Server::Impl& s);

// /infill's prompt: BOS, input_extra chunks ("filename\ntext\n") as text, then the family's
// FIM pattern (DeepSeek: <｜fim▁begin｜>prefix<｜fim▁hole｜>suffix<｜fim▁end｜>; Qwen:
// <|fim_prefix|>prefix<|fim_suffix|>suffix<|fim_middle|>) and `middle` (llama-server's `prompt`).
// Client text never matches added tokens. nullopt: the tokenizer has no FIM tokens.
std::optional<std::vector<int32_t>> infill_prompt(const tokenizer::Tokenizer& tok, const std::string& prefix,
                                                  const std::string& suffix, const std::string& middle,
                                                  const std::vector<std::pair<std::string, std::string>>& extra);

}  // namespace whale::server
