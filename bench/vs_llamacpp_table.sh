#!/usr/bin/env bash
# The issue-14 table: whale vs llama.cpp (node-llama-cpp) on the same random-weight GGUF files in
# the mixes people download, pp512 and tg128, 2 threads, with AMX and without it (WHALE_AMX=0 for
# whale, NO_AMX=1 hides llama.cpp's sapphirerapids variant), one bench/vs_llamacpp.sh run per row,
# each with its share of the measured limits (roofline_probe).
# Usage: bench/vs_llamacpp_table.sh DIR [LOG] [ROWS]
#   DIR holds qwen15-MIX.gguf (and v2lite-MIX.gguf for the V2-Lite rows), made with
#     whale init --preset r1-distill-qwen-1.5b --out Q --dtype bf16 && whale quantize Q DIR/qwen15-MIX.gguf --type MIX
#     whale init --preset deepseek-v2-lite --out V --dtype bf16 && whale quantize V DIR/v2lite-MIX.gguf --type MIX
#   (V2-Lite keeps all 27 layers: llama.cpp infers "lite" from the layer count).
#   ROWS: "all" (default) or "short" (the Qwen rows at depth 0 only).
# deepseek2 rows always hide llama.cpp's AMX variant: it aborts on quantized deepseek2 files here.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
dir=$1 log=${2:-/tmp/vs_llamacpp_table.log} which=${3:-all}
: > "$log"
rows=(
  # file               depth reps amx
  "qwen15-Q4_K_M.gguf  0     3    1"
  "qwen15-Q4_K_M.gguf  0     3    0"
  "qwen15-Q4_0.gguf    0     3    1"
  "qwen15-Q4_0.gguf    0     3    0"
  "qwen15-Q6_K.gguf    0     3    1"
  "qwen15-Q8_0.gguf    0     3    1"
)
if [ "$which" = all ]; then
  rows+=(
    "qwen15-Q5_K_M.gguf  0     3    1"
    "v2lite-Q4_K_M.gguf  0     2    0"
    "v2lite-Q8_0.gguf    0     2    0"
    "qwen15-Q4_K_M.gguf  8192  2    1"
    "v2lite-Q4_K_M.gguf  8192  1    0"
  )
fi
for row in "${rows[@]}"; do
  read -r file depth reps amx <<<"$row"
  [ -f "$dir/$file" ] || { echo "== skip $file (not in $dir)" | tee -a "$log" >&2; continue; }
  echo "== $file depth $depth reps $reps AMX $amx $(date +%T)" | tee -a "$log" >&2
  no_amx=$((1 - amx))
  case $file in v2lite-*) no_amx=1 ;; esac
  WHALE_AMX=$amx NO_AMX=$no_amx bash "$here/vs_llamacpp.sh" "$dir/$file" 512 128 "$depth" 2 "$reps" | tee -a "$log"
done
