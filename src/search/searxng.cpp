// The SearxNG JSON API over cpp-httplib (Debian's is built with OpenSSL, so https works), with the
// caller's timeouts and errors that say which part failed and what to change.
#include "search/searxng.h"

#include <httplib.h>

#include <nlohmann/json.hpp>
#include <regex>
#include <set>

#include "core/error.h"

namespace whale::search {

SearxngSearcher::SearxngSearcher(const std::string& url, const SearchOptions& options) : options_(options) {
  static const std::regex kUrl(R"(^(https?)://([^/?#\s]+)(/[^?#\s]*)?$)", std::regex::icase);
  std::smatch m;
  if (!std::regex_match(url, m, kUrl)) {
    fail(ErrorKind::kInvalidArgument, "SearxNG URL \"", url, "\" is not http(s)://host[:port][/path]");
  }
  std::string scheme = m[1].str();
  for (char& c : scheme) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
#ifndef CPPHTTPLIB_OPENSSL_SUPPORT
  if (scheme == "https") {
    fail(ErrorKind::kUnsupported, "SearxNG URL ", url, ": https needs cpp-httplib built with OpenSSL, which this build lacks; use http://");
  }
#endif
  scheme_host_port_ = scheme + "://" + m[2].str();
  base_path_ = m[3].str();
  while (!base_path_.empty() && base_path_.back() == '/') base_path_.pop_back();
  if (base_path_.ends_with("/search")) base_path_.resize(base_path_.size() - 7);  // the endpoint given as the URL
  if (options_.timeout_ms <= 0) fail(ErrorKind::kInvalidArgument, "SearxNG timeout must be positive, got ", options_.timeout_ms, " ms");
}

std::string SearxngSearcher::describe() const { return "SearxNG " + scheme_host_port_ + base_path_; }

std::vector<Document> SearxngSearcher::search(const std::string& query, int k) {
  if (k <= 0 || query.empty()) return {};
  httplib::Client client(scheme_host_port_);
  const time_t sec = options_.timeout_ms / 1000;
  const time_t usec = (options_.timeout_ms % 1000) * 1000;
  client.set_connection_timeout(sec, usec);
  client.set_read_timeout(sec, usec);
  client.set_write_timeout(sec, usec);
  client.set_follow_location(true);
  // SearxNG pages its results (about 10-30 a page): later pages are asked for while k is not met.
  std::vector<Document> out;
  std::set<std::string> seen;
  for (int page = 1; page <= kMaxPages && static_cast<int>(out.size()) < k; ++page) {
    std::vector<Document> got;
    try {
      got = get_page(client, query, page, k);
    } catch (const Error&) {
      if (page == 1) throw;
      break;  // a later page failing leaves the results already in hand
    }
    size_t added = 0;
    for (const Document& d : got) {
      if (static_cast<int>(out.size()) < k && seen.insert(d.url).second) {
        out.push_back(d);
        ++added;
      }
    }
    if (added == 0) break;
  }
  return out;
}

std::vector<Document> SearxngSearcher::get_page(httplib::Client& client, const std::string& query, int page, int k) {
  httplib::Params params{{"q", query}, {"format", "json"}};
  if (page > 1) params.emplace("pageno", std::to_string(page));
  if (!options_.language.empty()) params.emplace("language", options_.language);
  const std::string where = describe();
  // SearxNG's bot detection (on when its limiter is) answers 429 to requests without text/html in
  // Accept, without Accept-Language or without gzip/deflate in Accept-Encoding: send all three.
  const httplib::Headers headers{{"Accept", "application/json, text/html;q=0.5"},
                                 {"Accept-Language", options_.language.empty() ? "en" : options_.language},
                                 {"Accept-Encoding", "gzip, deflate"},
                                 {"User-Agent", "whale (SearxNG JSON client)"}};
  httplib::Result res = client.Get(base_path_ + "/search", params, headers);
  if (!res) {
    switch (res.error()) {
      case httplib::Error::Connection:
        fail(ErrorKind::kIo, where, " is unreachable (connection refused or host not found)");
      case httplib::Error::ConnectionTimeout:
        fail(ErrorKind::kIo, where, " did not accept a connection within ", options_.timeout_ms, " ms");
      case httplib::Error::Read:
        fail(ErrorKind::kIo, where, " did not answer within ", options_.timeout_ms, " ms (or closed the connection)");
      case httplib::Error::SSLConnection:
      case httplib::Error::SSLServerVerification:
      case httplib::Error::SSLLoadingCerts:
        fail(ErrorKind::kIo, where, ": TLS failed (", httplib::to_string(res.error()), ")");
      default:
        fail(ErrorKind::kIo, where, ": request failed (", httplib::to_string(res.error()), ")");
    }
  }
  if (res->status == 403) {
    fail(ErrorKind::kIo, where, " answered 403 Forbidden: the instance does not allow format=json; add `json` to "
         "search.formats in its settings.yml");
  }
  if (res->status == 429) {
    fail(ErrorKind::kIo, where, " answered 429 Too Many Requests: its limiter refused whale (for a private instance, "
         "set server.limiter: false in its settings.yml)");
  }
  if (res->status != 200) {
    std::string body = res->body.substr(0, 200);
    fail(ErrorKind::kIo, where, " answered HTTP ", res->status, body.empty() ? "" : ": ", body);
  }
  return parse_searxng_reply(res->body, k, where);
}

std::vector<Document> parse_searxng_reply(const std::string& body, int k, const std::string& source) {
  const nlohmann::json reply = nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (reply.is_discarded()) {
    fail(ErrorKind::kFormat, source, " sent a reply that is not JSON (starts \"", body.substr(0, 60), "\")");
  }
  if (!reply.is_object() || !reply.contains("results") || !reply["results"].is_array()) {
    fail(ErrorKind::kFormat, source, " sent JSON without a \"results\" array; is this a SearxNG /search endpoint?");
  }
  std::vector<Document> out;
  const nlohmann::json& results = reply["results"];
  for (size_t i = 0; i < results.size() && static_cast<int>(out.size()) < k; ++i) {
    const nlohmann::json& r = results[i];
    if (!r.is_object()) fail(ErrorKind::kFormat, source, ": results[", i, "] is not an object");
    if (!r.contains("url") || !r["url"].is_string()) fail(ErrorKind::kFormat, source, ": results[", i, "] has no \"url\" string");
    Document d;
    d.url = r["url"].get<std::string>();
    if (r.contains("title") && !r["title"].is_null()) {
      if (!r["title"].is_string()) fail(ErrorKind::kFormat, source, ": results[", i, "].title is not a string");
      d.title = r["title"].get<std::string>();
    }
    if (d.title.empty()) d.title = d.url;
    if (r.contains("content") && !r["content"].is_null()) {
      if (!r["content"].is_string()) fail(ErrorKind::kFormat, source, ": results[", i, "].content is not a string");
      d.snippet = r["content"].get<std::string>();
    }
    d.text = d.snippet;
    if (r.contains("score") && r["score"].is_number()) d.score = r["score"].get<double>();
    out.push_back(std::move(d));
  }
  return out;
}

}  // namespace whale::search
