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
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

closed=$(free_port)
expect load_closed_port 1 'no connection to 127.0.0.1:[0-9]+ could be made' \
    "$SYSNET" load "127.0.0.1:$closed" -c 3 -d 0.2 -q

# ---- servers ----
# start NAME ARGS...: `sysnet echo` in the background (ARGS include --listen); waits
# for its "listening on" line(s) (WANT, default 1); sets $spid and $port.
start() {
    local name=$1; shift
    "$SYSNET" echo "$@" > "$tmp/$name.out" 2> "$tmp/$name.err" &
    spid=$!; pids+=("$spid"); port=
    for _ in $(seq 200); do
        if [ "$(grep -c 'listening on' "$tmp/$name.out" 2>/dev/null)" -ge "${WANT:-1}" ]; then
            port=$(sed -n 's/.*listening on 127\.0\.0\.1:\([0-9]*\) .*/\1/p' "$tmp/$name.out" | head -1)
            return 0
        fi
        kill -0 "$spid" 2>/dev/null || break
        sleep 0.025
    done
    return 1
}
# stop NAME [SIG]: the signal (TERM); pass NAME when the server exits 0 within 10 s
# with a "stopped:" line per process and no sanitizer report.
stop() {
    local name=$1 sig=${2:-TERM} rc
    kill -"$sig" "$spid" 2>/dev/null
    for _ in $(seq 200); do kill -0 "$spid" 2>/dev/null || break; sleep 0.05; done
    if kill -0 "$spid" 2>/dev/null; then fail "$name" "still running 10 s after SIG$sig"; kill -9 "$spid"; wait "$spid" 2>/dev/null; return; fi
    wait "$spid"; rc=$?
    local stopped; stopped=$(grep -c 'stopped: 0 connections open' "$tmp/${3:-$name}.err")
    if [ $rc != 0 ]; then fail "$name" "exit $rc after SIG$sig: $(head -c 400 "$tmp/${3:-$name}.err")"
    elif grep -qE 'AddressSanitizer|runtime error|LeakSanitizer' "$tmp/${3:-$name}.err"; then
        fail "$name" "sanitizer report: $(grep -m3 -E 'ERROR|runtime error' "$tmp/${3:-$name}.err")"
    elif [ "$stopped" -lt "${WANT:-1}" ]; then
        fail "$name" "$stopped 'stopped: 0 connections open' lines: $(head -c 400 "$tmp/${3:-$name}.err")"
    else pass "$name (exit 0 after SIG$sig)"; fi
}
# field KEY: KEY=value from the result line of the last load ($last_out).
field() { printf '%s\n' "$last_out" | sed -n "s/^result.* $1=\([0-9]*\).*/\1/p"; }
# run_load NAME ARGS...: `sysnet load` against $port; pass when it exits 0 with no
# sanitizer report and its result line says errors=0 and msgs > 0.
run_load() {
    local name=$1 rc; shift
    last_out=$("$SYSNET" load "127.0.0.1:$port" -q "$@" 2>&1); rc=$?
    local res m e san
    res=$(printf '%s\n' "$last_out" | grep '^result '); m=$(field msgs); e=$(field errors)
    san=$(printf '%s\n' "$last_out" | grep -m1 -E 'ERROR: [A-Za-z]+Sanitizer|runtime error')
    if [ -n "$san" ]; then fail "$name" "exit $rc, $san $(printf '%s\n' "$last_out" | grep -m2 -E '^ +#[0-9] .* in (sn_|snl_|chunk|enqueue|conn_)' | tr -s ' ' | tr '\n' ' ')"; return 1; fi
    if [ $rc != 0 ] || [ -z "$res" ] || [ "${e:-x}" != 0 ] || [ "${m:-0}" -le 0 ]; then
        fail "$name" "exit $rc: ${res:-$(printf '%s' "$last_out" | head -c 300)}"; return 1
    fi
    pass "$name"
    echo "#    $(printf '%s\n' "$res" | cut -c1-100)"
}

# ---- closed loop on every backend ----
for b in epoll uring poll; do
    if ! start "echo_$b" --listen 127.0.0.1:0 --backend "$b"; then
        if grep -q 'cannot open the' "$tmp/echo_$b.err"; then skip "echo_load_$b" "$(head -1 "$tmp/echo_$b.err")"
        else fail "echo_load_$b" "the server did not start: $(head -c 300 "$tmp/echo_$b.err")"; fi
        continue
    fi
    grep -q "(tcp, $b)" "$tmp/echo_$b.out" || fail "echo_backend_$b" "$(cat "$tmp/echo_$b.out")"
    run_load "echo_load_closed_$b" -c 50 -d 1 --backend "$b" &&
        ! printf '%s\n' "$last_out" | grep -q "threads, $b)" && fail "echo_load_backend_$b" "load did not use $b"
    if [ "$b" = epoll ]; then
        # The modes, against the epoll server.
        if run_load echo_load_open_rate -c 50 -d 2 --rate 20000; then
            m=$(field msgs)
            secs=$(printf '%s\n' "$last_out" | sed -n 's/.*, \([0-9.]*\) s, open loop.*/\1/p')
            if python3 -c "import sys; m,s=int(sys.argv[1]),float(sys.argv[2]); sys.exit(0 if abs(m-20000*s) <= 0.1*20000*s else 1)" "$m" "${secs:-0}"; then
                pass "echo_load_open_rate_count ($m messages in $secs s at 20000/s)"
            else fail echo_load_open_rate_count "$m messages in $secs s, wanted 20000/s within 10%"; fi
        fi
        run_load echo_load_pipeline -c 20 -d 1 --pipeline 8 &&
            { printf '%s\n' "$last_out" | grep -q 'pipeline 8' || fail echo_load_pipeline_line "no 'pipeline 8' in the report"; }
        run_load echo_load_size_4096 -c 20 -d 1 --size 4096 &&
            { printf '%s\n' "$last_out" | grep -q '4096-byte messages' || fail echo_load_size_line "no '4096-byte messages'"; }
        run_load echo_load_threads -c 50 -d 1 -t 2 &&
            { printf '%s\n' "$last_out" | grep -q '(2 threads' || fail echo_load_threads_line "not 2 threads"; }
        if "$SYSNET" load "127.0.0.1:$port" -c 10 -d 0.5 --json > "$tmp/load.json" 2> "$tmp/load.json.err" &&
           python3 -m json.tool "$tmp/load.json" > /dev/null &&
           python3 -c "import json,sys; j=json.load(open(sys.argv[1])); sys.exit(0 if j['errors']==0 and j['messages']>0 and j['connected']==10 else 1)" "$tmp/load.json"; then
            pass echo_load_json
        else fail echo_load_json "$(head -c 300 "$tmp/load.json") $(head -c 300 "$tmp/load.json.err")"; fi
    fi
    stop "echo_${b}_sigterm" TERM "echo_$b"
done

cat > "$tmp/client.py" <<'EOF'
import socket, sys, time, select, struct, re

PORT = int(sys.argv[2])

def rss_lines(path):
    """The rss (KiB) of every stats line of the server so far."""
    try:
        return [int(m) for m in re.findall(r": stats: .* rss (\d+) KiB", open(path).read())]
    except FileNotFoundError:
        return []

def pattern(n):
    unit = bytes((i * 7 + 3) & 0xff for i in range(251))
    return (unit * (n // len(unit) + 1))[:n]

def echo_roundtrip(n=100000):
    s = socket.create_connection(("127.0.0.1", PORT), timeout=5)
    data = pattern(n); s.sendall(data); got = b""
    while len(got) < n:
        d = s.recv(65536)
        assert d, "EOF after %d of %d bytes" % (len(got), n)
        got += d
    assert got == data, "echo differs"
    s.close()

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

def t_never_reads(stats_path, total_mb):
    total_mb = int(total_mb)
    total = total_mb << 20
    time.sleep(1.2)
    base = rss_lines(stats_path)[-1]
    s = socket.create_connection(("127.0.0.1", PORT), timeout=5)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
    s.setblocking(False)
    data = pattern(total)
    sent = 0; last = time.monotonic()
    # 1: send without reading until nothing moves for 1 s (backpressure reached us)
    while time.monotonic() - last < 1.0 and sent < total:
        try:
            k = s.send(data[sent:sent + 262144])
            sent += k; last = time.monotonic()
        except BlockingIOError:
            select.select([], [s], [], 0.05)
    assert sent < total, "all %d MB went out without reading: no backpressure" % total_mb
    stuck_at = sent
    time.sleep(1.2)  # a stats line while the client is stuck
    stuck = rss_lines(stats_path)[-1]
    # 2: read everything back, sending the rest meanwhile, and compare
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
    peak = max(rss_lines(stats_path))
    grow = peak - base
    assert grow < 64 * 1024, "rss grew by %d KiB (%d -> %d)" % (grow, base, peak)
    return "%d MB: the client stuck after %.1f MB sent (server rss then +%d KiB); all echoed intact; rss growth at most %d KiB" % (
        total_mb, stuck_at / 1048576.0, stuck - base, grow)

def t_resets(stats_path):
    for i in range(20):
        s = socket.create_connection(("127.0.0.1", PORT), timeout=5)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
        s.setblocking(False)
        want = (i % 4) * 1000000  # 0, 1, 2, 3 MB sent without reading, then RST
        sent = 0; last = time.monotonic()
        while sent < want and time.monotonic() - last < 0.3:
            try:
                sent += s.send(b"r" * min(262144, want - sent)); last = time.monotonic()
            except BlockingIOError:
                select.select([], [s], [], 0.02)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        s.close()  # RST
        echo_roundtrip(20000)  # the server still answers
    time.sleep(1.3)
    last = open(stats_path).read().strip().splitlines()[-1]
    assert ": 0 connections open" in last, last
    return "20 connections reset (SO_LINGER 0) with 0..3 MB unread; echo still fine; 0 connections open after"

def t_hold(secs):
    s = socket.create_connection(("127.0.0.1", PORT), timeout=5)
    s.sendall(b"hello"); assert s.recv(5) == b"hello"
    s.settimeout(float(secs))
    try:
        d = s.recv(10)  # the server closes it when it stops
        return "closed by the server" if d == b"" else "got %r" % d
    except socket.timeout:
        return "not closed"

mode = sys.argv[1]
try:
    print(globals()["t_" + mode](*sys.argv[3:]))
except Exception as e:
    print("error: %s: %s" % (type(e).__name__, e))
    sys.exit(1)
EOF
py() {
    local name=$1 out; shift
    if out=$(timeout 60 python3 "$tmp/client.py" "$1" "$port" "${@:2}" 2>&1); then pass "$name ($out)"
    else fail "$name" "$(printf '%s' "$out" | tail -3 | tr '\n' ' ')"; fi
}

# ---- UDP ----
if start echo_udp --listen 127.0.0.1:0 --udp; then
    grep -q '(udp, ' "$tmp/echo_udp.out" || fail echo_udp_line "$(cat "$tmp/echo_udp.out")"
    py echo_udp udp
    stop echo_udp_sigterm TERM echo_udp
else fail echo_udp "the server did not start: $(head -c 300 "$tmp/echo_udp.err")"; fi

# ---- worker processes ----
wport=$(free_port)
if WANT=2 start echo_workers --listen "127.0.0.1:$wport" --workers 2; then
    if grep -q 'echo\[0\]: listening on' "$tmp/echo_workers.out" && grep -q 'echo\[1\]: listening on' "$tmp/echo_workers.out"; then
        pass echo_workers_listening
    else fail echo_workers_listening "$(cat "$tmp/echo_workers.out")"; fi
    run_load echo_workers_load -c 40 -d 0.5
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
    if run_load echo_raises_nofile -c 400 -d 0.5; then
        [ "$(field conns)" = 400 ] || fail echo_raises_nofile_conns "$(field conns) of 400 connected"
    fi
    stop echo_nofile_sigterm TERM nofile
else fail echo_raises_nofile "the server did not start: $(head -c 300 "$tmp/nofile.err")"; fi

# ---- robustness ----
if start echo_robust --listen 127.0.0.1:0 --high-water 65536 --stats; then
    py echo_client_never_reads never_reads "$tmp/echo_robust.err" 50
    py echo_abrupt_resets resets "$tmp/echo_robust.err"
    run_load echo_load_after_resets -c 20 -d 0.5
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
        timeout 20 python3 "$tmp/client.py" hold "$port" 10 > "$tmp/hold.out" 2>&1 &
        hpid=$!
        sleep 0.5
        stop "echo_sigint_with_connection_$b" INT "echo_int2_$b"
        wait $hpid
        grep -q 'closed by the server' "$tmp/hold.out" && pass "echo_sigint_closes_connection_$b" ||
            fail "echo_sigint_closes_connection_$b" "client: $(cat "$tmp/hold.out")"
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
        m=$(field msgs); e=$(field errors)
        if [ $rc = 0 ] && [ "${m:-0}" -gt 0 ] && [ "${e:-x}" = 0 ] && ! grep -qE 'Sanitizer|runtime error' "$tmp/lint.err"; then
            pass "load_sigint (exit 0, $m messages, 0 errors)"
        else fail load_sigint "exit $rc: $(grep result "$tmp/lint.out") $(tail -2 "$tmp/lint.err")"; fi
    fi
    stop echo_for_int_sigterm TERM echo_for_int
fi
summary
