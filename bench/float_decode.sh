#!/usr/bin/env bash
# FP8 checkpoints against the same model in bf16 and in q8_0 (issue 14, item 4): decode and prompt
# speed of each, with each decode's share of the read roofline (bench/roofline_probe's 2-thread read
# bandwidth, measured before every round, ÷ the weight bytes one decode token reads).
# Usage: bench/float_decode.sh FP8_DIR BF16_DIR [ROUNDS=3] [THREADS=2]
# Rows: fp8 (float_dot: bf16 dot products), fp8 with WHALE_BF16_DOT=0 (f32 kernel), bf16, and the
# bf16 directory re-encoded to q8_0 at load. Rounds interleave the rows so host noise hits all alike.
# Make the two directories with
#   whale init --preset deepseek-v3 --layers 3 --mtp-layers 0 --dtype fp8 --out FP8_DIR   (and bf16)
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
fp8=$1 bf16=$2 rounds=${3:-3} t=${4:-2}
whale=${WHALE:-$here/build/whale}
probe=$(dirname "$whale")/roofline_probe
log=$(mktemp)
trap 'rm -f "$log"' EXIT
for ((r = 1; r <= rounds; r++)); do
  echo "probe $("$probe" --threads "$t")" >>"$log"
  for row in fp8 fp8-f32 bf16 q8_0; do
    case $row in
      fp8) out=$("$whale" bench "$fp8" -p 64 -n 32 -r 1 -t "$t" 2>/dev/null) ;;
      fp8-f32) out=$(WHALE_BF16_DOT=0 "$whale" bench "$fp8" -p 64 -n 32 -r 1 -t "$t" 2>/dev/null) ;;
      bf16) out=$("$whale" bench "$bf16" -p 64 -n 32 -r 1 -t "$t" 2>/dev/null) ;;
      q8_0) out=$("$whale" bench "$bf16" --quant q8_0 -p 64 -n 32 -r 1 -t "$t" 2>/dev/null) ;;
    esac
    printf '%s\n' "$out" | sed "s/^/$row /" >>"$log"
    echo "round $r $row done" >&2
  done
done
python3 - "$log" <<'PY'
import json, re, statistics, sys
rows, probes, gb, cpu = {}, [], {}, "?"
for line in open(sys.argv[1]):
    if line.startswith("probe "):
        p = json.loads(line[6:]); probes.append(p["read_GBps"]); cpu = p.get("cpu", "?")
        continue
    name, _, rest = line.partition(" ")
    m = re.match(r"\|.*\| (pp|tg)\d+ \| ([\d.]+) ± [\d.]+ \|", rest)
    if m: rows.setdefault(name, {}).setdefault(m.group(1), []).append(float(m.group(2)))
    m = re.match(r"per token: ([\d.]+) GB of weights read in decode", rest)
    if m: gb[name] = float(m.group(1))
bw = statistics.median(probes)
print(f"CPU {cpu}; 2-thread read bandwidth per round {', '.join(f'{p:.1f}' for p in probes)} GB/s (median {bw:.1f})")
print("| weights | GB read per decode token | pp64 t/s | tg32 t/s | tg roofline t/s | tg share of roofline |")
print("|---|---|---|---|---|---|")
for name, v in rows.items():
    pp, tg = statistics.mean(v["pp"]), statistics.mean(v["tg"])
    sd = statistics.stdev(v["tg"]) if len(v["tg"]) > 1 else 0.0
    roof = bw / gb[name]
    print(f"| {name} | {gb[name]:.3f} | {pp:.1f} | {tg:.2f} ± {sd:.2f} | {roof:.2f} | {100 * tg / roof:.0f}% |")
PY
