#!/usr/bin/env bash
# Same GGUF, same machine, same run: whale bench vs llama.cpp (node-llama-cpp's prebuilt binaries),
# prompt processing and generation tokens/s and the ratio whale / llama.cpp.
# Usage: bench/vs_llamacpp.sh MODEL.gguf [PROMPT=512] [GEN=128] [DEPTH=0] [THREADS=2] [REPS=3]
# Set NO_AMX=1 to hide llama.cpp's AMX CPU variant (it aborts on quantized deepseek2 files here), or
# LLAMA_VARIANT=NAME to hide every CPU variant but libggml-cpu-NAME.so (the WHALE_SIMD=avx2 rows:
# alderlake where the CPU has AVX-VNNI, else haswell).
# Each row also gives its share of the physical limit (build/roofline_probe, same threads, same run):
# generation against read bandwidth ÷ the weight bytes one decode token reads, prompt processing
# against the int8 multiply-add peak (AVX-512 VNNI, else AVX2 vpmaddubsw; AMX's is higher) ÷ the
# multiply-adds per token; both per-token figures come from `whale bench`.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
model=$1 p=${2:-512} n=${3:-128} d=${4:-0} t=${5:-2} r=${6:-3}
whale=${WHALE:-$here/build/whale}
peer=$here/bench/llamacpp
bins=$(ls -d "$peer"/node_modules/@node-llama-cpp/linux-x64/bins/*/)
hidden=()
restore() { for f in "${hidden[@]}"; do mv "$f.off" "$f"; done; }
trap restore EXIT
hide() { mv "$1" "$1.off" && hidden+=("$1"); }
if [ -n "${LLAMA_VARIANT:-}" ]; then
  [ -f "$bins/libggml-cpu-$LLAMA_VARIANT.so" ] || { echo "no llama.cpp CPU variant $LLAMA_VARIANT in $bins" >&2; exit 1; }
  for f in "$bins"/libggml-cpu-*.so; do [ "$f" = "$bins/libggml-cpu-$LLAMA_VARIANT.so" ] || hide "$f"; done
elif [ "${NO_AMX:-0}" = 1 ] && [ -f "$bins/libggml-cpu-sapphirerapids.so" ]; then
  hide "$bins/libggml-cpu-sapphirerapids.so"
fi
variant=$(ls "$bins" | grep -E '^libggml-cpu-.*\.so$' | sed 's/libggml-cpu-//;s/\.so//' | tr '\n' ' ')
probe=$(dirname "$whale")/roofline_probe
limits=$([ -x "$probe" ] && "$probe" --threads "$t" || echo '{}')
ours=$("$whale" bench "$model" -p "$p" -n "$n" -d "$d" -t "$t" -r "$r" 2>/dev/null)
theirs=$(node "$peer/bench.mjs" "$model" "$p" "$n" "$t" "$r" "$d")
python3 - "$ours" "$theirs" "$model" "$p" "$n" "$d" "$t" "$variant" "$limits" <<'PY'
import json, re, statistics, sys
ours, theirs, model, p, n, d, t, variants, limits = sys.argv[1:]
limits = json.loads(limits)
mine, sd, rss, gb, gmac = {}, {}, "", None, None
for line in ours.splitlines():
    m = re.match(r"\|.*\| (pp|tg)\d+(?: @ d\d+)? \| ([\d.]+) ± ([\d.]+) \|", line)
    if m: mine[m.group(1)], sd[m.group(1)] = float(m.group(2)), float(m.group(3))
    if line.startswith("resident memory"): rss = line
    m = re.match(r"per token: ([\d.]+) GB of weights read in decode, ([\d.]+) G multiply-adds", line)
    if m: gb, gmac = float(m.group(1)), float(m.group(2))
peer = json.loads(theirs)
print(f"model {model}, depth {d}, {t} threads; llama.cpp loaded its {peer.get('variant', '?')} CPU variant "
      f"(available: {variants.strip()})")
print(f"whale {rss}")
import os
order = ("int8_avx512_vnni_GMACps", "int8_avx2_maddubs_GMACps")
if os.environ.get("WHALE_SIMD") in ("avx2", "scalar"): order = order[1:]  # the peak of the instructions whale runs
peak_key = next((k for k in order if k in limits), None)
limit = {}
if gb and "read_GBps" in limits:
    limit["tg"] = limits["read_GBps"] / gb
if gmac and peak_key:
    limit["pp"] = limits[peak_key] / gmac
if limits:
    print(f"limits on {limits.get('cpu', '?')} (AMX: {'yes' if limits.get('amx') else 'no'}), {t} threads: "
          f"read {limits.get('read_GBps', 0):.1f} GB/s, {gb} GB/token -> tg <= {limit.get('tg', 0):.1f} t/s; "
          f"{peak_key} {limits.get(peak_key, 0):.0f} GMAC/s, {gmac} GMAC/token -> pp <= {limit.get('pp', 0):.0f} t/s")
print("| test | whale t/s | llama.cpp t/s | whale / llama.cpp | whale / limit | llama.cpp / limit |")
print("|---|---|---|---|---|---|")
for key, size in (("pp", p), ("tg", n)):
    if key in mine and peer[key]:
        ref = statistics.mean(peer[key])
        spread = f" ± {statistics.stdev(peer[key]):.2f}" if len(peer[key]) > 1 else ""
        share = lambda v: f"{100 * v / limit[key]:.0f}%" if key in limit else "?"
        print(f"| {key}{size} | {mine[key]:.2f} ± {sd[key]:.2f} | {ref:.2f}{spread} | {mine[key] / ref:.2f}x "
              f"| {share(mine[key])} | {share(ref)} |")
PY
