# tests/lib.sh — helpers for shell tests (tests/net, tests/peers). Same line format
# as tests/harness.h: "ok   NAME", "FAIL NAME: why", "skip NAME: why".
SN_BUILD=${BUILD:-build}
SYSNET=${SYSNET:-$SN_BUILD/asan/sysnet}
[ -x "$SYSNET" ] || SYSNET=$SN_BUILD/sysnet
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
sn_pass=0; sn_fail=0; sn_skip=0
pass() { echo "ok   $1"; sn_pass=$((sn_pass+1)); }
fail() { echo "FAIL $1: $2"; sn_fail=$((sn_fail+1)); }
skip() { echo "skip $1: $2"; sn_skip=$((sn_skip+1)); }
need_root() { [ "$(id -u)" = 0 ]; }
have() { command -v "$1" >/dev/null 2>&1; }
summary() { echo "$sn_pass passed, $sn_fail failed, $sn_skip skipped"; [ "$sn_fail" = 0 ]; }
# expect NAME WANT_RC PATTERN CMD...: run CMD; pass when it exits WANT_RC, a line of its
# output (stdout and stderr) matches the extended regex PATTERN, and no sanitizer
# spoke. The output stays in $last_out for further checks. Returns 1 on a failure.
expect() {
    local name=$1 want=$2 pat=$3; shift 3
    local out rc
    out=$("$@" 2>&1); rc=$?
    last_out=$out
    if [ "$rc" != "$want" ]; then fail "$name" "exit $rc, wanted $want: $(printf '%s' "$out" | head -c 400)"; return 1; fi
    if ! printf '%s\n' "$out" | grep -qE -- "$pat"; then fail "$name" "no line matching '$pat' in: $(printf '%s' "$out" | head -c 400)"; return 1; fi
    if printf '%s\n' "$out" | grep -qE 'AddressSanitizer|runtime error|LeakSanitizer'; then fail "$name" "sanitizer report"; return 1; fi
    pass "$name"
}
# sn_tmp_pids: for tests that start servers: a temporary directory in $tmp and an
# empty list of background pids in pids; on EXIT, sn_cleanup kills every pid (-9)
# and removes $tmp.
sn_tmp_pids() {
    tmp=$(mktemp -d)
    pids=()
    trap sn_cleanup EXIT
}
sn_cleanup() {
    for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null; done
    rm -rf "$tmp"
}
# sn_usage_err NAME PATTERN ARGS...: `$SYSNET ARGS` exits 2 with exactly one line of
# output, matching PATTERN.
sn_usage_err() {
    local name=$1 pat=$2; shift 2
    expect "$name" 2 "$pat" "$SYSNET" "$@" || return
    local n; n=$(printf '%s\n' "$last_out" | wc -l)
    [ "$n" = 1 ] || { sn_pass=$((sn_pass - 1)); fail "$name" "$n lines of output, wanted 1: $last_out"; }
}
