#!/usr/bin/env bash
# tests/cli/test_echo_runtime.sh — `sysnet echo --runtime loop|future|coro` from the
# outside: usage errors (exit 2, one line), a port already taken (exit 1, one line);
# for each runtime x backend (epoll, io_uring: skipped where the kernel refuses it) x
# runtime threads (0 = current thread, 2): `sysnet load -c 50 -d 1` with 0 errors, a
# 1 MiB message echoed byte for byte, 100 connections at once, SIGTERM -> "stopped: 0
# connections open" and exit 0; SIGINT with a client connected closes that client;
# a client that never reads (memory stays flat, then every byte comes back) and
# abrupt resets (future and coro); --stats lines;
# --workers 2 (processes) on the task runtime; and step 8 of `sysnet lab` (the
# runtime step) at a size ASan can afford (--tasks). Loopback only, no root, every
# server killed by the EXIT trap; about 30-40 s under ASan.
set -u
cd "$(dirname "$0")/../.."
. tests/lib.sh
sn_tmp_pids

expect echo_runtime_help 0 '--runtime R' "$SYSNET" echo --help
sn_usage_err echo_runtime_bad "--runtime wants loop, future or coro, not 'threads'" echo -l 127.0.0.1:0 --runtime threads
sn_usage_err echo_runtime_missing 'option --runtime needs a value' echo -l 127.0.0.1:0 --runtime
sn_usage_err echo_threads_bad '--threads wants 0..64' echo -l 127.0.0.1:0 --runtime future --threads 65
sn_usage_err echo_threads_loop '--threads is for --runtime future or coro' echo -l 127.0.0.1:0 --threads 2
sn_usage_err echo_stack_future '--stack-size is for --runtime coro' echo -l 127.0.0.1:0 --runtime future --stack-size 65536
sn_usage_err echo_stack_small '--stack-size wants bytes' echo -l 127.0.0.1:0 --runtime coro --stack-size 100
sn_usage_err echo_udp_future '--udp is served by the loop runtime only' echo -l 127.0.0.1:0 --runtime future --udp

if ! have python3; then
    skip echo_runtime "python3 missing (the socket clients are python)"; summary; exit
fi
# start NAME ARGS...: `sysnet echo` in the background; waits for WANT (1) "listening on"
# lines; sets $spid and $port. stop NAME [SIG] [FILE]: pass when the server exits 0
# within 15 s of the signal, with WANT (1) "stopped: 0 connections open" lines and no
# sanitizer report (tests/lib.sh).
start() { sn_start echo "$@"; }
stop() { sn_stop "$1" "${2:-TERM}" "${3:-$1}" 'stopped: 0 connections open'; }

sn_echo_client "$tmp/client.py" <<'EOF'
def t_many(k):
    """k connections at once, each a 10000-byte message."""
    socks = [socket.create_connection(("127.0.0.1", PORT), timeout=20) for _ in range(int(k))]
    for i, s in enumerate(socks):
        s.sendall(pattern(10000 + i)[i:])
    for i, s in enumerate(socks):
        want = pattern(10000 + i)[i:]; got = b""
        while len(got) < len(want):
            d = s.recv(65536); assert d, "EOF"; got += d
        assert got == want, "connection %d: wrong echo" % i
        s.close()
    return "%s connections echoed intact" % k
EOF
py() { sn_py "$tmp/client.py" "$@"; }

# ---- a port that is taken: exit 1 and one line ----
taken=$(sn_free_port)
if start taken_holder --listen "127.0.0.1:$taken" --runtime future; then
    sleep 0.2
    for rt in future coro; do
        expect "echo_${rt}_cannot_listen" 1 "cannot listen on 127.0.0.1:$taken" "$SYSNET" echo --listen "127.0.0.1:$taken" --runtime "$rt"
        n=$(printf '%s\n' "$last_out" | wc -l)
        [ "$n" = 1 ] || fail "echo_${rt}_cannot_listen_one_line" "$n lines: $last_out"
    done
    kill -TERM "$spid"; wait "$spid" 2>/dev/null
else fail echo_cannot_listen "the first server did not start: $(head -c 300 "$tmp/taken_holder.err")"; fi

# ---- the matrix ----
for rt in loop future coro; do
    for b in epoll io_uring; do
        for th in 0 2; do
            [ "$rt" = loop ] && [ "$th" = 2 ] && continue
            name="echo_${rt}_${b}_t$th"
            args=(--listen 127.0.0.1:0 --runtime "$rt" --backend "$b")
            [ "$rt" != loop ] && args+=(--threads "$th")
            if ! start "$name" "${args[@]}"; then
                if grep -q 'cannot open the' "$tmp/$name.err"; then skip "$name" "$(head -1 "$tmp/$name.err")"
                else fail "$name" "the server did not start: $(head -c 400 "$tmp/$name.err")"; fi
                continue
            fi
            bname=$b; [ "$b" = io_uring ] && bname=uring
            if [ "$rt" != loop ] && ! grep -q "(tcp, $bname, $rt runtime" "$tmp/$name.out"; then
                fail "${name}_line" "$(cat "$tmp/$name.out")"
            fi
            sn_run_load "${name}_load" -c 50 -d 1
            py "${name}_1MiB" big 1048576
            py "${name}_100_conns" many 100
            stop "${name}_sigterm" TERM "$name"
        done
    done
done

# ---- SIGINT with a client connected: the server closes it, exits 0 ----
for rt in future coro; do
    for th in 0 2; do
        name="echo_${rt}_t${th}_int"
        start "$name" --listen 127.0.0.1:0 --runtime "$rt" --threads "$th" || { fail "$name" "did not start: $(head -c 300 "$tmp/$name.err")"; continue; }
        sn_int_with_client "${name}_sigint" "${name}_closes_connection" "$name"
        grep -q 'stopped: 0 connections open, 1 peak, 1 closed' "$tmp/$name.err" ||
            fail "${name}_counts" "$(grep stopped "$tmp/$name.err")"
    done
done

# ---- --stats, and a coroutine stack size ----
if start echo_coro_stats --listen 127.0.0.1:0 --runtime coro --stack-size 131072 --stats; then
    sn_run_load echo_coro_stats_load -c 20 -d 1.5
    n=$(grep -c ': stats: ' "$tmp/echo_coro_stats.err")
    [ "$n" -ge 1 ] && pass "echo_coro_stats_lines ($n)" || fail echo_coro_stats_lines "no stats line: $(head -c 300 "$tmp/echo_coro_stats.err")"
    stop echo_coro_stats_sigterm TERM echo_coro_stats
else fail echo_coro_stats "did not start: $(head -c 300 "$tmp/echo_coro_stats.err")"; fi

# ---- robustness: a client that never reads, abrupt resets ----
for spec in "future 0" "coro 2"; do
    read -r rt th <<< "$spec"
    name="echo_${rt}_t${th}_robust"
    if start "$name" --listen 127.0.0.1:0 --runtime "$rt" --threads "$th" --stats; then
        py "${name}_never_reads" never_reads "$tmp/$name.err" 30
        py "${name}_resets" resets "$tmp/$name.err"
        stop "${name}_sigterm" TERM "$name"
    else fail "$name" "did not start: $(head -c 300 "$tmp/$name.err")"; fi
done

# ---- --workers 2: two processes on one port ----
wport=$(sn_free_port)
for rt in future coro; do
    if WANT=2 start "echo_${rt}_workers" --listen "127.0.0.1:$wport" --runtime "$rt" --workers 2 --threads 1; then
        sn_run_load "echo_${rt}_workers_load" -c 40 -d 0.5
        WANT=2 stop "echo_${rt}_workers_sigterm" TERM "echo_${rt}_workers"
    else fail "echo_${rt}_workers" "did not start: $(head -c 300 "$tmp/echo_${rt}_workers.err")"; fi
done

# ---- sysnet lab, step 8 only (steps 1-4 always run; 5-7 skipped), small under ASan ----
sn_usage_err lab_tasks_bad '--tasks wants 1..3000000' lab --tasks 0
if expect lab_runtime_step 0 'all 20000 completed' "$SYSNET" lab --no-capture --no-echo --no-feed --tasks 20000 -w "$tmp/lab.pcap"; then
    for pat in 'step 8: the task runtime' 'bytes per task' 'coroutine echo: 50000 round trips .* 0 wrong' \
               'select\(oneshot.*child 0 won .* with 42' 'timeout\(read on a silent socket, 50 ms\): .*timed out' \
               'join_all\(sleep 10, 20, 30 ms\): all done'; do
        printf '%s\n' "$last_out" | grep -qE -- "$pat" && pass "lab_runtime: $pat" || fail "lab_runtime: $pat" "$(printf '%s' "$last_out" | tail -8)"
    done
    printf '%s\n' "$last_out" | grep -E 'memory:|coroutine echo:' | sed 's/^/#  /'
fi
expect lab_no_runtime 0 'packets' "$SYSNET" lab --no-capture --no-echo --no-feed --no-runtime -q -w "$tmp/lab2.pcap" &&
    { printf '%s\n' "$last_out" | grep -q 'completed' && fail lab_no_runtime_skips "step 8 ran" || pass lab_no_runtime_skips; }
summary
