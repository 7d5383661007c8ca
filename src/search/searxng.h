// The SearxNG client: one GET of `{URL}/search?q=…&format=json` per query, its `results` array read
// into Documents, and every way that can fail (unreachable, slow, refused, malformed) named.
#pragma once

#include <string>
#include <vector>

namespace httplib {
class Client;
}

#include "search/search.h"

namespace whale::search {

class SearxngSearcher : public Searcher {
 public:
  // `url`: the instance's base, http://host[:port][/prefix] or https://… . Fails on a URL that
  // cannot be one; nothing is contacted until the first search.
  SearxngSearcher(const std::string& url, const SearchOptions& options);
  // SearxNG's order (its own score, best first), at most k, the same URL once. A result's `text` is its `content`
  // (SearxNG returns no page text); `snippet` is the same excerpt.
  std::vector<Document> search(const std::string& query, int k) override;
  std::string describe() const override;
  static constexpr int kMaxPages = 5;  // pages asked for at most, while fewer than k results came

 private:
  std::vector<Document> get_page(httplib::Client& client, const std::string& query, int page, int k);
  std::string scheme_host_port_;  // "http://127.0.0.1:8888"
  std::string base_path_;         // "" or "/searx"
  SearchOptions options_;
};

// The JSON reply of SearxNG's /search, parsed (exposed for tests). `source` names the reply in errors.
std::vector<Document> parse_searxng_reply(const std::string& body, int k, const std::string& source);

}  // namespace whale::search
