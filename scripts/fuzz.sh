#!/usr/bin/env bash
# Builds the libFuzzer targets with clang into build-fuzz/ and runs each for SECONDS (default 15)
# on a scratch copy of its seed corpus. Any crash, hang, leak or sanitizer report fails the script.
# Per target it writes executions, coverage (libFuzzer's final `cov:` edges and `ft:` features) and
# when coverage last rose to a results file (FUZZ_RESULTS, default build-fuzz/fuzz_results.json);
# scripts/reliability_table.py turns such a file into docs/reliability.md's table.
#   scripts/fuzz.sh               CI: 15 s per target
#   scripts/fuzz.sh 3600          a campaign: an hour per target
#   scripts/fuzz.sh 60 request_fuzz grammar_fuzz    some targets only
# FUZZ_BUILD_TYPE=RelWithDebInfo (into build-fuzz-relwithdebinfo/) runs the same sanitized targets
# optimized, 3-10x more executions per second than CI's Debug build: what the campaigns use.
# FUZZ_CORPUS_DIR=DIR keeps each target's corpus in DIR/TARGET (seeded on first use) so a campaign can
# go on over several runs, as OSS-Fuzz's do: DIR/TARGET.stats adds up the runs' executions and
# seconds, and each row then also reports the totals ("campaign_executions", "campaign_seconds",
# "campaign_runs") and the edges the kept corpus already reached when the run began ("edges_at_start").
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-15}
[ "$seconds" -gt 0 ] || exit 0
shift || true
build_type=${FUZZ_BUILD_TYPE:-Debug}
bdir=build-fuzz
[ "$build_type" = Debug ] || bdir=build-fuzz-${build_type,,}
results=${FUZZ_RESULTS:-$bdir/fuzz_results.json}
# Seed corpora: real files (and every regression input found so far).
declare -A seeds=([gguf_fuzz]=tests/data/broken/gguf [safetensors_fuzz]=tests/data/broken/safetensors
                  [config_fuzz]=tests/data/configs)
# Seconds before one input counts as a hang (libFuzzer's -timeout; units slower than it are also
# reported). grammar_fuzz computes a token mask for each of up to a few thousand bytes, each bounded
# by the matcher's work budget (the target's is 2^16 stack operations, then GrammarTooAmbiguous):
# bounded, but seconds under ASan for a long input near the bound, so its hangs are the units past 30 s.
declare -A timeouts=([grammar_fuzz]=30)
all=(gguf_fuzz safetensors_fuzz config_fuzz)
for dir in fuzz/corpus/*_fuzz; do all+=("$(basename "$dir")"); done
if [ $# -gt 0 ]; then targets=("$@"); else targets=("${all[@]}"); fi
# One configure-and-build at a time, so that two campaigns (one per core) can share a build directory.
mkdir -p "$bdir"
exec 9>"$bdir/.fuzz-build.lock"
flock 9
CXX=clang++ cmake -S . -B "$bdir" -G Ninja -DCMAKE_BUILD_TYPE="$build_type" -DWHALE_FUZZ=ON -DWHALE_TESTS=OFF \
  -DWHALE_TRAIN=OFF >/dev/null
cmake --build "$bdir" -j"${FUZZ_JOBS:-$(nproc)}" --target "${targets[@]}" | tail -n 1
flock -u 9
mkdir -p "$(dirname "$results")"
machine=$(lscpu | sed -n 's/^Model name: *//p' | head -n 1)
rows=()
for target in "${targets[@]}"; do
  log=$(mktemp)
  if [ -n "${FUZZ_CORPUS_DIR:-}" ]; then
    corpus=$FUZZ_CORPUS_DIR/$target
    stats=$FUZZ_CORPUS_DIR/$target.stats
    [ -d "$corpus" ] || { mkdir -p "$corpus"; cp -r "${seeds[$target]:-fuzz/corpus/$target}"/. "$corpus"/ 2>/dev/null || true; }
  else
    corpus=$(mktemp -d)
    stats=""
    cp -r "${seeds[$target]:-fuzz/corpus/$target}"/. "$corpus"/ 2>/dev/null || true
  fi
  echo "fuzz: $target for ${seconds}s"
  # Each line stamped with the seconds since the start, to tell when coverage last rose.
  hang=${timeouts[$target]:-10}
  (set +e; ./"$bdir"/fuzz/"$target" -max_total_time="$seconds" -rss_limit_mb=2048 -timeout="$hang" \
     -report_slow_units="$hang" -print_final_stats=1 \
     -artifact_prefix="$bdir/$target-" "$corpus" 2>&1; echo "fuzzer exit status $?") |
    perl -MTime::HiRes=time -ne 'BEGIN { $t0 = time } printf "%.1f %s", time - $t0, $_' >"$log"
  if ! grep -q '^[0-9.]* fuzzer exit status 0$' "$log" || grep -q -E 'ERROR: |SUMMARY: |Test unit written' "$log"; then
    sed 's/^[0-9.]* //' "$log" | tail -n 40
    echo "fuzz: $target FAILED (the input is under $bdir/$target-*)" >&2
    [ -n "$stats" ] || rm -rf "$corpus"
    rm -f "$log"
    exit 1
  fi
  rows+=("$(T="$target" S="$seconds" perl -ne '
    $execs = $1 if /stat::number_of_executed_units:\s+(\d+)/;
    $rate = $1 if /stat::average_exec_per_sec:\s+(\d+)/;
    $rss = $1 if /stat::peak_rss_mb:\s+(\d+)/;
    if (/^([0-9.]+) #\d+\s+\S+\s+cov: (\d+) ft: (\d+) corp: (\d+)/) {
      $cov0 = $2 if !defined $cov;
      $cov_t = $1 if !defined $cov || $2 > $cov;
      ($cov, $ft, $units) = ($2, $3, $4);
    }
    END {
      printf "{\"target\": \"%s\", \"seconds\": %d, \"executions\": %d, \"exec_per_sec\": %d, \"edges\": %d, " .
             "\"features\": %d, \"corpus_units\": %d, \"last_new_edge_s\": %.1f, \"peak_rss_mb\": %d, \"edges_at_start\": %d",
             $ENV{T}, $ENV{S}, $execs, $rate, $cov, $ft, $units, $cov_t, $rss, $cov0;
    }' "$log")")
  row=${rows[-1]}
  if [ -n "$stats" ]; then
    # Campaign totals over every run on this kept corpus.
    read -r runs0 execs0 secs0 < <(cat "$stats" 2>/dev/null || echo "0 0 0")
    execs=$(sed -n 's/.*"executions": \([0-9]*\).*/\1/p' <<<"$row")
    runs1=$((runs0 + 1)) execs1=$((execs0 + execs)) secs1=$((secs0 + seconds))
    echo "$runs1 $execs1 $secs1" >"$stats.tmp" && mv "$stats.tmp" "$stats"
    row+=", \"campaign_runs\": $runs1, \"campaign_executions\": $execs1, \"campaign_seconds\": $secs1"
  else
    rm -rf "$corpus"
  fi
  rows[-1]="$row}"
  echo "  ${rows[-1]}"
  rm -f "$log"
done
{
  printf '{"date": "%s", "machine": "%s", "cores": %d, "build_type": "%s", "seconds_per_target": %d, "targets": [\n' \
    "$(date -u +%Y-%m-%dT%H:%MZ)" "$machine" "$(nproc)" "$build_type" "$seconds"
  for i in "${!rows[@]}"; do printf '  %s%s\n' "${rows[$i]}" "$([ "$i" -lt $((${#rows[@]} - 1)) ] && echo ,)"; done
  printf ']}\n'
} >"$results"
echo "fuzz: no crashes ($results)"
