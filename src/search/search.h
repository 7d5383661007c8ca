// The search layer's nouns: a Document (one page a search returned) and a Searcher (a local Xapian
// index or a SearxNG instance), opened from the one string users pass as --search INDEX|URL.
#pragma once

#include <memory>
#include <string>
#include <vector>

namespace whale::search {

// One search result. `text` is what the model reads (the page's extracted text, cut to a budget);
// `snippet` is the short excerpt shown to people (CLI, web chat cards, the API's search_results).
struct Document {
  std::string title;
  std::string url;      // http(s) URL, or the indexed file's path as given to `whale index build`
  std::string snippet;
  std::string text;
  double score = 0;     // the engine's relevance (Xapian BM25 weight; SearxNG's score); higher is better
};

struct SearchOptions {
  int timeout_ms = 10000;          // SearxNG: connect + read timeout
  std::string language;            // SearxNG `language` parameter ("" = the instance's default)
};

class Searcher {
 public:
  virtual ~Searcher() = default;
  // The k best documents for `query`, best first. Throws whale::Error naming the problem (an
  // unreachable or malformed SearxNG reply, a damaged index); an empty result is not an error.
  virtual std::vector<Document> search(const std::string& query, int k) = 0;
  // One line for logs and the CLI: "index DIR (N documents)" or "SearxNG URL".
  virtual std::string describe() const = 0;
};

// `index_or_url`: an http:// or https:// URL speaks the SearxNG JSON API; anything else must be an
// index folder written by `whale index build`. Fails (whale::Error) when neither opens.
std::unique_ptr<Searcher> open_searcher(const std::string& index_or_url, const SearchOptions& options = {});

}  // namespace whale::search
