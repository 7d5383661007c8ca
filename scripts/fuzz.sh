#!/usr/bin/env bash
# Builds the libFuzzer targets with clang into build-fuzz/ and runs each for N seconds (default 20)
# on a scratch copy of its seed corpus. Any crash, leak or sanitizer report fails the script.
# Longer runs: scripts/fuzz.sh 3600
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-20}
[ "$seconds" -gt 0 ] || exit 0
CXX=clang++ cmake -S . -B build-fuzz -G Ninja -DCMAKE_BUILD_TYPE=Debug -DWHALE_FUZZ=ON -DWHALE_TESTS=OFF \
  -DWHALE_TRAIN=OFF >/dev/null
cmake --build build-fuzz -j"$(nproc)" --target gguf_fuzz safetensors_fuzz config_fuzz | tail -n 1
declare -A seeds=([gguf_fuzz]=tests/data/broken/gguf [safetensors_fuzz]=tests/data/broken/safetensors
                  [config_fuzz]=tests/data/configs)
for target in gguf_fuzz safetensors_fuzz config_fuzz; do
  corpus=$(mktemp -d)
  cp -r "${seeds[$target]}"/. "$corpus"/ 2>/dev/null || true
  echo "fuzz: $target for ${seconds}s"
  ./build-fuzz/fuzz/"$target" -max_total_time="$seconds" -rss_limit_mb=2048 -timeout=10 -print_final_stats=0 \
    "$corpus" 2>&1 | tail -n 3
  rm -rf "$corpus"
done
echo "fuzz: no crashes"
