// Placeholder page; the embedded web chat (issue 8, item 4) replaces this file's string.
#include "server/web_ui.h"

namespace whale::server {

std::string_view index_html() {
  return R"html(<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>whale</title></head>
<body style="font-family: system-ui, sans-serif; max-width: 40rem; margin: 3rem auto; padding: 0 1rem">
<h1>whale</h1>
<p>The web chat is coming. Meanwhile the API is live: <code>POST /v1/chat/completions</code>,
<code>POST /v1/completions</code>, <code>GET /v1/models</code>, <code>GET /health</code>, <code>GET /metrics</code>.</p>
</body></html>
)html";
}

}  // namespace whale::server
