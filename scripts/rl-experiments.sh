#!/usr/bin/env bash
# The GRPO experiments of docs/rl.md. Each run is followed by a test-split evaluation written to
# RUN/eval.json; finished runs are skipped and interrupted ones resumed, so the script can be
# started again after a stop.
#
# Usage: [THREADS=N] bash scripts/rl-experiments.sh GROUP [SEEDS...]
#   GROUP: start (the starting models' evaluations), countdown-sft, countdown-zero, countdown3-sft,
#          multiplication-sft, multiplication-zero, paired (per-problem paired changes),
#          failures (the failed first attempts)
#   SEEDS: default 1 2 3
# Two groups can run side by side with THREADS=1 each on a 2-core machine.
set -euo pipefail
cd "$(dirname "$0")/.."
WHALE=${WHALE:-build/whale}
T=(-t "${THREADS:-2}")
group=${1:?usage: bash scripts/rl-experiments.sh GROUP [SEEDS...]}
shift
seeds=("$@")
[ ${#seeds[@]} -gt 0 ] || seeds=(1 2 3)
COUNTDOWN=(--task countdown --max-number 30 --max-target 60 -n 100 -k 4)
MULT=(--task multiplication --max-digits 2 -n 100 -k 4)
COUNTDOWN3=(--task countdown --max-numbers 3 --max-number 30 --max-target 60 -n 100 -k 4)

evaluate() {  # MODEL OUT ARGS...
  local model=$1 out=$2
  shift 2
  [ -f "$out" ] || "$WHALE" eval "$model" "$@" "${T[@]}" --out "$out"
}

grpo() {  # CONFIG RUN EVAL_ARGS...
  local config=$1 run=$2
  shift 2
  if [ ! -f "$run/model/config.json" ]; then
    local resume=()
    [ -e "$run/checkpoints/latest" ] && resume=(--resume)
    "$WHALE" train grpo "$config" --run "$run" --seed "$seed" "${T[@]}" -q "${resume[@]}"
  fi
  evaluate "$run/model" "$run/eval.json" "$@"
}

case $group in
  start)
    mkdir -p runs/rl-start
    evaluate models/default runs/rl-start/sft-countdown.json "${COUNTDOWN[@]}"
    evaluate runs/default-pretrain/model runs/rl-start/zero-countdown.json "${COUNTDOWN[@]}" --raw
    evaluate models/default runs/rl-start/sft-multiplication.json "${MULT[@]}"
    evaluate runs/default-pretrain/model runs/rl-start/zero-multiplication.json "${MULT[@]}" --raw
    evaluate models/default runs/rl-start/sft-countdown3.json "${COUNTDOWN3[@]}"
    ;;
  countdown3-sft)
    for seed in "${seeds[@]}"; do grpo "configs/grpo/$group.json" "runs/grpo-$group-s$seed" "${COUNTDOWN3[@]}"; done
    ;;
  countdown-sft | multiplication-sft)
    task=${group%-sft}
    args=("${COUNTDOWN[@]}")
    [ "$task" = multiplication ] && args=("${MULT[@]}")
    for seed in "${seeds[@]}"; do grpo "configs/grpo/$group.json" "runs/grpo-$group-s$seed" "${args[@]}"; done
    ;;
  countdown-zero | multiplication-zero)
    task=${group%-zero}
    args=("${COUNTDOWN[@]}")
    [ "$task" = multiplication ] && args=("${MULT[@]}")
    for seed in "${seeds[@]}"; do grpo "configs/grpo/$group.json" "runs/grpo-$group-s$seed" "${args[@]}" --raw; done
    ;;
  paired)  # per-problem paired changes in pass@1 (scripts/paired_pass1.py) for the main groups
    mkdir -p runs/paired
    for spec in "countdown-sft models/default COUNTDOWN" "countdown-zero runs/default-pretrain/model COUNTDOWN --raw" \
                "multiplication-sft models/default MULT" "multiplication-zero runs/default-pretrain/model MULT --raw"; do
      read -r name start args raw <<< "$spec"
      declare -n A=$args
      evaluate "$start" "runs/paired/$name-start.json" "${A[@]}" ${raw:-} --responses
      outs=()
      for seed in "${seeds[@]}"; do
        evaluate "runs/grpo-$name-s$seed/model" "runs/paired/$name-s$seed.json" "${A[@]}" ${raw:-} --responses
        outs+=("runs/paired/$name-s$seed.json")
      done
      echo -n "$name: "
      python3 scripts/paired_pass1.py "runs/paired/$name-start.json" "${outs[@]}"
    done
    ;;
  failures)
    seed=1
    grpo configs/grpo/countdown-sft-stdnorm.json runs/grpo-countdown-sft-stdnorm-s1 "${COUNTDOWN[@]}"
    grpo configs/grpo/multiplication-sft-trunc256.json runs/grpo-multiplication-sft-trunc256-s1 "${MULT[@]}"
    grpo configs/grpo/countdown-sft-lr5e-5.json runs/grpo-countdown-sft-lr5e-5-s1 "${COUNTDOWN[@]}"
    for seed in "${seeds[@]}"; do
      grpo configs/grpo/multiplication-sft-lr5e-5.json "runs/grpo-multiplication-sft-lr5e-5-s$seed" "${MULT[@]}"
    done
    ;;
  *)
    echo "unknown group $group" >&2
    exit 2
    ;;
esac
