// Turns outside the tasks: identity, greetings and requests beyond the model's skills, each with a
// brief, honest reply (what the model is, what it can and cannot do), for SFT and for evaluation.
#pragma once

#include <span>
#include <string>
#include <string_view>

namespace whale::train::tasks {

struct SmallTalk {
  const char* family;  // "identity", "greeting", "thanks", "out-of-skill"
  const char* user;
  const char* reply;   // the whole reply: "<think>\n...\n</think>\n" + the answer
  bool held_out;       // evaluation only
};

std::span<const SmallTalk> small_talk();

// A reply to a small-talk turn passes when its thinking ended, its answer holds no \boxed{} (no
// made-up arithmetic) and, for identity questions, it says it is whale's model.
bool small_talk_ok(const SmallTalk& turn, std::string_view response);

}  // namespace whale::train::tasks
