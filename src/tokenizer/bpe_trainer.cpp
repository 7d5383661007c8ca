// BPE training with incremental pair counts: each merge touches only the words that contain the
// pair (found through a pair -> words index), and a lazily updated heap picks the most frequent
// pair (ties: smallest pair, so training is deterministic).
#include "tokenizer/bpe_trainer.h"

#include <filesystem>
#include <nlohmann/json.hpp>
#include <queue>
#include <unordered_map>
#include <unordered_set>

#include "core/error.h"
#include "core/mapped_file.h"
#include "formats/tokenizer_files.h"
#include "tokenizer/regex.h"
#include "tokenizer/tokenizer_impl.h"
#include "tokenizer/utf8.h"

namespace whale::tokenizer {
namespace {

uint64_t pair_key(int32_t a, int32_t b) { return (static_cast<uint64_t>(a) << 32) | static_cast<uint32_t>(b); }

constexpr int64_t kBos = 0, kEos = 1;

}  // namespace

const char* const kTrainPattern =
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

const char* const kDigitHanPattern =
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|\\p{Han}|[^\\r\\n\\p{L}\\p{N}]?[^\\P{L}\\p{Han}]+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

size_t trained_base_vocab() { return 256 + formats::deepseek_special_tokens(kBos, kEos).size(); }

TrainedBpe train_bpe(const std::vector<std::string>& texts, const BpeTrainOptions& options) {
  if (options.vocab_size < trained_base_vocab()) {
    fail(ErrorKind::kInvalidArgument, "--vocab ", options.vocab_size, " is below the ", trained_base_vocab(),
         " byte and special tokens");
  }
  const Regex regex(options.pattern, "training pre-tokenizer");
  std::unordered_map<std::string, int64_t> counts;
  for (const std::string& text : texts) {
    if (utf8_invalid_offset(text) != text.size()) fail(ErrorKind::kInvalidArgument, "training text is not valid UTF-8");
    size_t prev = 0;
    auto add = [&](size_t b, size_t e) {
      if (e > b) ++counts[text.substr(b, e - b)];
    };
    regex.for_each_match(text, [&](size_t b, size_t e) {
      add(prev, b);
      add(b, e);
      prev = e;
    });
    add(prev, text.size());
  }
  std::vector<std::vector<int32_t>> words;
  std::vector<int64_t> freq;
  for (const auto& [w, c] : counts) {
    words.emplace_back(w.begin(), w.end());
    for (auto& s : words.back()) s &= 0xFF;  // char may be signed
    freq.push_back(c);
  }
  std::unordered_map<uint64_t, int64_t> pair_count;
  std::unordered_map<uint64_t, std::unordered_set<int32_t>> where;
  for (size_t w = 0; w < words.size(); ++w) {
    for (size_t i = 0; i + 1 < words[w].size(); ++i) {
      const uint64_t k = pair_key(words[w][i], words[w][i + 1]);
      pair_count[k] += freq[w];
      where[k].insert(static_cast<int32_t>(w));
    }
  }
  using Entry = std::pair<int64_t, uint64_t>;  // (count, pair); highest count, then smallest pair
  auto worse = [](const Entry& a, const Entry& b) { return a.first != b.first ? a.first < b.first : a.second > b.second; };
  std::priority_queue<Entry, std::vector<Entry>, decltype(worse)> heap(worse);
  for (const auto& [k, c] : pair_count) heap.push({c, k});

  TrainedBpe out;
  const size_t want = options.vocab_size - trained_base_vocab();
  while (out.merges.size() < want && !heap.empty()) {
    const auto [c, k] = heap.top();
    heap.pop();
    const auto it = pair_count.find(k);
    if (it == pair_count.end() || it->second != c) continue;  // stale
    if (c < options.min_frequency) break;
    const auto a = static_cast<int32_t>(k >> 32), b = static_cast<int32_t>(k & 0xFFFFFFFF);
    const int32_t merged = static_cast<int32_t>(256 + out.merges.size());
    out.merges.emplace_back(a, b);
    std::unordered_map<uint64_t, int64_t> delta;
    const auto words_with = where[k];
    for (const int32_t w : words_with) {
      std::vector<int32_t>& s = words[static_cast<size_t>(w)];
      for (size_t i = 0; i + 1 < s.size(); ++i) delta[pair_key(s[i], s[i + 1])] -= freq[static_cast<size_t>(w)];
      std::vector<int32_t> t;
      for (size_t i = 0; i < s.size(); ++i) {
        if (i + 1 < s.size() && s[i] == a && s[i + 1] == b) {
          t.push_back(merged);
          ++i;
        } else {
          t.push_back(s[i]);
        }
      }
      s.swap(t);
      for (size_t i = 0; i + 1 < s.size(); ++i) {
        const uint64_t nk = pair_key(s[i], s[i + 1]);
        delta[nk] += freq[static_cast<size_t>(w)];
        where[nk].insert(w);
      }
    }
    for (const auto& [pk, d] : delta) {
      if (d == 0) continue;
      int64_t& n = pair_count[pk];
      n += d;
      if (n <= 0) {
        pair_count.erase(pk);
      } else {
        heap.push({n, pk});
      }
    }
    pair_count.erase(k);
    where.erase(k);
  }
  return out;
}

std::string trained_tokenizer_json(const TrainedBpe& bpe, const std::string& pattern) {
  using nlohmann::ordered_json;
  const auto specials = formats::deepseek_special_tokens(kBos, kEos);
  ordered_json j = ordered_json::parse(formats::byte_level_tokenizer_json(specials));
  ordered_json& vocab = j["model"]["vocab"];
  int64_t next = 0;
  for (const auto& [t, id] : vocab.items()) next = std::max(next, id.get<int64_t>() + 1);
  for (const auto& s : specials) next = std::max(next, s.id + 1);
  std::vector<std::string> text(256);
  for (int b = 0; b < 256; ++b) text[static_cast<size_t>(b)] = byte_to_text()[static_cast<size_t>(b)];
  ordered_json merges = ordered_json::array();
  for (const auto& [a, b] : bpe.merges) {
    const std::string& ta = text[static_cast<size_t>(a)];
    const std::string& tb = text[static_cast<size_t>(b)];
    merges.push_back({ta, tb});
    std::string merged = ta + tb;  // before push_back: it may move `text` and leave ta, tb dangling
    if (!vocab.contains(merged)) vocab[merged] = next++;
    text.push_back(std::move(merged));
  }
  j["model"]["merges"] = merges;
  j["pre_tokenizer"] = {{"type", "Sequence"},
                        {"pretokenizers",
                         {{{"type", "Split"}, {"pattern", {{"Regex", pattern}}}, {"behavior", "Isolated"}, {"invert", false}},
                          {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"trim_offsets", false}, {"use_regex", false}}}}};
  j["decoder"] = {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"trim_offsets", false}, {"use_regex", false}};
  return j.dump(1) + "\n";
}

void train_tokenizer_files(const std::vector<std::string>& files, const BpeTrainOptions& options,
                           const std::string& out_dir) {
  if (files.empty()) fail(ErrorKind::kInvalidArgument, "no training files given");
  std::vector<std::string> texts;
  for (const std::string& f : files) {
    texts.push_back(core::read_file(f));
    if (utf8_invalid_offset(texts.back()) != texts.back().size()) {
      fail(ErrorKind::kInvalidArgument, f, ": not valid UTF-8 at byte ", utf8_invalid_offset(texts.back()));
    }
  }
  const TrainedBpe bpe = train_bpe(texts, options);
  std::filesystem::create_directories(out_dir);
  const auto specials = formats::deepseek_special_tokens(kBos, kEos);
  core::write_file_atomic(out_dir + "/tokenizer.json", trained_tokenizer_json(bpe, options.pattern));
  core::write_file_atomic(out_dir + "/tokenizer_config.json",
                          formats::deepseek_tokenizer_config_json(specials, kBos, kEos, 16384));
}

}  // namespace whale::tokenizer
