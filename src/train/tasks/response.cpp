// Response parsing by plain string scanning (no regex: the rules in response.h, nothing fuzzier),
// and the reward functions.
#include "train/tasks/response.h"

#include <cctype>
#include <vector>

namespace whale::train::tasks {
namespace {

constexpr std::string_view kOpen = "<think>";
constexpr std::string_view kClose = "</think>";
constexpr std::string_view kBox = "\\boxed{";

int count(std::string_view text, std::string_view needle) {
  int n = 0;
  for (size_t at = text.find(needle); at != std::string_view::npos; at = text.find(needle, at + needle.size())) ++n;
  return n;
}

bool blank(std::string_view s) {
  for (unsigned char c : s)
    if (!std::isspace(c)) return false;
  return true;
}

// Contents of the complete, non-blank boxes in `text`, in order. A box nested in a box is part of
// the outer box's content.
std::vector<std::string_view> boxes(std::string_view text) {
  std::vector<std::string_view> out;
  size_t at = text.find(kBox);
  while (at != std::string_view::npos) {
    const size_t begin = at + kBox.size();
    int depth = 1;
    size_t i = begin;
    for (; i < text.size() && depth > 0; ++i) {
      if (text[i] == '{') ++depth;
      if (text[i] == '}') --depth;
    }
    if (depth != 0) break;  // unclosed: neither it nor anything after it is a box
    const std::string_view content = text.substr(begin, i - 1 - begin);
    if (!blank(content)) out.push_back(content);
    at = text.find(kBox, i);
  }
  return out;
}

}  // namespace

ResponseParts parse_response(std::string_view response) {
  ResponseParts parts;
  const int n_open = count(response, kOpen);
  const int n_close = count(response, kClose);
  std::string_view region = response;
  if (n_close > 0) {
    region = response.substr(response.rfind(kClose) + kClose.size());
  } else if (n_open > 0) {
    return parts;  // still thinking: no answer yet
  }
  const std::vector<std::string_view> found = boxes(region);
  if (!found.empty()) {
    parts.answer_present = true;
    parts.answer = std::string(found.back());
  }
  size_t start = 0;
  while (start < response.size() && std::isspace(static_cast<unsigned char>(response[start]))) ++start;
  const std::string_view body = response.substr(start);
  if (n_open == 1 && n_close == 1 && body.substr(0, kOpen.size()) == kOpen && found.size() == 1) {
    const size_t close = body.find(kClose);
    parts.format_ok = close != std::string_view::npos && close > kOpen.size() &&
                      !blank(body.substr(kOpen.size(), close - kOpen.size()));
  }
  return parts;
}

double accuracy_reward(const Verdict& verdict) { return verdict.correct ? 1.0 : 0.0; }

double format_reward(const Verdict& verdict) { return verdict.format_ok ? 1.0 : 0.0; }

double tinyzero_reward(const Verdict& verdict, const TinyZeroScore& score) {
  if (verdict.correct) return score.correct;
  return verdict.answer_present ? score.present : 0.0;
}

double reward(const Verdict& verdict, const RewardWeights& weights) {
  return weights.accuracy * accuracy_reward(verdict) + weights.format * format_reward(verdict) +
         weights.tinyzero * tinyzero_reward(verdict, weights.tinyzero_score);
}

}  // namespace whale::train::tasks
