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
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# start NAME ARGS...: `sysnet echo` in the background; waits for WANT (1) "listening on"
# lines; sets $spid and $port.
start() {
    local name=$1; shift
    "$SYSNET" echo "$@" > "$tmp/$name.out" 2> "$tmp/$name.err" &
    spid=$!; pids+=("$spid"); port=
    for _ in $(seq 300); do
        if [ "$(grep -c 'listening on' "$tmp/$name.out" 2>/dev/null)" -ge "${WANT:-1}" ]; then
            port=$(sed -n 's/.*listening on 127\.0\.0\.1:\([0-9]*\) .*/\1/p' "$tmp/$name.out" | head -1)
            return 0
        fi
        kill -0 "$spid" 2>/dev/null || break
        sleep 0.025
    done
    return 1
}
# stop NAME [SIG] [FILE]: pass when the server exits 0 within 15 s of the signal, with
# WANT (1) "stopped: 0 connections open" lines and no sanitizer report.
stop() {
    local name=$1 sig=${2:-TERM} f=$tmp/${3:-$name}.err rc
    kill -"$sig" "$spid" 2>/dev/null
    for _ in $(seq 300); do kill -0 "$spid" 2>/dev/null || break; sleep 0.05; done
    if kill -0 "$spid" 2>/dev/null; then fail "$name" "still running 15 s after SIG$sig"; kill -9 "$spid"; wait "$spid" 2>/dev/null; return; fi
    wait "$spid"; rc=$?
    local stopped; stopped=$(grep -c 'stopped: 0 connections open' "$f")
    if [ $rc != 0 ]; then fail "$name" "exit $rc after SIG$sig: $(head -c 600 "$f")"
    elif grep -qE 'AddressSanitizer|runtime error|LeakSanitizer' "$f"; then
        fail "$name" "sanitizer report: $(grep -m3 -E 'ERROR|runtime error|#[0-9] ' "$f" | head -c 600)"
    elif [ "$stopped" -lt "${WANT:-1}" ]; then fail "$name" "$stopped 'stopped: 0 connections open' lines: $(head -c 400 "$f")"
    else pass "$name (exit 0 after SIG$sig: $(grep -m1 'stopped:' "$f" | sed 's/.*stopped: //' | cut -c1-90))"; fi
}
field() { printf '%s\n' "$last_out" | sed -n "s/^result.* $1=\([0-9]*\).*/\1/p"; }
run_load() {
    local name=$1 rc; shift
    last_out=$(timeout 60 "$SYSNET" load "127.0.0.1:$port" -q "$@" 2>&1); rc=$?
    local res m e
    res=$(printf '%s\n' "$last_out" | grep '^result '); m=$(field msgs); e=$(field errors)
    if printf '%s\n' "$last_out" | grep -qE 'ERROR: [A-Za-z]+Sanitizer|runtime error'; then fail "$name" "sanitizer report in load"; return 1; fi
    if [ $rc != 0 ] || [ -z "$res" ] || [ "${e:-x}" != 0 ] || [ "${m:-0}" -le 0 ]; then
        fail "$name" "exit $rc: ${res:-$(printf '%s' "$last_out" | head -c 300)}"; return 1
    fi
    pass "$name ($m messages, 0 errors)"
}

cat > "$tmp/client.py" <<'EOF'
import re, select, socket, struct, sys, threading, time
PORT = int(sys.argv[2])

def pattern(n):
    unit = bytes((i * 7 + 3) & 0xff for i in range(251))
    return (unit * (n // len(unit) + 1))[:n]

def t_big(n):
    """n bytes sent by a thread while this one reads them back; compared byte for byte."""
    n = int(n)
    s = socket.create_connection(("127.0.0.1", PORT), timeout=20)
    data = pattern(n)
    th = threading.Thread(target=s.sendall, args=(data,)); th.start()
    got = bytearray()
    while len(got) < n:
        d = s.recv(1 << 20)
        assert d, "EOF after %d of %d bytes" % (len(got), n)
        got += d
    th.join()
    assert bytes(got) == data, "the echo differs from byte %d" % next(i for i in range(n) if got[i] != data[i])
    s.close()
    return "%d bytes echoed intact" % n

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

def rss_lines(path):
    try:
        return [int(m) for m in re.findall(r": stats: .* rss (\d+) KiB", open(path).read())]
    except FileNotFoundError:
        return []

def t_never_reads(stats_path, total_mb):
    """Send without reading: the connection stops reading while its write waits (no
    queue grows); then read it all back, intact; the rss stays flat."""
    total = int(total_mb) << 20
    time.sleep(1.2)
    base = rss_lines(stats_path)[-1]
    s = socket.create_connection(("127.0.0.1", PORT), timeout=5)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
    s.setblocking(False)
    data = pattern(total)
    sent = 0; last = time.monotonic()
    while time.monotonic() - last < 1.0 and sent < total:
        try:
            sent += s.send(data[sent:sent + 262144]); last = time.monotonic()
        except BlockingIOError:
            select.select([], [s], [], 0.05)
    assert sent < total, "all of it went out without reading: no backpressure"
    stuck_at = sent
    got = 0; t0 = time.monotonic()
    while got < total:
        assert time.monotonic() - t0 < 30, "only %d of %d bytes back" % (got, total)
        w = [s] if sent < total else []
        r, w, _ = select.select([s], w, [], 1.0)
        if w:
            try:
                sent += s.send(data[sent:sent + 262144])
            except BlockingIOError:
                pass
        if r:
            d = s.recv(1 << 20)
            assert d, "EOF after %d bytes" % got
            assert d == data[got:got + len(d)], "the echo differs at byte %d" % got
            got += len(d)
    s.close()
    time.sleep(1.2)
    grow = max(rss_lines(stats_path)) - base
    assert grow < 64 * 1024, "rss grew by %d KiB" % grow
    return "%s MB: the client stuck after %.1f MB sent; all echoed intact; rss growth at most %d KiB" % (
        total_mb, stuck_at / 1048576.0, grow)

def t_resets(stats_path):
    for i in range(20):
        s = socket.create_connection(("127.0.0.1", PORT), timeout=5)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
        s.setblocking(False)
        want = (i % 4) * 1000000
        sent = 0; last = time.monotonic()
        while sent < want and time.monotonic() - last < 0.3:
            try:
                sent += s.send(b"r" * min(262144, want - sent)); last = time.monotonic()
            except BlockingIOError:
                select.select([], [s], [], 0.02)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        s.close()  # RST
        t_big(20000)  # the server still answers
    time.sleep(1.3)
    last = open(stats_path).read().strip().splitlines()[-1]
    assert ": 0 connections open" in last, last
    return "20 connections reset with 0..3 MB unread; echo still fine; 0 connections open after"

def t_hold(secs):
    s = socket.create_connection(("127.0.0.1", PORT), timeout=5)
    s.sendall(b"hello"); assert s.recv(5) == b"hello"
    s.settimeout(float(secs))
    try:
        d = s.recv(10)
        return "closed by the server" if d == b"" else "got %r" % d
    except socket.timeout:
        return "not closed"
    except ConnectionResetError:
        return "closed by the server (reset)"

try:
    print(globals()["t_" + sys.argv[1]](*sys.argv[3:]))
except Exception as e:
    print("error: %s: %s" % (type(e).__name__, e)); sys.exit(1)
EOF
py() {
    local name=$1 out; shift
    if out=$(timeout 60 python3 "$tmp/client.py" "$1" "$port" "${@:2}" 2>&1); then pass "$name ($out)"
    else fail "$name" "$(printf '%s' "$out" | tail -3 | tr '\n' ' ')"; fi
}

# ---- a port that is taken: exit 1 and one line ----
taken=$(free_port)
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
            run_load "${name}_load" -c 50 -d 1
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
        timeout 20 python3 "$tmp/client.py" hold "$port" 10 > "$tmp/hold.out" 2>&1 &
        hpid=$!
        sleep 0.5
        stop "${name}_sigint" INT "$name"
        wait $hpid
        grep -q 'closed by the server' "$tmp/hold.out" && pass "${name}_closes_connection" ||
            fail "${name}_closes_connection" "client: $(cat "$tmp/hold.out")"
        grep -q 'stopped: 0 connections open, 1 peak, 1 closed' "$tmp/$name.err" ||
            fail "${name}_counts" "$(grep stopped "$tmp/$name.err")"
    done
done

# ---- --stats, and a coroutine stack size ----
if start echo_coro_stats --listen 127.0.0.1:0 --runtime coro --stack-size 131072 --stats; then
    run_load echo_coro_stats_load -c 20 -d 1.5
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
wport=$(free_port)
for rt in future coro; do
    if WANT=2 start "echo_${rt}_workers" --listen "127.0.0.1:$wport" --runtime "$rt" --workers 2 --threads 1; then
        run_load "echo_${rt}_workers_load" -c 40 -d 0.5
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
