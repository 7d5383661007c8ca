#!/usr/bin/env bash
# Sets up, builds and runs every test: the CTest suite, then a short run of each libFuzzer target
# (set FUZZ_SECONDS, default 15; 0 skips fuzzing).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/build.sh
bash scripts/npm_setup.sh
bash bench/llama_tools.sh >/dev/null  # llama-quantize, the oracle of llamacpp.quant_mix (cached per llama.cpp version)
jobs=$(nproc)
ctest --test-dir build --output-on-failure -j"$jobs"
bash scripts/fuzz.sh "${FUZZ_SECONDS:-15}"
