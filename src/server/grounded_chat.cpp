// web_search and file parts of chat requests: base64 and data: URLs decoded, the searcher called
// (one search at a time), DeepSeek's templates rendered, texts cut to the context's budget.
#include "server/grounded_chat.h"

#include <algorithm>
#include <array>

#include "core/error.h"
#include "search/prompts.h"
#include "server/api_error.h"
#include "server/json_fields.h"

namespace whale::server {
namespace {

using nlohmann::json;

// Standard base64 (RFC 4648), padding optional, line breaks ignored; nullopt-like: an error text.
std::string decode_base64(std::string_view in, std::string& error) {
  static const std::array<int8_t, 256> kValue = [] {
    std::array<int8_t, 256> v{};
    v.fill(-1);
    const std::string_view digits = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    for (size_t i = 0; i < digits.size(); ++i) v[static_cast<unsigned char>(digits[i])] = static_cast<int8_t>(i);
    return v;
  }();
  std::string out;
  out.reserve(in.size() / 4 * 3);
  uint32_t acc = 0;
  int bits = 0;
  size_t padding = 0, digits = 0;
  for (size_t i = 0; i < in.size(); ++i) {
    const unsigned char c = static_cast<unsigned char>(in[i]);
    if (c == '\n' || c == '\r') continue;
    if (c == '=') {
      ++padding;
      continue;
    }
    if (padding > 0 || kValue[c] < 0) {
      error = cat("unexpected character at offset ", i);
      return {};
    }
    ++digits;
    acc = (acc << 6) | static_cast<uint32_t>(kValue[c]);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>((acc >> bits) & 0xFF);
    }
  }
  if (digits % 4 == 1 || padding > 2 || (padding > 0 && (digits + padding) % 4 != 0)) {
    error = "its length is not that of base64 data (truncated?)";
    return {};
  }
  return out;
}

// The answer's room when the request names none: a quarter of the context.
int64_t answer_room(const json& body, int64_t max_context) {
  std::optional<int64_t> max_tokens = integer(body, "max_completion_tokens");
  if (!max_tokens) max_tokens = integer(body, "max_tokens");
  if (!max_tokens) max_tokens = integer(body, "n_predict");
  if (max_tokens && *max_tokens > 0) return std::min(*max_tokens, max_context / 2);
  return max_context / 4;
}

}  // namespace

search::Attachment read_file_part(const json& part, const std::string& param) {
  const json* f = field(part, "file");
  if (!f || !f->is_object()) bad_request(param, "`" + param + "`: a file part needs \"file\": {\"filename\", \"file_data\"}");
  if (field(*f, "file_id")) bad_request(param + ".file.file_id", "`" + param + ".file.file_id`: uploaded file ids are not supported; send the bytes as file_data");
  const json* name_field = field(*f, "filename");
  if (name_field && !name_field->is_string()) bad_request(param + ".file.filename", "`" + param + ".file.filename` must be a string");
  const std::string name = name_field ? name_field->get<std::string>() : "file";
  const json* data = field(*f, "file_data");
  if (!data || !data->is_string()) {
    bad_request(param + ".file.file_data", "`" + param + ".file.file_data` (file \"" + name + "\") must be a string: a data: URL or base64");
  }
  std::string_view payload = data->get_ref<const std::string&>();
  std::string mime;
  if (payload.rfind("data:", 0) == 0) {  // data:[MIME][;params];base64,DATA
    const size_t comma = payload.find(',');
    const std::string_view head = payload.substr(5, comma == std::string_view::npos ? 0 : comma - 5);
    if (comma == std::string_view::npos || head.size() < 7 || head.substr(head.size() - 7) != ";base64") {
      bad_request(param + ".file.file_data", "file \"" + name + "\": file_data is a data: URL without \";base64,\"; send base64");
    }
    mime = std::string(head.substr(0, head.find(';')));
    payload.remove_prefix(comma + 1);
  }
  std::string error;
  const std::string bytes = decode_base64(payload, error);
  if (!error.empty()) bad_request(param + ".file.file_data", "file \"" + name + "\": file_data is not valid base64: " + error);
  try {
    return search::read_attachment(name, bytes, mime);
  } catch (const Error& e) {
    bad_request(param, "`" + param + "`: " + e.what());
  }
}

Grounding ground_messages(const json& body, std::vector<tokenizer::ChatMessage>& messages,
                          const std::vector<std::vector<search::Attachment>>& files, const SearchAccess& access,
                          int64_t max_context,
                          const std::function<int64_t(const std::vector<tokenizer::ChatMessage>&)>& prompt_tokens) {
  if (files.size() != messages.size()) fail(ErrorKind::kInternal, "ground_messages: files for ", files.size(), " of ", messages.size(), " messages");
  Grounding g;
  const json* ws = field(body, "web_search");
  if (ws && !ws->is_boolean()) bad_request("web_search", "`web_search` must be a boolean");
  g.searched = ws && ws->get<bool>();
  if (g.searched && !access.searcher) {
    bad_request("web_search",
                "web search is not enabled on this server: start it with `whale serve MODEL --search INDEX|URL`",
                "web_search_unavailable");
  }
  size_t last_user = messages.size();
  for (size_t i = 0; i < messages.size(); ++i) {
    if (messages[i].role == "user") last_user = i;
  }
  std::vector<std::pair<size_t, search::GroundedMessage>> grounded;
  for (size_t i = 0; i < messages.size(); ++i) {
    const bool search_here = g.searched && i == last_user;
    if (files[i].empty() && !search_here) continue;
    search::GroundedMessage m{.question = messages[i].content, .files = files[i], .search = search_here};
    m.cur_date = search::today_long_date(search::query_language(m.question));  // one date for every cut
    grounded.emplace_back(i, std::move(m));
  }
  if (g.searched) {
    if (last_user == messages.size()) bad_request("web_search", "`web_search` needs a user message to search for");
    const std::string& query = messages[last_user].content;
    if (query.find_first_not_of(" \t\r\n") == std::string::npos) {
      bad_request("web_search", "`web_search`: the last user message has no text to search for");
    }
    search::GroundedMessage& m = std::find_if(grounded.begin(), grounded.end(), [&](const auto& e) { return e.first == last_user; })->second;
    try {
      std::unique_lock<std::mutex> lock;
      if (access.mutex) lock = std::unique_lock<std::mutex>(*access.mutex);
      m.documents = access.searcher->search(query, access.k);
    } catch (const std::exception& e) {
      throw ApiError(502, "server_error", std::string("web search failed: ") + e.what(), "web_search", "search_failed");
    }
  }
  if (grounded.empty()) return g;

  const auto apply = [&](size_t cap) {
    for (const auto& [i, m] : grounded) messages[i].content = search::render_grounded(m, cap);
  };
  size_t longest = 0;
  for (const auto& [i, m] : grounded) longest = std::max(longest, search::longest_text(m));
  const int64_t budget = max_context - answer_room(body, max_context);
  const size_t cap = search::largest_fitting_cap(longest, [&](size_t c) {
    apply(c);
    return prompt_tokens(messages) <= budget;
  });
  apply(cap);
  for (const auto& [i, m] : grounded) {
    if (m.search) g.sources = search::shown_documents(m, cap);
    if (cap < longest) {
      for (std::string& n : search::cut_notices(m, cap, static_cast<long long>(max_context))) g.notices.push_back(std::move(n));
    }
  }
  return g;
}

json search_results_json(const std::vector<search::Document>& documents) {
  json out = json::array();
  for (size_t i = 0; i < documents.size(); ++i) {
    const search::Document& d = documents[i];
    out.push_back({{"index", i + 1}, {"title", d.title}, {"url", d.url}, {"snippet", d.snippet}});
  }
  return out;
}

void add_grounding_fields(json& reply, const Grounding& g) {
  if (g.searched) reply["search_results"] = search_results_json(g.sources);
  if (!g.notices.empty()) reply["notices"] = g.notices;
}

}  // namespace whale::server
