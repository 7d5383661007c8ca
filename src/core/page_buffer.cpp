#include "core/page_buffer.h"

#include <sys/mman.h>

#include <cstring>
#include <utility>

#include "core/error.h"

namespace whale::core {

PageBuffer::PageBuffer(size_t bytes) : size_(bytes) {
  if (bytes == 0) return;
  constexpr size_t kHuge = size_t{2} << 20;
  // Map one huge page more than needed and start at a 2 MiB boundary, so every page can be huge.
  const size_t want = (bytes + kHuge - 1) / kHuge * kHuge;
  mapped_ = want + kHuge;
  void* p = mmap(nullptr, mapped_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) fail(ErrorKind::kIo, "cannot allocate ", bytes, " bytes (", mapped_, " mapped)");
  auto* base = static_cast<uint8_t*>(p);
  const size_t skip = (kHuge - reinterpret_cast<uintptr_t>(base) % kHuge) % kHuge;
  if (skip > 0) munmap(base, skip);  // the unaligned head and tail go back at once
  if (kHuge - skip > 0) munmap(base + skip + want, kHuge - skip);
  data_ = base + skip;
  mapped_ = want;
#ifdef MADV_HUGEPAGE
  madvise(data_, mapped_, MADV_HUGEPAGE);
#endif
  std::memset(data_, 0, size_);  // fault every page in now (huge where the kernel can)
}

PageBuffer::~PageBuffer() {
  if (data_ != nullptr) munmap(data_, mapped_);
}

PageBuffer::PageBuffer(PageBuffer&& o) noexcept
    : data_(std::exchange(o.data_, nullptr)), size_(std::exchange(o.size_, 0)), mapped_(std::exchange(o.mapped_, 0)) {}

PageBuffer& PageBuffer::operator=(PageBuffer&& o) noexcept {
  if (this != &o) {
    if (data_ != nullptr) munmap(data_, mapped_);
    data_ = std::exchange(o.data_, nullptr);
    size_ = std::exchange(o.size_, 0);
    mapped_ = std::exchange(o.mapped_, 0);
  }
  return *this;
}

}  // namespace whale::core
