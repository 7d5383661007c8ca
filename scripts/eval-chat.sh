#!/usr/bin/env bash
# The chat model's phrasing evaluation (issue 18 item 1): every task in the template and in the held-out
# surface forms (first turns and follow-ups), greedy, then summary.md with the pre-registered targets.
# Usage: scripts/eval-chat.sh MODEL OUTDIR [N=200] [THREADS=2]
set -euo pipefail
model=${1:?usage: scripts/eval-chat.sh MODEL OUTDIR [N] [THREADS]}
out=${2:?usage: scripts/eval-chat.sh MODEL OUTDIR [N] [THREADS]}
n=${3:-200}
threads=${4:-2}
whale=${WHALE:-$(dirname "$0")/../build/whale}
mkdir -p "$out"
args_for() {
  case $1 in
    multiplication) echo "--max-digits 2" ;;
    countdown) echo "--max-number 30 --max-target 60" ;;
    *) echo "" ;;
  esac
}
for task in addition subtraction multiplication countdown; do
  for set in template heldout; do
    extra=""
    [ "$set" = heldout ] && extra="--small-talk"
    # shellcheck disable=SC2046
    "$whale" eval "$model" --task "$task" $(args_for "$task") --phrasings "$set" $extra -n "$n" -k 0 \
      -t "$threads" --responses --out "$out/eval-$task-$set.json"
  done
done
python3 "$(dirname "$0")/phrasing_summary.py" "$out" --model "$model" --n "$n" > "$out/summary.md.tmp"
mv "$out/summary.md.tmp" "$out/summary.md"
cat "$out/summary.md"
