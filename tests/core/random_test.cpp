// Counter-based normals: deterministic per (stream, index), moments close to N(0, 1).
#include "core/random.h"

#include <gtest/gtest.h>

#include <cmath>

namespace whale::core {
namespace {

TEST(Random, NormalMomentsAndDeterminism) {
  const uint64_t stream = hash_seed(7, "model.layers.0.mlp.up_proj.weight");
  double sum = 0, sq = 0, mx = 0;
  const int n = 1 << 20;
  for (int i = 0; i < n; ++i) {
    const double x = normal01(stream, static_cast<uint64_t>(i));
    sum += x;
    sq += x * x;
    mx = std::max(mx, std::fabs(x));
  }
  EXPECT_NEAR(sum / n, 0.0, 0.005);
  EXPECT_NEAR(sq / n, 1.0, 0.01);
  EXPECT_LE(mx, 3.47);  // Irwin-Hall(4) is bounded at 2*sqrt(3)
  EXPECT_GT(mx, 3.0);
  EXPECT_EQ(normal01(stream, 12345), normal01(stream, 12345));
  EXPECT_NE(hash_seed(7, "a"), hash_seed(8, "a"));
  EXPECT_NE(hash_seed(7, "a"), hash_seed(7, "b"));
}

}  // namespace
}  // namespace whale::core
