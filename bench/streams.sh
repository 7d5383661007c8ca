#!/usr/bin/env bash
# Throughput under many streams (issue 15): `whale bench` prompt processing, then `whale serve` with
# N concurrent streamed requests (tests/server/npm/bench_streams.mjs), in one run.
# Usage: bench/streams.sh MODEL.gguf [LEVELS=1,4,16,32] [GEN=128] [PROMPT=64] [THREADS=2]
# Env: WHALE (binary, default build/whale), PORT (default 18431), PP (prompt tokens for the
# prompt-processing figure, default 256).
set -euo pipefail
model=${1:?usage: bench/streams.sh MODEL.gguf [LEVELS] [GEN] [PROMPT] [THREADS]}
levels=${2:-1,4,16,32}
gen=${3:-128}
prompt=${4:-64}
threads=${5:-2}
root=$(cd "$(dirname "$0")/.." && pwd)
whale=${WHALE:-$root/build/whale}
port=${PORT:-18431}
pp=${PP:-256}
max_seqs=$(tr ',' '\n' <<<"$levels" | sort -n | tail -1)

echo "# $(lscpu | sed -n 's/^Model name: *//p'), $threads threads, $model"
echo "# prompt processing: whale bench -p $pp -n 0 -t $threads"
"$whale" bench "$model" -p "$pp" -n 0 -t "$threads" -r 2 2>&1 | grep -v '^$' | tail -3

"$whale" serve "$model" --port "$port" --max-seqs "$max_seqs" -t "$threads" >/tmp/whale_streams_serve.$$.log 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null || true' EXIT
for _ in $(seq 1 600); do
  curl -sf "http://127.0.0.1:$port/health" >/dev/null 2>&1 && break
  kill -0 $pid 2>/dev/null || { cat /tmp/whale_streams_serve.$$.log; exit 1; }
  sleep 0.2
done
echo "# whale serve --max-seqs $max_seqs -t $threads; $gen generated tokens per stream, $prompt-token prompts"
node "$root/tests/server/npm/bench_streams.mjs" "http://127.0.0.1:$port" "$levels" "$gen" "$prompt"
