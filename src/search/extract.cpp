// Text out of indexed and uploaded files: UTF-8 checks for text and Markdown, a gumbo tree walk for
// HTML (block elements become paragraph breaks), poppler-cpp page text for PDF.
#include "search/extract.h"

#include <gumbo.h>
#include <iconv.h>
#include <poppler/cpp/poppler-document.h>
#include <poppler/cpp/poppler-global.h>
#include <poppler/cpp/poppler-page.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <iterator>
#include <memory>
#include <mutex>

#include "core/error.h"

namespace whale::search {
namespace {

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// Offset of the first byte that does not start or continue a well-formed UTF-8 sequence (overlongs,
// surrogates and code points past U+10FFFF are ill-formed, as in Unicode's table 3-7), or npos.
size_t invalid_utf8_at(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    const auto b = static_cast<unsigned char>(s[i]);
    size_t n = 0;
    unsigned char lo = 0x80, hi = 0xBF;  // the allowed range of the second byte
    if (b < 0x80) n = 1;
    else if (b >= 0xC2 && b <= 0xDF) n = 2;
    else if (b >= 0xE0 && b <= 0xEF) n = 3, lo = b == 0xE0 ? 0xA0 : 0x80, hi = b == 0xED ? 0x9F : 0xBF;
    else if (b >= 0xF0 && b <= 0xF4) n = 4, lo = b == 0xF0 ? 0x90 : 0x80, hi = b == 0xF4 ? 0x8F : 0xBF;
    else return i;
    if (i + n > s.size()) return i;
    for (size_t k = 1; k < n; ++k) {
      const auto c = static_cast<unsigned char>(s[i + k]);
      if (k == 1 ? (c < lo || c > hi) : (c < 0x80 || c > 0xBF)) return i;
    }
    i += n;
  }
  return std::string_view::npos;
}

// CRLF and lone CR become LF, so paragraphs split the same way whatever system wrote the file.
std::string normalize_newlines(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\r') {
      out += '\n';
      if (i + 1 < s.size() && s[i + 1] == '\n') ++i;
    } else {
      out += s[i];
    }
  }
  return out;
}

std::string trim(std::string_view s) {
  const auto space = [](char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\f' || c == '\v'; };
  size_t b = 0, e = s.size();
  while (b < e && space(s[b])) ++b;
  while (e > b && space(s[e - 1])) --e;
  return std::string(s.substr(b, e - b));
}

std::string plain_text(std::string_view bytes, std::string_view file_name) {
  if (bytes.substr(0, 3) == "\xEF\xBB\xBF") bytes.remove_prefix(3);
  if (const size_t at = invalid_utf8_at(bytes); at != std::string_view::npos) {
    fail(ErrorKind::kFormat, file_name, ": not UTF-8 text (invalid byte 0x", std::hex,
         static_cast<int>(static_cast<unsigned char>(bytes[at])), std::dec, " at offset ", at,
         "); convert it to UTF-8 first");
  }
  return normalize_newlines(bytes);
}

// The first ATX level-1 heading ("# Title", up to three spaces of indent, closing #s dropped),
// outside fenced code blocks.
std::string markdown_title(std::string_view text) {
  bool fenced = false;
  size_t pos = 0;
  while (pos <= text.size()) {
    size_t end = text.find('\n', pos);
    if (end == std::string_view::npos) end = text.size();
    std::string_view line = text.substr(pos, end - pos);
    pos = end + 1;
    size_t indent = 0;
    while (indent < line.size() && indent < 4 && line[indent] == ' ') ++indent;
    if (indent > 3) continue;
    line.remove_prefix(indent);
    if (line.starts_with("```") || line.starts_with("~~~")) fenced = !fenced;
    if (fenced || !(line.starts_with("# ") || line.starts_with("#\t"))) continue;
    std::string title = trim(line.substr(2));
    while (!title.empty() && title.back() == '#') title.pop_back();
    return trim(title);
  }
  return {};
}

// ---- HTML ----------------------------------------------------------------------------------

bool skipped_tag(GumboTag tag) {
  return tag == GUMBO_TAG_SCRIPT || tag == GUMBO_TAG_STYLE || tag == GUMBO_TAG_NOSCRIPT ||
         tag == GUMBO_TAG_TEMPLATE || tag == GUMBO_TAG_HEAD || tag == GUMBO_TAG_IFRAME ||
         tag == GUMBO_TAG_OBJECT || tag == GUMBO_TAG_SVG || tag == GUMBO_TAG_MATH || tag == GUMBO_TAG_SELECT;
}

// Elements whose start and end break the text into paragraphs.
bool block_tag(GumboTag tag) {
  switch (tag) {
    case GUMBO_TAG_P: case GUMBO_TAG_DIV: case GUMBO_TAG_H1: case GUMBO_TAG_H2: case GUMBO_TAG_H3:
    case GUMBO_TAG_H4: case GUMBO_TAG_H5: case GUMBO_TAG_H6: case GUMBO_TAG_LI: case GUMBO_TAG_UL:
    case GUMBO_TAG_OL: case GUMBO_TAG_DL: case GUMBO_TAG_DT: case GUMBO_TAG_DD: case GUMBO_TAG_TABLE:
    case GUMBO_TAG_TR: case GUMBO_TAG_CAPTION: case GUMBO_TAG_BLOCKQUOTE: case GUMBO_TAG_PRE:
    case GUMBO_TAG_HR: case GUMBO_TAG_SECTION: case GUMBO_TAG_ARTICLE: case GUMBO_TAG_ASIDE:
    case GUMBO_TAG_HEADER: case GUMBO_TAG_FOOTER: case GUMBO_TAG_NAV: case GUMBO_TAG_MAIN:
    case GUMBO_TAG_FIGURE: case GUMBO_TAG_FIGCAPTION: case GUMBO_TAG_ADDRESS: case GUMBO_TAG_FORM:
    case GUMBO_TAG_FIELDSET: case GUMBO_TAG_DETAILS: case GUMBO_TAG_SUMMARY: case GUMBO_TAG_BODY:
      return true;
    default:
      return false;
  }
}

// Collects text as paragraphs: runs of whitespace collapse to one space (except inside <pre>),
// <br> is a line break, block elements close the paragraph.
class HtmlText {
 public:
  void text(std::string_view s, bool preformatted) {
    for (char c : s) {
      const bool space = c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f';
      if (preformatted) {
        current_ += c == '\r' ? '\n' : c;
        has_pre_ = true;
      } else if (space) {
        if (!current_.empty() && current_.back() != ' ' && current_.back() != '\n') current_ += ' ';
      } else {
        current_ += c;
      }
    }
  }
  void line_break() {
    while (!current_.empty() && current_.back() == ' ') current_.pop_back();
    current_ += '\n';
  }
  void cell_break() {
    if (!current_.empty() && current_.back() != ' ' && current_.back() != '\n') current_ += ' ';
  }
  void paragraph_break() {
    if (has_pre_) {  // <pre> keeps its indentation; only blank lines at its ends go
      size_t b = current_.find_first_not_of('\n'), e = current_.find_last_not_of(" \t\n");
      if (b != std::string::npos) {
        if (!out_.empty()) out_ += "\n\n";
        out_ += current_.substr(b, e + 1 - b);
      }
      current_.clear();
      has_pre_ = false;
      return;
    }
    std::string p = trim(current_);
    current_.clear();
    if (p.empty()) return;
    // Spaces left at line starts/ends by collapsed markup around <br>.
    std::string cleaned;
    size_t pos = 0;
    while (pos <= p.size()) {
      size_t end = p.find('\n', pos);
      if (end == std::string::npos) end = p.size();
      std::string line = trim(std::string_view(p).substr(pos, end - pos));
      if (!cleaned.empty()) cleaned += '\n';
      cleaned += line;
      pos = end + 1;
    }
    if (!out_.empty()) out_ += "\n\n";
    out_ += cleaned;
  }
  std::string finish() {
    paragraph_break();
    return std::move(out_);
  }

 private:
  std::string current_;
  bool has_pre_ = false;
  std::string out_;
};

void walk(const GumboNode* node, HtmlText& out, bool preformatted) {
  if (node->type == GUMBO_NODE_TEXT || node->type == GUMBO_NODE_CDATA || node->type == GUMBO_NODE_WHITESPACE) {
    out.text(node->v.text.text, preformatted);
    return;
  }
  if (node->type != GUMBO_NODE_ELEMENT && node->type != GUMBO_NODE_DOCUMENT) return;  // comments, templates
  const GumboVector* children =
      node->type == GUMBO_NODE_DOCUMENT ? &node->v.document.children : &node->v.element.children;
  GumboTag tag = node->type == GUMBO_NODE_ELEMENT ? node->v.element.tag : GUMBO_TAG_UNKNOWN;
  if (node->type == GUMBO_NODE_ELEMENT) {
    if (skipped_tag(tag)) return;
    if (tag == GUMBO_TAG_BR) {
      out.line_break();
      return;
    }
    if (tag == GUMBO_TAG_TD || tag == GUMBO_TAG_TH) out.cell_break();
    if (tag == GUMBO_TAG_PRE) preformatted = true;
    if (block_tag(tag)) out.paragraph_break();
  }
  for (unsigned i = 0; i < children->length; ++i) {
    walk(static_cast<const GumboNode*>(children->data[i]), out, preformatted);
  }
  if (block_tag(tag)) out.paragraph_break();
  if (tag == GUMBO_TAG_TD || tag == GUMBO_TAG_TH) out.cell_break();
}

const GumboNode* find_title(const GumboNode* node) {
  if (node->type != GUMBO_NODE_ELEMENT && node->type != GUMBO_NODE_DOCUMENT) return nullptr;
  if (node->type == GUMBO_NODE_ELEMENT && node->v.element.tag == GUMBO_TAG_TITLE) return node;
  if (node->type == GUMBO_NODE_ELEMENT && node->v.element.tag == GUMBO_TAG_SVG) return nullptr;  // <svg><title>
  const GumboVector& children =
      node->type == GUMBO_NODE_DOCUMENT ? node->v.document.children : node->v.element.children;
  for (unsigned i = 0; i < children.length; ++i) {
    if (const GumboNode* t = find_title(static_cast<const GumboNode*>(children.data[i]))) return t;
  }
  return nullptr;
}

// The charset a page declares in its first 1024 bytes (<meta charset=X>, or X in an http-equiv
// "text/html; charset=X"), as an iconv name; "" when none is declared. As browsers do, latin-1 and
// ASCII labels mean windows-1252 and gb2312/gbk mean GB18030 (their superset).
std::string declared_charset(std::string_view bytes) {
  const std::string head = lower(bytes.substr(0, 1024));
  size_t at = head.find("charset=");
  if (at == std::string::npos) return "";
  at += 8;
  while (at < head.size() && (head[at] == '"' || head[at] == '\'' || head[at] == ' ')) ++at;
  size_t end = at;
  while (end < head.size() && (std::isalnum(static_cast<unsigned char>(head[end])) || std::strchr("-_.:", head[end]))) ++end;
  const std::string label = head.substr(at, end - at);
  if (label == "utf-8" || label == "utf8" || label.empty()) return "";
  if (label == "iso-8859-1" || label == "latin1" || label == "us-ascii" || label == "ascii") return "WINDOWS-1252";
  if (label == "gb2312" || label == "gbk" || label == "x-gbk") return "GB18030";
  return label;
}

std::string to_utf8(std::string_view bytes, const std::string& charset, std::string_view file_name) {
  iconv_t cd = ::iconv_open("UTF-8", charset.c_str());
  if (cd == reinterpret_cast<iconv_t>(-1)) {
    fail(ErrorKind::kUnsupported, file_name, ": HTML in charset \"", charset, "\", which iconv does not know");
  }
  std::string out(bytes.size() * 4 + 16, '\0');  // a byte never becomes more than 4 in UTF-8
  char* in = const_cast<char*>(bytes.data());
  size_t in_left = bytes.size();
  char* dst = out.data();
  size_t out_left = out.size();
  const size_t r = ::iconv(cd, &in, &in_left, &dst, &out_left);
  const int err = errno;
  ::iconv_close(cd);
  if (r == static_cast<size_t>(-1)) {
    fail(ErrorKind::kFormat, file_name, ": not valid ", charset, " text (the charset it declares) at offset ",
         bytes.size() - in_left, err == EINVAL ? " (cut short)" : "");
  }
  out.resize(out.size() - out_left);
  return out;
}

ExtractedText html_text(std::string_view bytes, std::string_view file_name) {
  if (bytes.substr(0, 3) == "\xEF\xBB\xBF") bytes.remove_prefix(3);
  std::string converted;
  if (const std::string charset = declared_charset(bytes); !charset.empty()) {
    converted = to_utf8(bytes, charset, file_name);
    bytes = converted;
  }
  // gumbo reads UTF-8 only and turns invalid bytes into U+FFFD; a page in another charset should
  // say so rather than index replacement characters.
  if (const size_t at = invalid_utf8_at(bytes); at != std::string_view::npos) {
    fail(ErrorKind::kFormat, file_name, ": HTML that is not UTF-8 (invalid byte at offset ", at,
         ") and declares no other charset; add <meta charset=...> or convert it to UTF-8");
  }
  std::unique_ptr<GumboOutput, void (*)(GumboOutput*)> doc(
      gumbo_parse_with_options(&kGumboDefaultOptions, bytes.data(), bytes.size()),
      [](GumboOutput* o) { gumbo_destroy_output(&kGumboDefaultOptions, o); });
  if (!doc) fail(ErrorKind::kFormat, file_name, ": gumbo could not parse the HTML");
  ExtractedText result;
  if (const GumboNode* title = find_title(doc->root)) {
    HtmlText t;
    walk(title, t, false);
    result.title = t.finish();
    std::replace(result.title.begin(), result.title.end(), '\n', ' ');
  }
  HtmlText body;
  walk(doc->root, body, false);
  result.text = body.finish();
  return result;
}

// ---- PDF -----------------------------------------------------------------------------------

std::string utf8_of(const poppler::ustring& s) {
  const poppler::byte_array bytes = s.to_utf8();
  return std::string(bytes.begin(), bytes.end());
}

// poppler prints parse complaints to stderr; whale reports its own error instead.
void quiet_poppler() {
  static std::once_flag once;
  std::call_once(once, [] { poppler::set_debug_error_function([](const std::string&, void*) {}, nullptr); });
}

ExtractedText pdf_text(std::string_view bytes, std::string_view file_name) {
  quiet_poppler();
  if (bytes.empty()) fail(ErrorKind::kFormat, file_name, ": empty file, not a PDF");
  if (!bytes.starts_with("%PDF-") && bytes.substr(0, 1024).find("%PDF-") == std::string_view::npos) {
    fail(ErrorKind::kFormat, file_name, ": not a PDF (no %PDF- header)");
  }
  if (bytes.size() > static_cast<size_t>(INT32_MAX)) fail(ErrorKind::kUnsupported, file_name, ": PDF larger than 2 GiB");
  std::unique_ptr<poppler::document> doc(
      poppler::document::load_from_raw_data(bytes.data(), static_cast<int>(bytes.size())));
  if (!doc) fail(ErrorKind::kFormat, file_name, ": corrupt or truncated PDF (poppler could not open it)");
  if (doc->is_locked()) fail(ErrorKind::kUnsupported, file_name, ": the PDF is encrypted with a password; whale cannot read it");
  ExtractedText result;
  result.title = trim(utf8_of(doc->get_title()));
  std::string text;
  const int n = doc->pages();
  for (int i = 0; i < n; ++i) {
    std::unique_ptr<poppler::page> page(doc->create_page(i));
    if (!page) continue;
    std::string page_text = trim(normalize_newlines(utf8_of(page->text())));
    if (page_text.empty()) continue;
    if (!text.empty()) text += "\n\n";
    text += page_text;
  }
  // pdftotext and poppler mark page ends with form feeds in some layouts; nothing should survive.
  std::replace(text.begin(), text.end(), '\f', '\n');
  if (invalid_utf8_at(text) != std::string::npos) fail(ErrorKind::kInternal, file_name, ": poppler returned text that is not UTF-8");
  result.text = std::move(text);
  return result;
}

}  // namespace

std::optional<FileKind> file_kind(std::string_view file_name, std::string_view mime_type) {
  const size_t slash = file_name.find_last_of("/\\");
  const std::string_view base = slash == std::string_view::npos ? file_name : file_name.substr(slash + 1);
  const size_t dot = base.rfind('.');
  if (dot != std::string_view::npos && dot > 0) {
    const std::string ext = lower(base.substr(dot + 1));
    if (ext == "txt" || ext == "text") return FileKind::kText;
    if (ext == "md" || ext == "markdown") return FileKind::kMarkdown;
    if (ext == "html" || ext == "htm") return FileKind::kHtml;
    if (ext == "pdf") return FileKind::kPdf;
  }
  std::string mime = lower(mime_type.substr(0, mime_type.find(';')));
  mime = trim(mime);
  if (mime == "text/plain") return FileKind::kText;
  if (mime == "text/markdown" || mime == "text/x-markdown") return FileKind::kMarkdown;
  if (mime == "text/html" || mime == "application/xhtml+xml") return FileKind::kHtml;
  if (mime == "application/pdf") return FileKind::kPdf;
  return std::nullopt;
}

ExtractedText extract_text(std::string_view bytes, FileKind kind, std::string_view file_name) {
  switch (kind) {
    case FileKind::kText:
      return {.title = "", .text = plain_text(bytes, file_name)};
    case FileKind::kMarkdown: {
      std::string text = plain_text(bytes, file_name);
      std::string title = markdown_title(text);
      return {.title = std::move(title), .text = std::move(text)};
    }
    case FileKind::kHtml:
      return html_text(bytes, file_name);
    case FileKind::kPdf:
      return pdf_text(bytes, file_name);
  }
  fail(ErrorKind::kInternal, "unknown file kind for ", file_name);
}

ExtractedText extract_file(const std::filesystem::path& path) {
  const std::string name = path.string();
  const std::optional<FileKind> kind = file_kind(name);
  if (!kind) {
    fail(ErrorKind::kUnsupported, name, ": not a file whale can read (by extension: .txt .text .md .markdown .html .htm .pdf)");
  }
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) fail(ErrorKind::kInvalidArgument, name, ": is a directory");
  std::ifstream in(path, std::ios::binary);
  if (!in) fail(ErrorKind::kNotFound, name, ": cannot open the file");
  std::string bytes{std::istreambuf_iterator<char>(in), {}};
  if (in.bad()) fail(ErrorKind::kIo, name, ": read failed");
  return extract_text(bytes, *kind, name);
}

}  // namespace whale::search
