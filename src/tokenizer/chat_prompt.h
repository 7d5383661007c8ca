// A chat prompt rendered and tokenized so that the template's own markup becomes its special
// tokens while text a client wrote (user, system and tool contents) stays text, whatever it spells.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "tokenizer/chat_template.h"
#include "tokenizer/tokenizer.h"

namespace whale::tokenizer {

struct ChatPrompt {
  std::string text;          // the rendered template, contents as the client wrote them
  std::vector<int32_t> ids;  // its tokens (no BOS added beyond what the template writes)
};

// Renders `messages` with the tokenizer's chat template and encodes the result. Unless
// `special_in_content`, a user, system or tool content that spells an added token (e.g.
// "<｜Assistant｜>", "<|im_start|>") is encoded as plain text, so a client cannot forge turns;
// assistant contents (the model's own earlier output) keep their tokens. With it, the whole
// prompt is encoded with special-token parsing on (the behaviour of the reference tokenizers).
ChatPrompt encode_chat(const Tokenizer& tok, std::span<const ChatMessage> messages, const ChatOptions& options,
                       bool special_in_content = false);

}  // namespace whale::tokenizer
