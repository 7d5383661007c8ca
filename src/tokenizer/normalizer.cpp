// NFC per UAX #15: full canonical decomposition, canonical ordering of combining marks, then
// canonical composition; Hangul syllables algorithmically. Text with nothing NFC could touch is
// returned as is, which is nearly all text.
#include "tokenizer/normalizer.h"

#include <algorithm>
#include <vector>

#include "tokenizer/unicode_data.h"
#include "tokenizer/utf8.h"

namespace whale::tokenizer {
namespace {

namespace ud = unicode_data;

constexpr char32_t kSBase = 0xAC00, kLBase = 0x1100, kVBase = 0x1161, kTBase = 0x11A7;
constexpr char32_t kLCount = 19, kVCount = 21, kTCount = 28, kNCount = kVCount * kTCount, kSCount = kLCount * kNCount;

bool interesting_slow(char32_t cp) {
  const ud::Range* end = ud::kInteresting + ud::kInterestingCount;
  const ud::Range* r = std::upper_bound(ud::kInteresting, end, cp, [](char32_t c, const ud::Range& x) { return c < x.first; });
  return r != ud::kInteresting && cp <= (r - 1)->last;
}

// One bit per BMP code point: encode calls this for every non-ASCII character.
bool interesting(char32_t cp) {
  static const std::vector<uint64_t> bmp = [] {
    std::vector<uint64_t> bits(0x10000 / 64, 0);
    for (char32_t c = 0; c < 0x10000; ++c) {
      if (interesting_slow(c)) bits[c >> 6] |= uint64_t{1} << (c & 63);
    }
    return bits;
  }();
  if (cp < 0x10000) return (bmp[cp >> 6] >> (cp & 63)) & 1;
  return interesting_slow(cp);
}

uint8_t ccc(char32_t cp) {
  if (cp < 0x300) return 0;
  const ud::CccRange* end = ud::kCcc + ud::kCccCount;
  const ud::CccRange* r = std::upper_bound(ud::kCcc, end, cp, [](char32_t c, const ud::CccRange& x) { return c < x.first; });
  return (r != ud::kCcc && cp <= (r - 1)->last) ? (r - 1)->ccc : 0;
}

void decompose(char32_t cp, std::u32string& out) {
  if (cp >= kSBase && cp < kSBase + kSCount) {
    const char32_t s = cp - kSBase;
    out += kLBase + s / kNCount;
    out += kVBase + (s % kNCount) / kTCount;
    if (s % kTCount) out += kTBase + s % kTCount;
    return;
  }
  const ud::Decomposition* end = ud::kDecomp + ud::kDecompCount;
  const ud::Decomposition* d =
      std::lower_bound(ud::kDecomp, end, cp, [](const ud::Decomposition& x, char32_t c) { return x.cp < c; });
  if (d != end && d->cp == cp) {
    out.append(ud::kDecompData + d->offset, d->length);
  } else {
    out += cp;
  }
}

// The primary composite of (a, b), or 0.
char32_t compose(char32_t a, char32_t b) {
  if (a >= kLBase && a < kLBase + kLCount && b >= kVBase && b < kVBase + kVCount) {
    return kSBase + ((a - kLBase) * kVCount + (b - kVBase)) * kTCount;
  }
  if (a >= kSBase && a < kSBase + kSCount && (a - kSBase) % kTCount == 0 && b > kTBase && b < kTBase + kTCount) {
    return a + (b - kTBase);
  }
  const ud::Composition* end = ud::kCompose + ud::kComposeCount;
  const ud::Composition* c = std::lower_bound(ud::kCompose, end, std::make_pair(a, b), [](const ud::Composition& x, auto k) {
    return x.first != k.first ? x.first < k.first : x.second < k.second;
  });
  return (c != end && c->first == a && c->second == b) ? c->composed : 0;
}

}  // namespace

std::string nfc(std::string_view text) {
  bool touch = false;
  for (size_t i = 0; i < text.size() && !touch;) {
    if (static_cast<unsigned char>(text[i]) < 0x80) {
      ++i;
      continue;
    }
    char32_t cp;
    const size_t n = utf8_decode(text, i, &cp);
    if (n == 0) return std::string(text);  // callers validate; never normalize broken text
    touch = interesting(cp);
    i += n;
  }
  if (!touch) return std::string(text);

  std::u32string d;
  for (size_t i = 0; i < text.size();) {
    char32_t cp;
    const size_t n = utf8_decode(text, i, &cp);
    decompose(cp, d);
    i += n;
  }
  // Canonical ordering: stable sort of each run of non-starters by combining class.
  for (size_t i = 0; i < d.size();) {
    if (ccc(d[i]) == 0) {
      ++i;
      continue;
    }
    size_t j = i;
    while (j < d.size() && ccc(d[j]) != 0) ++j;
    std::stable_sort(d.begin() + static_cast<long>(i), d.begin() + static_cast<long>(j),
                     [](char32_t a, char32_t b) { return ccc(a) < ccc(b); });
    i = j;
  }
  // Composition: a character joins the last starter unless a character between them blocks it.
  std::u32string out;
  long starter = -1;
  int last_ccc = -1;  // class of the last character kept after the starter
  for (char32_t c : d) {
    const int k = ccc(c);
    if (starter >= 0 && (last_ccc < k || (last_ccc == -1 && k == 0))) {
      if (const char32_t composed = compose(out[static_cast<size_t>(starter)], c)) {
        out[static_cast<size_t>(starter)] = composed;
        continue;
      }
    }
    if (k == 0) {
      starter = static_cast<long>(out.size());
      last_ccc = -1;
    } else {
      last_ccc = k;
    }
    out += c;
  }
  std::string s;
  s.reserve(text.size());
  for (char32_t c : out) utf8_append(s, c);
  return s;
}

std::string NfcNormalizer::apply(std::string_view text) const { return nfc(text); }

std::string SequenceNormalizer::apply(std::string_view text) const {
  std::string s(text);
  for (const auto& step : steps_) s = step->apply(s);
  return s;
}

}  // namespace whale::tokenizer
