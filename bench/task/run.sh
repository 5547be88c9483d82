#!/usr/bin/env bash
# bench/task/run.sh — the task runtime's benchmarks (bench/README.md, "task", explains every
# number):
#   1. micro: build/bench/task/bench_task (spawn, wake, poll; executors), bench_chan
#      (channels) and bench_switch (the coroutine context switch), each printing its own
#      table, run as they are when built (a line says so when one is missing);
#   2. echo: one echo protocol written three ways — callbacks on the loop (`sysnet echo
#      --runtime loop`), a hand-written future per connection (`--runtime future`), a
#      coroutine per connection (`--runtime coro`) — on epoll, driven by the same `sysnet
#      load`, closed loop, 64-byte messages, at 1, 100 and 1000 connections: msgs/s, p99,
#      and the ratio of each to the loop server. The runtimes run on the current thread
#      (--threads 0, like the loop) and, as a scaling row, on 2 runtime threads.
# Loopback only (127.0.0.1); no root; builds nothing (`make bench` builds the binaries).
# Servers run on CPU 0 and the load on CPU 1 (taskset), except the 2-thread rows, whose
# server may use both CPUs (so it shares CPU 1 with the load: on a 2-CPU machine that row
# shows the multi-thread runtime's overhead more than its scaling).
# Time: the micro benchmarks' own (about a minute), then BENCH_RUNS (3) rounds x 3 connection
# counts x 5 servers x (BENCH_TASK_SECS (2) + about 1 s): about 2.5 minutes; 4 minutes at most
# beyond the micro part (each load is bounded by `timeout`).
# Knobs: BENCH_RUNS, BENCH_TASK_SECS, BENCH_TASK_CONNS (default "1 100 1000"),
# BENCH_TASK_PARTS (default "micro echo"), BENCH_TASK_SIZE (message bytes, default 64).
set -u
cd "$(dirname "$0")/../.." || exit 1
BUILD=${BUILD:-build}
SN=$BUILD/sysnet
BT=$BUILD/bench/task
SECS=${BENCH_TASK_SECS:-2}
RUNS=${BENCH_RUNS:-3}
SIZE=${BENCH_TASK_SIZE:-64}
read -r -a CONNS <<< "${BENCH_TASK_CONNS:-1 100 1000}"
PARTS=" ${BENCH_TASK_PARTS:-micro echo} "

for v in "$SECS" "$RUNS" "$SIZE" "${CONNS[@]}"; do
    case $v in '' | *[!0-9]*) echo "bench/task: BENCH_TASK_* and BENCH_RUNS want whole numbers"; exit 2;; esac
done
if [ "$SECS" -lt 1 ] || [ "$RUNS" -lt 1 ] || [ "$SIZE" -lt 1 ]; then
    echo "bench/task: BENCH_TASK_SECS, BENCH_RUNS and BENCH_TASK_SIZE must be >= 1"; exit 2
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/sn-bench-task.XXXXXX") || exit 1
SRV_PID=""
cleanup() {
    if [ -n "$SRV_PID" ]; then kill "$SRV_PID" 2>/dev/null; wait "$SRV_PID" 2>/dev/null; fi
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
summary() { if [ -n "${BENCH_SUMMARY:-}" ]; then echo "$1" >> "$BENCH_SUMMARY"; fi; }
fail=0

ulimit -n 20000 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null
NOFILE=$(ulimit -n)
[ "$NOFILE" = unlimited ] && NOFILE=1048576

SRV_PIN=() LOAD_PIN=() BOTH_PIN=()
if command -v taskset >/dev/null 2>&1 && taskset -c 0 true 2>/dev/null && taskset -c 1 true 2>/dev/null; then
    SRV_PIN=(taskset -c 0) LOAD_PIN=(taskset -c 1) BOTH_PIN=(taskset -c 0,1)
    PINNING="server on CPU 0 (the -t2 rows: CPUs 0-1), load on CPU 1"
else
    PINNING="not pinned (taskset or a second CPU is missing)"
fi

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
median() { grep . | sort -g | awk '{ v[NR] = $1 } END { if (NR == 0) exit 1;
    m = NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2; printf "%.6g\n", m }'; }
fmt_us() { awk -v u="$1" 'BEGIN { if (u >= 1e6) printf "%.2fs", u / 1e6; else if (u >= 1000) printf "%.2fms", u / 1000;
    else printf "%.1fus", u }'; }
# parse_load FILE: "msgs_per_s p99_us" from the "result" line of `sysnet load`.
parse_load() {
    local line m p
    line=$(grep '^result ' "$1" | tail -n 1)
    [ -n "$line" ] || return 1
    m=$(printf '%s\n' "$line" | grep -oE '(^| )msgs_per_s=[0-9.eE+]+' | head -n 1 | sed 's/.*=//')
    p=$(printf '%s\n' "$line" | grep -oE '(^| )p99_ns=[0-9.eE+]+' | head -n 1 | sed 's/.*=//')
    [ -n "$m" ] && [ -n "$p" ] || return 1
    echo "$m $(awk -v v="$p" 'BEGIN { printf "%.6g", v / 1000 }')"
}

# ---------------------------------------------------------------------------------------------
if [[ $PARTS == *" micro "* ]]; then
    echo "-- 1. micro-benchmarks of the runtime (each prints its own table)"
    for b in bench_task bench_chan bench_switch; do
        if [ -x "$BT/$b" ]; then
            echo
            echo "   $BT/$b"
            if ! timeout 300 "$BT/$b"; then echo "bench/task: $b failed"; fail=1; summary "task.$b.failed=1"; fi
        else
            echo "   $b: missing ($BT/$b is not built: make $BT/$b): skipped"
            summary "task.$b=missing"
        fi
    done
fi

# ---------------------------------------------------------------------------------------------
KEYS=(loop future coro future_t2 coro_t2)
declare -A LABEL=([loop]="loop (callbacks)" [future]="future, 1 thread" [coro]="coro, 1 thread"
                  [future_t2]="future, 2 threads" [coro_t2]="coro, 2 threads")
srv_cmd() { # KEY ADDR
    case $1 in
    loop) echo "$SN echo --listen $2 --backend epoll -q" ;;
    future) echo "$SN echo --listen $2 --backend epoll --runtime future --threads 0 -q" ;;
    coro) echo "$SN echo --listen $2 --backend epoll --runtime coro --threads 0 -q" ;;
    future_t2) echo "$SN echo --listen $2 --backend epoll --runtime future --threads 2 -q" ;;
    coro_t2) echo "$SN echo --listen $2 --backend epoll --runtime coro --threads 2 -q" ;;
    esac
}
pin_for() { case $1 in *_t2) echo "${BOTH_PIN[*]}" ;; *) echo "${SRV_PIN[*]}" ;; esac; }

declare -A MSGS P99 STATUS
run_echo_part() {
    if ! [ -x "$SN" ] || ! "$SN" load --help >/dev/null 2>&1; then
        echo "sysnet is missing ($SN): skipped"; summary "task.echo=skipped_sysnet_missing"; return 0
    fi
    local k c r port out res m p
    for k in "${KEYS[@]}"; do STATUS[$k]=ok; done
    if ! "$SN" echo --help | grep -q -- '--runtime'; then
        echo "   sysnet echo has no --runtime: only the loop row"; STATUS[future]=missing STATUS[coro]=missing
        STATUS[future_t2]=missing STATUS[coro_t2]=missing
    fi
    echo "   $RUNS rounds of ${#CONNS[@]} connection counts x ${#KEYS[@]} servers, ${SECS} s each: about" \
         "$(( RUNS * ${#CONNS[@]} * ${#KEYS[@]} * (SECS + 1) )) s; $PINNING"
    # Check once, untimed, that each server echoes byte for byte (a 1 MiB message, 100 connections).
    if command -v python3 >/dev/null 2>&1; then
        for k in "${KEYS[@]}"; do
            [ "${STATUS[$k]}" = ok ] || continue
            port=$(free_port) || { STATUS[$k]=failed; continue; }
            $(srv_cmd "$k" "127.0.0.1:$port") > "$work/$k.srv" 2>&1 &
            SRV_PID=$!
            if ! wait_ready "$port"; then
                echo "   $k did not start: $(tail -n 2 "$work/$k.srv" | tr '\n' ' ')"; STATUS[$k]=failed
            elif ! timeout 60 python3 bench/loop/echo_check.py "127.0.0.1:$port" -c 100 --big 1048576 > "$work/$k.check" 2>&1; then
                echo "   $k does not echo correctly:"; sed 's/^/     /' "$work/$k.check" | tail -n 5; STATUS[$k]=failed
            fi
            stop_server
        done
    fi
    for ((r = 1; r <= RUNS; r++)); do
        for c in "${CONNS[@]}"; do
            [ "$c" -gt $(( NOFILE - 100 )) ] && continue
            for k in "${KEYS[@]}"; do
                [ "${STATUS[$k]}" = ok ] || continue
                port=$(free_port) || continue
                # shellcheck disable=SC2046
                $(pin_for "$k") $(srv_cmd "$k" "127.0.0.1:$port") > "$work/$k.srv" 2>&1 &
                SRV_PID=$!
                if ! wait_ready "$port"; then
                    echo "   $k did not start: $(tail -n 2 "$work/$k.srv" | tr '\n' ' ')"; STATUS[$k]=failed; stop_server; continue
                fi
                out=$work/$k.$c.$r.load
                if timeout $(( SECS + 30 )) "${LOAD_PIN[@]}" "$SN" load "127.0.0.1:$port" -c "$c" -d "$SECS" --size "$SIZE" -q \
                        > "$out" 2> "$out.err" && res=$(parse_load "$out"); then
                    read -r m p <<< "$res"
                    MSGS[$k.$c]+="$m " P99[$k.$c]+="$p "
                    grep -q ' errors=0' "$out" || echo "   $k, $c connections: $(grep -o 'errors=[0-9]*' "$out")"
                else
                    echo "   sysnet load against $k, $c connections, failed: $(cat "$out" "$out.err" 2>/dev/null | tail -n 3 | tr '\n' ' ')"
                    fail=1
                fi
                kill -0 "$SRV_PID" 2>/dev/null || { echo "   $k died during the $c-connection run"; fail=1; }
                stop_server
            done
        done
        printf '   round %d/%d done\n' "$r" "$RUNS"
    done

    echo
    echo "echo: one protocol written three ways, closed-loop ping-pong of $SIZE-byte messages (sysnet load -c N -d $SECS),"
    echo "      epoll, median of $RUNS runs; $PINNING"
    printf '  %6s  %-20s %12s %10s %12s %12s\n' conns server "msgs/s" p99 "msgs/s / loop" "p99 loop/it"
    local lm lp med mp rm rp
    for c in "${CONNS[@]}"; do
        if [ "$c" -gt $(( NOFILE - 100 )) ]; then printf '  %6s  skipped: ulimit -n is %s\n' "$c" "$NOFILE"; continue; fi
        lm="" lp=""
        if [ -n "${MSGS[loop.$c]:-}" ]; then
            lm=$(echo "${MSGS[loop.$c]}" | tr ' ' '\n' | median)
            lp=$(echo "${P99[loop.$c]}" | tr ' ' '\n' | median)
        fi
        for k in "${KEYS[@]}"; do
            if [ -z "${MSGS[$k.$c]:-}" ]; then
                printf '  %6s  %-20s %12s\n' "$c" "${LABEL[$k]}" "${STATUS[$k]/ok/failed}"
                summary "task.echo.$c.$k.msgs_per_s=${STATUS[$k]/ok/failed}"
                continue
            fi
            med=$(echo "${MSGS[$k.$c]}" | tr ' ' '\n' | median)
            mp=$(echo "${P99[$k.$c]}" | tr ' ' '\n' | median)
            rm="" rp=""
            if [ -n "$lm" ]; then
                rm=$(awk -v a="$med" -v b="$lm" 'BEGIN { printf "%.2f", a / b }')
                rp=$(awk -v a="$mp" -v b="$lp" 'BEGIN { printf "%.2f", (a > 0 ? b / a : 0) }')
                [ "$k" != loop ] && summary "task.echo.$c.${k}_per_loop=$rm" && summary "task.echo.$c.${k}_p99_per_loop=$rp"
            fi
            printf '  %6s  %-20s %12.0f %10s %12s %12s\n' "$c" "${LABEL[$k]}" "$med" "$(fmt_us "$mp")" "$rm" "$rp"
            summary "task.echo.$c.$k.msgs_per_s=$(printf '%.0f' "$med")"
            summary "task.echo.$c.$k.p99_us=$mp"
        done
    done
    echo "  (msgs/s / loop = the row's msgs/s over the loop server's; p99 loop/it = the loop server's p99 over"
    echo "   the row's: above 1 the row is ahead of the callback server)"
    summary "task.echo.size=$SIZE"
    summary "task.echo.secs=$SECS"
}

if [[ $PARTS == *" echo "* ]]; then
    echo
    echo "-- 2. the echo server three ways (loop callbacks, futures, coroutines) under sysnet load"
    run_echo_part
fi
exit $fail
