#!/usr/bin/env bash
# Runs the balancing and MTP ablations (configs/ablation/*.json) into runs/ablation-*, evaluates
# each pretrained model on the test split (--raw: they are not chat-tuned), and plots the
# comparisons into docs/figures/ablation-*.
# Usage: bash scripts/ablations.sh [THREADS] [EXTRA_SEED...]  (extra seeds: runs/ablation-NAME-sSEED)
set -euo pipefail
cd "$(dirname "$0")/.."
threads=${1:-2}
shift || true
whale=./build/whale
for seed in "" "$@"; do
  for cfg in configs/ablation/*.json; do
    name=$(basename "$cfg" .json)
    run=runs/ablation-$name${seed:+-s$seed}
    if [ -f "$run/model/config.json" ]; then continue; fi
    if [ -f "$run/checkpoints/latest" ]; then resume=--resume; else resume=; rm -rf "$run"; fi
    $whale train pretrain "$cfg" --run "$run" -q --threads "$threads" ${seed:+--seed $seed} $resume
  done
done
for name in aux-free no-mtp; do
  for t in addition countdown; do
    out=runs/ablation-$name/eval-$t.json
    [ -f "$out" ] || $whale eval runs/ablation-$name/model --task $t --raw -n 100 -k 0 --max-digits 4 --max-number 30 --max-target 60 --out "$out" -t "$threads"
  done
done
$whale train plot runs/ablation-aux-free runs/ablation-aux-loss-0.001 runs/ablation-aux-loss-0.01 runs/ablation-aux-loss-0.1 runs/ablation-no-balance \
  --names "loss-free" "aux 0.001" "aux 0.01" "aux 0.1" "none" --out docs/figures/ablation-balance
$whale train plot runs/ablation-aux-free runs/ablation-no-mtp --names "MTP on" "MTP off" --out docs/figures/ablation-mtp
