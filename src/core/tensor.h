// Tensor: a view of typed memory with a shape and strides. Non-owning by default; an optional
// owner (an mmap'd file, an allocation) keeps the bytes alive while any view of them exists.
#pragma once

#include <array>
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "core/dtype.h"

namespace whale::core {

// Up to four dimensions, outermost first (row-major: the last dim is contiguous).
class Shape {
 public:
  static constexpr int kMaxDims = 4;

  Shape() = default;
  Shape(std::initializer_list<int64_t> dims);
  explicit Shape(std::span<const int64_t> dims);

  int ndim() const { return ndim_; }
  int64_t operator[](int i) const { return dims_[static_cast<size_t>(i)]; }
  int64_t& operator[](int i) { return dims_[static_cast<size_t>(i)]; }
  int64_t numel() const;
  std::vector<int64_t> to_vector() const { return {dims_.begin(), dims_.begin() + ndim_}; }
  std::string str() const;  // "[2048, 7168]"
  bool operator==(const Shape& other) const;

 private:
  std::array<int64_t, kMaxDims> dims_{};
  int ndim_ = 0;
};

class Tensor {
 public:
  Tensor() = default;
  // A contiguous view of `data`. Throws whale::Error if the last dim is not a whole number of
  // blocks for a block-quantized dtype.
  Tensor(DType dtype, const Shape& shape, void* data, std::shared_ptr<const void> owner = nullptr);

  // A new zero-filled, 64-byte aligned tensor that owns its memory.
  static Tensor empty(DType dtype, const Shape& shape);

  DType dtype() const { return dtype_; }
  const Shape& shape() const { return shape_; }
  int ndim() const { return shape_.ndim(); }
  int64_t dim(int i) const { return shape_[i < 0 ? i + ndim() : i]; }
  // Stride of dim i in elements (block-quantized tensors are always contiguous rows).
  int64_t stride(int i) const { return strides_[static_cast<size_t>(i < 0 ? i + ndim() : i)]; }
  int64_t numel() const { return shape_.numel(); }
  int64_t nbytes() const;  // bytes spanned by a contiguous tensor
  bool is_contiguous() const;
  bool defined() const { return data_ != nullptr || numel() == 0; }

  void* raw() const { return data_; }
  template <class T>
  T* data() const { return static_cast<T*>(data_); }

  // Rows [begin, end) of dim 0, sharing memory.
  Tensor slice(int64_t begin, int64_t end) const;
  // The same bytes with another shape of the same element count (contiguous tensors only).
  Tensor reshape(const Shape& shape) const;
  // Swap two dims (a strided view; not allowed for block-quantized dtypes).
  Tensor transpose(int a, int b) const;
  // A deep, contiguous, owning copy: explicit because it can be large.
  Tensor clone() const;

  const std::shared_ptr<const void>& owner() const { return owner_; }

 private:
  DType dtype_ = DType::kF32;
  Shape shape_;
  std::array<int64_t, Shape::kMaxDims> strides_{};
  void* data_ = nullptr;
  std::shared_ptr<const void> owner_;
};

}  // namespace whale::core
