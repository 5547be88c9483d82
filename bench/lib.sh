# bench/lib.sh — what the benchmark scripts that start servers and drive them with
# `sysnet load` share (bench/loop/run.sh, bench/task/run.sh). Sourced from the top of
# the tree, after `set -u`. Sets BUILD (default build) and SN, the sysnet binary.
BUILD=${BUILD:-build}
SN=$BUILD/sysnet

# bench_knobs NAME SECS CONNS [VALUE...]: the knobs of bench/NAME: SECS (seconds per
# row) from BENCH_NAME_SECS (default SECS), RUNS (rounds) from BENCH_RUNS (3), SIZE
# (message bytes) from BENCH_NAME_SIZE (64), CONNS (an array of connection counts)
# from BENCH_NAME_CONNS (default CONNS); NAME in capitals. They and the VALUEs must be
# whole numbers, and SECS, RUNS, SIZE at least 1: else a line and exit 2.
bench_knobs() {
    local name=$1 up=${1^^} v var
    var=BENCH_${up}_SECS; SECS=${!var:-$2}
    RUNS=${BENCH_RUNS:-3}
    var=BENCH_${up}_SIZE; SIZE=${!var:-64}
    var=BENCH_${up}_CONNS; read -r -a CONNS <<< "${!var:-$3}"
    shift 3
    for v in "$SECS" "$RUNS" "$SIZE" "${CONNS[@]}" "$@"; do
        case $v in '' | *[!0-9]*) echo "bench/$name: BENCH_${up}_* and BENCH_RUNS want whole numbers"; exit 2;; esac
    done
    if [ "$SECS" -lt 1 ] || [ "$RUNS" -lt 1 ] || [ "$SIZE" -lt 1 ]; then
        echo "bench/$name: BENCH_${up}_SECS, BENCH_RUNS and BENCH_${up}_SIZE must be >= 1"; exit 2
    fi
}

# bench_init NAME [PINNING]: $work (a temporary directory, removed at exit with the
# server SRV_PID), the traps, fail=0; the open-file limit raised (10000 connections
# need 10000 descriptors on each side, server and load, in separate processes) as
# NOFILE; the pinning when there are two CPUs to pin to: the server on CPU 0
# (SRV_PIN; BOTH_PIN: CPUs 0-1), the load on CPU 1 (LOAD_PIN), and PINNING, the words
# that say so (the PINNING argument, default "server on CPU 0, load on CPU 1").
bench_init() {
    work=$(mktemp -d "${TMPDIR:-/tmp}/sn-bench-$1.XXXXXX") || exit 1
    SRV_PID=""
    trap bench_cleanup EXIT
    trap 'exit 130' INT TERM
    fail=0
    ulimit -n 20000 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null
    NOFILE=$(ulimit -n)
    [ "$NOFILE" = unlimited ] && NOFILE=1048576
    SRV_PIN=() LOAD_PIN=() BOTH_PIN=()
    if command -v taskset >/dev/null 2>&1 && taskset -c 0 true 2>/dev/null && taskset -c 1 true 2>/dev/null; then
        SRV_PIN=(taskset -c 0) LOAD_PIN=(taskset -c 1) BOTH_PIN=(taskset -c 0,1)
        PINNING=${2:-"server on CPU 0, load on CPU 1"}
    else
        PINNING="not pinned (taskset or a second CPU is missing)"
    fi
}
bench_cleanup() {
    if [ -n "$SRV_PID" ]; then kill "$SRV_PID" 2>/dev/null; wait "$SRV_PID" 2>/dev/null; fi
    rm -rf "$work"
}
# summary LINE: into $BENCH_SUMMARY, when it is set (bench/run.sh).
summary() { if [ -n "${BENCH_SUMMARY:-}" ]; then echo "$1" >> "$BENCH_SUMMARY"; fi; }

# A port nobody listens on, below the ephemeral range (32768+) that clients draw from.
free_port() {
    local p i
    for i in $(seq 1 50); do
        p=$(( 20000 + RANDOM % 12000 ))
        if ! command -v ss >/dev/null 2>&1 || [ -z "$(ss -Hltn "sport = :$p" 2>/dev/null)" ]; then
            echo "$p"; return 0
        fi
    done
    return 1
}

# wait_ready PORT: until a TCP connect succeeds (5 s at most) while the server lives.
wait_ready() {
    local i
    for i in $(seq 1 100); do
        kill -0 "$SRV_PID" 2>/dev/null || return 1
        if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then return 0; fi
        sleep 0.05
    done
    return 1
}

stop_server() {
    if [ -n "$SRV_PID" ]; then
        kill "$SRV_PID" 2>/dev/null
        wait "$SRV_PID" 2>/dev/null
        SRV_PID=""
    fi
}

# bench_start KEY PORT CMD...: CMD in the background as SRV_PID (its output in
# $work/KEY.srv), until PORT takes connections; else a line, the server stopped, and 1.
bench_start() {
    local k=$1 port=$2; shift 2
    "$@" > "$work/$k.srv" 2>&1 &
    SRV_PID=$!
    wait_ready "$port" && return 0
    echo "   $k did not start: $(tail -n 2 "$work/$k.srv" | tr '\n' ' ')"
    stop_server
    return 1
}

# bench_echo_check CMD KEY...: once, untimed, that each server KEY whose STATUS is ok
# (started as `$(CMD KEY ADDR)`) echoes byte for byte (bench/loop/echo_check.py: a
# 1 MiB message, 100 connections at once); STATUS[KEY]=failed if not. Without python3
# nothing is checked.
bench_echo_check() {
    local cmd=$1 k port; shift
    command -v python3 >/dev/null 2>&1 || return 0
    for k in "$@"; do
        [ "${STATUS[$k]}" = ok ] || continue
        port=$(free_port) || { STATUS[$k]=failed; continue; }
        # shellcheck disable=SC2046
        if ! bench_start "$k" "$port" $("$cmd" "$k" "127.0.0.1:$port"); then
            STATUS[$k]=failed
        elif ! timeout 60 python3 bench/loop/echo_check.py "127.0.0.1:$port" -c 100 --big 1048576 > "$work/$k.check" 2>&1; then
            echo "   $k does not echo correctly:"; sed 's/^/     /' "$work/$k.check" | tail -n 5; STATUS[$k]=failed
        fi
        stop_server
    done
}

# bench_rounds ROW KEY...: RUNS rounds, in each every connection count C of CONNS that
# the open-file limit allows and, for each of them, every KEY whose STATUS is ok:
# `ROW KEY C ROUND` (one timed run); a line after each round.
bench_rounds() {
    local row=$1 r c k; shift
    for ((r = 1; r <= RUNS; r++)); do
        for c in "${CONNS[@]}"; do
            if [ "$c" -gt $(( NOFILE - 100 )) ]; then continue; fi
            for k in "$@"; do
                [ "${STATUS[$k]}" = ok ] || continue
                "$row" "$k" "$c" "$r"
            done
        done
        printf '   round %d/%d done\n' "$r" "$RUNS"
    done
}

# bench_load KEY C OUT SECONDS: `sysnet load` against 127.0.0.1:$port, C connections,
# closed loop for SECS seconds of SIZE-byte messages (SECONDS at most in all; its
# output in OUT); msgs/s and p99 added to MSGS[KEY.C] and P99[KEY.C]. Else a line and 1.
bench_load() {
    local k=$1 c=$2 out=$3 res m p
    if timeout "$4" "${LOAD_PIN[@]}" "$SN" load "127.0.0.1:$port" -c "$c" -d "$SECS" --size "$SIZE" -q \
            > "$out" 2> "$out.err" && res=$(parse_load "$out"); then
        read -r m p <<< "$res"
        MSGS[$k.$c]+="$m " P99[$k.$c]+="$p "
        return 0
    fi
    echo "   sysnet load against $k, $c connections, failed: $(cat "$out" "$out.err" 2>/dev/null | tail -n 3 | tr '\n' ' ')"
    return 1
}

# bench_alive KEY C: the server still runs after the C-connection run; else a line and 1.
bench_alive() {
    kill -0 "$SRV_PID" 2>/dev/null && return 0
    echo "   $1 died during the $2-connection run"
    return 1
}

# "median" of the numbers on stdin (even count: mean of the middle two); fails on none.
median() { grep . | sort -g | awk '{ v[NR] = $1 } END { if (NR == 0) exit 1;
    m = NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2; printf "%.6g\n", m }'; }
# median_of "N N N ": the median of the numbers in one string (MSGS, P99).
median_of() { echo "$1" | tr ' ' '\n' | median; }
# ratio A B: A / B, two decimals; inv_ratio A B: B / A (0 when A is 0), e.g. a p99 ratio
# that is above 1 when A is the better (lower) one.
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
inv_ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", (a > 0 ? b / a : 0) }'; }
# ratios RATE P99 REF_RATE REF_P99: "RATE/REF_RATE REF_P99/P99" (above 1: ahead of REF).
ratios() { echo "$(ratio "$1" "$3") $(inv_ratio "$2" "$4")"; }

# to_us "12.3ms": microseconds (ns, us, µs, ms, s); fails on anything else.
to_us() { awk -v s="$1" 'BEGIN { v = s; u = s; sub(/[a-zµ]+$/, "", v); sub(/^[0-9.]+/, "", u);
    f = u == "ns" ? 0.001 : (u == "us" || u == "µs") ? 1 : u == "ms" ? 1000 : u == "s" ? 1e6 : -1;
    if (f < 0 || v == "") exit 1; printf "%.6g\n", v * f }'; }

fmt_us() { awk -v u="$1" 'BEGIN { if (u >= 1e6) printf "%.2fs", u / 1e6; else if (u >= 1000) printf "%.2fms", u / 1000;
    else printf "%.1fus", u }'; }

# parse_load FILE: "msgs_per_s p99_us" from the output of `sysnet load`: its machine-readable
# line ("result ... msgs_per_s=N ... p99_ns=N ..."); failing that, the last line that names
# msgs/s ("msgs/s=N" or "N msgs/s") and p99 ("p99=12.3us", any of ns/us/ms/s).
parse_load() {
    local line m p
    line=$(grep '^result ' "$1" | tail -n 1)
    if [ -n "$line" ]; then
        m=$(printf '%s\n' "$line" | grep -oE '(^| )msgs_per_s=[0-9.eE+]+' | head -n 1 | sed 's/.*=//')
        p=$(printf '%s\n' "$line" | grep -oE '(^| )p99_ns=[0-9.eE+]+' | head -n 1 | sed 's/.*=//')
        if [ -n "$m" ] && [ -n "$p" ]; then
            echo "$m $(awk -v v="$p" 'BEGIN { printf "%.6g", v / 1000 }')"
            return 0
        fi
    fi
    line=$(grep 'msgs/s' "$1" | grep 'p99' | tail -n 1)
    [ -n "$line" ] || return 1
    m=$(printf '%s\n' "$line" | grep -oE 'msgs/s[=: ]+[0-9.eE+]+' | head -n 1 | grep -oE '[0-9.eE+]+$')
    [ -n "$m" ] || m=$(printf '%s\n' "$line" | grep -oE '[0-9.eE+]+ *msgs/s' | head -n 1 | grep -oE '^[0-9.eE+]+')
    p=$(printf '%s\n' "$line" | grep -oE 'p99[=: ]+[0-9.]+ *(ns|us|µs|ms|s)' | head -n 1 | sed -E 's/^p99[=: ]+//; s/ //g')
    [ -n "$m" ] && [ -n "$p" ] || return 1
    p=$(to_us "$p") || return 1
    echo "$m $p"
}
