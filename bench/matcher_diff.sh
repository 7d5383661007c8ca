#!/usr/bin/env bash
# Differential check of the structured-output matcher against an earlier commit's (default 87ac684,
# before the 2026-12-08 changes): same masks, same accepted bytes, and the time of each, over
# grammar_fuzz-format inputs (default: the committed grammar_fuzz corpus; pass a campaign's kept
# corpus for more). Needs the Release build in build/ (cmake --build build --target whale_server).
#   bench/matcher_diff.sh [COMMIT] [DIR...]
set -euo pipefail
cd "$(dirname "$0")/.."
commit=${1:-87ac684}
shift || true
dirs=("$@")
[ ${#dirs[@]} -gt 0 ] || dirs=(fuzz/corpus/grammar_fuzz)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
rename='s/\bMatcher\b/OldMatcher/g; s/GrammarTooAmbiguous/OldGrammarTooAmbiguous/g'
git show "$commit:src/constrain/matcher.h" | sed "$rename" >"$work/old_matcher.h"
git show "$commit:src/constrain/matcher.cpp" | sed "$rename; s#\"constrain/matcher.h\"#\"old_matcher.h\"#" >"$work/old_matcher.cpp"
libs=()
for l in server engine model search constrain sampler tokenizer formats kernels core; do libs+=("build/libwhale_$l.a"); done
g++ -std=c++20 -O2 -DWHALE_SOURCE_DIR="\"$PWD\"" -I src -I fuzz -I "$work" bench/matcher_diff.cpp "$work/old_matcher.cpp" \
  -o "$work/matcher_diff" -Wl,--start-group "${libs[@]}" -Wl,--end-group -lpcre2-8 -lpthread
"$work/matcher_diff" "${dirs[@]}"
