// The local search index: a folder holding one Xapian database of passages (~1.5 KB pieces of each
// file's extracted text), built atomically, updated incrementally, searched with BM25.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "search/passages.h"
#include "search/search.h"

namespace whale::search {

// A file's extracted text is cut to this many bytes before it is split (a book-sized file still
// indexes, its tail beyond the cap is not searched); documented in docs/search.md.
constexpr size_t kMaxFileTextBytes = 4 << 20;

struct IndexOptions {
  // Called after each file with (files done, files in all, the file's path); the CLI draws progress.
  std::function<void(int64_t, int64_t, const std::string&)> on_file;
  int files_per_commit = 200;  // files written between two Xapian commits (each commit is atomic)
};

struct IndexStats {
  int64_t files_added = 0;      // new to the index
  int64_t files_replaced = 0;   // indexed before, changed since (size or mtime), re-read
  int64_t files_unchanged = 0;  // indexed before with the same size and mtime: skipped
  int64_t files_empty = 0;      // no text (an image-only PDF, an empty file): not indexed
  int64_t passages = 0;         // Xapian documents written
  std::vector<std::string> failures;  // "PATH: why" for files that could not be read; the rest went on
};

// The files `inputs` name: each file as given (its kind must be known), each folder walked
// recursively for .txt/.md/.html/.pdf files (hidden files and folders skipped), sorted, deduplicated.
std::vector<std::string> collect_files(const std::vector<std::string>& inputs);

// Writes a new index of `inputs` into a temporary folder beside `index_dir` and renames it into
// place (swapping atomically with an index already there), so a failed or killed build leaves any
// previous index as it was.
IndexStats build_index(const std::filesystem::path& index_dir, const std::vector<std::string>& inputs,
                       const IndexOptions& options = {});

// Adds `inputs` to an existing index: new files are added, changed files replace all their
// passages, unchanged files are skipped. Work is committed every files_per_commit files; a process
// killed in between leaves the index at its last commit, which Xapian keeps readable.
IndexStats add_to_index(const std::filesystem::path& index_dir, const std::vector<std::string>& inputs,
                        const IndexOptions& options = {});

// A read-only view of an index folder. Throws whale::Error when the folder is missing, is not a
// Xapian database, or was not written by whale.
class IndexSearcher : public Searcher {
 public:
  explicit IndexSearcher(const std::filesystem::path& index_dir);
  ~IndexSearcher() override;
  // Best passage per file (Xapian collapses on the file), k files, BM25 order; `text` is that
  // passage, `snippet` an excerpt of it around the matched terms.
  std::vector<Document> search(const std::string& query, int k) override;
  std::string describe() const override;
  int64_t file_count() const;
  int64_t passage_count() const;
  // Problems found by walking the whole index (empty when none): every file record's passage count
  // matches the documents carrying its term, and every document belongs to a record.
  std::vector<std::string> check() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace whale::search
