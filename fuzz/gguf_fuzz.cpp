// libFuzzer target for the GGUF reader: any input must either parse into views that stay inside
// the input, or throw whale::Error. Crashes, sanitizer reports and other exceptions are bugs.
#include <cstddef>
#include <cstdint>
#include <span>

#include "core/error.h"
#include "formats/gguf.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using whale::formats::GgufFile;
  try {
    const GgufFile f = GgufFile::parse(std::as_bytes(std::span(data, size)), nullptr, "fuzz.gguf");
    size_t sink = 0;
    for (const auto& [key, value] : f.metadata()) sink += key.size() + value.to_display().size();
    for (const auto& info : f.tensors()) {
      const auto bytes = f.tensor_bytes(info);
      if (!bytes.empty()) sink += static_cast<size_t>(bytes.front()) + static_cast<size_t>(bytes.back());
      try {
        const whale::core::Tensor t = f.view(info.name);
        const auto n = static_cast<size_t>(t.nbytes());
        // Touch both ends so ASan checks the view lies inside the input.
        if (n > 0) sink += static_cast<const uint8_t*>(t.raw())[0] + static_cast<const uint8_t*>(t.raw())[n - 1];
      } catch (const whale::Error&) {
        // types without a whale dtype
      }
    }
    volatile size_t keep = sink;
    (void)keep;
  } catch (const whale::Error&) {
  }
  return 0;
}
