// Test helper: the regex a rendered surface form matches, to find held-out forms in training text.
#pragma once

#include <map>
#include <regex>
#include <string>
#include <utility>
#include <vector>

namespace whale::train::tasks {

// The regex a rendered form matches: placeholders become the shapes their values take.
inline std::regex form_regex(const std::string& text) {
  static const std::map<std::string, std::string> kShapes = {
      {"{a}", "\\d+"}, {"{b}", "\\d+"}, {"{target}", "\\d+"}, {"{numbers}", "\\[[\\d, ]+\\]"},
      {"{list}", "[\\d, and]+"}, {"{list_zh}", "[\\d、]+"}, {"{spaced}", "[\\d ]+"}};
  std::string out;
  for (size_t i = 0; i < text.size();) {
    bool placeholder = false;
    for (const auto& [name, shape] : kShapes) {
      if (text.compare(i, name.size(), name) == 0) {
        out += shape;
        i += name.size();
        placeholder = true;
        break;
      }
    }
    if (placeholder) continue;
    const char c = text[i++];
    if (std::string("\\^$.|?*+()[]{}").find(c) != std::string::npos) out += '\\';
    out += c;
  }
  return std::regex(out);
}

// The runs of digits in a text, with their byte offsets.
inline std::vector<std::pair<std::string, size_t>> numbers_in(const std::string& text) {
  static const std::regex digits("\\d+");
  std::vector<std::pair<std::string, size_t>> out;
  for (std::sregex_iterator it(text.begin(), text.end(), digits), end; it != end; ++it)
    out.emplace_back(it->str(), static_cast<size_t>(it->position()));
  return out;
}

}  // namespace whale::train::tasks
