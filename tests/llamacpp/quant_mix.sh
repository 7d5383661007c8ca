#!/usr/bin/env bash
# `whale quantize --type MIX --dry-run` plans the same type for every tensor as llama.cpp's own
# llama-quantize (built from the bundled source by bench/llama_tools.sh), for every mix, on tiny
# presets (rows of 64: the block fallbacks) and on real dimensions (R1-Distill-Qwen-1.5B and -Llama-8B
# with 8 layers, Qwen at 80 layers (llama.cpp's 70B rules), DeepSeek-V3 with 6 layers: 256-multiples,
# use_more_bits layers, 256 experts). Real-dimension files are sparse: both dry runs read only headers.
# Usage: quant_mix.sh WHALE_BINARY. Exits 77 (skipped) when llama-quantize is not built yet.
set -euo pipefail
whale=$1
here=$(cd "$(dirname "$0")/../.." && pwd)
if ! tools=$("$here/bench/llama_tools.sh" --check); then
  echo "SKIP: llama-quantize is not built; run bench/llama_tools.sh (minutes, once per llama.cpp version)"
  exit 77
fi
python=/usr/bin/python3
[ -x "$python" ] || python=python3
export GGUF_PY=$tools/gguf-py
helper="$python $here/tests/llamacpp/quant_mix.py"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mixes=$("$whale" quantize --help | grep -o 'a type per tensor: [A-Z0-9_, ]*' | sed 's/.*: //; s/,//g')
[ -n "$mixes" ] || { echo "no mixes in whale quantize --help" >&2; exit 1; }
fails=0 checks=0
compare() {  # label file
  local label=$1 file=$2 mix
  for mix in $mixes; do
    checks=$((checks + 1))
    if ! "$tools/bin/llama-quantize" --dry-run "$file" "$mix" >"$work/log" 2>&1; then
      echo "FAIL   $label $mix: llama-quantize failed:"; tail -n 5 "$work/log"
      fails=$((fails + 1)); continue
    fi
    $helper plan "$work/log" | sort >"$work/theirs"
    "$whale" quantize "$file" --type "$mix" --dry-run | cut -f1,3 | sort >"$work/ours"
    if [ ! -s "$work/theirs" ]; then
      echo "FAIL   $label $mix: no tensors in llama-quantize's log"; fails=$((fails + 1))
    elif diff "$work/theirs" "$work/ours" >"$work/diff"; then
      echo "same   $label $mix: $(wc -l <"$work/ours") tensors, $(cut -f2 "$work/ours" | sort | uniq -c | awk '{printf "%s%s:%s", sep, $2, $1; sep=" "}')"
    else
      echo "DIFFER $label $mix (< llama-quantize, > whale):"; head -n 20 "$work/diff"
      fails=$((fails + 1))
    fi
  done
}
for preset in tiny-qwen2 tiny-llama tiny-deepseek-v3; do
  "$whale" init --preset "$preset" --out "$work/$preset" >/dev/null 2>&1
  "$whale" convert "$work/$preset" "$work/$preset.gguf" --type f32 >/dev/null 2>&1
  compare "$preset" "$work/$preset.gguf"
done
real() {  # label preset layers template overrides...
  local label=$1 preset=$2 layers=$3 template=$4
  shift 4
  "$whale" init --preset "$preset" --layers "$layers" --config-only --out "$work/$label" >/dev/null 2>&1
  "$whale" quantize "$work/$label" --type Q8_0 --dry-run >"$work/$label.plan"
  $helper sparse "$work/$template.gguf" "$work/$label.plan" "$work/$label.gguf" block_count="$layers" "$@"
  compare "$label" "$work/$label.gguf"
}
real qwen-1.5b-8l r1-distill-qwen-1.5b 8 tiny-qwen2 attention.head_count=12 attention.head_count_kv=2
real qwen-1.5b-80l r1-distill-qwen-1.5b 80 tiny-qwen2 attention.head_count=12 attention.head_count_kv=2
real llama-8b-8l r1-distill-llama-8b 8 tiny-llama attention.head_count=32 attention.head_count_kv=8
real v3-6l deepseek-v3 6 tiny-deepseek-v3 attention.head_count=128 expert_count=256 expert_used_count=8 \
  leading_dense_block_count=3
echo "$((checks - fails)) of $checks plans agree"
[ "$fails" -eq 0 ]
