// Text out of the files people index or upload: plain text and Markdown as they are, HTML through
// gumbo (scripts, styles and markup dropped; <title> kept), PDF through poppler (page by page).
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

namespace whale::search {

enum class FileKind { kText, kMarkdown, kHtml, kPdf };

// By extension (.txt .text .md .markdown .html .htm .pdf, any case), else by MIME type
// ("text/plain", "text/markdown", "text/html", "application/pdf"); nullopt when neither is known.
std::optional<FileKind> file_kind(std::string_view file_name, std::string_view mime_type = {});

struct ExtractedText {
  std::string title;  // HTML <title>, PDF Title metadata, a Markdown file's first "# " heading; else ""
  std::string text;   // valid UTF-8, paragraphs separated by blank lines
};

// Throws whale::Error (kFormat) naming the file when the bytes are not of that kind (a corrupt PDF,
// text that is not UTF-8 after the BOM is dropped), never returns garbage.
ExtractedText extract_text(std::string_view bytes, FileKind kind, std::string_view file_name);
ExtractedText extract_file(const std::filesystem::path& path);  // kind from the extension

}  // namespace whale::search
