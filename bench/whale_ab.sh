#!/usr/bin/env bash
# A/B of two whale builds (e.g. before and after a refactor) on the same GGUF files: whale bench
# pp512/tg128, 2 threads, 3 repetitions, in ABBA order so drift and a cold first run hit both.
# Usage: bench/whale_ab.sh BEFORE_WHALE AFTER_WHALE FILE.gguf...
set -euo pipefail
before=$1 after=$2; shift 2
for f in "$@"; do
  for who in before after after before; do
    bin=$before; [ $who = after ] && bin=$after
    echo "== $who $f"
    "$bin" bench "$f" -p 512 -n 128 -t 2 -r 3 2>/dev/null | grep -E '^\|.*(pp|tg)[0-9]'
  done
done
