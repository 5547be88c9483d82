#!/usr/bin/env bash
# bench/frame/run.sh — the streaming frame decoder over a large stream cut at random
# points, beside memcpy of the same bytes through the same cuts (bench/README.md,
# "frame"): frames/s, GB/s and the ratio to memcpy for 2-byte BE length, varint
# length, COBS and fixed records, ITCH-sized and 1 KiB payloads. In memory only.
#   BENCH_FRAME_MIB   stream size per row (default 256)
#   BENCH_MICRO_RUNS  runs, the median is quoted (default 7, at least 5)
set -u
cd "$(dirname "$0")/../.." || exit 1
BUILD=${BUILD:-build}
BF=$BUILD/bench/frame/bench_frame
[ -x "$BF" ] || { echo "bench/frame: $BF is missing: make $BF"; exit 1; }
out=$(mktemp "${TMPDIR:-/tmp}/sn-bench-frame.XXXXXX") || exit 1
trap 'rm -f "$out"' EXIT
"$BF" "${BENCH_FRAME_MIB:-256}" > "$out"; rc=$?
sed '/^--- summary$/,$d' "$out"
if [ -n "${BENCH_SUMMARY:-}" ]; then
    sed -n '/^--- summary$/,$p' "$out" | grep '^frame\.' >> "$BENCH_SUMMARY"
fi
exit $rc
