// A user message grounded in uploaded files and search results, as DeepSeek's app sends it: each
// file through file_template, the search template around that, their texts cut to fit a budget.
#pragma once

#include <cstddef>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "search/search.h"

namespace whale::search {

// One uploaded file: its name as the user gave it and its extracted text.
struct Attachment {
  std::string name;
  std::string text;
};

// An uploaded file's bytes -> its text; the kind from the name's extension, else the MIME type.
// Throws whale::Error (kInvalidArgument, kFormat) naming the file and the problem.
Attachment read_attachment(std::string_view file_name, std::string_view bytes, std::string_view mime_type = {});

struct GroundedMessage {
  std::string question;             // the user's own text
  std::vector<Attachment> files;    // in the order they were attached
  bool search = false;              // wrap in the search template (zh for a CJK question, else en)
  std::vector<Document> documents;  // the search results, best first
  std::string cur_date;             // {cur_date}; "" = today's long date in the question's language
};

inline constexpr size_t kNoCut = static_cast<size_t>(-1);

// The message's content. Files nest: file_template(f1, c1, file_template(f2, c2, ... question)),
// i.e. each file's block in order, then the question. With search, that text is the template's
// {question}. Every file's text and every document's text (its snippet when it has none) is cut
// to `cap` bytes at a character boundary; at cap 0 the documents are left out entirely.
std::string render_grounded(const GroundedMessage& m, size_t cap = kNoCut);
// The documents render_grounded(m, cap) shows the model, in its numbering.
std::vector<Document> shown_documents(const GroundedMessage& m, size_t cap = kNoCut);
// The longest text a cap can cut (the largest useful cap).
size_t longest_text(const GroundedMessage& m);

// What a cap cut, one line each: "FILE was cut to X of Y characters to fit the context of N
// tokens", "search results were cut to at most X characters each ...", or left out at cap 0.
std::vector<std::string> cut_notices(const GroundedMessage& m, size_t cap, long long context_tokens);

// `text` cut to at most `max_bytes` without splitting a UTF-8 character.
std::string cut_utf8(std::string_view text, size_t max_bytes);
size_t count_chars(std::string_view utf8);  // code points (malformed bytes count one each)

// The largest cap in [0, longest] for which `fits` holds, `fits` being true below some cap and
// false above it; 0 when even fits(0) fails.
size_t largest_fitting_cap(size_t longest, const std::function<bool(size_t cap)>& fits);

}  // namespace whale::search
