#!/usr/bin/env bash
# Files written by llama.cpp's own llama-quantize (and iq2_xxs/iq1_s files of random blocks, which
# no tool here writes) run in whale with llama.cpp's greedy tokens, and
# `whale quantize --type MIX` writes the same tensor types as llama-quantize, in files llama.cpp runs
# with whale's tokens. Models: tiny-qwen2 and tiny-llama widened to rows of 256 (real q4_K/q6_K
# blocks), tiny-deepseek-v3 at its size (rows of 16-64: the mixes fall back to q8_0/q4_0/f16), all
# with weights of std 0.1 so that no greedy step is a near tie that rounding could flip.
# Usage: quant_files.sh WHALE_BINARY. Exits 77 (skipped) when llama-quantize is not built yet.
set -euo pipefail
# whale runs with an f32 KV cache here: llama.cpp caches f16 (10-bit mantissa), which f32 is nearer
# than whale's default bf16 (7 bits); on near-ties (wide-llama q3_k: top two logits 0.004 apart at
# step 3) bf16 rounding alone picks the other token. bf16 against f32 is checked in KvBf16Test.
whale=$1
here=$(cd "$(dirname "$0")/../.." && pwd)
peer=$here/bench/llamacpp
if ! tools=$("$here/bench/llama_tools.sh" --check); then
  echo "SKIP: llama-quantize is not built; run bench/llama_tools.sh (minutes, once per llama.cpp version)"
  exit 77
fi
if [ ! -d "$peer/node_modules/node-llama-cpp" ]; then
  echo "node-llama-cpp is not installed: run scripts/npm_setup.sh" >&2
  exit 1
fi
python=/usr/bin/python3
[ -x "$python" ] || python=python3
export GGUF_PY=$tools/gguf-py
work=$(mktemp -d)
bins=$(ls -d "$peer"/node_modules/@node-llama-cpp/linux-x64/bins/*/)
restore() {
  [ -f "$bins/libggml-cpu-sapphirerapids.so.off" ] && mv "$bins/libggml-cpu-sapphirerapids.so.off" "$bins/libggml-cpu-sapphirerapids.so"
  rm -rf "$work"
}
trap restore EXIT
types_of() {  # file -> "name type" lines, sorted
  "$python" -c '
import os, sys
sys.path.insert(0, os.environ["GGUF_PY"])
import gguf
for t in gguf.GGUFReader(sys.argv[1]).tensors:
    print(t.name, t.tensor_type.name.lower())' "$1" | sort
}
fails=0 checks=0
agree() {  # label file prompt [the file llama.cpp runs, if not the same]
  local ours theirs
  checks=$((checks + 1))
  ours=$("$whale" run "$2" --prompt-ids "$3" -n 8 --greedy --kv-type f32 2>"$work/err") || ours="whale failed: $(tail -n 1 "$work/err")"
  theirs=$(node "$peer/greedy.mjs" "${4:-$2}" "$3" 8 2>/dev/null | tail -n 1)
  if [ "$ours" == "$theirs" ]; then
    echo "agree  $1: $ours"
  else
    echo "DIFFER $1: whale [$ours] llama.cpp [$theirs]"
    fails=$((fails + 1))
  fi
}
check() {  # model prompt mixes...
  local model=$1 prompt=$2 mix
  shift 2
  for mix in "$@"; do
    "$tools/bin/llama-quantize" "$work/$model.gguf" "$work/$model-llama-$mix.gguf" "$mix" >"$work/log" 2>&1 ||
      { echo "FAIL   $model $mix: llama-quantize failed"; tail -n 5 "$work/log"; fails=$((fails + 1)); continue; }
    agree "$model $mix by llama-quantize" "$work/$model-llama-$mix.gguf" "$prompt"
    "$whale" quantize "$work/$model.gguf" "$work/$model-whale-$mix.gguf" --type "$mix" >/dev/null 2>&1
    checks=$((checks + 1))
    if diff <(types_of "$work/$model-llama-$mix.gguf") <(types_of "$work/$model-whale-$mix.gguf") >"$work/diff"; then
      echo "same   $model $mix tensor types by whale and llama-quantize"
    else
      echo "DIFFER $model $mix tensor types (< llama-quantize, > whale):"; head -n 10 "$work/diff"
      fails=$((fails + 1))
    fi
    agree "$model $mix by whale" "$work/$model-whale-$mix.gguf" "$prompt"
  done
}
for preset in tiny-qwen2 tiny-llama; do
  model=wide-${preset#tiny-}
  "$whale" init --preset "$preset" --out "$work/$model" >/dev/null 2>&1
  "$python" "$here/tests/llamacpp/quant_mix.py" regen "$work/$model" 0.1 wide
  "$whale" convert "$work/$model" "$work/$model.gguf" --type f32 >/dev/null 2>&1
done
# Q3_K_M's flat 3-bit logits put near-ties on most prompts: the engines parted on two of three
# wide-qwen2 prompts tried (and on wide-llama's), each time at a step whose top two log-probabilities
# are 0.010-0.014 apart, where their different int8 rounding of the activations decides
# (docs/gguf.md). It is checked on a prompt whose 8 steps all have a margin of 0.05 or more.
check wide-qwen2 256,10,20,30 Q4_K_M Q6_K Q5_K_M
check wide-qwen2 256,11,21,31 Q3_K_M
check wide-llama 256,40,50,60 Q4_K_M Q4_0 Q2_K Q8_0 IQ4_XS
# iq2_xxs and iq1_s (the 1.58- and 2-bit DeepSeek-R1 files' types): no tool here writes them
# (llama-quantize wants an importance matrix), so iq_raw.py fills the attention weights with random
# iq2_xxs blocks and the MLP's with random iq1_s blocks, and writes beside it the same model with
# those weights decoded to f32 by gguf-py's dequantizer (the exact model). whale runs the codebook
# file; llama.cpp runs it too and the exact model. Random codebook weights make flat logits, where
# either engine's int8 rounding of activations can pick the other of two near tokens: over 18
# seed/prompt pairs, whale's 8 tokens equalled llama.cpp's on the exact model in 11, llama.cpp's own
# codebook path did in 9 (docs/gguf.md). Checked: three pairs whose top two logits stay >= 0.069
# apart at every step.
for case in 1:256,10,20,30 4:256,40,50,60 5:256,10,20,30; do
  seed=${case%%:*} prompt=${case#*:}
  "$python" "$here/tests/llamacpp/iq_raw.py" "$work/wide-llama.gguf" "$work/wide-llama-iq$seed.gguf" "$seed" \
    "$work/wide-llama-iq$seed-exact.gguf" >/dev/null
  agree "wide-llama iq2_xxs + iq1_s, random blocks (seed $seed)" "$work/wide-llama-iq$seed.gguf" "$prompt"
  agree "wide-llama iq2_xxs + iq1_s (seed $seed) in whale, decoded to f32 by gguf-py in llama.cpp" \
    "$work/wide-llama-iq$seed.gguf" "$prompt" "$work/wide-llama-iq$seed-exact.gguf"
done
# llama.cpp's AMX (sapphirerapids) CPU variant aborts on deepseek2 graphs (see agreement.sh).
[ -f "$bins/libggml-cpu-sapphirerapids.so" ] && mv "$bins/libggml-cpu-sapphirerapids.so" "$bins/libggml-cpu-sapphirerapids.so.off"
"$whale" init --preset tiny-deepseek-v3 --out "$work/tiny-deepseek-v3" >/dev/null 2>&1
"$python" "$here/tests/llamacpp/quant_mix.py" regen "$work/tiny-deepseek-v3" 0.1
"$whale" convert "$work/tiny-deepseek-v3" "$work/tiny-deepseek-v3.gguf" --type f32 >/dev/null 2>&1
check tiny-deepseek-v3 256,10,20 Q6_K Q4_0
# The codebook types on DeepSeek's architecture (MLA, a router, shared and routed experts):
# tiny-deepseek-v3 widened to hidden 256 and experts of 256 (quant_mix.py regen ... wide), its MLP
# weights (dense, shared, all routed experts) random iq1_s, MLA's input projections random iq2_xxs.
# MoE routing makes it less forgiving (a near tie in the router changes experts): of 9 seed/prompt
# pairs tried, whale equalled llama.cpp on the codebook file in 5, on the exact model in 6; this
# one keeps a top-2 logit margin of 0.29.
"$whale" init --preset tiny-deepseek-v3 --mtp-layers 0 --out "$work/wide-deepseek-v3" >/dev/null 2>&1
"$python" "$here/tests/llamacpp/quant_mix.py" regen "$work/wide-deepseek-v3" 0.1 wide
"$whale" convert "$work/wide-deepseek-v3" "$work/wide-deepseek-v3.gguf" --type f32 >/dev/null 2>&1
"$python" "$here/tests/llamacpp/iq_raw.py" "$work/wide-deepseek-v3.gguf" "$work/wide-deepseek-v3-iq2.gguf" 2 \
  "$work/wide-deepseek-v3-iq2-exact.gguf" >/dev/null
agree "wide-deepseek-v3 iq2_xxs + iq1_s experts, random blocks (seed 2)" "$work/wide-deepseek-v3-iq2.gguf" 256,40,50,60
agree "wide-deepseek-v3 iq2_xxs + iq1_s (seed 2) in whale, decoded to f32 by gguf-py in llama.cpp" \
  "$work/wide-deepseek-v3-iq2.gguf" 256,40,50,60 "$work/wide-deepseek-v3-iq2-exact.gguf"
echo "$((checks - fails)) of $checks checks passed"
[ "$fails" -eq 0 ]
