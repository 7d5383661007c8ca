// The local index on Xapian: files → passages → Xapian documents (English stemming, CJK n-grams),
// per-file records in the database's metadata for incremental adds, atomic builds and BM25 search.
#include "search/index.h"

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xapian.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>

#include "core/error.h"
#include "search/extract.h"
#include "search/passages.h"

namespace whale::search {
namespace fs = std::filesystem;
namespace {

// Database metadata: the format marker, and one record per file ("F" + the file's key).
constexpr const char* kFormatKey = "whale.index";
constexpr const char* kFormatVersion = "1";
constexpr Xapian::valueno kSlotFile = 0;  // the file's key: results collapse to one passage per file

// A stable 64-bit FNV-1a of the file's canonical path: Xapian terms and metadata keys have a length
// limit (~245 bytes) that paths may pass, so the path itself lives in the record.
std::string file_key(const std::string& canonical_path) {
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : canonical_path) h = (h ^ c) * 1099511628211ull;
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(h));
  return buf;
}
std::string record_key(const std::string& key) { return "F" + key; }
std::string file_term(const std::string& key) { return "P" + key; }  // on every passage of the file

void configure(Xapian::TermGenerator& tg) {
  tg.set_stemmer(Xapian::Stem("en"));
  tg.set_stemming_strategy(Xapian::TermGenerator::STEM_SOME);
  tg.set_flags(Xapian::TermGenerator::FLAG_CJK_NGRAM);
}

struct FileInfo {
  std::string url;        // the path as the user spelled it
  std::string canonical;  // the identity across spellings
  int64_t size = 0;
  int64_t mtime_ns = 0;
};

FileInfo file_info(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) fail(ErrorKind::kNotFound, path, ": ", std::strerror(errno));
  std::error_code ec;
  fs::path canonical = fs::weakly_canonical(fs::absolute(path), ec);
  return {.url = path,
          .canonical = ec ? fs::absolute(path).lexically_normal().string() : canonical.string(),
          .size = static_cast<int64_t>(st.st_size),
          .mtime_ns = static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec};
}

// MSet::snippet writes HTML when it cuts the text (escaping &, < and >) but returns a text that fits
// as it is; whale's snippets are plain text either way, so those three characters go through it as
// private-use code points (not word characters, so no term changes) and come back after.
constexpr std::pair<char, std::string_view> kProtected[] = {{'&', "\uE000"}, {'<', "\uE001"}, {'>', "\uE002"}};

std::string plain_snippet(const Xapian::MSet& mset, const std::string& text, const Xapian::Stem& stem) {
  std::string guarded;
  guarded.reserve(text.size());
  for (char c : text) {
    const auto* p = std::find_if(std::begin(kProtected), std::end(kProtected), [c](const auto& e) { return e.first == c; });
    if (p != std::end(kProtected)) {
      guarded += p->second;
    } else {
      guarded += c;
    }
  }
  const std::string snippet = mset.snippet(guarded, 300, stem,
                                           Xapian::MSet::SNIPPET_BACKGROUND_MODEL | Xapian::MSet::SNIPPET_EXHAUSTIVE |
                                               Xapian::MSet::SNIPPET_CJK_NGRAM,
                                           "", "", "…");
  std::string out;
  out.reserve(snippet.size());
  for (size_t i = 0; i < snippet.size();) {
    const auto* p = std::find_if(std::begin(kProtected), std::end(kProtected),
                                 [&](const auto& e) { return std::string_view(snippet).substr(i, e.second.size()) == e.second; });
    if (p != std::end(kProtected)) {
      out += p->first;
      i += p->second.size();
    } else {
      out += snippet[i++];
    }
  }
  return out;
}

// Xapian's own messages name the table and the problem; whale adds which index and what to do.
[[noreturn]] void fail_xapian(const fs::path& dir, const Xapian::Error& e) {
  const std::string type = e.get_type();  // Xapian::Error has no virtual functions to cast by
  if (type == "DatabaseLockError") {
    fail(ErrorKind::kIo, "index ", dir.string(), " is being written by another process (", e.get_msg(), ")");
  }
  if (type == "DatabaseCorruptError" || type == "DatabaseOpeningError" || type == "DatabaseNotFoundError" ||
      type == "DatabaseVersionError") {
    fail(ErrorKind::kFormat, dir.string(), " is not a readable whale index (Xapian: ", e.get_description(),
         "); rebuild it with `whale index build`");
  }
  fail(ErrorKind::kIo, "index ", dir.string(), ": Xapian: ", e.get_description());
}

bool is_whale_index(const fs::path& dir) {
  try {
    Xapian::Database db(dir.string());
    return db.get_metadata(kFormatKey) == kFormatVersion;
  } catch (const Xapian::Error&) {
    return false;
  }
}

// Writes files into an open writable database; shared by build (a fresh database) and add.
class Writer {
 public:
  Writer(Xapian::WritableDatabase& db, const fs::path& dir, const IndexOptions& options)
      : db_(db), dir_(dir), options_(options) {
    configure(tg_);
  }

  IndexStats run(const std::vector<std::string>& files) {
    IndexStats stats;
    const auto total = static_cast<int64_t>(files.size());
    int since_commit = 0;
    std::set<std::string> seen;  // file keys written in this run: a file reached twice through links
    db_.begin_transaction();
    for (int64_t i = 0; i < total; ++i) {
      write_file(files[i], stats, seen);
      if (++since_commit >= std::max(1, options_.files_per_commit)) {
        db_.commit_transaction();
        db_.begin_transaction();
        since_commit = 0;
      }
      if (options_.on_file) options_.on_file(i + 1, total, files[i]);
    }
    db_.commit_transaction();
    return stats;
  }

 private:
  void write_file(const std::string& path, IndexStats& stats, std::set<std::string>& seen) {
    FileInfo info;
    try {
      info = file_info(path);
    } catch (const Error& e) {
      stats.failures.emplace_back(e.what());
      return;
    }
    const std::string key = file_key(info.canonical);
    if (!seen.insert(key).second) return;
    const std::string old = db_.get_metadata(record_key(key));
    if (!old.empty()) {
      const nlohmann::json rec = nlohmann::json::parse(old, nullptr, /*allow_exceptions=*/false);
      if (rec.is_object() && rec.value("size", int64_t{-1}) == info.size && rec.value("mtime_ns", int64_t{-1}) == info.mtime_ns &&
          rec.value("url", std::string()) == info.url) {
        ++stats.files_unchanged;
        return;
      }
    }
    ExtractedText extracted;
    try {
      extracted = extract_file(path);
    } catch (const Error& e) {
      stats.failures.emplace_back(e.what());
      return;
    }
    // The old passages go in the same transaction as the new ones: a reader sees one or the other.
    db_.delete_document(file_term(key));
    db_.set_metadata(record_key(key), "");
    std::string text = std::move(extracted.text);
    text.resize(utf8_cut(text, kMaxFileTextBytes));
    const std::vector<std::string> passages = split_passages(text);
    if (passages.empty()) {
      ++stats.files_empty;
      return;
    }
    const std::string title = extracted.title.empty() ? fs::path(path).filename().string() : extracted.title;
    for (size_t p = 0; p < passages.size(); ++p) {
      Xapian::Document doc;
      tg_.set_document(doc);
      tg_.index_text(title);
      tg_.increase_termpos();
      tg_.index_text(passages[p]);
      doc.add_boolean_term(file_term(key));
      doc.add_value(kSlotFile, key);
      doc.set_data(nlohmann::json{{"title", title}, {"url", info.url}, {"text", passages[p]}, {"passage", p}}.dump());
      db_.add_document(doc);
    }
    db_.set_metadata(record_key(key), nlohmann::json{{"url", info.url},
                                                      {"path", info.canonical},
                                                      {"size", info.size},
                                                      {"mtime_ns", info.mtime_ns},
                                                      {"passages", passages.size()}}
                                          .dump());
    ++(old.empty() ? stats.files_added : stats.files_replaced);
    stats.passages += static_cast<int64_t>(passages.size());
  }

  Xapian::WritableDatabase& db_;
  fs::path dir_;
  const IndexOptions& options_;
  Xapian::TermGenerator tg_;
};

// Temporary folders of builds that were killed (their process is gone) are removed.
void remove_stale_temps(const fs::path& index_dir) {
  const fs::path parent = index_dir.parent_path().empty() ? fs::path(".") : index_dir.parent_path();
  const std::string prefix = index_dir.filename().string() + ".tmp-";
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(parent, ec)) {
    const std::string name = entry.path().filename().string();
    if (!name.starts_with(prefix)) continue;
    const long pid = std::strtol(name.c_str() + prefix.size(), nullptr, 10);
    if (pid > 0 && ::kill(static_cast<pid_t>(pid), 0) != 0 && errno == ESRCH) fs::remove_all(entry.path(), ec);
  }
}

}  // namespace

std::vector<std::string> collect_files(const std::vector<std::string>& inputs) {
  std::set<std::string> files;
  for (const std::string& input : inputs) {
    std::error_code ec;
    const fs::file_status st = fs::status(input, ec);
    if (ec || !fs::exists(st)) fail(ErrorKind::kNotFound, input, ": no such file or folder");
    if (fs::is_directory(st)) {
      fs::recursive_directory_iterator it(input, fs::directory_options::skip_permission_denied, ec), end;
      if (ec) fail(ErrorKind::kIo, input, ": cannot read the folder: ", ec.message());
      for (; it != end; it.increment(ec)) {
        if (ec) fail(ErrorKind::kIo, input, ": cannot read the folder: ", ec.message());
        const std::string name = it->path().filename().string();
        if (name.starts_with(".")) {
          if (it->is_directory(ec)) it.disable_recursion_pending();
          continue;
        }
        if (it->is_regular_file(ec) && file_kind(name)) files.insert(it->path().lexically_normal().string());
      }
    } else {
      if (!file_kind(input)) {
        fail(ErrorKind::kInvalidArgument, input, ": not a file whale can index (.txt .text .md .markdown .html .htm .pdf)");
      }
      files.insert(fs::path(input).lexically_normal().string());
    }
  }
  return {files.begin(), files.end()};
}

IndexStats build_index(const fs::path& index_dir, const std::vector<std::string>& inputs, const IndexOptions& options) {
  const std::vector<std::string> files = collect_files(inputs);
  if (files.empty()) fail(ErrorKind::kInvalidArgument, "no .txt, .md, .html or .pdf files to index in the inputs given");
  std::error_code ec;
  if (fs::exists(index_dir, ec) && !(fs::is_directory(index_dir) && (fs::is_empty(index_dir) || is_whale_index(index_dir)))) {
    fail(ErrorKind::kInvalidArgument, index_dir.string(), " exists and is not a whale index; refusing to replace it");
  }
  const fs::path target = index_dir.filename().empty() ? index_dir.parent_path() : index_dir;
  remove_stale_temps(target);
  if (!target.parent_path().empty()) fs::create_directories(target.parent_path());
  const fs::path temp = target.string() + ".tmp-" + std::to_string(::getpid());
  fs::remove_all(temp);
  IndexStats stats;
  try {
    {
      Xapian::WritableDatabase db(temp.string(), Xapian::DB_CREATE_OR_OVERWRITE);
      db.set_metadata(kFormatKey, kFormatVersion);
      stats = Writer(db, temp, options).run(files);
      db.commit();
      db.close();
    }
    // Swap the finished index in: one rename, or an atomic exchange with the index already there.
    if (fs::exists(target)) {
      if (::renameat2(AT_FDCWD, temp.c_str(), AT_FDCWD, target.c_str(), RENAME_EXCHANGE) != 0) {
        if (errno != EINVAL && errno != ENOSYS) {
          fail(ErrorKind::kIo, "cannot swap the new index into ", target.string(), ": ", std::strerror(errno));
        }
        // A filesystem without RENAME_EXCHANGE: two renames, with a moment where INDEX is absent.
        const fs::path old = target.string() + ".old-" + std::to_string(::getpid());
        if (::rename(target.c_str(), old.c_str()) != 0) {
          fail(ErrorKind::kIo, "cannot move the old index ", target.string(), " aside: ", std::strerror(errno));
        }
        if (::rename(temp.c_str(), target.c_str()) != 0) {
          const int err = errno;
          (void)::rename(old.c_str(), target.c_str());
          fail(ErrorKind::kIo, "cannot rename the new index to ", target.string(), ": ", std::strerror(err));
        }
        fs::remove_all(old, ec);
      }
    } else if (::rename(temp.c_str(), target.c_str()) != 0) {
      fail(ErrorKind::kIo, "cannot rename the new index to ", target.string(), ": ", std::strerror(errno));
    }
    fs::remove_all(temp, ec);  // after an exchange, the old index
  } catch (const Xapian::Error& e) {
    fs::remove_all(temp, ec);
    fail_xapian(temp, e);
  } catch (...) {
    fs::remove_all(temp, ec);
    throw;
  }
  return stats;
}

IndexStats add_to_index(const fs::path& index_dir, const std::vector<std::string>& inputs, const IndexOptions& options) {
  std::error_code ec;
  if (!fs::is_directory(index_dir, ec)) {
    fail(ErrorKind::kNotFound, "no index at ", index_dir.string(), "; make one with `whale index build DIR --out ", index_dir.string(), "`");
  }
  const std::vector<std::string> files = collect_files(inputs);
  if (files.empty()) fail(ErrorKind::kInvalidArgument, "no .txt, .md, .html or .pdf files to add in the inputs given");
  try {
    Xapian::WritableDatabase db(index_dir.string(), Xapian::DB_OPEN);
    if (db.get_metadata(kFormatKey) != kFormatVersion) {
      fail(ErrorKind::kFormat, index_dir.string(), " is a Xapian database but not a whale index (version ",
           kFormatVersion, "); rebuild it with `whale index build`");
    }
    IndexStats stats = Writer(db, index_dir, options).run(files);
    db.close();
    return stats;
  } catch (const Xapian::Error& e) {
    fail_xapian(index_dir, e);
  }
}

namespace {

// The index folder's identity: `whale index build` swaps in a new folder under the same name.
std::pair<dev_t, ino_t> folder_id(const fs::path& dir) {
  struct stat st {};
  if (::stat(dir.c_str(), &st) != 0) return {0, 0};
  return {st.st_dev, st.st_ino};
}

}  // namespace

struct IndexSearcher::Impl {
  fs::path dir;
  std::mutex mutex;  // a Xapian::Database is not safe to use from two threads at once
  std::pair<dev_t, ino_t> id;
  Xapian::Database db;
  Xapian::TermGenerator tg;
  Xapian::Stem stem{"en"};

  void open() {
    id = folder_id(dir);
    db = Xapian::Database(dir.string());
    if (db.get_metadata(kFormatKey) != kFormatVersion) {
      fail(ErrorKind::kFormat, dir.string(), " is not a whale index (no \"", kFormatKey, "\" = ", kFormatVersion,
           " marker); build one with `whale index build`");
    }
  }
  // Sees what `whale index add` committed since, or the folder a rebuild swapped in.
  void refresh() {
    if (folder_id(dir) != id) {
      open();
    } else {
      db.reopen();
    }
  }
};

IndexSearcher::IndexSearcher(const fs::path& index_dir) : impl_(std::make_unique<Impl>()) {
  impl_->dir = index_dir;
  std::error_code ec;
  if (!fs::exists(index_dir, ec)) fail(ErrorKind::kNotFound, "no index at ", index_dir.string());
  if (!fs::is_directory(index_dir, ec)) fail(ErrorKind::kInvalidArgument, index_dir.string(), " is a file, not an index folder");
  try {
    impl_->open();
  } catch (const Xapian::Error& e) {
    fail_xapian(index_dir, e);
  }
  configure(impl_->tg);
}

IndexSearcher::~IndexSearcher() = default;

int64_t IndexSearcher::passage_count() const {
  std::lock_guard lock(impl_->mutex);
  return impl_->db.get_doccount();
}

int64_t IndexSearcher::file_count() const {
  std::lock_guard lock(impl_->mutex);
  int64_t n = 0;
  for (auto it = impl_->db.metadata_keys_begin("F"); it != impl_->db.metadata_keys_end("F"); ++it) {
    if (!impl_->db.get_metadata(*it).empty()) ++n;
  }
  return n;
}

std::vector<std::string> IndexSearcher::check() const {
  std::lock_guard lock(impl_->mutex);
  std::vector<std::string> problems;
  try {
    impl_->refresh();
    Xapian::doccount in_records = 0;
    for (auto it = impl_->db.metadata_keys_begin("F"); it != impl_->db.metadata_keys_end("F"); ++it) {
      const std::string value = impl_->db.get_metadata(*it);
      const nlohmann::json rec = nlohmann::json::parse(value, nullptr, false);
      if (!rec.is_object() || !rec.contains("passages")) {
        problems.push_back(cat("record ", *it, " is damaged"));
        continue;
      }
      const auto want = rec["passages"].get<Xapian::doccount>();
      const Xapian::doccount have = impl_->db.get_termfreq(file_term((*it).substr(1)));
      if (want != have) problems.push_back(cat(rec.value("url", *it), ": ", have, " passages indexed, record says ", want));
      in_records += want;
    }
    if (in_records != impl_->db.get_doccount()) {
      problems.push_back(cat(impl_->db.get_doccount(), " passages in the index, ", in_records, " in file records"));
    }
  } catch (const Xapian::Error& e) {
    fail_xapian(impl_->dir, e);
  }
  return problems;
}

std::string IndexSearcher::describe() const {
  return cat("index ", impl_->dir.string(), " (", file_count(), " files, ", passage_count(), " passages)");
}

std::vector<Document> IndexSearcher::search(const std::string& query, int k) {
  if (k <= 0) return {};
  std::lock_guard lock(impl_->mutex);
  // The query is the bag of terms the indexer would make of it (stems, CJK unigrams and bigrams),
  // OR-ed and ranked by BM25: a question in either language matches on its words, where
  // QueryParser would AND all of a CJK run's n-grams together.
  Xapian::Document scratch;
  impl_->tg.set_document(scratch);
  impl_->tg.index_text(query);
  // A word indexed both as itself and as its stem ("sharks", "Zshark") is queried by its stem only:
  // with both, a page repeating the query's exact inflection ("whale sharks") outranks the page that
  // answers it ("the whale shark ... eats plankton").
  std::set<std::string> indexed;
  for (auto it = scratch.termlist_begin(); it != scratch.termlist_end(); ++it) indexed.insert(*it);
  std::vector<Xapian::Query> terms;
  for (auto it = scratch.termlist_begin(); it != scratch.termlist_end(); ++it) {
    const std::string term = *it;
    if (term[0] != 'Z' && indexed.count("Z" + impl_->stem(term))) continue;
    terms.emplace_back(term, it.get_wdf());
  }
  if (terms.empty()) return {};
  const Xapian::Query q(Xapian::Query::OP_OR, terms.begin(), terms.end());
  for (int attempt = 0;; ++attempt) {
    try {
      impl_->refresh();
      Xapian::Enquire enquire(impl_->db);
      enquire.set_query(q);
      enquire.set_weighting_scheme(Xapian::BM25Weight());
      enquire.set_collapse_key(kSlotFile);
      const Xapian::MSet mset = enquire.get_mset(0, static_cast<Xapian::doccount>(k));
      std::vector<Document> out;
      for (auto it = mset.begin(); it != mset.end(); ++it) {
        const nlohmann::json data = nlohmann::json::parse(it.get_document().get_data(), nullptr, false);
        if (!data.is_object()) fail(ErrorKind::kFormat, impl_->dir.string(), ": document ", *it, " has damaged data");
        Document d;
        d.title = data.value("title", "");
        d.url = data.value("url", "");
        d.text = data.value("text", "");
        d.snippet = plain_snippet(mset, d.text, impl_->stem);
        d.score = it.get_weight();
        out.push_back(std::move(d));
      }
      return out;
    } catch (const Xapian::DatabaseModifiedError&) {
      if (attempt >= 3) fail(ErrorKind::kIo, "index ", impl_->dir.string(), " keeps changing under the search; try again");
    } catch (const Xapian::Error& e) {
      fail_xapian(impl_->dir, e);
    }
  }
}

}  // namespace whale::search
