#!/usr/bin/env bash
# tests/run.sh — run every test (unit binaries under ASan+UBSan, namespace tests,
# peer cross-checks, a fuzz smoke run) and print one summary line last:
#   N passed, N failed, N skipped
# Each test prints "ok   NAME", "FAIL NAME: why" or "skip NAME: why".
set -u
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
export BUILD
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
log=$(mktemp); trap 'rm -f "$log"' EXIT

run() { # NAME CMD...: run one suite, keep its lines; a crash or a silent failure counts
    local name=$1; shift
    echo "== $name"
    local out rc
    out=$("$@" 2>&1); rc=$?
    printf '%s\n' "$out" | grep -E '^(ok   |FAIL |skip )' >> "$log"
    printf '%s\n' "$out" | grep -vE '^[0-9]+ passed, [0-9]+ failed' | sed 's/^/  /' | grep -vE '^  ok   ' || true
    if [ $rc -ne 0 ] && ! printf '%s\n' "$out" | grep -q '^FAIL '; then
        echo "FAIL $name: exited with $rc" | tee -a "$log"
    fi
}

for t in "$BUILD"/asan/test_*; do
    [ -x "$t" ] && run "$(basename "$t")" "$t"
done
# The runtime's tests again under ThreadSanitizer; their lines get a tsan_ prefix.
export TSAN_OPTIONS=${TSAN_OPTIONS:-halt_on_error=1:second_deadlock_stack=1}
for t in "$BUILD"/tsan/test_*; do
    [ -x "$t" ] && SN_TEST_PREFIX=tsan_ run "tsan/$(basename "$t")" "$t"
done
for t in tests/cli/*.sh tests/net/*.sh tests/peers/*.sh; do
    [ -f "$t" ] && run "$t" bash "$t"
done

# Fuzz smoke: each target briefly over its seed corpus (and a scratch corpus).
if ls "$BUILD"/fuzz/fuzz_* >/dev/null 2>&1; then
    echo "== fuzz smoke (${FUZZ_SMOKE_TIME:-4}s each)"
    for f in "$BUILD"/fuzz/fuzz_*; do
        [ -x "$f" ] || continue
        n=$(basename "$f"); tmp=$(mktemp -d)
        seeds=(); [ -d fuzz/corpus/"$n" ] && seeds=(fuzz/corpus/"$n") # a target without seeds starts empty
        if out=$("$f" -max_total_time="${FUZZ_SMOKE_TIME:-4}" -timeout=5 -rss_limit_mb=2048 "$tmp" "${seeds[@]}" 2>&1); then
            echo "ok   fuzz_smoke_$n ($(printf '%s\n' "$out" | grep -oE '^Done [0-9]+ runs' | tail -1))" | tee -a "$log"
        else
            printf '%s\n' "$out" | tail -30
            echo "FAIL fuzz_smoke_$n: the fuzzer found a failing input" | tee -a "$log"
        fi
        rm -rf "$tmp"
    done
else
    echo "skip fuzz_smoke: clang/libFuzzer not available" | tee -a "$log"
fi

p=$(grep -c '^ok   ' "$log"); f=$(grep -c '^FAIL ' "$log"); s=$(grep -c '^skip ' "$log")
echo
grep -E '^(FAIL|skip) ' "$log" | sort | uniq || true
echo "$p passed, $f failed, $s skipped"
[ "$f" -eq 0 ]
