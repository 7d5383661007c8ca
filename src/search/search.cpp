// open_searcher: the one place `--search INDEX|URL` becomes a Searcher.
#include "search/search.h"

#include "core/error.h"
#include "search/index.h"
#include "search/searxng.h"

namespace whale::search {

std::unique_ptr<Searcher> open_searcher(const std::string& index_or_url, const SearchOptions& options) {
  if (index_or_url.empty()) fail(ErrorKind::kInvalidArgument, "--search needs an index folder or a SearxNG http(s):// URL");
  std::string head = index_or_url.substr(0, 8);
  for (char& c : head) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (head.starts_with("http://") || head.starts_with("https://")) {
    return std::make_unique<SearxngSearcher>(index_or_url, options);
  }
  if (index_or_url.find("://") != std::string::npos) {
    fail(ErrorKind::kInvalidArgument, "--search ", index_or_url, ": only http:// and https:// SearxNG URLs are supported");
  }
  return std::make_unique<IndexSearcher>(index_or_url);
}

}  // namespace whale::search
