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
