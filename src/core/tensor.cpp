// Shape and Tensor view arithmetic; the only allocation is Tensor::empty/clone.
#include "core/tensor.h"

#include <cstdlib>
#include <cstring>
#include <limits>

#include "core/error.h"

namespace whale::core {

Shape::Shape(std::initializer_list<int64_t> dims) : Shape(std::span<const int64_t>(dims.begin(), dims.size())) {}

Shape::Shape(std::span<const int64_t> dims) {
  if (dims.size() > static_cast<size_t>(kMaxDims)) {
    fail(ErrorKind::kUnsupported, "tensor with ", dims.size(), " dims (at most ", kMaxDims, ")");
  }
  for (size_t i = 0; i < dims.size(); ++i) {
    if (dims[i] < 0) fail(ErrorKind::kInvalidArgument, "negative dimension ", dims[i]);
    dims_[i] = dims[i];
  }
  ndim_ = static_cast<int>(dims.size());
  numel();  // validates that the product fits
}

int64_t Shape::numel() const {
  int64_t n = 1;
  for (int i = 0; i < ndim_; ++i) {
    const int64_t d = dims_[static_cast<size_t>(i)];
    if (d != 0 && n > std::numeric_limits<int64_t>::max() / d) {
      fail(ErrorKind::kInvalidArgument, "shape ", str(), " has more elements than fit in 64 bits");
    }
    n *= d;
  }
  return n;
}

std::string Shape::str() const {
  std::string s = "[";
  for (int i = 0; i < ndim_; ++i) {
    if (i) s += ", ";
    s += std::to_string(dims_[static_cast<size_t>(i)]);
  }
  return s + "]";
}

bool Shape::operator==(const Shape& other) const {
  if (ndim_ != other.ndim_) return false;
  for (int i = 0; i < ndim_; ++i) {
    if (dims_[static_cast<size_t>(i)] != other.dims_[static_cast<size_t>(i)]) return false;
  }
  return true;
}

Tensor::Tensor(DType dtype, const Shape& shape, void* data, std::shared_ptr<const void> owner)
    : dtype_(dtype), shape_(shape), data_(data), owner_(std::move(owner)) {
  const int64_t block = dtype_info(dtype).block_elems;
  if (block > 1 && shape.ndim() > 0 && shape[shape.ndim() - 1] % block != 0) {
    fail(ErrorKind::kInvalidArgument, "a ", dtype_name(dtype), " tensor's rows must be a multiple of ",
         block, " elements, got shape ", shape.str());
  }
  int64_t s = 1;
  for (int i = shape.ndim() - 1; i >= 0; --i) {
    strides_[static_cast<size_t>(i)] = s;
    s *= shape[i];
  }
}

Tensor Tensor::empty(DType dtype, const Shape& shape) {
  const int64_t bytes = dtype_bytes(dtype, shape.numel());
  const size_t rounded = static_cast<size_t>((bytes + 63) / 64 * 64);
  void* p = std::aligned_alloc(64, rounded == 0 ? 64 : rounded);
  if (!p) fail(ErrorKind::kIo, "out of memory allocating ", bytes, " bytes for a ", shape.str(), " tensor");
  std::memset(p, 0, rounded == 0 ? 64 : rounded);
  std::shared_ptr<const void> owner(p, [](const void* q) { std::free(const_cast<void*>(q)); });
  return Tensor(dtype, shape, p, std::move(owner));
}

int64_t Tensor::nbytes() const { return dtype_bytes(dtype_, numel()); }

bool Tensor::is_contiguous() const {
  int64_t s = 1;
  for (int i = ndim() - 1; i >= 0; --i) {
    if (shape_[i] != 1 && strides_[static_cast<size_t>(i)] != s) return false;
    s *= shape_[i];
  }
  return true;
}

Tensor Tensor::slice(int64_t begin, int64_t end) const {
  if (ndim() == 0 || begin < 0 || end < begin || end > shape_[0]) {
    fail(ErrorKind::kInvalidArgument, "slice [", begin, ", ", end, ") out of range for shape ", shape_.str());
  }
  Tensor t = *this;
  t.shape_[0] = end - begin;
  const int64_t elem_offset = begin * strides_[0];
  t.data_ = static_cast<char*>(data_) + dtype_bytes(dtype_, elem_offset);
  return t;
}

Tensor Tensor::reshape(const Shape& shape) const {
  if (!is_contiguous()) fail(ErrorKind::kInvalidArgument, "reshape of a non-contiguous tensor");
  if (shape.numel() != numel()) {
    fail(ErrorKind::kInvalidArgument, "cannot reshape ", shape_.str(), " to ", shape.str());
  }
  return Tensor(dtype_, shape, data_, owner_);
}

Tensor Tensor::transpose(int a, int b) const {
  if (dtype_info(dtype_).is_block_quant) {
    fail(ErrorKind::kUnsupported, "transpose of a block-quantized ", dtype_name(dtype_), " tensor");
  }
  if (a < 0) a += ndim();
  if (b < 0) b += ndim();
  if (a < 0 || b < 0 || a >= ndim() || b >= ndim()) {
    fail(ErrorKind::kInvalidArgument, "transpose dims out of range for ", shape_.str());
  }
  Tensor t = *this;
  std::swap(t.shape_[a], t.shape_[b]);
  std::swap(t.strides_[static_cast<size_t>(a)], t.strides_[static_cast<size_t>(b)]);
  return t;
}

Tensor Tensor::clone() const {
  Tensor out = empty(dtype_, shape_);
  if (is_contiguous()) {
    std::memcpy(out.data_, data_, static_cast<size_t>(nbytes()));
    return out;
  }
  // Strided copy element by element (block types are always contiguous, so elements are bytes).
  const int64_t esize = dtype_info(dtype_).block_bytes;
  const int64_t n = numel();
  std::array<int64_t, Shape::kMaxDims> idx{};
  for (int64_t k = 0; k < n; ++k) {
    int64_t off = 0;
    for (int i = 0; i < ndim(); ++i) off += idx[static_cast<size_t>(i)] * strides_[static_cast<size_t>(i)];
    std::memcpy(static_cast<char*>(out.data_) + k * esize, static_cast<const char*>(data_) + off * esize,
                static_cast<size_t>(esize));
    for (int i = ndim() - 1; i >= 0; --i) {
      if (++idx[static_cast<size_t>(i)] < shape_[i]) break;
      idx[static_cast<size_t>(i)] = 0;
    }
  }
  return out;
}

}  // namespace whale::core
