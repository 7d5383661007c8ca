// The embedded web page (cmake/embed_web.cmake): complete, self-contained and with every inlined
// script closed where intended. The page's behaviour is tested in a browser by tests/web/ui_test.sh.
#include "server/web_ui.h"

#include <gtest/gtest.h>

#include <string>

namespace whale::server {
namespace {

size_t count(std::string_view text, std::string_view what) {
  size_t n = 0;
  for (size_t at = text.find(what); at != std::string_view::npos; at = text.find(what, at + what.size())) ++n;
  return n;
}

TEST(WebUi, PageIsCompleteAndSelfContained) {
  const std::string_view page = index_html();
  ASSERT_GT(page.size(), 500000u) << "marked, DOMPurify, KaTeX and KaTeX's fonts should be inlined";
  EXPECT_TRUE(page.starts_with("<!doctype html>"));
  EXPECT_EQ(page.find("<!-- whale:"), std::string_view::npos) << "an embedding marker was left in place";
  EXPECT_NE(page.find("connect-src 'self'"), std::string_view::npos) << "the CSP keeps the page on this server";
  EXPECT_NE(page.find("marked v"), std::string_view::npos);
  EXPECT_NE(page.find("DOMPurify"), std::string_view::npos);
  EXPECT_NE(page.find("id=\"deepthink\""), std::string_view::npos);
  EXPECT_NE(page.find("id=\"search\""), std::string_view::npos);
  EXPECT_NE(page.find("id=\"attach\""), std::string_view::npos);
  // marked, DOMPurify, KaTeX, i18n.js, store.js, api.js, render.js, app.js: each inlined file ends
  // exactly at its own </script>, in that order (each uses what the ones before it define).
  EXPECT_EQ(count(page, "<script>"), 8u);
  EXPECT_EQ(count(page, "</script>"), 8u);
  size_t last = 0;
  for (std::string_view name : {"node_modules/marked/lib/marked.umd.js", "node_modules/dompurify/dist/purify.min.js",
                                "node_modules/katex/dist/katex.min.js", "i18n.js", "store.js", "api.js", "render.js",
                                "app.js"}) {
    const size_t at = page.find("<script>/* " + std::string(name) + " */");
    ASSERT_NE(at, std::string_view::npos) << name << " is not inlined";
    EXPECT_GT(at, last) << name << " is out of order";
    last = at;
  }
  EXPECT_EQ(count(page, "<style>"), 1u);
  EXPECT_EQ(count(page, "</style>"), 1u);
  EXPECT_EQ(page.find("sourceMappingURL"), std::string_view::npos) << "nothing else may be fetched";
  // KaTeX's stylesheet is inlined with its fonts as data: URIs, the only fonts the CSP allows.
  EXPECT_NE(page.find("font-src data:;"), std::string_view::npos);
  EXPECT_NE(page.find(".katex{"), std::string_view::npos);
  EXPECT_EQ(count(page, "@font-face{"), count(page, "src:url(data:font/woff2;base64,d09GMg")) << "a font is not inlined";
  EXPECT_GE(count(page, "@font-face{"), 20u);
  EXPECT_EQ(page.find("url(fonts/"), std::string_view::npos) << "a font would be fetched (and blocked by the CSP)";
  EXPECT_TRUE(page.ends_with("</html>\n"));
}

}  // namespace
}  // namespace whale::server
