#!/usr/bin/env bash
# bench/loop/run.sh — the event-loop benchmark (bench/README.md, "loop", explains every number):
#   1. timers: bench_timers — sysnet's timer heap beside libuv's, libev's and a timing wheel;
#   2. echo: one echo protocol served by libuv, libev, libevent (bench/loop/echo_*.c) and by
#      `sysnet echo` (epoll, io_uring), all driven by the same `sysnet load`, closed loop, at
#      1, 100, 1000 and 10000 connections: messages/s and p99;
#   3. http: `sysnet serve` beside nginx (`return 200`) under wrk.
# Loopback only (127.0.0.1); no root needed; builds nothing (`make bench` does). Servers run
# on CPU 0 and the load on CPU 1 (taskset), BENCH_LOOP_SECS seconds per row (default 3),
# BENCH_RUNS rounds (default 3) in which the servers take turns; medians are quoted.
# Knobs: BENCH_LOOP_SECS, BENCH_RUNS, BENCH_LOOP_SIZE (echo message bytes, default 64),
# BENCH_LOOP_CONNS (default "1 100 1000 10000"), BENCH_LOOP_HTTP_CONNS (default "100 1000"),
# BENCH_LOOP_PARTS (default "timers echo http"), BENCH_LOOP_BUFFEREVENT=1 (one more echo row:
# libevent with bufferevents).
set -u
cd "$(dirname "$0")/../.." || exit 1
. bench/lib.sh
BL=$BUILD/bench/loop
read -r -a HTTP_CONNS <<< "${BENCH_LOOP_HTTP_CONNS:-100 1000}"
PARTS=" ${BENCH_LOOP_PARTS:-timers echo http} "
bench_knobs loop 3 "1 100 1000 10000" "${HTTP_CONNS[@]}"
bench_init loop # the servers on CPU 0, load (and wrk) on CPU 1

# ---------------------------------------------------------------------------------------------
if [[ $PARTS == *" timers "* ]]; then
    echo "-- 1. timers (bench_timers; the loop's timer heap beside libuv, libev and a timing wheel)"
    if [ -x "$BL/bench_timers" ]; then
        "${SRV_PIN[@]}" "$BL/bench_timers" || { echo "bench/loop: bench_timers failed"; fail=1; }
    else
        echo "bench/loop: $BL/bench_timers is missing: make $BL/bench_timers"; fail=1
    fi
fi

# ---------------------------------------------------------------------------------------------
# The echo servers: KEY, label, and how to start one on ADDR.
ECHO_KEYS=(libuv libev libevent sysnet_epoll sysnet_uring)
# BENCH_LOOP_BUFFEREVENT=1 adds libevent's other idiom (echo_event --bufferevent) as a row.
if [ "${BENCH_LOOP_BUFFEREVENT:-0}" = 1 ]; then ECHO_KEYS=(libuv libev libevent libevent_bev sysnet_epoll sysnet_uring); fi
declare -A LABEL=([libuv]="libuv (echo_uv)" [libev]="libev (echo_ev)" [libevent]="libevent (echo_event)"
                  [libevent_bev]="libevent, bufferevents"
                  [sysnet_epoll]="sysnet echo, epoll" [sysnet_uring]="sysnet echo, io_uring"
                  [nginx]="nginx (return 200)" [sysnet_serve]="sysnet serve")
echo_cmd() { # KEY ADDR
    case $1 in
    libuv) echo "$BL/echo_uv $2" ;;
    libev) echo "$BL/echo_ev $2" ;;
    libevent) echo "$BL/echo_event $2" ;;
    libevent_bev) echo "$BL/echo_event $2 --bufferevent" ;;
    sysnet_epoll) echo "$SN echo --listen $2 --backend epoll" ;;
    sysnet_uring) echo "$SN echo --listen $2 --backend uring" ;;
    esac
}
have_echo() {
    case $1 in
    libuv) [ -x "$BL/echo_uv" ] ;;
    libev) [ -x "$BL/echo_ev" ] ;;
    libevent | libevent_bev) [ -x "$BL/echo_event" ] ;;
    sysnet_*) [ -x "$SN" ] && "$SN" echo --help >/dev/null 2>&1 ;;
    esac
}

declare -A MSGS P99 STATUS
echo_row() { # KEY C ROUND: one timed run (bench_rounds)
    local k=$1 c=$2 port
    port=$(free_port) || return 0
    # shellcheck disable=SC2046
    bench_start "$k" "$port" "${SRV_PIN[@]}" $(echo_cmd "$k" "127.0.0.1:$port") || { STATUS[$k]=failed; return 0; }
    bench_load "$k" "$c" "$work/$k.$c.$3.load" $(( SECS + 60 + c / 200 ))
    bench_alive "$k" "$c"
    stop_server
}
run_echo_part() {
    if ! [ -x "$SN" ] || ! "$SN" load --help >/dev/null 2>&1; then
        echo "sysnet load missing: skipped"
        summary "loop.echo=skipped_sysnet_load_missing"
        return 0
    fi
    local k c
    for k in "${ECHO_KEYS[@]}"; do
        if have_echo "$k"; then STATUS[$k]=ok; else STATUS[$k]=missing; fi
    done
    local rows=0
    for k in "${ECHO_KEYS[@]}"; do [ "${STATUS[$k]}" = ok ] && rows=$((rows + ${#CONNS[@]})); done
    echo "   $RUNS rounds of ${#CONNS[@]} connection counts x the servers present, ${SECS} s each:" \
         "about $(( RUNS * rows * (SECS + 2) )) s; $PINNING"

    bench_echo_check echo_cmd "${ECHO_KEYS[@]}"

    bench_rounds echo_row "${ECHO_KEYS[@]}"

    echo
    echo "echo: closed-loop ping-pong of $SIZE-byte messages (sysnet load -c N -d $SECS --size $SIZE), median of $RUNS runs; $PINNING"
    printf '  %6s  %-24s %12s %10s %14s %14s\n' conns server "msgs/s" p99 "msgs/s vs peer" "p99 vs peer"
    local best bestm bestp key med p99 rm rp
    for c in "${CONNS[@]}"; do
        if [ "$c" -gt $(( NOFILE - 100 )) ]; then
            printf '  %6s  skipped: ulimit -n is %s\n' "$c" "$NOFILE"; summary "loop.echo.$c=skipped_nofile"; continue
        fi
        best="" bestm=0 bestp=""
        declare -A MED=() MP=()
        for k in "${ECHO_KEYS[@]}"; do
            key=$k.$c
            if [ "${STATUS[$k]}" != ok ] || [ -z "${MSGS[$key]:-}" ]; then continue; fi
            MED[$k]=$(median_of "${MSGS[$key]}")
            MP[$k]=$(median_of "${P99[$key]}")
            case $k in sysnet_*) continue;; esac
            if awk -v a="${MED[$k]}" -v b="$bestm" 'BEGIN { exit !(a > b) }'; then best=$k bestm=${MED[$k]}; fi
            if [ -z "$bestp" ] || awk -v a="${MP[$k]}" -v b="$bestp" 'BEGIN { exit !(a < b) }'; then bestp=${MP[$k]}; fi
        done
        for k in "${ECHO_KEYS[@]}"; do
            if [ -z "${MED[$k]:-}" ]; then
                local why="failed"; [ "${STATUS[$k]}" = missing ] && why="peer missing"
                case $k in sysnet_*) [ "${STATUS[$k]}" = missing ] && why="missing";; esac
                printf '  %6s  %-24s %12s\n' "$c" "${LABEL[$k]}" "$why"
                summary "loop.echo.$c.$k.msgs_per_s=${why// /_}"
                continue
            fi
            med=${MED[$k]} p99=${MP[$k]} rm="" rp=""
            if [[ $k == sysnet_* ]] && [ -n "$best" ]; then
                read -r rm rp <<< "$(ratios "$med" "$p99" "$bestm" "$bestp")"
                summary "loop.echo.$c.${k}_per_best_peer=$rm"
                summary "loop.echo.$c.${k}_p99_per_best_peer=$rp"
            fi
            printf '  %6s  %-24s %12.0f %10s %14s %14s\n' "$c" "${LABEL[$k]}" "$med" "$(fmt_us "$p99")" "$rm" "$rp"
            summary "loop.echo.$c.$k.msgs_per_s=$(printf '%.0f' "$med")"
            summary "loop.echo.$c.$k.p99_us=$p99"
        done
        [ -n "$best" ] && summary "loop.echo.$c.best_peer=$best"
        if [ -n "${MED[sysnet_epoll]:-}" ] && [ -n "${MED[sysnet_uring]:-}" ]; then
            local u
            u=$(ratio "${MED[sysnet_uring]}" "${MED[sysnet_epoll]}")
            printf '  %6s  %-24s %12s\n' "" "io_uring / epoll" "$u"
            summary "loop.echo.$c.uring_per_epoll=$u"
        fi
        unset MED MP
    done
    echo "  (msgs/s vs peer = sysnet's msgs/s / the best peer's; p99 vs peer = the best peer's p99 / sysnet's:"
    echo "   above 1, sysnet is ahead; the best peer is the one with the most msgs/s, resp. the lowest p99)"
    summary "loop.echo.size=$SIZE"
    summary "loop.echo.secs=$SECS"
}

if [[ $PARTS == *" echo "* ]]; then
    echo
    echo "-- 2. echo servers under sysnet load"
    run_echo_part
fi

# ---------------------------------------------------------------------------------------------
# nginx with `return 200`, in a prefix of its own under $work, listening on 127.0.0.1 only.
nginx_conf() { # PORT
    local d=$work/nginx
    mkdir -p "$d/tmp"
    cat > "$d/nginx.conf" <<EOF
# bench/loop: nginx as the peer of sysnet serve: one worker process, no master, no logs.
worker_processes 1;
master_process off;
daemon off;
pid $d/nginx.pid;
error_log $d/error.log warn;
events { worker_connections 20000; use epoll; }
http {
    access_log off;
    client_body_temp_path $d/tmp/body;
    proxy_temp_path $d/tmp/proxy;
    fastcgi_temp_path $d/tmp/fastcgi;
    uwsgi_temp_path $d/tmp/uwsgi;
    scgi_temp_path $d/tmp/scgi;
    keepalive_requests 1000000000;
    keepalive_timeout 300s;
    server {
        listen 127.0.0.1:$1 backlog=4096;
        default_type text/plain;
        location / { return 200 "Hello, World!\\n"; }
    }
}
EOF
    echo "$d"
}

http_start() { # KEY PORT: as bench_start (1 after a line when it did not start)
    case $1 in
    nginx)
        local d; d=$(nginx_conf "$2")
        bench_start nginx "$2" "${SRV_PIN[@]}" nginx -p "$d" -c "$d/nginx.conf" -e "$d/error.log" ;;
    sysnet_serve) bench_start sysnet_serve "$2" "${SRV_PIN[@]}" "$SN" serve --listen "127.0.0.1:$2" ;;
    esac
}

# parse_wrk FILE: "requests_per_s p99_us" from `wrk --latency`.
parse_wrk() {
    local rps p
    rps=$(awk '/^Requests\/sec:/ { print $2 }' "$1")
    p=$(awk '$1 == "99%" { print $2 }' "$1")
    [ -n "$rps" ] && [ -n "$p" ] || return 1
    p=$(to_us "$p") || return 1
    echo "$rps $p"
}

run_http_part() {
    if ! command -v wrk >/dev/null 2>&1; then
        echo "wrk missing: skipped (peer missing; bash bench/setup.sh as root installs it)"
        summary "loop.http=skipped_wrk_missing"
        return 0
    fi
    local HK=(sysnet_serve nginx) k c r port out res rq p
    declare -A HS
    if [ -x "$SN" ] && "$SN" serve --help >/dev/null 2>&1; then HS[sysnet_serve]=ok; else HS[sysnet_serve]=missing; fi
    if command -v nginx >/dev/null 2>&1; then HS[nginx]=ok; else HS[nginx]=missing; fi
    [ "${HS[sysnet_serve]}" = ok ] || echo "   sysnet serve missing: its rows are skipped"
    declare -A RQ HP
    for ((r = 1; r <= RUNS; r++)); do
        for c in "${HTTP_CONNS[@]}"; do
            if [ "$c" -gt $(( NOFILE - 100 )) ]; then continue; fi
            for k in "${HK[@]}"; do
                [ "${HS[$k]}" = ok ] || continue
                port=$(free_port) || continue
                http_start "$k" "$port" || { HS[$k]=failed; continue; }
                out=$work/$k.$c.$r.wrk
                if timeout $(( SECS + 30 )) "${LOAD_PIN[@]}" wrk -t1 -c"$c" -d"${SECS}s" --latency "http://127.0.0.1:$port/" \
                        > "$out" 2>&1 && res=$(parse_wrk "$out"); then
                    read -r rq p <<< "$res"
                    RQ[$k.$c]+="$rq " HP[$k.$c]+="$p "
                    if grep -q 'Non-2xx\|Socket errors' "$out"; then
                        echo "   $k, $c connections: $(grep -E 'Non-2xx|Socket errors' "$out" | tr '\n' ' ')"
                    fi
                else
                    echo "   wrk against $k, $c connections, failed: $(tail -n 2 "$out" | tr '\n' ' ')"
                fi
                stop_server
            done
        done
        printf '   round %d/%d done\n' "$r" "$RUNS"
    done

    echo
    echo "http: wrk -t1 -cN -d${SECS}s --latency, keep-alive GET /, median of $RUNS runs; $PINNING"
    printf '  %6s  %-24s %12s %10s %14s %14s\n' conns server "requests/s" p99 "req/s vs nginx" "p99 vs nginx"
    local med mp nm np rm rp
    for c in "${HTTP_CONNS[@]}"; do
        if [ "$c" -gt $(( NOFILE - 100 )) ]; then
            printf '  %6s  skipped: ulimit -n is %s\n' "$c" "$NOFILE"; continue
        fi
        nm="" np=""
        if [ -n "${RQ[nginx.$c]:-}" ]; then
            nm=$(median_of "${RQ[nginx.$c]}")
            np=$(median_of "${HP[nginx.$c]}")
        fi
        for k in nginx sysnet_serve; do
            if [ -z "${RQ[$k.$c]:-}" ]; then
                local why=failed; [ "${HS[$k]}" = missing ] && why=missing
                [ "$k" = nginx ] && [ "$why" = missing ] && why="peer missing"
                printf '  %6s  %-24s %12s\n' "$c" "${LABEL[$k]}" "$why"
                summary "loop.http.$c.$k.req_per_s=${why// /_}"
                continue
            fi
            med=$(median_of "${RQ[$k.$c]}")
            mp=$(median_of "${HP[$k.$c]}")
            rm="" rp=""
            if [ "$k" = sysnet_serve ] && [ -n "$nm" ]; then
                read -r rm rp <<< "$(ratios "$med" "$mp" "$nm" "$np")"
                summary "loop.http.$c.sysnet_per_nginx=$rm"
                summary "loop.http.$c.sysnet_p99_per_nginx=$rp"
            fi
            printf '  %6s  %-24s %12.0f %10s %14s %14s\n' "$c" "${LABEL[$k]}" "$med" "$(fmt_us "$mp")" "$rm" "$rp"
            summary "loop.http.$c.$k.req_per_s=$(printf '%.0f' "$med")"
            summary "loop.http.$c.$k.p99_us=$mp"
        done
    done
    echo "  (req/s vs nginx = sysnet's requests/s / nginx's; p99 vs nginx = nginx's p99 / sysnet's: above 1, sysnet is ahead)"
}

if [[ $PARTS == *" http "* ]]; then
    echo
    echo "-- 3. sysnet serve and nginx under wrk"
    run_http_part
fi
exit $fail
