// The file format, the checks a file must pass before its rows are used, and the LRU index by size.
#include "engine/disk_cache.h"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <vector>

#include "core/error.h"
#include "core/log.h"

namespace whale::engine {

namespace fs = std::filesystem;

namespace {

constexpr char kMagic[8] = {'W', 'H', 'A', 'L', 'E', 'K', 'V', 'C'};
constexpr uint32_t kVersion = 1;

// Little-endian as the machine writes it (x86-64, aarch64); a file from a big-endian machine fails
// the magic/checksum checks and is a miss.
struct Header {
  char magic[8];
  uint32_t version;
  uint32_t block_size;
  uint64_t model_id;
  uint32_t kv_dtype;
  uint32_t layers;
  uint32_t row_width;
  uint32_t row_bytes;
  uint64_t chain;          // BlockManager::chain_hash of the prefix through this block (the file name)
  uint64_t check;          // check_hash of the same prefix
  uint64_t payload_bytes;  // block tokens (int32) + rows
  uint64_t payload_sum;    // checksum64 of the payload
  uint64_t header_sum;     // checksum64 of the fields above
};
static_assert(sizeof(Header) == 80);

uint64_t rotl(uint64_t x, int r) { return (x << r) | (x >> (64 - r)); }

struct Hasher {
  uint64_t h = 0x243F6A8885A308D3ull;
  void bytes(const void* p, size_t n) { h = checksum64(p, n, h); }
  template <class T>
  void value(const T& v) {
    bytes(&v, sizeof v);
  }
  void floats(const std::vector<float>& v) {
    value(v.size());
    bytes(v.data(), v.size() * sizeof(float));
  }
  void tensor(const core::Tensor& t) {
    if (!t.defined() || t.numel() == 0 || !t.raw()) {
      value(uint64_t{0});
      return;
    }
    value(static_cast<uint32_t>(t.dtype()));
    for (int64_t d : t.shape().to_vector()) value(d);
    const int64_t n = t.nbytes();
    value(n);
    const auto* p = static_cast<const uint8_t*>(t.raw());
    constexpr int64_t kSamples = 16, kSpan = 64;
    if (n <= kSamples * kSpan) {
      bytes(p, static_cast<size_t>(n));
      return;
    }
    for (int64_t i = 0; i < kSamples; ++i) bytes(p + (n - kSpan) * i / (kSamples - 1), kSpan);
  }
  void view(const model::WeightView& v) {
    tensor(v.w);
    tensor(v.scale_inv);
  }
  void mlp(const model::MlpWeights& m) {
    view(m.gate);
    view(m.up);
    view(m.down);
  }
};

}  // namespace

uint64_t checksum64(const void* data, size_t n, uint64_t seed) {
  constexpr uint64_t kP = 0x9E3779B97F4A7C15ull;
  const auto* p = static_cast<const uint8_t*>(data);
  uint64_t h = seed ^ (n * kP);
  size_t i = 0;
  // Four independent lanes keep the multiplies in flight; each step is a bijection of its lane for a
  // fixed word and injective in the word, so one changed word always changes the result.
  uint64_t l[4] = {h, h + 1, h + 2, h + 3};
  for (; i + 32 <= n; i += 32) {
    for (int k = 0; k < 4; ++k) {
      uint64_t w;
      std::memcpy(&w, p + i + 8 * k, 8);
      l[k] = rotl((l[k] ^ w) * kP, 29);
    }
  }
  h = l[0] ^ rotl(l[1], 16) ^ rotl(l[2], 32) ^ rotl(l[3], 48);
  for (; i + 8 <= n; i += 8) {
    uint64_t w;
    std::memcpy(&w, p + i, 8);
    h = rotl((h ^ w) * kP, 29);
  }
  for (; i < n; ++i) h = rotl((h ^ p[i]) * kP, 29);
  h ^= h >> 31;
  h *= 0xBF58476D1CE4E5B9ull;
  return h ^ (h >> 29);
}

uint64_t check_hash(uint64_t prev, std::span<const int32_t> tokens) {
  uint64_t h = prev ^ 0xCBF29CE484222325ull;
  for (int32_t t : tokens) {
    uint32_t u = static_cast<uint32_t>(t);
    for (int b = 0; b < 4; ++b) {
      h ^= (u >> (8 * b)) & 0xFF;
      h *= 0x100000001B3ull;
    }
  }
  return h;
}

uint64_t model_fingerprint(const model::Weights& w) {
  Hasher h;
  const formats::ModelArgs& a = w.args;
  h.bytes(a.model_type.data(), a.model_type.size());
  for (int64_t v : {a.vocab_size, a.hidden_size, a.intermediate_size, a.num_hidden_layers, a.num_attention_heads,
                    a.num_key_value_heads, a.head_dim, a.q_lora_rank, a.kv_lora_rank, a.qk_nope_head_dim,
                    a.qk_rope_head_dim, a.v_head_dim, a.n_routed_experts, a.num_experts_per_tok,
                    a.num_nextn_predict_layers}) {
    h.value(v);
  }
  h.value(a.rms_norm_eps);
  h.value(a.rope_theta);
  h.view(w.embed);
  h.view(w.lm_head);
  h.floats(w.final_norm);
  for (const model::LayerWeights& l : w.layers) {
    h.floats(l.attn_norm);
    h.floats(l.ffn_norm);
    for (const model::WeightView* v : {&l.mla.q_a, &l.mla.q_b, &l.mla.q, &l.mla.kv_a, &l.mla.kv_b, &l.mla.o,
                                       &l.gqa.q, &l.gqa.k, &l.gqa.v, &l.gqa.o, &l.moe.router, &l.mtp.embed,
                                       &l.mtp.eh_proj, &l.mtp.head}) {
      h.view(*v);
    }
    for (const std::vector<float>* v : {&l.mla.q_a_norm, &l.mla.kv_a_norm, &l.gqa.q_bias, &l.gqa.k_bias,
                                        &l.gqa.v_bias, &l.moe.router_bias, &l.mtp.enorm, &l.mtp.hnorm,
                                        &l.mtp.head_norm}) {
      h.floats(*v);
    }
    h.mlp(l.mlp);
    h.value(l.moe.experts.size());
    for (const model::MlpWeights& e : l.moe.experts) h.mlp(e);
    if (l.moe.has_shared) h.mlp(l.moe.shared);
  }
  return h.h;
}

int64_t parse_byte_size(std::string_view text) {
  std::string s(text);
  double mult = 1;
  if (!s.empty()) {
    const char c = static_cast<char>(std::toupper(static_cast<unsigned char>(s.back())));
    const std::string_view units = "KMGT";
    if (const size_t u = units.find(c); u != std::string_view::npos) {
      mult = std::pow(1024.0, static_cast<double>(u + 1));
      s.pop_back();
    } else if (c == 'B') {
      s.pop_back();
    }
  }
  size_t used = 0;
  double v = -1;
  try {
    v = std::stod(s, &used);
  } catch (...) {
    used = 0;
  }
  if (s.empty() || used != s.size() || !(v > 0) || v * mult > 9.0e18) {
    fail(ErrorKind::kInvalidArgument, "size '", text, "': expected a positive number of bytes, optionally with K, M, G or T");
  }
  return static_cast<int64_t>(v * mult);
}

DiskCache::DiskCache(std::string dir, int64_t max_bytes, KvFormat format)
    : dir_(std::move(dir)), max_bytes_(max_bytes), format_(format) {
  if (max_bytes_ <= 0) fail(ErrorKind::kInvalidArgument, "the disk cache needs a positive size");
  std::error_code ec;
  fs::create_directories(dir_, ec);
  if (!fs::is_directory(dir_)) fail(ErrorKind::kInvalidArgument, "--cache-dir ", dir_, " is not a directory we can create");
  struct Found {
    fs::file_time_type time;
    uint64_t chain;
    int64_t bytes;
  };
  std::vector<Found> found;
  for (const fs::directory_entry& e : fs::directory_iterator(dir_, ec)) {
    const std::string name = e.path().filename().string();
    if (name.find(".kv.tmp") != std::string::npos) {  // a write a crash interrupted
      fs::remove(e.path(), ec);
      continue;
    }
    if (name.size() != 19 || !name.ends_with(".kv") || !e.is_regular_file(ec)) continue;
    char* end = nullptr;
    const uint64_t chain = std::strtoull(name.c_str(), &end, 16);
    if (end != name.c_str() + 16) continue;
    found.push_back({e.last_write_time(ec), chain, static_cast<int64_t>(e.file_size(ec))});
  }
  std::ranges::sort(found, {}, &Found::time);
  for (const Found& f : found) add(f.chain, f.bytes);
  evict();
}

int64_t DiskCache::block_bytes() const {
  return static_cast<int64_t>(format_.layers) * format_.block_size * format_.row_bytes;
}

std::string DiskCache::path_of(uint64_t chain) const {
  char name[32];
  std::snprintf(name, sizeof name, "%016llx.kv", static_cast<unsigned long long>(chain));
  return (fs::path(dir_) / name).string();
}

void DiskCache::add(uint64_t chain, int64_t bytes) {
  if (auto it = index_.find(chain); it != index_.end()) {
    stats_.bytes -= it->second.bytes;
    lru_.erase(it->second.lru);
    index_.erase(it);
  }
  lru_.push_back(chain);
  index_.emplace(chain, Entry{bytes, std::prev(lru_.end())});
  stats_.bytes += bytes;
  stats_.files = static_cast<int64_t>(index_.size());
}

void DiskCache::drop(uint64_t chain) {
  auto it = index_.find(chain);
  if (it == index_.end()) return;
  std::error_code ec;
  fs::remove(path_of(chain), ec);
  stats_.bytes -= it->second.bytes;
  lru_.erase(it->second.lru);
  index_.erase(it);
  stats_.files = static_cast<int64_t>(index_.size());
}

void DiskCache::evict() {
  while (stats_.bytes > max_bytes_ && !lru_.empty()) {
    drop(lru_.front());
    ++stats_.evictions;
  }
}

void DiskCache::reject(uint64_t chain, bool foreign, const std::string& why) {
  ++(foreign ? stats_.foreign : stats_.corrupt);
  bool& warned = foreign ? warned_foreign_ : warned_corrupt_;
  if (!warned) {
    warned = true;
    core::log_warn("disk cache: ignoring ", path_of(chain), ": ", why,
                   foreign ? " (further files of other models are ignored silently; they are replaced as blocks are computed)"
                           : " (further damaged files are ignored silently; they are recomputed)");
  }
  drop(chain);
}

bool DiskCache::load(uint64_t chain, uint64_t check, std::span<const int32_t> tokens, std::span<uint8_t> rows) {
  if (!contains(chain)) {
    ++stats_.misses;
    return false;
  }
  const std::string path = path_of(chain);
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (!f) {
    reject(chain, false, std::string("cannot open it: ") + std::strerror(errno));
    return false;
  }
  Header hd{};
  const size_t tok_bytes = tokens.size() * sizeof(int32_t);
  std::vector<int32_t> got(tokens.size());
  bool ok = std::fread(&hd, sizeof hd, 1, f) == 1;
  std::string why;
  bool foreign = false;
  if (!ok || std::memcmp(hd.magic, kMagic, 8) != 0 || hd.version != kVersion ||
      hd.header_sum != checksum64(&hd, offsetof(Header, header_sum))) {
    why = ok ? "not a whale KV block file of this version, or its header is damaged" : "truncated header";
  } else if (KvFormat{hd.model_id, hd.kv_dtype, hd.block_size, hd.layers, hd.row_width, hd.row_bytes} != format_) {
    why = "written by another model or KV format (fingerprint, KV dtype or block size differ)";
    foreign = true;
  } else if (hd.chain != chain || hd.check != check || hd.payload_bytes != tok_bytes + rows.size()) {
    why = "it holds another token prefix";
  } else if (std::fread(got.data(), 1, tok_bytes, f) != tok_bytes || std::fread(rows.data(), 1, rows.size(), f) != rows.size()) {
    why = "truncated";
  } else if (std::fgetc(f) != EOF) {
    why = "longer than its header says";
  } else if (checksum64(rows.data(), rows.size(), checksum64(got.data(), tok_bytes)) != hd.payload_sum) {
    why = "checksum mismatch (corrupted)";
  } else if (!std::ranges::equal(got, tokens)) {
    why = "it holds other tokens";
  }
  std::fclose(f);
  if (!why.empty()) {
    reject(chain, foreign, why);
    return false;
  }
  ++stats_.hits;
  auto& e = index_.at(chain);
  lru_.splice(lru_.end(), lru_, e.lru);  // most recently used; the mtime keeps the order across restarts
  std::error_code ec;
  fs::last_write_time(path, fs::file_time_type::clock::now(), ec);
  return true;
}

void DiskCache::store(uint64_t chain, uint64_t check, std::span<const int32_t> tokens, std::span<const uint8_t> rows) {
  const size_t tok_bytes = tokens.size() * sizeof(int32_t);
  Header hd{};
  std::memcpy(hd.magic, kMagic, 8);
  hd.version = kVersion;
  hd.block_size = format_.block_size;
  hd.model_id = format_.model_id;
  hd.kv_dtype = format_.kv_dtype;
  hd.layers = format_.layers;
  hd.row_width = format_.row_width;
  hd.row_bytes = format_.row_bytes;
  hd.chain = chain;
  hd.check = check;
  hd.payload_bytes = tok_bytes + rows.size();
  hd.payload_sum = checksum64(rows.data(), rows.size(), checksum64(tokens.data(), tok_bytes));
  hd.header_sum = checksum64(&hd, offsetof(Header, header_sum));
  const std::string path = path_of(chain);
  const std::string tmp = path + ".tmp" + std::to_string(::getpid());
  std::FILE* f = std::fopen(tmp.c_str(), "wb");
  bool ok = f != nullptr;
  int err = ok ? 0 : errno;
  if (ok) {
    ok = std::fwrite(&hd, sizeof hd, 1, f) == 1 && std::fwrite(tokens.data(), 1, tok_bytes, f) == tok_bytes &&
         std::fwrite(rows.data(), 1, rows.size(), f) == rows.size() && std::fflush(f) == 0;
    if (!ok) err = errno;
    if (std::fclose(f) != 0 && ok) {
      ok = false;
      err = errno;
    }
  }
  if (ok && std::rename(tmp.c_str(), path.c_str()) != 0) {
    ok = false;
    err = errno;
  }
  if (!ok) {
    std::error_code ec;
    fs::remove(tmp, ec);
    ++stats_.write_failures;
    if (!warned_write_) {
      warned_write_ = true;
      core::log_warn("disk cache: cannot write ", path, ": ", std::strerror(err),
                     " (the engine goes on without saving blocks it cannot write; further failures are silent)");
    }
    return;
  }
  ++stats_.writes;
  add(chain, static_cast<int64_t>(sizeof hd + hd.payload_bytes));
  evict();
}

}  // namespace whale::engine
