#!/usr/bin/env bash
# Sets up dependencies and builds whale into build/ (Release). Usage: scripts/build.sh [cmake args]
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/npm_setup.sh web  # the chat page's Markdown libraries are embedded at build time
jobs=$(nproc)
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release "$@" >/dev/null
cmake --build build -j"$jobs"
