#!/usr/bin/env bash
# Same GGUF, same machine, same run: whale bench vs llama.cpp (node-llama-cpp's prebuilt binaries),
# prompt processing and generation tokens/s and the ratio whale / llama.cpp.
# Usage: bench/vs_llamacpp.sh MODEL.gguf [PROMPT=512] [GEN=128] [DEPTH=0] [THREADS=2] [REPS=3]
# Set NO_AMX=1 to hide llama.cpp's AMX CPU variant (it aborts on quantized deepseek2 files here).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
model=$1 p=${2:-512} n=${3:-128} d=${4:-0} t=${5:-2} r=${6:-3}
whale=${WHALE:-$here/build/whale}
peer=$here/bench/llamacpp
bins=$(ls -d "$peer"/node_modules/@node-llama-cpp/linux-x64/bins/*/)
if [ "${NO_AMX:-0}" = 1 ] && [ -f "$bins/libggml-cpu-sapphirerapids.so" ]; then
  mv "$bins/libggml-cpu-sapphirerapids.so" "$bins/libggml-cpu-sapphirerapids.so.off"
  trap 'mv "$bins/libggml-cpu-sapphirerapids.so.off" "$bins/libggml-cpu-sapphirerapids.so"' EXIT
fi
variant=$(ls "$bins" | grep -E '^libggml-cpu-.*\.so$' | sed 's/libggml-cpu-//;s/\.so//' | tr '\n' ' ')
ours=$("$whale" bench "$model" -p "$p" -n "$n" -d "$d" -t "$t" -r "$r" 2>/dev/null)
theirs=$(node "$peer/bench.mjs" "$model" "$p" "$n" "$t" "$r" "$d")
python3 - "$ours" "$theirs" "$model" "$p" "$n" "$d" "$t" "$variant" <<'PY'
import json, re, statistics, sys
ours, theirs, model, p, n, d, t, variants = sys.argv[1:]
mine, sd, rss = {}, {}, ""
for line in ours.splitlines():
    m = re.match(r"\|.*\| (pp|tg)\d+(?: @ d\d+)? \| ([\d.]+) ± ([\d.]+) \|", line)
    if m: mine[m.group(1)], sd[m.group(1)] = float(m.group(2)), float(m.group(3))
    if line.startswith("resident memory"): rss = line
peer = json.loads(theirs)
print(f"model {model}, depth {d}, {t} threads; llama.cpp loaded its {peer.get('variant', '?')} CPU variant "
      f"(available: {variants.strip()})")
print(f"whale {rss}")
print("| test | whale t/s | llama.cpp t/s | whale / llama.cpp |")
print("|---|---|---|---|")
for key, size in (("pp", p), ("tg", n)):
    if key in mine and peer[key]:
        ref = statistics.mean(peer[key])
        spread = f" ± {statistics.stdev(peer[key]):.2f}" if len(peer[key]) > 1 else ""
        print(f"| {key}{size} | {mine[key]:.2f} ± {sd[key]:.2f} | {ref:.2f}{spread} | {mine[key] / ref:.2f}x |")
PY
