// Text extraction against hand-known text (HTML, Markdown, plain text) and Debian's pdftotext (PDF),
// and the clear errors corrupt, empty, truncated and non-UTF-8 inputs get.
#include "search/extract.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <sstream>

#include "../error_of.h"
#include "../test_files.h"

namespace whale::search {
namespace {

using whale::testing::error_kind_of;
using whale::testing::error_of;

const std::string kData = std::string(WHALE_TEST_DATA) + "/../search/data";

std::vector<std::string> words(const std::string& s) {
  std::istringstream in(s);
  std::vector<std::string> out;
  for (std::string w; in >> w;) out.push_back(w);
  return out;
}

// Debian's pdftotext (poppler-utils, installed by scripts/setup.sh): the reading-order text.
std::string pdftotext(const std::string& path) {
  std::FILE* p = ::popen(("pdftotext -enc UTF-8 '" + path + "' - 2>&1").c_str(), "r");
  std::string out;
  if (p == nullptr) return out;
  char buf[4096];
  for (size_t n; (n = std::fread(buf, 1, sizeof buf, p)) > 0;) out.append(buf, n);
  EXPECT_EQ(::pclose(p), 0) << "pdftotext failed (install poppler-utils: scripts/setup.sh): " << out;
  return out;
}

TEST(SearchExtract, FileKindByExtensionThenMime) {
  EXPECT_EQ(file_kind("a/b/Notes.TXT"), FileKind::kText);
  EXPECT_EQ(file_kind("x.text"), FileKind::kText);
  EXPECT_EQ(file_kind("README.md"), FileKind::kMarkdown);
  EXPECT_EQ(file_kind("r.Markdown"), FileKind::kMarkdown);
  EXPECT_EQ(file_kind("index.htm"), FileKind::kHtml);
  EXPECT_EQ(file_kind("page.html"), FileKind::kHtml);
  EXPECT_EQ(file_kind("paper.PDF"), FileKind::kPdf);
  EXPECT_EQ(file_kind("upload", "application/pdf"), FileKind::kPdf);
  EXPECT_EQ(file_kind("upload", "text/html; charset=utf-8"), FileKind::kHtml);
  EXPECT_EQ(file_kind("upload", "text/markdown"), FileKind::kMarkdown);
  EXPECT_EQ(file_kind("blob", "text/plain"), FileKind::kText);
  EXPECT_EQ(file_kind("image.png"), std::nullopt);
  EXPECT_EQ(file_kind(".md"), std::nullopt);  // a hidden file named "md", not an extension
  EXPECT_EQ(file_kind("archive.tar.gz", "application/gzip"), std::nullopt);
}

TEST(SearchExtract, PlainTextDropsTheBomAndCarriageReturns) {
  const ExtractedText t = extract_text("\xEF\xBB\xBFline one\r\nline two\r\rend", FileKind::kText, "a.txt");
  EXPECT_EQ(t.title, "");
  EXPECT_EQ(t.text, "line one\nline two\n\nend");
  EXPECT_EQ(extract_text("鲸鲨 whale shark", FileKind::kText, "b.txt").text, "鲸鲨 whale shark");
}

TEST(SearchExtract, TextThatIsNotUtf8IsRefusedWithTheOffset) {
  // A lone continuation byte, Latin-1, an overlong '/', a UTF-16 surrogate, a cut 3-byte sequence,
  // a code point past U+10FFFF.
  for (const std::string bad : {"ok\x80", "caf\xE9!", "\xC0\xAF", "\xED\xA0\x80", "abc\xE9\xB2", "\xF4\x90\x80\x80"}) {
    const std::string msg = error_of([&] { extract_text(bad, FileKind::kText, "notes.txt"); });
    EXPECT_NE(msg.find("notes.txt: not UTF-8 text"), std::string::npos) << msg;
    EXPECT_EQ(error_kind_of([&] { extract_text(bad, FileKind::kMarkdown, "n.md"); }), ErrorKind::kFormat);
  }
  EXPECT_NE(error_of([] { extract_text("ab\xFF", FileKind::kText, "x.txt"); }).find("offset 2"), std::string::npos);
  // The largest valid code points of each length pass.
  EXPECT_NO_THROW(extract_text("\x7F\xDF\xBF\xEF\xBF\xBF\xF4\x8F\xBF\xBF", FileKind::kText, "x.txt"));
}

TEST(SearchExtract, MarkdownTitleIsTheFirstLevelOneHeading) {
  const ExtractedText t = extract_text(
      "Intro line\n## Not this\n```\n# not a heading: code\n```\n  # Whale Sharks ##\n# Second\n", FileKind::kMarkdown,
      "w.md");
  EXPECT_EQ(t.title, "Whale Sharks");
  EXPECT_EQ(extract_text("#NoSpace\n", FileKind::kMarkdown, "w.md").title, "");
  EXPECT_EQ(extract_text("# 鲸鲨的食性\n\n正文", FileKind::kMarkdown, "w.md").title, "鲸鲨的食性");
}

TEST(SearchExtract, HtmlKeepsTitleAndParagraphsAndDropsScriptsStylesTemplates) {
  const ExtractedText t = extract_file(kData + "/corpus/en/whale_shark_migration.html");
  EXPECT_EQ(t.title, "Whale Shark Migration");
  // Hand-read from the file: entities decoded (&middot; &nbsp; &amp;), inline <b> kept in its
  // paragraph, every block its own paragraph, nothing from <script>, <style>, <noscript>, <template>.
  EXPECT_EQ(t.text,
            "Home \u00B7 Sharks \u00B7 About\n\n"
            "Whale Shark Migration\n\n"
            "Every year whale sharks gather off Ningaloo Reef in Western Australia between March and July, when the "
            "coral spawns.\n\n"
            "Tagged sharks have travelled more than 20,000\u00A0km across the Pacific & Indian oceans.");
}

TEST(SearchExtract, HtmlLineBreaksTablesAndPreformattedText) {
  const ExtractedText t = extract_text(
      "<p>one<br>two <br/> three</p><table><tr><td>a</td><td>b</td></tr><tr><th>c</th></tr></table>"
      "<pre>x  y\n  z</pre><div>&lt;tag&gt; &#x9CB8;&#40104;</div><svg><title>icon</title></svg>",
      FileKind::kHtml, "t.html");
  EXPECT_EQ(t.title, "");
  EXPECT_EQ(t.text, "one\ntwo\nthree\n\na b\n\nc\n\nx  y\n  z\n\n<tag> 鲸鲨");
  // Broken markup still parses the way browsers do (gumbo is an HTML5 parser).
  EXPECT_EQ(extract_text("<title>T &amp; U</title><p>unclosed <i>italic<p>next", FileKind::kHtml, "b.html").text,
            "unclosed italic\n\nnext");
  EXPECT_EQ(extract_text("<title>T &amp; U</title>", FileKind::kHtml, "b.html").title, "T & U");
  EXPECT_EQ(extract_text("", FileKind::kHtml, "empty.html").text, "");
  EXPECT_EQ(error_kind_of([] { extract_text("<p>caf\xE9</p>", FileKind::kHtml, "latin1.html"); }), ErrorKind::kFormat);
}

// Pages in legacy charsets, encoded by Python's codecs (make_charset_fixtures.py): the text must be
// what Python decodes them to.
TEST(SearchExtract, HtmlInADeclaredLegacyCharsetIsConverted) {
  const std::string dir = kData + "/extract/";
  ExtractedText t = extract_file(dir + "gbk_page.html");  // declared gb2312, encoded GBK
  EXPECT_EQ(t.title, "鲸鲨");
  EXPECT_EQ(t.text, "鲸鲨是最大的鱼类，主要吃浮游生物。");
  t = extract_file(dir + "big5_page.html");
  EXPECT_EQ(t.title, "鯨鯊");
  EXPECT_EQ(t.text, "鯨鯊是最大的魚類。");
  t = extract_file(dir + "latin1_page.html");  // declared iso-8859-1, bytes 0x80-0x9F as windows-1252
  EXPECT_EQ(t.title, "Café");
  EXPECT_EQ(t.text, "Requin-baleine \u2013 \u201Cna\u00EFve\u201D \u20AC5");
  EXPECT_NE(error_of([] { extract_text("<meta charset=\"klingon-7\"><p>x", FileKind::kHtml, "k.html"); })
                .find("k.html: HTML in charset \"klingon-7\", which iconv does not know"),
            std::string::npos);
  EXPECT_NE(error_of([] { extract_text("<meta charset=\"big5\"><p>\xA4", FileKind::kHtml, "cut.html"); })
                .find("cut.html: not valid big5 text"),
            std::string::npos);
  EXPECT_EQ(extract_text("<meta charset='UTF-8'><p>鲸</p>", FileKind::kHtml, "u.html").text, "鲸");
}

TEST(SearchExtract, PdfTextMatchesPdftotext) {
  for (const std::string name : {"/corpus/en/whale_shark_status.pdf", "/extract/two_pages.pdf"}) {
    const std::string path = kData + name;
    const ExtractedText t = extract_file(path);
    EXPECT_EQ(words(t.text), words(pdftotext(path))) << name;
  }
}

TEST(SearchExtract, PdfTitleAndPagesInOrder) {
  const ExtractedText status = extract_file(kData + "/corpus/en/whale_shark_status.pdf");
  EXPECT_EQ(status.title, "Whale Shark Conservation Report 鲸鲨保护报告");  // chromium copies <title>
  EXPECT_NE(status.text.find("The IUCN moved the whale shark from Vulnerable to Endangered in 2016"), std::string::npos);
  EXPECT_NE(status.text.find("世界自然保护联盟于2016年将鲸鲨的保护等级从易危提升为濒危"), std::string::npos);
  const ExtractedText two = extract_file(kData + "/extract/two_pages.pdf");
  EXPECT_EQ(two.text, "First page: the quick brown fox jumps over the lazy dog.\n\nSecond page: 第二页的内容是中文。");
}

TEST(SearchExtract, CorruptEmptyAndTruncatedPdfsAreClearErrors) {
  EXPECT_NE(error_of([] { extract_text("", FileKind::kPdf, "e.pdf"); }).find("e.pdf: empty file"), std::string::npos);
  EXPECT_NE(error_of([] { extract_text("hello, not a pdf", FileKind::kPdf, "h.pdf"); }).find("h.pdf: not a PDF"),
            std::string::npos);
  EXPECT_NE(error_of([] { extract_text("%PDF-1.7\n\x01\x02garbage", FileKind::kPdf, "g.pdf"); })
                .find("g.pdf: corrupt or truncated PDF"),
            std::string::npos);
  // Truncated: poppler reconstructs what it can from a cut file or refuses it; either way no
  // garbage: an error naming the file, or text that is a prefix of the real text's words.
  const std::string whole = whale::testing::read_bytes(kData + "/corpus/en/whale_shark_status.pdf");
  const std::vector<std::string> all = words(extract_text(whole, FileKind::kPdf, "w.pdf").text);
  for (size_t keep : {size_t{100}, whole.size() / 4, whole.size() / 2, whole.size() - 200}) {
    try {
      const std::vector<std::string> got = words(extract_text(whole.substr(0, keep), FileKind::kPdf, "cut.pdf").text);
      ASSERT_LE(got.size(), all.size());
      EXPECT_TRUE(std::equal(got.begin(), got.end(), all.begin())) << keep;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("cut.pdf"), std::string::npos) << e.what();
    }
  }
}

TEST(SearchExtract, PasswordPdfsAreRefusedAndOwnerOnlyEncryptionIsRead) {
  const std::string dir = kData + "/extract/";
  const std::string msg = error_of([&] { extract_file(dir + "two_pages_password.pdf"); });
  EXPECT_NE(msg.find("two_pages_password.pdf: the PDF is encrypted with a password"), std::string::npos) << msg;
  EXPECT_EQ(error_kind_of([&] { extract_file(dir + "two_pages_password.pdf"); }), ErrorKind::kUnsupported);
  // Only an owner password (editing restrictions): readers, pdftotext included, open it as is.
  EXPECT_EQ(extract_file(dir + "two_pages_owner_only.pdf").text, extract_file(dir + "two_pages.pdf").text);
  EXPECT_EQ(words(extract_file(dir + "two_pages_owner_only.pdf").text), words(pdftotext(dir + "two_pages_owner_only.pdf")));
}

TEST(SearchExtract, ExtractFileNamesMissingAndUnknownFiles) {
  EXPECT_EQ(error_kind_of([] { extract_file("/nonexistent/whale.txt"); }), ErrorKind::kNotFound);
  EXPECT_NE(error_of([] { extract_file("photo.png"); }).find("photo.png: not a file whale can read"), std::string::npos);
}

}  // namespace
}  // namespace whale::search
