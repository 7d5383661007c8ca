// Splitting a file's text into passages: paragraphs packed to about kPassageBytes, long paragraphs
// cut at sentence ends, never inside a UTF-8 character.
#include "search/passages.h"

#include <algorithm>

namespace whale::search {
namespace {

// Where to end a piece of a long paragraph: after the last sentence end in its second half, else
// the last space, else a UTF-8 boundary.
size_t piece_end(std::string_view s) {
  const size_t limit = utf8_cut(s, kPassageBytes);
  if (limit == s.size()) return limit;
  const std::string_view window = s.substr(0, limit);
  size_t best = 0;
  for (std::string_view end : {". ", "! ", "? ", "\n", "。", "！", "？", "；"}) {
    const size_t at = window.rfind(end);
    if (at != std::string_view::npos && at + end.size() > best) best = at + end.size();
  }
  if (best >= limit / 2) return best;
  const size_t space = window.rfind(' ');
  if (space != std::string_view::npos && space >= limit / 2) return space + 1;
  return limit;
}

}  // namespace

size_t utf8_cut(std::string_view s, size_t limit) {
  if (limit >= s.size()) return s.size();
  while (limit > 0 && (static_cast<unsigned char>(s[limit]) & 0xC0) == 0x80) --limit;
  return limit;
}

std::vector<std::string> split_passages(std::string_view text) {
  std::vector<std::string> pieces;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t end = text.find("\n\n", pos);
    if (end == std::string_view::npos) end = text.size();
    std::string_view para = text.substr(pos, end - pos);
    pos = end + 2;
    while (!para.empty() && (para.front() == '\n' || para.front() == ' ')) para.remove_prefix(1);
    while (!para.empty() && (para.back() == '\n' || para.back() == ' ')) para.remove_suffix(1);
    while (para.size() > kMaxPassageBytes) {
      const size_t cut = std::max<size_t>(piece_end(para), 1);
      std::string_view piece = para.substr(0, cut);
      while (!piece.empty() && (piece.back() == ' ' || piece.back() == '\n')) piece.remove_suffix(1);
      if (!piece.empty()) pieces.emplace_back(piece);
      para.remove_prefix(cut);
      while (!para.empty() && (para.front() == ' ' || para.front() == '\n')) para.remove_prefix(1);
    }
    if (!para.empty()) pieces.emplace_back(para);
  }
  std::vector<std::string> passages;
  std::string current;
  for (std::string& piece : pieces) {
    if (!current.empty() && (current.size() >= kPassageBytes || current.size() + 2 + piece.size() > kMaxPassageBytes)) {
      passages.push_back(std::move(current));
      current.clear();
    }
    if (!current.empty()) current += "\n\n";
    current += piece;
  }
  if (!current.empty()) passages.push_back(std::move(current));
  return passages;
}

}  // namespace whale::search
