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
  ASSERT_GT(page.size(), 50000u) << "marked and DOMPurify should be inlined";
  EXPECT_TRUE(page.starts_with("<!doctype html>"));
  EXPECT_EQ(page.find("<!-- whale:"), std::string_view::npos) << "an embedding marker was left in place";
  EXPECT_NE(page.find("connect-src 'self'"), std::string_view::npos) << "the CSP keeps the page on this server";
  EXPECT_NE(page.find("marked v"), std::string_view::npos);
  EXPECT_NE(page.find("DOMPurify"), std::string_view::npos);
  EXPECT_NE(page.find("id=\"deepthink\""), std::string_view::npos);
  // marked, DOMPurify, store.js, api.js, app.js: each inlined file ends exactly at its own </script>.
  EXPECT_EQ(count(page, "<script>"), 5u);
  EXPECT_EQ(count(page, "</script>"), 5u);
  EXPECT_EQ(count(page, "<style>"), 1u);
  EXPECT_EQ(count(page, "</style>"), 1u);
  EXPECT_EQ(page.find("sourceMappingURL"), std::string_view::npos) << "nothing else may be fetched";
  EXPECT_TRUE(page.ends_with("</html>\n"));
}

}  // namespace
}  // namespace whale::server
