#!/usr/bin/env bash
# tests/cli/test_echo_load.sh — `sysnet echo` and `sysnet load` from the outside:
# usage errors (exit 2, one line), load against a closed port; echo + load on each
# backend (closed loop), open loop at a fixed rate (the message count follows the
# rate), --pipeline, --size, -t 2, --json; UDP echo; --workers 2 (SO_REUSEPORT);
# the open-file soft limit raised to the hard one (400 connections under a soft
# limit of 256); robustness: a client that never reads (the server's memory stays
# bounded by the water mark, then every byte comes back intact; also at the
# smallest mark, 4096), abrupt resets, SIGINT during a wait (echo on each backend,
# and load). Loopback only (port 0 or a free port; every server is killed by the
# EXIT trap). The raw socket clients are python3. No root.
set -u
cd "$(dirname "$0")/../.."
. tests/lib.sh
sn_tmp_pids

# ---- usage ----
# sn_usage_err NAME PATTERN SUB ARGS...: exit 2 and exactly one line, matching PATTERN.
expect echo_help 0 'usage: sysnet echo' "$SYSNET" echo --help
expect load_help 0 'usage: sysnet load' "$SYSNET" load --help
sn_usage_err echo_no_listen 'give the address to listen on' echo
sn_usage_err echo_bad_listen "--listen '127.0.0.1:99999'" echo --listen 127.0.0.1:99999
sn_usage_err echo_bad_backend '--backend wants epoll, uring or poll' echo -l 127.0.0.1:0 -b select
sn_usage_err echo_bad_workers '--workers wants 1..64' echo -l 127.0.0.1:0 --workers 65
sn_usage_err echo_workers_port0 '--workers needs a fixed port' echo -l 127.0.0.1:0 -w 2
sn_usage_err echo_bad_high_water '--high-water wants bytes' echo -l 127.0.0.1:0 --high-water 100
sn_usage_err echo_missing_value 'option --high-water needs a value' echo -l 127.0.0.1:0 --high-water
sn_usage_err echo_unknown_option "unknown option '--bogus'" echo -l 127.0.0.1:0 --bogus
sn_usage_err echo_extra_argument "unexpected argument 'x'" echo -l 127.0.0.1:0 x
sn_usage_err load_no_address "give the server's address" load
sn_usage_err load_two_addresses 'one address only' load 127.0.0.1:7 127.0.0.1:8
sn_usage_err load_no_port 'the address needs a port' load 127.0.0.1
sn_usage_err load_bad_address "'nowhere'" load nowhere
sn_usage_err load_bad_conns '-c wants 1..' load 127.0.0.1:7 -c 0
sn_usage_err load_bad_duration '-d wants seconds' load 127.0.0.1:7 -d 0
sn_usage_err load_bad_rate '--rate wants' load 127.0.0.1:7 --rate 0
sn_usage_err load_bad_size '--size wants 1..' load 127.0.0.1:7 --size 0
sn_usage_err load_bad_pipeline '--pipeline wants 1..1024' load 127.0.0.1:7 --pipeline 2000
sn_usage_err load_bad_threads '--threads wants 1..64' load 127.0.0.1:7 -t 0
sn_usage_err load_bad_sources '--sources wants N or A-B' load 127.0.0.1:7 --sources 9-3
sn_usage_err load_sources_not_loopback '--sources is for a 127' load '[::1]:7' --sources 2
sn_usage_err load_bad_backend '--backend wants' load 127.0.0.1:7 -b kqueue
sn_usage_err load_missing_value 'option -c needs a value' load 127.0.0.1:7 -c
sn_usage_err load_unknown_option "unknown option '--bogus'" load 127.0.0.1:7 --bogus

if ! have python3; then
    skip echo_load "python3 missing (free ports and the socket clients are python)"; summary; exit
fi

closed=$(sn_free_port)
expect load_closed_port 1 'no connection to 127.0.0.1:[0-9]+ could be made' \
    "$SYSNET" load "127.0.0.1:$closed" -c 3 -d 0.2 -q

# ---- servers ----
# start NAME ARGS...: `sysnet echo` in the background (ARGS include --listen); waits
# for its "listening on" line(s) (WANT, default 1); sets $spid and $port.
# stop NAME [SIG] [FILE]: the signal (TERM); pass NAME when the server exits 0 within
# 15 s with a "stopped: 0 connections open" line per process and no sanitizer report.
# sn_run_load NAME ARGS...: `sysnet load` against $port, passes with errors=0 (tests/lib.sh).
start() { sn_start echo "$@"; }
stop() { sn_stop "$1" "${2:-TERM}" "${3:-$1}" 'stopped: 0 connections open'; }

# ---- closed loop on every backend ----
for b in epoll uring poll; do
    if ! start "echo_$b" --listen 127.0.0.1:0 --backend "$b"; then
        if grep -q 'cannot open the' "$tmp/echo_$b.err"; then skip "echo_load_$b" "$(head -1 "$tmp/echo_$b.err")"
        else fail "echo_load_$b" "the server did not start: $(head -c 300 "$tmp/echo_$b.err")"; fi
        continue
    fi
    grep -q "(tcp, $b)" "$tmp/echo_$b.out" || fail "echo_backend_$b" "$(cat "$tmp/echo_$b.out")"
    sn_run_load "echo_load_closed_$b" -c 50 -d 1 --backend "$b" &&
        ! printf '%s\n' "$last_out" | grep -q "threads, $b)" && fail "echo_load_backend_$b" "load did not use $b"
    if [ "$b" = epoll ]; then
        # The modes, against the epoll server.
        if sn_run_load echo_load_open_rate -c 50 -d 2 --rate 20000; then
            m=$(sn_field msgs)
            secs=$(printf '%s\n' "$last_out" | sed -n 's/.*, \([0-9.]*\) s, open loop.*/\1/p')
            if python3 -c "import sys; m,s=int(sys.argv[1]),float(sys.argv[2]); sys.exit(0 if abs(m-20000*s) <= 0.1*20000*s else 1)" "$m" "${secs:-0}"; then
                pass "echo_load_open_rate_count ($m messages in $secs s at 20000/s)"
            else fail echo_load_open_rate_count "$m messages in $secs s, wanted 20000/s within 10%"; fi
        fi
        sn_run_load echo_load_pipeline -c 20 -d 1 --pipeline 8 &&
            { printf '%s\n' "$last_out" | grep -q 'pipeline 8' || fail echo_load_pipeline_line "no 'pipeline 8' in the report"; }
        sn_run_load echo_load_size_4096 -c 20 -d 1 --size 4096 &&
            { printf '%s\n' "$last_out" | grep -q '4096-byte messages' || fail echo_load_size_line "no '4096-byte messages'"; }
        sn_run_load echo_load_threads -c 50 -d 1 -t 2 &&
            { printf '%s\n' "$last_out" | grep -q '(2 threads' || fail echo_load_threads_line "not 2 threads"; }
        if "$SYSNET" load "127.0.0.1:$port" -c 10 -d 0.5 --json > "$tmp/load.json" 2> "$tmp/load.json.err" &&
           python3 -m json.tool "$tmp/load.json" > /dev/null &&
           python3 -c "import json,sys; j=json.load(open(sys.argv[1])); sys.exit(0 if j['errors']==0 and j['messages']>0 and j['connected']==10 else 1)" "$tmp/load.json"; then
            pass echo_load_json
        else fail echo_load_json "$(head -c 300 "$tmp/load.json") $(head -c 300 "$tmp/load.json.err")"; fi
    fi
    stop "echo_${b}_sigterm" TERM "echo_$b"
done

sn_echo_client "$tmp/client.py" <<'EOF'
def t_udp():
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(2)
    for i in range(200):
        msg = b"datagram %d " % i + b"u" * (i * 7 % 1400)
        s.sendto(msg, ("127.0.0.1", PORT))
        d, a = s.recvfrom(65536)
        assert d == msg and a[1] == PORT, (i, d[:30], a)
    # a burst: 64 at once, then read them all
    for i in range(64):
        s.sendto(b"burst %d" % i, ("127.0.0.1", PORT))
    got = sorted(s.recvfrom(100)[0] for i in range(64))
    assert got == sorted(b"burst %d" % i for i in range(64)), got[:3]
    return "200 datagrams (up to 1.4 KB) echoed to their source, then a burst of 64"
EOF
py() { sn_py "$tmp/client.py" "$@"; }

# ---- UDP ----
if start echo_udp --listen 127.0.0.1:0 --udp; then
    grep -q '(udp, ' "$tmp/echo_udp.out" || fail echo_udp_line "$(cat "$tmp/echo_udp.out")"
    py echo_udp udp
    stop echo_udp_sigterm TERM echo_udp
else fail echo_udp "the server did not start: $(head -c 300 "$tmp/echo_udp.err")"; fi

# ---- worker processes ----
wport=$(sn_free_port)
if WANT=2 start echo_workers --listen "127.0.0.1:$wport" --workers 2; then
    if grep -q 'echo\[0\]: listening on' "$tmp/echo_workers.out" && grep -q 'echo\[1\]: listening on' "$tmp/echo_workers.out"; then
        pass echo_workers_listening
    else fail echo_workers_listening "$(cat "$tmp/echo_workers.out")"; fi
    sn_run_load echo_workers_load -c 40 -d 0.5
    WANT=2 stop echo_workers_sigterm TERM echo_workers
    n=$(grep -c 'echo\[[01]\]: stopped:' "$tmp/echo_workers.err")
    [ "$n" = 2 ] && pass echo_workers_both_stopped || fail echo_workers_both_stopped "$n stopped lines: $(cat "$tmp/echo_workers.err")"
else fail echo_workers "the workers did not start: $(head -c 300 "$tmp/echo_workers.err")"; fi

# ---- the open-file limit: a soft limit of 256 is raised to the hard one ----
hard=$(ulimit -Hn)
if [ "$hard" != unlimited ] && [ "$hard" -lt 1000 ]; then
    skip echo_raises_nofile "the hard open-file limit is $hard"
elif (ulimit -Sn 256 && exec "$SYSNET" echo --listen 127.0.0.1:0 > "$tmp/nofile.out" 2> "$tmp/nofile.err") &
     spid=$!; pids+=("$spid")
     for _ in $(seq 200); do grep -q 'listening on' "$tmp/nofile.out" 2>/dev/null && break; sleep 0.025; done
     port=$(sed -n 's/.*listening on 127\.0\.0\.1:\([0-9]*\) .*/\1/p' "$tmp/nofile.out"); [ -n "$port" ]; then
    if sn_run_load echo_raises_nofile -c 400 -d 0.5; then
        [ "$(sn_field conns)" = 400 ] || fail echo_raises_nofile_conns "$(sn_field conns) of 400 connected"
    fi
    stop echo_nofile_sigterm TERM nofile
else fail echo_raises_nofile "the server did not start: $(head -c 300 "$tmp/nofile.err")"; fi

# ---- robustness ----
if start echo_robust --listen 127.0.0.1:0 --high-water 65536 --stats; then
    py echo_client_never_reads never_reads "$tmp/echo_robust.err" 50
    py echo_abrupt_resets resets "$tmp/echo_robust.err"
    sn_run_load echo_load_after_resets -c 20 -d 0.5
    stop echo_robust_sigterm TERM echo_robust
else fail echo_robust "the server did not start: $(head -c 300 "$tmp/echo_robust.err")"; fi
# The smallest high-water mark: a 64 KiB read echoed onto a non-empty queue must not
# exceed the hard limit (srv.c keeps it at least high water + 256 KiB).
if start echo_hw4k --listen 127.0.0.1:0 --high-water 4096 --stats; then
    py echo_high_water_4096 never_reads "$tmp/echo_hw4k.err" 30
    stop echo_hw4k_sigterm TERM echo_hw4k
else fail echo_hw4k "the server did not start: $(head -c 300 "$tmp/echo_hw4k.err")"; fi

# SIGINT while the loop waits (idle, and with a connection open) on every backend.
for b in epoll uring poll; do
    if ! start "echo_int_$b" --listen 127.0.0.1:0 --backend "$b"; then
        grep -q 'cannot open the' "$tmp/echo_int_$b.err" && skip "echo_sigint_$b" "$(head -1 "$tmp/echo_int_$b.err")" ||
            fail "echo_sigint_$b" "$(head -c 300 "$tmp/echo_int_$b.err")"
        continue
    fi
    sleep 0.3
    stop "echo_sigint_idle_$b" INT "echo_int_$b"
    if start "echo_int2_$b" --listen 127.0.0.1:0 --backend "$b"; then
        sn_int_with_client "echo_sigint_with_connection_$b" "echo_sigint_closes_connection_$b" "echo_int2_$b"
    fi
done

# SIGINT to load during its run: it stops early, reports, exits 0.
if start echo_for_int --listen 127.0.0.1:0; then
    "$SYSNET" load "127.0.0.1:$port" -c 10 -d 30 > "$tmp/lint.out" 2> "$tmp/lint.err" &
    lpid=$!; pids+=("$lpid")
    sleep 1.5
    kill -INT $lpid
    for _ in $(seq 100); do kill -0 $lpid 2>/dev/null || break; sleep 0.05; done
    if kill -0 $lpid 2>/dev/null; then fail load_sigint "still running 5 s after SIGINT"
    else
        wait $lpid; rc=$?
        last_out=$(cat "$tmp/lint.out")
        m=$(sn_field msgs); e=$(sn_field errors)
        if [ $rc = 0 ] && [ "${m:-0}" -gt 0 ] && [ "${e:-x}" = 0 ] && ! grep -qE 'Sanitizer|runtime error' "$tmp/lint.err"; then
            pass "load_sigint (exit 0, $m messages, 0 errors)"
        else fail load_sigint "exit $rc: $(grep result "$tmp/lint.out") $(tail -2 "$tmp/lint.err")"; fi
    fi
    stop echo_for_int_sigterm TERM echo_for_int
fi
summary
