// Zeroed memory from an anonymous mmap, 2 MiB aligned and asked to be backed by transparent huge
// pages before it is first touched: for large buffers read in long streams, such as the KV cache.
// 2 MiB pages save the TLB walks that 4 KiB pages cost a decode step at depth (each KV row of a
// layer is read once per step, and in a virtual machine every miss is a two-level walk). The
// buffer is zeroed (so faulted in) at construction, as the std::vector it replaces was: the
// resident size is the whole buffer from the start and does not grow with use.
#pragma once

#include <cstddef>
#include <cstdint>

namespace whale::core {

class PageBuffer {
 public:
  PageBuffer() = default;
  explicit PageBuffer(size_t bytes);  // zeroed; a failed map is a kIo error naming the size
  ~PageBuffer();
  PageBuffer(PageBuffer&& o) noexcept;
  PageBuffer& operator=(PageBuffer&& o) noexcept;
  PageBuffer(const PageBuffer&) = delete;
  PageBuffer& operator=(const PageBuffer&) = delete;

  uint8_t* data() { return data_; }
  const uint8_t* data() const { return data_; }
  size_t size() const { return size_; }

 private:
  uint8_t* data_ = nullptr;
  size_t size_ = 0;    // bytes asked for
  size_t mapped_ = 0;  // bytes mapped (size_ rounded up to 2 MiB)
};

}  // namespace whale::core
