#!/usr/bin/env bash
# The web chat page in a real browser: starts `whale serve` on a tiny random model (loopback, any
# free port) and drives Debian's headless chromium through tests/web/npm/ui_test.mjs (the chat) and
# features_test.mjs (search results, citations, files, math, languages), with playwright-core.
# Usage: ui_test.sh WHALE_BINARY [OUTPUT_DIR]  (screenshots land in OUTPUT_DIR, default a temp dir).
# Fails, never skips, when chromium or the npm packages are missing.
set -euo pipefail
whale=$1
here=$(cd "$(dirname "$0")" && pwd)
chromium=${WHALE_CHROMIUM:-/usr/bin/chromium}
if [ ! -x "$chromium" ]; then
  echo "FAIL: $chromium is missing: install it (Debian: apt-get install -y chromium; scripts/setup.sh does)" >&2
  exit 1
fi
if [ ! -f "$here/npm/node_modules/playwright-core/package.json" ]; then
  echo "FAIL: playwright-core is not installed in $here/npm: run scripts/npm_setup.sh" >&2
  exit 1
fi
work=$(mktemp -d)
out=${2:-$work/out}
mkdir -p "$out"
server=""
finish() {
  [ -n "$server" ] && kill "$server" 2>/dev/null && wait "$server" 2>/dev/null
  rm -rf "$work"
}
trap finish EXIT

"$whale" init --preset tiny-deepseek-v3 --out "$work/model" >/dev/null 2>&1
# start_server LOG [ARGS...]: `whale serve` on the tiny model at a free loopback port; sets $server and $url.
start_server() {
  local log=$1
  shift
  "$whale" serve "$work/model" --host 127.0.0.1 --port 0 --ctx 4096 --max-seqs 2 -t 2 "$@" >"$log" 2>&1 &
  server=$!
  url=""
  for _ in $(seq 1 300); do
    url=$(grep -o 'http://127\.0\.0\.1:[0-9]*' "$log" | head -n 1 || true)
    [ -n "$url" ] && break
    kill -0 "$server" 2>/dev/null || break
    sleep 0.1
  done
  if [ -z "$url" ]; then
    echo "FAIL: whale serve $* did not start:" >&2
    cat "$log" >&2
    exit 1
  fi
}

start_server "$work/serve.log"
echo "whale serve at $url; screenshots in $out"
node "$here/npm/ui_test.mjs" "$url" "$out" "$chromium"
node "$here/npm/features_test.mjs" "$url" "$out" "$chromium"

# 联网搜索 end to end: a second server over a Xapian index of the search tests' bilingual corpus.
kill "$server" 2>/dev/null && wait "$server" 2>/dev/null || true
"$whale" index build "$here/../search/data/corpus" --out "$work/index" >/dev/null 2>&1
start_server "$work/serve-search.log" --search "$work/index"
node "$here/npm/search_live_test.mjs" "$url" "$out" "$chromium"
