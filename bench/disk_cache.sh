#!/usr/bin/env bash
# Time to first token for a long prompt on the first request after a server restart: the prefix read
# back from the disk cache (--cache-dir) vs recomputed (no cache). Four fresh servers, one request
# each: no cache; cache cold (computes and saves); restarted with the cache files dropped from the OS
# page cache (read from the device); restarted again (files in the page cache). The first token must
# agree. Between, what zstd and lz4 would save on the files and cost to decompress.
# Usage: bench/disk_cache.sh [MODEL.gguf] [PREFIX_TOKENS] [THREADS]   (WHALE=path/to/whale)
set -euo pipefail
model=${1:-/work/benchm/qwen-q4_0.gguf}
n=${2:-4096}
threads=${3:-2}
whale=${WHALE:-build/whale}
work=$(mktemp -d /tmp/whale_disk_cache_bench.XXXXXX)
trap 'kill $pid 2>/dev/null || true; rm -rf "$work"' EXIT
pid=

serve() {  # serve EXTRA_ARGS...: starts a server, sets $pid and $port
  "$whale" serve "$model" --port 0 --ctx $((n + 64)) --max-seqs 1 -t "$threads" "$@" >"$work/log" 2>&1 &
  pid=$!
  for _ in $(seq 600); do
    port=$(sed -n 's|^whale serve: http://127.0.0.1:\([0-9]*\).*|\1|p' "$work/log" | head -1)
    [ -n "$port" ] && return 0
    sleep 0.2
  done
  cat "$work/log"; exit 1
}
stop() { kill "$pid"; wait "$pid" 2>/dev/null || true; }

ask() {  # ask LABEL: one request of n+1 prompt tokens (n of them can be cached), max_tokens 1
  python3 - "$port" "$n" "$1" <<'PY'
import json, random, sys, time, urllib.request
port, n, label = sys.argv[1], int(sys.argv[2]), sys.argv[3]
rng = random.Random(1234)
prompt = [rng.randrange(3, 250) for _ in range(n + 1)]
body = json.dumps({"prompt": prompt, "max_tokens": 1, "temperature": 0}).encode()
req = urllib.request.Request(f"http://127.0.0.1:{port}/v1/completions", body, {"Content-Type": "application/json"})
t = time.time()
r = json.load(urllib.request.urlopen(req, timeout=3600))
dt = time.time() - t
u = r["usage"]
print(f"{label:28s} time to first token {dt:8.3f} s  prompt {u['prompt_tokens']}  cached "
      f"{u['prompt_tokens_details']['cached_tokens']}  first token {r['choices'][0]['text']!r}")
PY
}

echo "model $model, prefix $n tokens, $threads threads, $(lscpu | sed -n 's/^Model name: *//p')"
serve;                                   ask "no cache (recompute)";       stop
serve --cache-dir "$work/cache";         ask "cache cold (compute+save)";  stop
echo "cache: $(ls "$work/cache" | wc -l) files, $(du -sh "$work/cache" | cut -f1)"
for z in "zstd -1 -T1" "zstd -3 -T1" "lz4 -1"; do
  command -v ${z%% *} >/dev/null || continue
  cat "$work/cache"/*.kv | $z -c >"$work/z" 2>/dev/null
  t0=$(date +%s.%N); ${z%% *} -d -c <"$work/z" >/dev/null; t1=$(date +%s.%N)
  echo "  $z: $(stat -c %s "$work/z") of $(cat "$work/cache"/*.kv | wc -c) bytes, decompress $(echo "$t1 - $t0" | bc) s"
done
rm -f "$work/z"
python3 -c 'import os, sys
for f in sys.argv[1:]:
    fd = os.open(f, os.O_RDONLY); os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED); os.close(fd)' "$work/cache"/*.kv
serve --cache-dir "$work/cache";         ask "restart, files from device"; stop
serve --cache-dir "$work/cache";         ask "restart, files page-cached"; stop
