#!/usr/bin/env bash
# Sets up, builds and runs every test: the CTest suite, then a short run of each libFuzzer target
# (set FUZZ_SECONDS, default 15; 0 skips fuzzing).
#   scripts/test.sh                      what CI runs
#   scripts/test.sh --sanitize [address] the whole CTest suite built with ASan + UBSan (build-asan/)
#   scripts/test.sh --sanitize thread    the engine and server tests built with TSan (build-tsan/)
# Extra arguments after the sanitizer's name go to ctest (e.g. -R Engine -j 1).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "${1:-}" = --sanitize ]; then
  kind=${2:-address}
  shift $(($# >= 2 ? 2 : 1))
  case "$kind" in
    address) dir=build-asan ;;
    thread) dir=build-tsan ;;
    *) echo "test.sh: --sanitize takes address or thread, not '$kind'" >&2; exit 2 ;;
  esac
  bash scripts/setup.sh
  bash scripts/npm_setup.sh
  # RelWithDebInfo: -O2 -g, so the suite runs in reasonable time with line numbers in reports.
  cmake -S . -B "$dir" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DWHALE_SANITIZE="$kind" >/dev/null
  supp=$PWD/tests/sanitize
  # Every report fails its test: UBSan aborts (-fno-sanitize-recover), ASan and TSan halt on the
  # first error. verify_asan_link_order=0: the fault tests LD_PRELOAD their shim ahead of ASan's
  # runtime. Leaks inside third-party libraries' static state are suppressed by name (lsan.supp).
  export ASAN_OPTIONS=detect_leaks=1:verify_asan_link_order=0:abort_on_error=0:detect_stack_use_after_return=0
  export LSAN_OPTIONS=suppressions=$supp/lsan.supp:print_suppressions=0
  export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
  export TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1:suppressions=$supp/tsan.supp
  jobs=$(nproc)
  results=$dir/sanitize_results.json  # what docs/reliability.md's table is made from
  status=0
  if [ "$kind" = address ]; then
    bash bench/llama_tools.sh >/dev/null
    cmake --build "$dir" -j"$jobs"
    ctest --test-dir "$dir" --output-on-failure -j"$jobs" --timeout 1800 --output-junit junit.xml "$@" || status=$?
    reports=("$dir/junit.xml")
  else
    cmake --build "$dir" -j"$jobs" --target engine_tests server_tests  # neither runs the whale binary
    reports=()
    for t in engine server; do
      "$dir/tests/${t}_tests" --gtest_brief=1 --gtest_output="json:$dir/${t}_tests.json" "$@" || status=$?
      reports+=("$dir/${t}_tests.json")
    done
  fi
  python3 scripts/sanitize_summary.py "$kind" "${reports[@]}" >"$results"
  cat "$results"
  exit "$status"
fi
bash scripts/build.sh
bash scripts/npm_setup.sh
bash bench/llama_tools.sh >/dev/null  # llama-quantize, the oracle of llamacpp.quant_mix (cached per llama.cpp version)
jobs=$(nproc)
ctest --test-dir build --output-on-failure -j"$jobs"
bash scripts/fuzz.sh "${FUZZ_SECONDS:-15}"
