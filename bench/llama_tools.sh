#!/usr/bin/env bash
# Builds llama.cpp's llama-quantize from the source node-llama-cpp bundles (a bench/test oracle, not
# a dependency of whale) into a cache keyed by the bundle's commit, reusing it when present.
# Usage: bench/llama_tools.sh [--check]   prints the directory holding bin/llama-quantize and gguf-py/
#   --check: print the directory and exit 0 when already built, exit 1 (building nothing) otherwise.
# CPU only, no network libraries; compiles through ccache when installed. Takes minutes on 2 cores.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
bundle=$here/bench/llamacpp/node_modules/node-llama-cpp/llama/gitRelease.bundle
if [ ! -f "$bundle" ]; then
  echo "llama_tools.sh: $bundle is missing: run scripts/npm_setup.sh" >&2
  exit 1
fi
commit=$(git bundle list-heads "$bundle" | awk '$2 == "HEAD" {print $1; exit}')
[ -n "$commit" ] || commit=$(git bundle list-heads "$bundle" | awk '{print $1; exit}')
dir=${WHALE_LLAMA_TOOLS:-${XDG_CACHE_HOME:-$HOME/.cache}/whale/llama-tools/$commit}
if [ -x "$dir/bin/llama-quantize" ] && [ -d "$dir/gguf-py/gguf" ]; then
  echo "$dir"
  exit 0
fi
[ "${1:-}" == "--check" ] && exit 1

mkdir -p "$dir"
log() { echo "llama_tools: $*" >&2; }
if [ ! -d "$dir/src/.git" ]; then
  log "cloning $bundle ($commit) into $dir/src"
  rm -rf "$dir/src"
  git -c advice.detachedHead=false clone -q "$bundle" "$dir/src" >&2
  git -C "$dir/src" -c advice.detachedHead=false checkout -q "$commit" >&2
fi
launcher=()
if command -v ccache >/dev/null; then
  launcher=(-DCMAKE_C_COMPILER_LAUNCHER=ccache -DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
fi
generator=()
command -v ninja >/dev/null && generator=(-G Ninja)
log "configuring (Release, CPU only)"
cmake -S "$dir/src" -B "$dir/build" "${generator[@]}" "${launcher[@]}" -DCMAKE_BUILD_TYPE=Release \
  -DBUILD_SHARED_LIBS=OFF -DGGML_NATIVE=OFF -DGGML_OPENMP=OFF -DLLAMA_OPENSSL=OFF -DLLAMA_BUILD_TESTS=OFF \
  -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_SERVER=OFF -DLLAMA_BUILD_APP=OFF -DLLAMA_BUILD_UI=OFF \
  -DLLAMA_BUILD_TOOLS=ON >&2
log "building llama-quantize (minutes on 2 cores)"
cmake --build "$dir/build" --target llama-quantize -j "$(nproc)" >&2
mkdir -p "$dir/bin"
cp "$dir/build/bin/llama-quantize" "$dir/bin/llama-quantize.tmp"
mv "$dir/bin/llama-quantize.tmp" "$dir/bin/llama-quantize"
rm -rf "$dir/gguf-py"
cp -r "$dir/src/gguf-py" "$dir/gguf-py"
rm -rf "$dir/build"  # objects live on in ccache; the binary and gguf-py are all the tests need
log "done: $dir/bin/llama-quantize"
echo "$dir"
