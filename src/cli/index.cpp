// `whale index build|add|search`: make a local search index of .txt/.md/.html/.pdf files, add to it,
// and query it (or a SearxNG instance) the way `--search` will for the model.
#include <cstdio>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "commands.h"
#include "core/error.h"
#include "core/progress.h"
#include "search/index.h"
#include "search/search.h"

namespace whale::cli {
namespace {

// Progress over files, drawn once the total is known (the first file's callback).
search::IndexOptions progress_options(std::unique_ptr<core::Progress>& bar) {
  search::IndexOptions options;
  options.on_file = [&bar](int64_t done, int64_t total, const std::string&) {
    if (!bar) bar = std::make_unique<core::Progress>("indexing", total, core::ProgressOptions{.unit = "files"});
    bar->set(done);
  };
  return options;
}

void report(const search::IndexStats& s, const std::string& index_dir) {
  if (!s.failures.empty()) {
    for (const std::string& f : s.failures) std::fprintf(stderr, "whale: warning: skipped %s\n", f.c_str());
  }
  std::printf("%s: %lld new, %lld replaced, %lld unchanged, %lld without text, %lld unreadable; %lld passages written\n",
              index_dir.c_str(), static_cast<long long>(s.files_added), static_cast<long long>(s.files_replaced),
              static_cast<long long>(s.files_unchanged), static_cast<long long>(s.files_empty),
              static_cast<long long>(s.failures.size()), static_cast<long long>(s.passages));
}

// One line: newlines in a snippet would break the listing.
std::string one_line(std::string s) {
  for (char& c : s) {
    if (c == '\n' || c == '\r' || c == '\t') c = ' ';
  }
  return s;
}

}  // namespace

void add_index_command(CLI::App& app) {
  CLI::App* index = app.add_subcommand("index", "Local search index (Xapian) of .txt, .md, .html and .pdf files");
  index->require_subcommand(1);

  struct BuildOpts {
    std::vector<std::string> inputs;
    std::string out;
  };
  auto build = std::make_shared<BuildOpts>();
  CLI::App* b = index->add_subcommand("build", "Index files and folders into a new index (replaces INDEX atomically)");
  b->add_option("inputs", build->inputs, "Files and folders (walked recursively; hidden entries skipped)")->required();
  b->add_option("--out,-o", build->out, "The index folder to write")->required();
  b->callback([build] {
    std::unique_ptr<core::Progress> bar;
    const search::IndexStats stats = search::build_index(build->out, build->inputs, progress_options(bar));
    if (bar) bar->finish();
    report(stats, build->out);
  });

  struct AddOpts {
    std::string index;
    std::vector<std::string> inputs;
  };
  auto add = std::make_shared<AddOpts>();
  CLI::App* a = index->add_subcommand("add", "Add new and changed files to an index (unchanged files are skipped)");
  a->add_option("index", add->index, "The index folder, made by `whale index build`")->required();
  a->add_option("inputs", add->inputs, "Files and folders")->required();
  a->callback([add] {
    std::unique_ptr<core::Progress> bar;
    const search::IndexStats stats = search::add_to_index(add->index, add->inputs, progress_options(bar));
    if (bar) bar->finish();
    report(stats, add->index);
  });

  struct SearchOpts {
    std::string source, query, language;
    int k = 5;
    int timeout_ms = 10000;
    bool json = false;
  };
  auto q = std::make_shared<SearchOpts>();
  CLI::App* s = index->add_subcommand("search", "Search an index folder or a SearxNG instance (http(s):// URL)");
  s->add_option("source", q->source, "An index folder, or a SearxNG URL")->required();
  s->add_option("query", q->query, "What to search for")->required();
  s->add_option("-k", q->k, "How many results")->capture_default_str()->check(CLI::Range(1, 1000));
  s->add_flag("--json", q->json, "Print a JSON array (rank, title, url, snippet, score, text)");
  s->add_option("--timeout-ms", q->timeout_ms, "SearxNG: connect and read timeout")->capture_default_str()->check(CLI::Range(1, 600000));
  s->add_option("--language", q->language, "SearxNG: the language parameter (e.g. en, zh-CN)");
  s->callback([q] {
    const auto searcher = search::open_searcher(q->source, {.timeout_ms = q->timeout_ms, .language = q->language});
    const std::vector<search::Document> docs = searcher->search(q->query, q->k);
    if (q->json) {
      nlohmann::json out = nlohmann::json::array();
      for (size_t i = 0; i < docs.size(); ++i) {
        out.push_back({{"rank", i + 1}, {"title", docs[i].title}, {"url", docs[i].url}, {"snippet", docs[i].snippet},
                       {"score", docs[i].score}, {"text", docs[i].text}});
      }
      std::printf("%s\n", out.dump(2).c_str());
      return;
    }
    if (docs.empty()) std::fprintf(stderr, "no results in %s\n", searcher->describe().c_str());
    for (size_t i = 0; i < docs.size(); ++i) {
      std::printf("%zu. %s  (score %.3f)\n   %s\n   %s\n", i + 1, one_line(docs[i].title).c_str(), docs[i].score,
                  docs[i].url.c_str(), one_line(docs[i].snippet).c_str());
    }
  });
}

}  // namespace whale::cli
