#!/usr/bin/env bash
# llama.cpp (prebuilt, via node-llama-cpp) runs GGUF files written by `whale convert` and agrees with
# whale on greedy continuations, for deepseek2 (V3-style: MLA with q_lora, sigmoid noaux_tc routing,
# shared expert), qwen2 and llama, including the 32-element fallback types of llama.cpp's K-quant
# files (q5_0, q5_1, iq4_nl, q4_1). Usage: agreement.sh WHALE_BINARY
set -euo pipefail
whale=$1
here=$(cd "$(dirname "$0")/../.." && pwd)
peer=$here/bench/llamacpp
if [ ! -d "$peer/node_modules/node-llama-cpp" ]; then
  echo "node-llama-cpp is not installed: run scripts/npm_setup.sh" >&2
  exit 1
fi
work=$(mktemp -d)
bins=$(ls -d "$peer"/node_modules/@node-llama-cpp/linux-x64/bins/*/)
restore() {
  [ -f "$bins/libggml-cpu-sapphirerapids.so.off" ] && mv "$bins/libggml-cpu-sapphirerapids.so.off" "$bins/libggml-cpu-sapphirerapids.so"
  rm -rf "$work"
}
trap restore EXIT
fails=0
checks=0
check() {  # preset type prompt
  local preset=$1 type=$2 prompt=$3
  "$whale" init --preset "$preset" --out "$work/$preset" >/dev/null 2>&1
  "$whale" convert "$work/$preset" "$work/$preset.gguf" --type "$type" >/dev/null 2>&1
  local ours theirs
  checks=$((checks + 1))
  ours=$("$whale" run "$work/$preset.gguf" --prompt-ids "$prompt" -n 8 --greedy 2>/dev/null)
  theirs=$(node "$peer/greedy.mjs" "$work/$preset.gguf" "$prompt" 8 2>/dev/null | tail -n 1)
  if [ "$ours" == "$theirs" ]; then
    echo "agree  $preset $type: $ours"
  else
    echo "DIFFER $preset $type: whale [$ours] llama.cpp [$theirs]"
    fails=$((fails + 1))
  fi
}
# tiny-qwen2 and tiny-llama's rows (64, 160) are whole 32-element blocks, so every matrix is stored
# in the legacy type itself.
for type in f32 q8_0 q5_0 q4_1; do
  check tiny-qwen2 "$type" 256,10,20,30
  check tiny-llama "$type" 256,40,50,60
done
# q5_1 on tiny-qwen2 and iq4_nl on tiny-llama meet near ties on those prompts (top two logits 0.0004
# and 0.002 apart, where whale picks the same token from the file's weights decoded to f32), which
# llama.cpp's own rounding (f16 activation scales, f16 KV cache) may resolve either way: other
# prompts for those two.
check tiny-qwen2 q5_1 256,70,80,90
check tiny-llama q5_1 256,40,50,60
check tiny-qwen2 iq4_nl 256,10,20,30
check tiny-llama iq4_nl 256,70,80,90
# llama.cpp's AMX (sapphirerapids) CPU variant aborts on deepseek2 graphs on this machine; use the
# next variant for those files.
[ -f "$bins/libggml-cpu-sapphirerapids.so" ] && mv "$bins/libggml-cpu-sapphirerapids.so" "$bins/libggml-cpu-sapphirerapids.so.off"
for type in f32 q8_0; do
  check tiny-deepseek-v3 "$type" 256,10,20
done
echo "$((checks - fails)) passed, $fails failed"
[ "$fails" -eq 0 ]
