#!/usr/bin/env bash
# bench/fuzz.sh — every fuzz target as a real libFuzzer binary (clang, ASan + UBSan), run for a
# number of executions or a time budget each, printing executions, rate and coverage. Not part
# of CI (scripts/test runs the short standalone smoke runs); figures go to docs/benchmarks.md.
#
#   bench/fuzz.sh [--runs 10000000] [--seconds 3600] [--targets "control_message endpoint ..."]
#
# A target stops at whichever comes first. Finds are written to build-fuzz/fuzz/ as crash-*.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
runs=10000000 seconds=3600 targets=""
while [ $# -gt 0 ]; do
  case $1 in
    --runs) runs=$2; shift 2 ;;
    --seconds) seconds=$2; shift 2 ;;
    --targets) targets=$2; shift 2 ;;
    *) echo "usage: $0 [--runs N] [--seconds S] [--targets LIST]" >&2; exit 2 ;;
  esac
done
"$root/scripts/install-deps" >/dev/null
build="$root/build-fuzz"
CC=clang CXX=clang++ cmake -S "$root" -B "$build" -DNTM_FUZZ=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
[ -n "$targets" ] || targets=$(cd "$root/fuzz" && ls ./*_fuzz.cpp | sed 's|^\./||; s|_fuzz\.cpp$||')
for t in $targets; do cmake --build "$build" -j"$(nproc)" --target "fuzz_$t" >/dev/null; done
printf '%-20s %12s %10s %8s %8s %s\n' target executions exec/s seconds cov result
for t in $targets; do
  work=$(mktemp -d)
  start=$(date +%s.%N)
  set +e
  out=$("$build/bin/fuzz_$t" -runs="$runs" -max_total_time="$seconds" -print_final_stats=1 \
          -artifact_prefix="$build/fuzz/" "$work" "$root/fuzz/corpus/$t" 2>&1)
  rc=$?
  set -e
  end=$(date +%s.%N)
  execs=$(printf '%s\n' "$out" | sed -n 's/^stat::number_of_executed_units: *//p' | tail -1)
  rate=$(printf '%s\n' "$out" | sed -n 's/^stat::average_exec_per_sec: *//p' | tail -1)
  cov=$(printf '%s\n' "$out" | grep -o 'cov: [0-9]*' | tail -1 | cut -d' ' -f2)
  printf '%-20s %12s %10s %8.0f %8s %s\n' "$t" "${execs:-?}" "${rate:-?}" \
    "$(awk "BEGIN{print $end - $start}")" "${cov:-?}" "$([ $rc -eq 0 ] && echo ok || echo "FAILED (rc $rc)")"
  rm -rf "$work"
done
