// Contents that spell added tokens are escaped before rendering: each such piece becomes a
// placeholder (U+E000 index U+E001) that no template operation touches (not whitespace, no
// "</think>"); after rendering the pieces go back in and their byte ranges are encoded with no
// added-token matching, so BPE runs over the content exactly as over plain text.
#include "tokenizer/chat_prompt.h"

#include <algorithm>
#include <nlohmann/json.hpp>

namespace whale::tokenizer {
namespace {

constexpr std::string_view kOpen = "\xEE\x80\x80";   // U+E000
constexpr std::string_view kClose = "\xEE\x80\x81";  // U+E001

bool from_client(const ChatMessage& m) { return m.role == "user" || m.role == "system" || m.role == "tool"; }

// `text` with every added-token spelling (when `added`) and every U+E000 (always, so that every
// placeholder in the rendered text is one of ours) replaced by a placeholder indexing into
// `pieces`; unchanged when there is none.
std::string escape(const Tokenizer& tok, const std::string& text, bool added, std::vector<std::string>& pieces) {
  std::vector<std::pair<size_t, size_t>> spans;
  if (added) spans = tok.added_token_spans(text);
  for (size_t at = text.find(kOpen); at != std::string::npos; at = text.find(kOpen, at + kOpen.size())) {
    spans.emplace_back(at, at + kOpen.size());
  }
  if (spans.empty()) return text;
  std::sort(spans.begin(), spans.end());
  std::string out;
  size_t done = 0;
  for (const auto& [b, e] : spans) {
    if (b < done) continue;  // U+E000 inside an added token's spelling: already covered
    out.append(text, done, b - done);
    out += kOpen;
    out += std::to_string(pieces.size());
    out += kClose;
    pieces.push_back(text.substr(b, e - b));
    done = e;
  }
  out.append(text, done);
  return out;
}

}  // namespace

ChatPrompt encode_chat(const Tokenizer& tok, std::span<const ChatMessage> messages, const ChatOptions& options,
                       bool special_in_content) {
  const ChatTemplate& chat = tok.chat_template();
  ChatPrompt p;
  std::vector<std::string> pieces;
  std::vector<ChatMessage> escaped;
  ChatOptions escaped_options = options;
  if (!special_in_content) {
    escaped.assign(messages.begin(), messages.end());
    for (ChatMessage& m : escaped) {
      m.content = escape(tok, m.content, from_client(m), pieces);
      if (m.reasoning_content) m.reasoning_content = escape(tok, *m.reasoning_content, false, pieces);
    }
    // Tool definitions are client text too (Qwen3 renders them). Re-serialised first, so a spelling
    // hidden behind JSON escapes ("<\u007cim_start\u007c>") is literal before it is looked for.
    if (!options.tools_json.empty()) {
      const std::string literal = nlohmann::ordered_json::parse(options.tools_json).dump(-1, ' ', false);
      escaped_options.tools_json = escape(tok, literal, /*added=*/true, pieces);
    }
  }
  if (pieces.empty()) {
    p.text = chat.render(messages, options);
    p.ids = tok.encode(p.text, {.add_special = false, .parse_special = true});
    return p;
  }
  const std::string rendered = chat.render(escaped, escaped_options);
  std::vector<std::pair<size_t, size_t>> plain;
  p.text.reserve(rendered.size());
  size_t i = 0;
  while (i < rendered.size()) {
    const size_t open = rendered.find(kOpen, i);
    const size_t close = open == std::string::npos ? open : rendered.find(kClose, open);
    if (close == std::string::npos) break;
    p.text.append(rendered, i, open - i);
    const std::string& piece = pieces.at(std::stoul(rendered.substr(open + kOpen.size(), close - open - kOpen.size())));
    plain.emplace_back(p.text.size(), p.text.size() + piece.size());
    p.text += piece;
    i = close + kClose.size();
  }
  p.text.append(rendered, i);
  p.ids = tok.encode(p.text, {.add_special = false, .parse_special = true, .plain = plain});
  return p;
}

}  // namespace whale::tokenizer
