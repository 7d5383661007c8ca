// Encode and decode. Encode follows the reference pipeline: split out added tokens, then per
// remaining section normalize, pre-tokenize and run BPE; finally the post-processor's specials.
#include "tokenizer/tokenizer.h"

#include "core/error.h"
#include "formats/tokenizer_files.h"
#include "tokenizer/tokenizer_impl.h"
#include "tokenizer/utf8.h"

namespace whale::tokenizer {
namespace {

// \w for single_word added tokens: a letter, digit or underscore ends a word.
bool is_word_char(std::string_view s, size_t i) {
  char32_t cp;
  if (utf8_decode(s, i, &cp) == 0) return false;
  return cp == '_' || (cp < 0x80 ? std::isalnum(static_cast<int>(cp)) != 0 : true);
}

bool word_char_before(std::string_view s, size_t i) {
  if (i == 0) return false;
  size_t k = i - 1;
  while (k > 0 && (static_cast<unsigned char>(s[k]) & 0xC0) == 0x80) --k;
  return is_word_char(s, k);
}

}  // namespace

const std::vector<std::string>& byte_to_text() {
  static const std::vector<std::string> table = [] {
    std::vector<std::string> t(256);
    const std::u32string alphabet = formats::byte_level_alphabet();
    for (int b = 0; b < 256; ++b) utf8_append(t[static_cast<size_t>(b)], alphabet[static_cast<size_t>(b)]);
    return t;
  }();
  return table;
}

bool text_to_bytes(std::string_view text, std::string* bytes) {
  static const std::vector<int> inverse = [] {
    std::vector<int> inv(512, -1);
    const std::u32string alphabet = formats::byte_level_alphabet();
    for (int b = 0; b < 256; ++b) inv[alphabet[static_cast<size_t>(b)]] = b;
    return inv;
  }();
  bytes->clear();
  for (size_t i = 0; i < text.size();) {
    char32_t cp;
    const size_t n = utf8_decode(text, i, &cp);
    if (n == 0 || cp >= inverse.size() || inverse[cp] < 0) return false;
    bytes->push_back(static_cast<char>(inverse[cp]));
    i += n;
  }
  return true;
}

std::string bytes_to_text(std::string_view bytes) {
  std::string out;
  for (unsigned char b : bytes) out += byte_to_text()[b];
  return out;
}

void AddedTokenMatcher::build(const std::vector<AddedToken>& tokens) {
  nodes_.assign(1, Node{});
  for (size_t t = 0; t < tokens.size(); ++t) {
    const std::string& s = tokens[t].content;
    if (s.empty()) continue;
    first_[static_cast<unsigned char>(s[0])] = true;
    int node = 0;
    for (unsigned char b : s) {
      int next = child(node, b);
      if (next < 0) {
        next = static_cast<int>(nodes_.size());
        nodes_[static_cast<size_t>(node)].children.emplace_back(b, next);
        nodes_.emplace_back();
      }
      node = next;
    }
    nodes_[static_cast<size_t>(node)].token = static_cast<int>(t);
  }
}

void Tokenizer::Impl::encode_text(std::string_view text, std::vector<int32_t>& out) const {
  if (text.empty()) return;
  std::string normalized;
  if (normalizer) {
    normalized = normalizer->apply(text);
    text = normalized;
  }
  Pieces pieces;
  pieces.buf.assign(text);
  pieces.spans.emplace_back(0, static_cast<uint32_t>(text.size()));
  if (pre_tokenizer) pre_tokenizer->apply(pieces);
  for (const auto& [b, e] : pieces.spans) {
    model->encode(std::string_view(pieces.buf).substr(b, e - b), out);
  }
}

Tokenizer::Tokenizer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Tokenizer::Tokenizer(Tokenizer&&) noexcept = default;
Tokenizer& Tokenizer::operator=(Tokenizer&&) noexcept = default;
Tokenizer::~Tokenizer() = default;

std::vector<int32_t> Tokenizer::encode(std::string_view text, const EncodeOptions& options) const {
  const Impl& m = *impl_;
  const size_t bad = utf8_invalid_offset(text);
  if (bad != text.size()) fail(ErrorKind::kInvalidArgument, "text to encode is not valid UTF-8 at byte ", bad);
  std::vector<int32_t> out;
  out.reserve(text.size() / 3 + 4);
  if (options.add_special) out.insert(out.end(), m.prefix_ids.begin(), m.prefix_ids.end());

  // Sections between added tokens; lstrip/rstrip trim the neighbouring text (JS whitespace).
  const auto allowed = [&](int t) {
    const AddedToken& a = m.added[static_cast<size_t>(t)];
    return options.parse_special || !a.special;
  };
  size_t start = 0, i = 0, plain_at = 0;
  bool strip_next = false;
  while (i < text.size()) {
    const auto b = static_cast<unsigned char>(text[i]);
    int t = m.matcher.may_start(b) ? m.matcher.match(text, i, allowed) : -1;
    if (t >= 0) {
      const AddedToken& a = m.added[static_cast<size_t>(t)];
      if (a.single_word && (word_char_before(text, i) || is_word_char(text, i + a.content.size()))) t = -1;
    }
    if (t >= 0 && !options.plain.empty()) {  // no match may overlap a plain range
      while (plain_at < options.plain.size() && options.plain[plain_at].second <= i) ++plain_at;
      if (plain_at < options.plain.size() && options.plain[plain_at].first < i + m.added[static_cast<size_t>(t)].content.size()) {
        t = -1;
      }
    }
    if (t < 0) {
      ++i;
      continue;
    }
    const AddedToken& a = m.added[static_cast<size_t>(t)];
    std::string_view before = text.substr(start, i - start);
    if (strip_next) before = js_trim(before, true, false);
    if (a.lstrip) before = js_trim(before, false, true);
    m.encode_text(before, out);
    out.push_back(a.id);
    strip_next = a.rstrip;
    i += a.content.size();
    start = i;
  }
  std::string_view rest = text.substr(start);
  if (strip_next) rest = js_trim(rest, true, false);
  m.encode_text(rest, out);

  if (options.add_special) out.insert(out.end(), m.suffix_ids.begin(), m.suffix_ids.end());
  return out;
}

std::vector<std::pair<size_t, size_t>> Tokenizer::added_token_spans(std::string_view text) const {
  const Impl& m = *impl_;
  std::vector<std::pair<size_t, size_t>> out;
  const auto any = [](int) { return true; };
  for (size_t i = 0; i < text.size();) {
    const int t = m.matcher.may_start(static_cast<unsigned char>(text[i])) ? m.matcher.match(text, i, any) : -1;
    if (t < 0) {
      ++i;
      continue;
    }
    const size_t n = m.added[static_cast<size_t>(t)].content.size();
    out.emplace_back(i, i + n);
    i += n;
  }
  return out;
}

const std::string& Tokenizer::token_bytes(int32_t id) const {
  if (id < 0 || static_cast<size_t>(id) >= impl_->id_bytes.size() || !impl_->id_present[static_cast<size_t>(id)]) {
    fail(ErrorKind::kInvalidArgument, "token id ", id, " is not in the vocabulary of ", impl_->context);
  }
  return impl_->id_bytes[static_cast<size_t>(id)];
}

const std::string& Tokenizer::token_text(int32_t id) const {
  token_bytes(id);
  return impl_->id_text[static_cast<size_t>(id)];
}

std::string Tokenizer::decode_bytes(std::span<const int32_t> ids, bool skip_special) const {
  std::string out;
  for (int32_t id : ids) {
    const std::string& b = token_bytes(id);
    if (skip_special && impl_->id_special[static_cast<size_t>(id)]) continue;
    out += b;
  }
  return out;
}

std::string Tokenizer::decode(std::span<const int32_t> ids, bool skip_special) const {
  std::string out;
  utf8_repair(decode_bytes(ids, skip_special), true, out);
  return out;
}

std::optional<int32_t> Tokenizer::token_id(std::string_view text) const {
  const auto it = impl_->text_to_id.find(std::string(text));
  if (it == impl_->text_to_id.end()) return std::nullopt;
  return it->second;
}

bool Tokenizer::is_special(int32_t id) const {
  token_bytes(id);
  return impl_->id_special[static_cast<size_t>(id)] != 0;
}

bool Tokenizer::contains(int32_t id) const {
  return id >= 0 && static_cast<size_t>(id) < impl_->id_bytes.size() && impl_->id_present[static_cast<size_t>(id)];
}

size_t Tokenizer::vocab_size() const { return impl_->id_bytes.size(); }
std::optional<int32_t> Tokenizer::bos_id() const { return impl_->bos; }
std::optional<int32_t> Tokenizer::eos_id() const { return impl_->eos; }
const std::vector<AddedToken>& Tokenizer::added_tokens() const { return impl_->added; }

const ChatTemplate& Tokenizer::chat_template() const {
  if (!impl_->chat) fail(ErrorKind::kUnsupported, impl_->chat_error);
  return *impl_->chat;
}

void Tokenizer::Impl::index_tokens(const std::unordered_map<std::string, int32_t>& text_vocab) {
  int32_t max_id = -1;
  for (const auto& [t, id] : text_vocab) max_id = std::max(max_id, id);
  for (const auto& a : added) max_id = std::max(max_id, a.id);
  const auto n = static_cast<size_t>(max_id + 1);
  id_text.assign(n, {});
  id_bytes.assign(n, {});
  id_special.assign(n, 0);
  id_present.assign(n, 0);
  for (const auto& [t, id] : text_vocab) {
    const auto k = static_cast<size_t>(id);
    id_text[k] = t;
    if (!text_to_bytes(t, &id_bytes[k])) id_bytes[k] = t;  // not byte-level text: it means itself
    id_present[k] = 1;
    text_to_id.emplace(t, id);
  }
  for (const auto& a : added) {
    const auto k = static_cast<size_t>(a.id);
    // The decoder writes added tokens as their content, never through the byte alphabet.
    id_text[k] = a.content;
    id_bytes[k] = a.content;
    id_special[k] = a.special;
    id_present[k] = 1;
    text_to_id[a.content] = a.id;
  }
  matcher.build(added);
}

}  // namespace whale::tokenizer
