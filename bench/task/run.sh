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
. bench/lib.sh
BT=$BUILD/bench/task
PARTS=" ${BENCH_TASK_PARTS:-micro echo} "
bench_knobs task 2 "1 100 1000"
bench_init task "server on CPU 0 (the -t2 rows: CPUs 0-1), load on CPU 1"

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
echo_row() { # KEY C ROUND: one timed run (bench_rounds)
    local k=$1 c=$2 port out
    port=$(free_port) || return 0
    # shellcheck disable=SC2046
    bench_start "$k" "$port" $(pin_for "$k") $(srv_cmd "$k" "127.0.0.1:$port") || { STATUS[$k]=failed; return 0; }
    out=$work/$k.$c.$3.load
    if bench_load "$k" "$c" "$out" $(( SECS + 30 )); then
        grep -q ' errors=0' "$out" || echo "   $k, $c connections: $(grep -o 'errors=[0-9]*' "$out")"
    else
        fail=1
    fi
    bench_alive "$k" "$c" || fail=1
    stop_server
}
run_echo_part() {
    if ! [ -x "$SN" ] || ! "$SN" load --help >/dev/null 2>&1; then
        echo "sysnet is missing ($SN): skipped"; summary "task.echo=skipped_sysnet_missing"; return 0
    fi
    local k c
    for k in "${KEYS[@]}"; do STATUS[$k]=ok; done
    if ! "$SN" echo --help | grep -q -- '--runtime'; then
        echo "   sysnet echo has no --runtime: only the loop row"; STATUS[future]=missing STATUS[coro]=missing
        STATUS[future_t2]=missing STATUS[coro_t2]=missing
    fi
    echo "   $RUNS rounds of ${#CONNS[@]} connection counts x ${#KEYS[@]} servers, ${SECS} s each: about" \
         "$(( RUNS * ${#CONNS[@]} * ${#KEYS[@]} * (SECS + 1) )) s; $PINNING"
    bench_echo_check srv_cmd "${KEYS[@]}"
    bench_rounds echo_row "${KEYS[@]}"

    echo
    echo "echo: one protocol written three ways, closed-loop ping-pong of $SIZE-byte messages (sysnet load -c N -d $SECS),"
    echo "      epoll, median of $RUNS runs; $PINNING"
    printf '  %6s  %-20s %12s %10s %12s %12s\n' conns server "msgs/s" p99 "msgs/s / loop" "p99 loop/it"
    local lm lp med mp rm rp
    for c in "${CONNS[@]}"; do
        if [ "$c" -gt $(( NOFILE - 100 )) ]; then printf '  %6s  skipped: ulimit -n is %s\n' "$c" "$NOFILE"; continue; fi
        lm="" lp=""
        if [ -n "${MSGS[loop.$c]:-}" ]; then
            lm=$(median_of "${MSGS[loop.$c]}")
            lp=$(median_of "${P99[loop.$c]}")
        fi
        for k in "${KEYS[@]}"; do
            if [ -z "${MSGS[$k.$c]:-}" ]; then
                printf '  %6s  %-20s %12s\n' "$c" "${LABEL[$k]}" "${STATUS[$k]/ok/failed}"
                summary "task.echo.$c.$k.msgs_per_s=${STATUS[$k]/ok/failed}"
                continue
            fi
            med=$(median_of "${MSGS[$k.$c]}")
            mp=$(median_of "${P99[$k.$c]}")
            rm="" rp=""
            if [ -n "$lm" ]; then
                read -r rm rp <<< "$(ratios "$med" "$mp" "$lm" "$lp")"
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
