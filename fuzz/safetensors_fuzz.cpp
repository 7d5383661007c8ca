// libFuzzer target for the safetensors parser: any input must either parse into views that lie
// inside the input, or throw whale::Error; crashes, leaks, UB and other exceptions are bugs.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <span>

#include "core/error.h"
#include "formats/safetensors.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using whale::formats::SafetensorsFile;
  const std::span<const std::byte> bytes(reinterpret_cast<const std::byte*>(data), size);
  try {
    const SafetensorsFile f = SafetensorsFile::parse(bytes, nullptr, "fuzz-input");
    unsigned sum = 0;
    for (const auto& e : f.entries()) {
      const whale::core::Tensor t = f.view(e.name);
      const auto* p = static_cast<const std::byte*>(t.raw());
      if (static_cast<uint64_t>(t.nbytes()) != e.nbytes || (e.nbytes && (p < bytes.data() ||
          p + e.nbytes > bytes.data() + bytes.size()))) {
        std::abort();  // a view escaping the input is exactly the bug this target hunts
      }
      // Byte reads (not typed loads) so ASan checks every byte without tripping alignment UB.
      for (uint64_t i = 0; i < e.nbytes; ++i) sum += static_cast<unsigned>(p[i]);
      if (f.find(e.name) != &e) std::abort();
    }
    for (const auto& [k, v] : f.metadata()) sum += static_cast<unsigned>(k.size() + v.size());
    volatile unsigned sink = sum;
    (void)sink;
  } catch (const whale::Error&) {
  }
  return 0;
}
