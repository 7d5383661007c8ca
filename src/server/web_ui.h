// The page served at "/". Until the chat UI from web/ is embedded at build time, a placeholder.
#pragma once

#include <string_view>

namespace whale::server {

// The HTML of "/", complete (no other assets are fetched).
std::string_view index_html();

}  // namespace whale::server
