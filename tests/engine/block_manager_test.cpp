// BlockManager against hand-counted bookkeeping: reference counts through grow/match/free, prefix
// hits (and where they stop), a forced hash collision that must miss because the tokens differ,
// chains continued through a duplicate block, and least-recently-used eviction.
#include "engine/block_manager.h"

#include <gtest/gtest.h>

#include "core/error.h"

namespace whale::engine {
namespace {

uint64_t same_hash(uint64_t, std::span<const int32_t>) { return 7; }  // every block collides

// A table of `tokens.size()` computed positions, sealed like the scheduler does after a step.
BlockTable computed(BlockManager& bm, const std::vector<int32_t>& tokens) {
  BlockTable t;
  EXPECT_TRUE(bm.grow(t, static_cast<int64_t>(tokens.size())));
  bm.seal(t, tokens, static_cast<int64_t>(tokens.size()));
  return t;
}

TEST(BlockManager, RefCountsOnGrowAndFree) {
  BlockManager bm(4, 2);
  BlockTable a, b;
  ASSERT_TRUE(bm.grow(a, 3));  // 3 positions: 2 blocks
  ASSERT_EQ(a.size(), 2u);
  EXPECT_EQ(bm.ref_count(a[0]), 1);
  EXPECT_EQ(bm.ref_count(a[1]), 1);
  EXPECT_EQ(bm.available(), 2);
  ASSERT_TRUE(bm.grow(a, 4));  // still fits in 2 blocks
  EXPECT_EQ(a.size(), 2u);
  EXPECT_FALSE(bm.grow(b, 6));  // 3 blocks wanted, 2 left: keeps what it got
  EXPECT_EQ(b.size(), 2u);
  EXPECT_EQ(bm.available(), 0);
  bm.free(b);
  EXPECT_TRUE(b.empty());
  EXPECT_EQ(bm.available(), 2);
  bm.free(a);
  EXPECT_EQ(bm.available(), 4);
  for (int32_t i = 0; i < 4; ++i) EXPECT_EQ(bm.ref_count(i), 0);
}

TEST(BlockManager, PrefixHitsShareBlocksAndStopAtTheFirstDifference) {
  BlockManager bm(8, 2);
  BlockTable a = computed(bm, {1, 2, 3, 4, 5});  // blocks [1 2] [3 4] full, [5] not
  BlockTable b;
  EXPECT_EQ(bm.match_prefix(std::vector<int32_t>{1, 2, 3, 4, 5}, b), 4);
  ASSERT_EQ(b.size(), 2u);
  EXPECT_EQ(b[0], a[0]);
  EXPECT_EQ(b[1], a[1]);
  EXPECT_EQ(bm.ref_count(a[0]), 2);
  EXPECT_EQ(bm.ref_count(a[2]), 1);  // the partial block is never shared
  BlockTable c;
  EXPECT_EQ(bm.match_prefix(std::vector<int32_t>{1, 2, 9, 4}, c), 2);  // second block differs
  EXPECT_EQ(bm.ref_count(a[0]), 3);
  BlockTable d;
  EXPECT_EQ(bm.match_prefix(std::vector<int32_t>{3, 4}, d), 0);  // same tokens, other position
  // The first block differs, so the second must not hit even though it holds the same tokens.
  EXPECT_EQ(bm.match_prefix(std::vector<int32_t>{9, 2, 3, 4}, d), 0);
  bm.free(a);
  EXPECT_EQ(bm.ref_count(b[0]), 2);
  EXPECT_EQ(bm.available(), 8 - 2);  // the partial block is free again; the shared ones are held
  bm.free(b);
  bm.free(c);
  EXPECT_EQ(bm.available(), 8);  // cached blocks nobody holds still count as available
  BlockTable e;  // and they still hit
  EXPECT_EQ(bm.match_prefix(std::vector<int32_t>{1, 2, 3, 4}, e), 4);
  EXPECT_THROW(bm.match_prefix(std::vector<int32_t>{1, 2}, e), Error);  // table must start empty
}

TEST(BlockManager, ForcedHashCollisionMissesBecauseTheTokensDiffer) {
  BlockManager bm(8, 2, same_hash);
  BlockTable a = computed(bm, {1, 2});
  BlockTable b;
  EXPECT_EQ(bm.match_prefix(std::vector<int32_t>{3, 4}, b), 0);  // same hash, other tokens
  EXPECT_TRUE(b.empty());
  EXPECT_EQ(bm.match_prefix(std::vector<int32_t>{1, 2}, b), 2);
  EXPECT_EQ(b[0], a[0]);
  // A colliding block sealed later cannot take the cached one's place, and stays a miss.
  BlockTable c = computed(bm, {5, 6});
  BlockTable d;
  EXPECT_EQ(bm.match_prefix(std::vector<int32_t>{5, 6}, d), 0);
  bm.free(c);  // not cached: straight back to the free list
  EXPECT_EQ(bm.available(), 8 - 1);
  EXPECT_EQ(bm.match_prefix(std::vector<int32_t>{1, 2}, d), 2);
}

TEST(BlockManager, ChainContinuesThroughADuplicateBlock) {
  // Two sequences prefilled in the same step both compute [1 2]; only the first copy is cached.
  // The second sequence's next block must still be found behind the cached copy.
  BlockManager bm(8, 2);
  BlockTable a = computed(bm, {1, 2});
  BlockTable x = computed(bm, {1, 2, 3, 4});
  EXPECT_NE(x[0], a[0]);
  BlockTable y;
  EXPECT_EQ(bm.match_prefix(std::vector<int32_t>{1, 2, 3, 4}, y), 4);
  EXPECT_EQ(y[0], a[0]);
  EXPECT_EQ(y[1], x[1]);
}

TEST(BlockManager, EvictsTheLeastRecentlyUsedCachedBlock) {
  BlockManager bm(3, 2);
  BlockTable one = computed(bm, {1, 1}), two = computed(bm, {2, 2}), three = computed(bm, {3, 3});
  bm.free(two);  // unused order: two, one, three
  bm.free(one);
  bm.free(three);
  EXPECT_EQ(bm.available(), 3);
  BlockTable fresh;
  ASSERT_TRUE(bm.grow(fresh, 2));  // evicts two
  BlockTable t;
  EXPECT_EQ(bm.match_prefix(std::vector<int32_t>{2, 2}, t), 0);
  EXPECT_EQ(bm.match_prefix(std::vector<int32_t>{1, 1}, t), 2);  // a hit makes one the most recent
  bm.free(t);
  ASSERT_TRUE(bm.grow(fresh, 4));  // evicts three, not one
  EXPECT_EQ(bm.match_prefix(std::vector<int32_t>{3, 3}, t), 0);
  EXPECT_EQ(bm.match_prefix(std::vector<int32_t>{1, 1}, t), 2);
  bm.free(t);
  ASSERT_TRUE(bm.grow(fresh, 6));  // evicts one: the last
  EXPECT_FALSE(bm.grow(fresh, 8));  // nothing left to evict
  EXPECT_EQ(bm.match_prefix(std::vector<int32_t>{1, 1}, t), 0);
}

}  // namespace
}  // namespace whale::engine
