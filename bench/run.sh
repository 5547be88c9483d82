#!/usr/bin/env bash
# bench/run.sh — `make bench`: install the peers (bench/setup.sh, as root), then run
# every bench/<area>/run.sh in turn and print a machine-readable summary last.
# Each area prints its own tables and appends key=value lines to $BENCH_SUMMARY.
# Knobs (environment): BENCH_RUNS (whole-program runs, default 3), BENCH_MICRO_RUNS
# (micro-benchmark runs, default 7), BENCH_PACKETS (wire: capture size, default
# 1000000), BENCH_ONLY (a space-separated list of areas to run, default all).
set -u
cd "$(dirname "$0")/.." || exit 1
BUILD=${BUILD:-build}
export BUILD

if [ "$(id -u)" = 0 ]; then
    bash bench/setup.sh || echo "bench: setup failed; missing peers are reported as \"peer missing\""
fi

mkdir -p "$BUILD/bench"
# Two benchmark runs at once would slow each other down: wait for the other one.
exec 9> "$BUILD/bench/.lock"
if command -v flock >/dev/null 2>&1 && ! flock -n 9; then
    echo "bench: another benchmark run holds $BUILD/bench/.lock; waiting for it to finish"
    flock 9
fi
# Areas append to a private file; it replaces $BUILD/bench/summary.txt at the end.
summary=$BUILD/bench/summary.txt
BENCH_SUMMARY=$(mktemp "${TMPDIR:-/tmp}/sn-bench-summary.XXXXXX") || exit 1
export BENCH_SUMMARY
trap 'rm -f "$BENCH_SUMMARY"' EXIT

echo "== sysnet benchmarks, $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
echo "   commit $(git rev-parse --short HEAD 2>/dev/null || echo '?')$(git diff --quiet HEAD -- 2>/dev/null || echo ' (+ local changes)'),"\
     "$(uname -sr), $(nproc) CPUs: $(grep -m1 'model name' /proc/cpuinfo 2>/dev/null | sed 's/.*: //')"
echo "   medians of several runs; absolute times vary on a shared machine, ratios are what we quote"
{
    echo "date=$(date -u '+%Y-%m-%dT%H:%M:%SZ')"
    echo "commit=$(git rev-parse HEAD 2>/dev/null || echo unknown)"
    echo "cpus=$(nproc)"
} >> "$BENCH_SUMMARY"

start=$(date +%s)
fail=0
for r in bench/*/run.sh; do
    [ -f "$r" ] || continue
    area=$(basename "$(dirname "$r")")
    if [ -n "${BENCH_ONLY:-}" ] && ! [[ " $BENCH_ONLY " == *" $area "* ]]; then
        continue
    fi
    echo
    echo "=================== bench/$area ==================="
    if ! bash "$r"; then
        echo "bench/$area: FAILED"
        echo "$area.failed=1" >> "$BENCH_SUMMARY"
        fail=1
    fi
done

echo
echo "== summary (key=value; medians; */per_* are sysnet/peer: above 1 sysnet is faster; also in $summary)"
echo "bench.seconds=$(( $(date +%s) - start ))" >> "$BENCH_SUMMARY"
echo "--- begin summary"
cat "$BENCH_SUMMARY"
echo "--- end summary"
cp "$BENCH_SUMMARY" "$summary.$$" && mv -f "$summary.$$" "$summary"
exit $fail
