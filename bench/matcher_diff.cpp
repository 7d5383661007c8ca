// Differential check of src/constrain's Matcher against an earlier version of itself (renamed
// OldMatcher by bench/matcher_diff.sh): over every grammar_fuzz-format input in the given
// directories (mode byte, GBNF or JSON schema, NUL, bytes), the two must give the same mask and the
// same completeness at every byte and accept the same bytes. Also times mask() for each, interleaved
// in one process. Exit status 1 on any difference.
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <string>
#include <vector>

#include "constrain/grammar.h"
#include "constrain/json_schema.h"
#include "constrain/matcher.h"
#include "fuzz_support.h"
#include "old_matcher.h"
#include "server/structured_output.h"

using namespace whale;

namespace {

struct Tally {
  long inputs = 0, compiled = 0, masks = 0, differences = 0, both_refused = 0, only_old_refused = 0, only_new_refused = 0;
  double new_s = 0, old_s = 0;
};

// Runs f on both matchers; false when either gave up (counted), so the input ends there.
template <class F, class G>
bool both(Tally& t, F&& on_new, G&& on_old) {
  bool tn = false, to = false;
  auto a = std::chrono::steady_clock::now();
  try {
    on_new();
  } catch (const Error&) {
    tn = true;
  }
  auto b = std::chrono::steady_clock::now();
  try {
    on_old();
  } catch (const Error&) {
    to = true;
  }
  auto c = std::chrono::steady_clock::now();
  t.new_s += std::chrono::duration<double>(b - a).count();
  t.old_s += std::chrono::duration<double>(c - b).count();
  if (tn && to) ++t.both_refused;
  if (to && !tn) ++t.only_old_refused;
  if (tn && !to) ++t.only_new_refused;
  return !tn && !to;
}

}  // namespace

int main(int argc, char** argv) {
  const std::shared_ptr<const constrain::Vocabulary> vocab = server::constraint_vocabulary(fuzz::tiny_deepseek());
  Tally t;
  for (int a = 1; a < argc; ++a) {
    for (const auto& entry : std::filesystem::directory_iterator(argv[a])) {
      std::ifstream f(entry.path(), std::ios::binary);
      const std::string data((std::istreambuf_iterator<char>(f)), {});
      if (data.empty()) continue;
      ++t.inputs;
      const std::string rest = data.substr(1);
      const size_t nul = rest.find('\0');
      const std::string text = rest.substr(0, nul), sample = nul == std::string::npos ? "" : rest.substr(nul + 1);
      std::shared_ptr<const constrain::Grammar> g;
      try {
        g = std::make_shared<const constrain::Grammar>(
            constrain::parse_gbnf((data[0] & 1) ? constrain::json_schema_to_gbnf(text) : text));
      } catch (const Error&) {
        continue;
      }
      ++t.compiled;
      std::unique_ptr<constrain::Matcher> n;
      std::unique_ptr<constrain::OldMatcher> o;
      if (!both(t, [&] { n = std::make_unique<constrain::Matcher>(g, vocab, 1 << 16); },
                [&] { o = std::make_unique<constrain::OldMatcher>(g, vocab, 1 << 16); })) {
        continue;
      }
      for (size_t i = 0;; ++i) {
        std::vector<uint64_t> mn, mo;
        if (!both(t, [&] { mn = n->mask(); }, [&] { mo = o->mask(); })) break;
        ++t.masks;
        if (mn != mo || n->complete() != o->complete()) {
          ++t.differences;
          std::fprintf(stderr, "mask differs: %s at byte %zu\n", entry.path().c_str(), i);
          break;
        }
        if (i == sample.size()) break;
        bool an = false, ao = false;
        const std::string_view byte(&sample[i], 1);
        if (!both(t, [&] { an = n->accept_bytes(byte); }, [&] { ao = o->accept_bytes(byte); })) break;
        if (an != ao) {
          ++t.differences;
          std::fprintf(stderr, "acceptance differs: %s at byte %zu\n", entry.path().c_str(), i);
          break;
        }
        if (!an) break;
      }
    }
  }
  std::printf("inputs %ld, grammars compiled %ld, masks compared %ld, differences %ld\n", t.inputs, t.compiled, t.masks,
              t.differences);
  std::printf("gave up (work bound): both %ld, only the old matcher %ld, only the new one %ld\n", t.both_refused,
              t.only_old_refused, t.only_new_refused);
  std::printf("seconds in the matchers (masks, steps, construction): new %.3f, old %.3f (old/new %.2fx)\n", t.new_s, t.old_s,
              t.old_s / t.new_s);
  return t.differences != 0;
}
