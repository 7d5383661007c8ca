// The embedded web chat page: its bytes come from a file generated at build time (web_page.cpp in
// the build folder) by cmake/embed_web.cmake; nothing of web/ is committed as C++.
#include "server/web_ui.h"

#include <cstddef>

namespace whale::server {

extern const unsigned char kWebPage[];
extern const std::size_t kWebPageSize;

std::string_view index_html() { return {reinterpret_cast<const char*>(kWebPage), kWebPageSize}; }

}  // namespace whale::server
