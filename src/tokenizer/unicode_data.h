// Unicode tables for NFC (generated into unicode_data.cpp by scripts/gen_unicode_data.py).
#pragma once

#include <cstddef>
#include <cstdint>

namespace whale::tokenizer::unicode_data {

struct CccRange {
  char32_t first, last;
  uint8_t ccc;
};
struct Decomposition {
  char32_t cp;
  uint32_t offset, length;  // into kDecompData
};
struct Composition {
  char32_t first, second, composed;
};
struct Range {
  char32_t first, last;
};

extern const CccRange kCcc[];
extern const size_t kCccCount;
extern const Decomposition kDecomp[];  // sorted by cp
extern const size_t kDecompCount;
extern const char32_t kDecompData[];
extern const Composition kCompose[];  // sorted by (first, second)
extern const size_t kComposeCount;
// Code points NFC may change or that may compose with a neighbour (sorted ranges); text without
// any of them is already NFC.
extern const Range kInteresting[];
extern const size_t kInterestingCount;

}  // namespace whale::tokenizer::unicode_data
