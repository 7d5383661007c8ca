#!/usr/bin/env bash
# The issue-5 table: whale vs llama.cpp (node-llama-cpp) on the same random-weight GGUF files,
# pp512 and tg128 at depth 0 and 4096, 2 threads, one bench/vs_llamacpp.sh run per row.
# Usage: bench/vs_llamacpp_table.sh DIR [LOG]
#   DIR holds qwen15-q8_0.gguf, qwen15-q4_0.gguf, v2lite-q8_0.gguf, v2lite-q4_0.gguf, made with
#     whale init --preset r1-distill-qwen-1.5b --out Q && whale convert Q DIR/qwen15-T.gguf --type T
#     whale init --preset deepseek-v2-lite --out V && whale convert V DIR/v2lite-T.gguf --type T
#   (V2-Lite keeps all 27 layers: llama.cpp infers "lite" from the layer count).
# deepseek2 rows hide llama.cpp's AMX variant (NO_AMX=1): it aborts on quantized deepseek2 here.
# Takes about 45 minutes on the 2-core development machine; the full output goes to LOG.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
dir=$1 log=${2:-/tmp/vs_llamacpp_table.log}
: > "$log"
rows=(
  # file            depth reps no_amx
  "qwen15-q8_0.gguf  0    2    0"
  "qwen15-q4_0.gguf  0    2    0"
  "v2lite-q8_0.gguf  0    2    1"
  "v2lite-q4_0.gguf  0    2    1"
  "qwen15-q8_0.gguf  4096 2    0"
  "qwen15-q4_0.gguf  4096 2    0"
  "v2lite-q8_0.gguf  4096 1    1"
  "v2lite-q4_0.gguf  4096 1    1"
)
for row in "${rows[@]}"; do
  read -r file depth reps no_amx <<<"$row"
  echo "== $file depth $depth reps $reps $(date +%T)" | tee -a "$log" >&2
  NO_AMX=$no_amx bash "$here/vs_llamacpp.sh" "$dir/$file" 512 128 "$depth" 2 "$reps" | tee -a "$log"
done
