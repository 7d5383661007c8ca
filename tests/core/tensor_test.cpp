// Tensor views: strides, slices, reshape, transpose, clone, block-type row checks, bad shapes.
#include "core/tensor.h"

#include <gtest/gtest.h>

#include "core/error.h"

namespace whale::core {
namespace {

TEST(Tensor, ContiguousStridesAndBytes) {
  Tensor t = Tensor::empty(DType::kF32, Shape{2, 3, 4});
  EXPECT_EQ(t.numel(), 24);
  EXPECT_EQ(t.nbytes(), 96);
  EXPECT_EQ(t.stride(0), 12);
  EXPECT_EQ(t.stride(1), 4);
  EXPECT_EQ(t.stride(-1), 1);
  EXPECT_TRUE(t.is_contiguous());
  EXPECT_EQ(reinterpret_cast<uintptr_t>(t.raw()) % 64, 0u);
  EXPECT_EQ(Tensor::empty(DType::kQ4_K, Shape{3, 512}).nbytes(), 3 * 2 * 144);
  EXPECT_EQ(Tensor::empty(DType::kQ8_0, Shape{1, 64}).nbytes(), 2 * 34);
}

TEST(Tensor, SliceReshapeTransposeClone) {
  Tensor t = Tensor::empty(DType::kF32, Shape{3, 4});
  for (int i = 0; i < 12; ++i) t.data<float>()[i] = static_cast<float>(i);
  Tensor rows = t.slice(1, 3);
  EXPECT_EQ(rows.shape(), (Shape{2, 4}));
  EXPECT_EQ(rows.data<float>()[0], 4.0f);
  Tensor r = t.reshape(Shape{2, 6});
  EXPECT_EQ(r.data<float>()[7], 7.0f);
  Tensor tt = t.transpose(0, 1);
  EXPECT_EQ(tt.shape(), (Shape{4, 3}));
  EXPECT_FALSE(tt.is_contiguous());
  Tensor c = tt.clone();
  EXPECT_TRUE(c.is_contiguous());
  // c[i][j] = t[j][i] = 4j + i
  for (int i = 0; i < 4; ++i) {
    for (int j = 0; j < 3; ++j) EXPECT_EQ(c.data<float>()[i * 3 + j], static_cast<float>(4 * j + i));
  }
  EXPECT_NE(c.raw(), t.raw());
  Tensor q = Tensor::empty(DType::kQ8_0, Shape{4, 64});
  EXPECT_EQ(static_cast<char*>(q.slice(2, 4).raw()) - static_cast<char*>(q.raw()), 2 * 2 * 34);
}

TEST(Tensor, BadShapesAreErrors) {
  EXPECT_THROW(Tensor::empty(DType::kQ4_0, Shape{2, 33}), Error);  // rows must be whole blocks
  EXPECT_THROW((Shape{2, -1}), Error);
  EXPECT_THROW((Shape{1, 2, 3, 4, 5}), Error);
  EXPECT_THROW((Shape{int64_t{1} << 40, int64_t{1} << 40}), Error);
  Tensor t = Tensor::empty(DType::kF32, Shape{3, 4});
  EXPECT_THROW(t.slice(2, 5), Error);
  EXPECT_THROW(t.reshape(Shape{5, 2}), Error);
  EXPECT_THROW(Tensor::empty(DType::kQ8_0, Shape{2, 32}).transpose(0, 1), Error);
  EXPECT_THROW(dtype_bytes(DType::kQ6_K, 100), Error);
}

TEST(DType, NamesRoundTrip) {
  for (DType t : {DType::kF32, DType::kF16, DType::kBF16, DType::kF8E4M3, DType::kQ8_0, DType::kQ4_0, DType::kQ4_K,
                  DType::kQ6_K, DType::kI64, DType::kBool, DType::kQ2_K, DType::kQ3_K, DType::kQ5_K,
                  DType::kIQ2_XXS, DType::kIQ1_S}) {
    EXPECT_EQ(dtype_from_name(dtype_name(t)), t);
  }
  EXPECT_FALSE(dtype_from_name("iq3_xxs").has_value());
}

}  // namespace
}  // namespace whale::core
