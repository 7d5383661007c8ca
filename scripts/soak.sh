#!/usr/bin/env bash
# Soak test (issue 21 item 3; docs/reliability.md): `whale serve` on loopback under DURATION seconds of
# mixed traffic from tests/server/npm/soak.mjs, then every completed request replayed alone and
# compared token for token (text and count). Prints the report's summary; exit 1 on any failure.
# Usage: scripts/soak.sh [DURATION_S=1800] [OUT_JSON=soak.json] [MODEL=models/default]
# Environment: SOAK_CLIENTS (6), SOAK_QUEUE (16), SOAK_SEED (1), SOAK_THREADS (the server's -t, 2), WHALE.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
duration=${1:-1800}
out=${2:-soak.json}
model=${3:-$root/models/default}
whale=${WHALE:-$root/build/whale}
queue=${SOAK_QUEUE:-16}
work=$(mktemp -d)
trap 'kill "$server" 2>/dev/null; wait "$server" 2>/dev/null; rm -rf "$work"' EXIT
"$whale" serve "$model" --host 127.0.0.1 --port 0 --ctx 1024 --max-seqs 4 --queue "$queue" -t "${SOAK_THREADS:-2}" >"$work/serve.log" 2>&1 &
server=$!
url=""
for _ in $(seq 1 300); do
  url=$(grep -o 'http://127\.0\.0\.1:[0-9]*' "$work/serve.log" | head -n 1 || true)
  [ -n "$url" ] && break
  kill -0 "$server" 2>/dev/null || break
  sleep 0.1
done
if [ -z "$url" ]; then
  echo "soak: whale serve did not start:" >&2
  cat "$work/serve.log" >&2
  exit 1
fi
status=0
node "$root/tests/server/npm/soak.mjs" "$url" "$server" "$duration" "$out" "${SOAK_CLIENTS:-6}" "$queue" "${SOAK_SEED:-1}" || status=$?
if ! kill -0 "$server" 2>/dev/null; then
  echo "soak: the server died:" >&2
  tail -n 20 "$work/serve.log" >&2
  exit 1
fi
exit "$status"
