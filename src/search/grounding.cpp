// Grounded user messages: files through file_template, search results through the search
// template, and the one cap on every file's and document's text that makes a prompt fit.
#include "search/grounding.h"

#include <algorithm>

#include "core/error.h"
#include "search/extract.h"
#include "search/prompts.h"

namespace whale::search {
namespace {

// The text a document contributes (render_search_results' rule: its snippet when it has none).
const std::string& body(const Document& d) { return d.text.empty() ? d.snippet : d.text; }

}  // namespace

Attachment read_attachment(std::string_view file_name, std::string_view bytes, std::string_view mime_type) {
  const std::optional<FileKind> kind = file_kind(file_name, mime_type);
  if (!kind) {
    fail(ErrorKind::kInvalidArgument, "file \"", file_name, "\"",
         mime_type.empty() ? std::string() : cat(" (", mime_type, ")"),
         " is not a kind whale can read: send .txt, .md, .html or .pdf (text/plain, text/markdown, text/html, "
         "application/pdf)");
  }
  return {std::string(file_name), extract_text(bytes, *kind, file_name).text};
}

std::string cut_utf8(std::string_view text, size_t max_bytes) {
  if (text.size() <= max_bytes) return std::string(text);
  size_t end = max_bytes;
  // Back off continuation bytes (10xxxxxx) so the cut never splits a character.
  while (end > 0 && (static_cast<unsigned char>(text[end]) & 0xC0) == 0x80) --end;
  return std::string(text.substr(0, end));
}

size_t count_chars(std::string_view utf8) {
  size_t n = 0;
  for (char c : utf8) n += (static_cast<unsigned char>(c) & 0xC0) != 0x80;
  return n;
}

std::vector<Document> shown_documents(const GroundedMessage& m, size_t cap) {
  if (!m.search || cap == 0) return {};
  std::vector<Document> out = m.documents;
  for (Document& d : out) d.text = cut_utf8(body(d), cap);
  return out;
}

std::string render_grounded(const GroundedMessage& m, size_t cap) {
  std::string content = m.question;
  for (size_t i = m.files.size(); i-- > 0;) {
    content = render_file_prompt(m.files[i].name, cut_utf8(m.files[i].text, cap), content);
  }
  if (!m.search) return content;
  const Language language = query_language(m.question);
  const std::string date = m.cur_date.empty() ? today_long_date(language) : m.cur_date;
  return render_search_prompt(language, render_search_results(shown_documents(m, cap)), date, content);
}

size_t longest_text(const GroundedMessage& m) {
  size_t longest = 0;
  for (const Attachment& f : m.files) longest = std::max(longest, f.text.size());
  if (m.search) {
    for (const Document& d : m.documents) longest = std::max(longest, body(d).size());
  }
  return longest;
}

std::vector<std::string> cut_notices(const GroundedMessage& m, size_t cap, long long context_tokens) {
  std::vector<std::string> out;
  const std::string why = cat("to fit the context of ", context_tokens, " tokens");
  for (const Attachment& f : m.files) {
    if (f.text.size() <= cap) continue;
    out.push_back(cat("file \"", f.name, "\" was cut to ", count_chars(cut_utf8(f.text, cap)), " of ",
                      count_chars(f.text), " characters ", why));
  }
  if (!m.search || m.documents.empty()) return out;
  if (cap == 0) {
    out.push_back(cat("the ", m.documents.size(), " search results were left out ", why));
    return out;
  }
  const bool cut = std::any_of(m.documents.begin(), m.documents.end(), [&](const Document& d) { return body(d).size() > cap; });
  if (cut) out.push_back(cat("the search results were cut to at most ", cap, " bytes each ", why));
  return out;
}

size_t largest_fitting_cap(size_t longest, const std::function<bool(size_t cap)>& fits) {
  if (fits(longest)) return longest;
  size_t lo = 0, hi = longest;  // fits(hi) is false; lo is the best known (or 0)
  if (!fits(0)) return 0;
  while (hi - lo > 1) {
    const size_t mid = lo + (hi - lo) / 2;
    (fits(mid) ? lo : hi) = mid;
  }
  return lo;
}

}  // namespace whale::search
