// The on-disk prefix cache against plain greedy decoding (the oracle): a new Engine over the same
// directory reads the prompt's blocks back and reports them cached with the oracle's tokens; a
// corrupted, truncated or foreign file (another model's weights, another KV dtype) and an unwritable
// directory each give the oracle's tokens and are counted; eviction keeps the directory under its limit.
#include "engine/disk_cache.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <functional>
#include <fstream>

#include "core/error.h"
#include "engine/engine.h"
#include "tiny_model.h"

namespace whale::engine {
namespace {

namespace fs = std::filesystem;

class DiskCacheTest : public TinyModelTest {
 protected:
  struct Result {
    std::vector<int32_t> tokens;
    Usage usage;
    DiskCacheStats disk;
  };

  void SetUp() override {
    cache_ = (fs::temp_directory_path() / ("whale_disk_cache_" + std::to_string(::getpid()) + "_" +
                                           ::testing::UnitTest::GetInstance()->current_test_info()->name()))
                 .string();
    fs::remove_all(cache_);
  }
  void TearDown() override { fs::remove_all(cache_); }

  // One greedy request on a fresh Engine (a "restart") over the cache directory.
  static Result run(const model::Weights& w, const std::vector<int32_t>& prompt, int64_t n, const std::string& dir,
                    int64_t cache_bytes = int64_t{1} << 30, core::DType kv = core::DType::kBF16,
                    const std::function<void()>& before_step = {}) {
    Engine e(w, nullptr, {.max_seqs = 2, .max_batch_tokens = 32, .threads = 1, .kv_type = kv, .cache_dir = dir,
                          .cache_bytes = cache_bytes});
    Result r;
    Request q;
    q.prompt = prompt;
    q.max_tokens = n;
    q.ignore_eos = true;
    q.sampling.temperature = 0.0f;
    q.reasoning.enabled = false;
    q.on_event = [&r](const Event& ev) {
      if (ev.kind == Event::Kind::kFinished) r.usage = ev.usage;
      r.tokens.insert(r.tokens.end(), ev.tokens.begin(), ev.tokens.end());
    };
    e.add(std::move(q));
    if (before_step) before_step();
    e.run_until_idle();
    r.disk = e.stats().disk;
    return r;
  }

  std::vector<fs::path> files() const {
    std::vector<fs::path> out;
    for (const auto& e : fs::directory_iterator(cache_)) out.push_back(e.path());
    std::ranges::sort(out);
    return out;
  }
  // The file of prompt block `i` (named by the chain hash of blocks 0..i).
  fs::path file_of(const std::vector<int32_t>& prompt, int i) const {
    uint64_t h = 0;
    for (int j = 0; j <= i; ++j) h = BlockManager::chain_hash(h, std::span(prompt).subspan(static_cast<size_t>(j) * 16, 16));
    char name[32];
    std::snprintf(name, sizeof name, "%016llx.kv", static_cast<unsigned long long>(h));
    return fs::path(cache_) / name;
  }
  int64_t dir_bytes() const {
    int64_t n = 0;
    for (const auto& f : files()) n += static_cast<int64_t>(fs::file_size(f));
    return n;
  }

  std::string cache_;
};

TEST_F(DiskCacheTest, ANewEngineReadsThePromptBackAndGivesTheSameTokens) {
  const auto p = prompt_of(100, 3);  // 6 full blocks of 16 below the last token
  const auto want = oracle(p, 10);
  const Result first = run(*w_, p, 10, cache_);
  EXPECT_EQ(first.tokens, want);
  EXPECT_EQ(first.usage.cached_prompt_tokens, 0);
  EXPECT_EQ(first.disk.writes, 6);
  EXPECT_EQ(files().size(), 6u);

  const Result second = run(*w_, p, 10, cache_);  // a restart: nothing in memory
  EXPECT_EQ(second.tokens, want);
  EXPECT_EQ(second.usage.cached_prompt_tokens, 96);
  EXPECT_EQ(second.disk.hits, 6);
  EXPECT_EQ(second.disk.writes, 0);
  EXPECT_EQ(second.disk.corrupt + second.disk.foreign + second.disk.write_failures, 0);

  // A longer prompt sharing the first 70 tokens: the 4 blocks inside the shared part come from disk.
  auto q = p;
  q.resize(70);
  for (int i = 0; i < 40; ++i) q.push_back(200 - i);
  const Result third = run(*w_, q, 6, cache_);
  EXPECT_EQ(third.tokens, oracle(q, 6));
  EXPECT_EQ(third.usage.cached_prompt_tokens, 64);
}

TEST_F(DiskCacheTest, AFlippedByteIsDetectedAndRecomputed) {
  const auto p = prompt_of(100, 4);
  const auto want = oracle(p, 8);
  run(*w_, p, 8, cache_);
  {
    std::fstream f(file_of(p, 2), std::ios::in | std::ios::out | std::ios::binary);
    ASSERT_TRUE(f.good());
    f.seekg(5000);
    char c = 0;
    f.read(&c, 1);
    f.seekp(5000);
    c = static_cast<char>(c ^ 0x10);
    f.write(&c, 1);
  }
  const Result r = run(*w_, p, 8, cache_);
  EXPECT_EQ(r.tokens, want);
  EXPECT_EQ(r.usage.cached_prompt_tokens, 32);  // blocks 0 and 1; block 2 failed its checksum
  EXPECT_EQ(r.disk.corrupt, 1);
  EXPECT_EQ(r.disk.hits, 2);
  EXPECT_EQ(r.disk.writes, 4);  // the damaged block and those after it, from the recomputed rows
  const Result again = run(*w_, p, 8, cache_);
  EXPECT_EQ(again.tokens, want);
  EXPECT_EQ(again.usage.cached_prompt_tokens, 96);
}

TEST_F(DiskCacheTest, ATruncatedFileIsDetectedAndRecomputed) {
  const auto p = prompt_of(100, 5);
  const auto want = oracle(p, 8);
  run(*w_, p, 8, cache_);
  fs::resize_file(file_of(p, 0), fs::file_size(file_of(p, 0)) - 7);
  fs::resize_file(file_of(p, 4), 40);  // inside the header
  const Result r = run(*w_, p, 8, cache_);
  EXPECT_EQ(r.tokens, want);
  EXPECT_EQ(r.usage.cached_prompt_tokens, 0);
  EXPECT_EQ(r.disk.corrupt, 1);  // the walk stops at block 0
  EXPECT_EQ(r.disk.writes, 6);   // every block past it is rewritten, block 4's stump too
  const Result r2 = run(*w_, p, 8, cache_);
  EXPECT_EQ(r2.tokens, want);
  EXPECT_EQ(r2.usage.cached_prompt_tokens, 96);
  EXPECT_EQ(r2.disk.corrupt, 0);
}

TEST_F(DiskCacheTest, AnotherModelsOrKvTypesCacheIsIgnored) {
  const auto p = prompt_of(100, 6);
  const auto want = oracle(p, 8);
  // The same preset with another seed: same shapes and file names, other weights.
  const std::string other = dir_ + "_seed7";
  model::RandomCheckpointOptions o;
  o.progress = false;
  o.weight_std = 0.08f;
  o.seed = 7;
  write_random_checkpoint(model::find_preset("tiny-deepseek-v3").args, other, o);
  {
    const model::Weights w2 = model::load_weights(other);
    EXPECT_NE(model_fingerprint(w2), model_fingerprint(*w_));
    const Result theirs = run(w2, p, 8, cache_);
    EXPECT_EQ(theirs.disk.writes, 6);
  }
  fs::remove_all(other);
  const Result r = run(*w_, p, 8, cache_);
  EXPECT_EQ(r.tokens, want);
  EXPECT_EQ(r.usage.cached_prompt_tokens, 0);
  EXPECT_EQ(r.disk.foreign, 1);
  EXPECT_EQ(r.disk.hits, 0);
  EXPECT_EQ(r.disk.writes, 6);  // this model's blocks replace them
  // f32 KV rows are another format for the same model.
  const Result f32 = run(*w_, p, 8, cache_, int64_t{1} << 30, core::DType::kF32);
  EXPECT_EQ(f32.tokens, want);
  EXPECT_EQ(f32.usage.cached_prompt_tokens, 0);
  EXPECT_EQ(f32.disk.foreign, 1);
  const Result f32b = run(*w_, p, 8, cache_, int64_t{1} << 30, core::DType::kF32);
  EXPECT_EQ(f32b.usage.cached_prompt_tokens, 96);
  EXPECT_EQ(f32b.tokens, want);
}

TEST_F(DiskCacheTest, AWriteFailureIsCountedAndTheAnswerIsUnchanged) {
  const auto p = prompt_of(60, 8);
  const Result r = run(*w_, p, 6, cache_, int64_t{1} << 30, core::DType::kBF16, [&] { fs::remove_all(cache_); });
  EXPECT_EQ(r.tokens, oracle(p, 6));
  EXPECT_EQ(r.disk.write_failures, 3);
  EXPECT_EQ(r.disk.writes, 0);
  EXPECT_EQ(r.disk.files, 0);
}

TEST_F(DiskCacheTest, EvictionKeepsTheDirectoryUnderItsLimit) {
  const auto p = prompt_of(100, 9);
  run(*w_, p, 4, cache_);
  const int64_t file = static_cast<int64_t>(fs::file_size(files().front()));
  fs::remove_all(cache_);
  const int64_t limit = file * 7 / 2;  // room for three files
  const Result r = run(*w_, p, 4, cache_, limit);
  EXPECT_EQ(r.disk.writes, 6);
  EXPECT_EQ(r.disk.evictions, 3);
  EXPECT_EQ(r.disk.files, 3);
  EXPECT_LE(dir_bytes(), limit);
  // The newest three are kept (blocks 3..5), so block 0 is a miss and nothing is read.
  EXPECT_FALSE(fs::exists(file_of(p, 0)));
  EXPECT_TRUE(fs::exists(file_of(p, 5)));
  // A smaller limit at start-up evicts the oldest files first (a 10-token prompt fills no block).
  const Result r2 = run(*w_, prompt_of(10, 1), 2, cache_, file * 3 / 2);
  EXPECT_EQ(r2.disk.files, 1);
  EXPECT_LE(dir_bytes(), file * 3 / 2);
  EXPECT_TRUE(fs::exists(file_of(p, 5)));
}

TEST(DiskCacheSize, ParsesSuffixesAndRejectsNonsense) {
  EXPECT_EQ(parse_byte_size("20G"), int64_t{20} << 30);
  EXPECT_EQ(parse_byte_size("512m"), int64_t{512} << 20);
  EXPECT_EQ(parse_byte_size("1.5K"), 1536);
  EXPECT_EQ(parse_byte_size("4096"), 4096);
  EXPECT_EQ(parse_byte_size("2T"), int64_t{2} << 40);
  for (const char* bad : {"", "G", "abc", "-1G", "0", "12X", "1e30T"}) {
    EXPECT_THROW(parse_byte_size(bad), Error) << bad;
  }
}

TEST(DiskCacheChecksum, EverySingleByteFlipChangesIt) {
  std::vector<uint8_t> b(203);
  for (size_t i = 0; i < b.size(); ++i) b[i] = static_cast<uint8_t>(i * 7 + 3);
  const uint64_t base = checksum64(b.data(), b.size());
  for (size_t i = 0; i < b.size(); ++i) {
    for (int bit = 0; bit < 8; ++bit) {
      b[i] ^= static_cast<uint8_t>(1 << bit);
      EXPECT_NE(checksum64(b.data(), b.size()), base) << i << ":" << bit;
      b[i] ^= static_cast<uint8_t>(1 << bit);
    }
  }
  EXPECT_NE(checksum64(b.data(), b.size() - 1), base);  // length counts
}

}  // namespace
}  // namespace whale::engine
