// The page served at "/": the web chat from web/, embedded at build time by cmake/embed_web.cmake
// (styles, scripts, marked and DOMPurify inlined, so the page fetches nothing but the API).
#pragma once

#include <string_view>

namespace whale::server {

// The HTML of "/", complete (no other assets are fetched).
std::string_view index_html();

}  // namespace whale::server
