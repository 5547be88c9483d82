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

# ---- servers started in the background (tests/cli: echo, chat) ----
# sn_free_port: a TCP port on 127.0.0.1 that nothing listens on (python3).
sn_free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
# sn_start SUB NAME ARGS...: `$SYSNET SUB ARGS` in the background (output in
# $tmp/NAME.out and $tmp/NAME.err; needs sn_tmp_pids); waits up to 7.5 s for WANT
# (default 1) "listening on" lines; sets $spid (added to pids) and $port (the first
# 127.0.0.1 port listened on). Returns 1 if the server did not get that far.
sn_start() {
    local sub=$1 name=$2; shift 2
    "$SYSNET" "$sub" "$@" > "$tmp/$name.out" 2> "$tmp/$name.err" &
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
# sn_stop NAME SIG FILE PATTERN: SIG to $spid; pass NAME when the server exits 0 within
# 15 s with WANT (1) lines matching PATTERN in $tmp/FILE.err and no sanitizer report.
sn_stop() {
    local name=$1 sig=$2 f=$tmp/$3.err pat=$4 rc n
    kill -"$sig" "$spid" 2>/dev/null
    for _ in $(seq 300); do kill -0 "$spid" 2>/dev/null || break; sleep 0.05; done
    if kill -0 "$spid" 2>/dev/null; then fail "$name" "still running 15 s after SIG$sig"; kill -9 "$spid"; wait "$spid" 2>/dev/null; return; fi
    wait "$spid"; rc=$?
    n=$(grep -c -- "$pat" "$f")
    if [ $rc != 0 ]; then fail "$name" "exit $rc after SIG$sig: $(head -c 600 "$f")"
    elif grep -qE 'AddressSanitizer|runtime error|LeakSanitizer' "$f"; then
        fail "$name" "sanitizer report: $(grep -m3 -E 'ERROR|runtime error|#[0-9] ' "$f" | head -c 600)"
    elif [ "$n" -lt "${WANT:-1}" ]; then fail "$name" "$n '$pat' lines: $(head -c 400 "$f")"
    else pass "$name (exit 0 after SIG$sig: $(grep -m1 'stopped:' "$f" | sed 's/.*stopped: //' | cut -c1-90))"; fi
}
# sn_field KEY: KEY=value from the result line of the last load ($last_out).
sn_field() { printf '%s\n' "$last_out" | sed -n "s/^result.* $1=\([0-9]*\).*/\1/p"; }
# sn_run_load NAME ARGS...: `sysnet load` against $port (60 s at most); pass when it
# exits 0 with no sanitizer report and its result line says errors=0 and msgs > 0
# (then a "#" line with the result). The output stays in $last_out. 1 on a failure.
sn_run_load() {
    local name=$1 rc; shift
    last_out=$(timeout 60 "$SYSNET" load "127.0.0.1:$port" -q "$@" 2>&1); rc=$?
    local res m e san
    res=$(printf '%s\n' "$last_out" | grep '^result '); m=$(sn_field msgs); e=$(sn_field errors)
    san=$(printf '%s\n' "$last_out" | grep -m1 -E 'ERROR: [A-Za-z]+Sanitizer|runtime error')
    if [ -n "$san" ]; then fail "$name" "exit $rc, $san $(printf '%s\n' "$last_out" | grep -m2 -E '^ +#[0-9] .* in (sn_|snl_|chunk|enqueue|conn_)' | tr -s ' ' | tr '\n' ' ')"; return 1; fi
    if [ $rc != 0 ] || [ -z "$res" ] || [ "${e:-x}" != 0 ] || [ "${m:-0}" -le 0 ]; then
        fail "$name" "exit $rc: ${res:-$(printf '%s' "$last_out" | head -c 300)}"; return 1
    fi
    pass "$name ($m messages, 0 errors)"
    echo "#    $(printf '%s\n' "$res" | cut -c1-100)"
}
# sn_py SCRIPT NAME MODE ARGS...: `python3 SCRIPT MODE $port ARGS` (60 s at most);
# pass NAME with what it printed when it exits 0, else fail with its last lines.
sn_py() {
    local script=$1 name=$2 out; shift 2
    if out=$(timeout 60 python3 "$script" "$1" "$port" "${@:2}" 2>&1); then pass "$name ($out)"
    else fail "$name" "$(printf '%s' "$out" | tail -3 | tr '\n' ' ')"; fi
}
# sn_echo_client FILE: writes FILE, a python3 client of an echo server for sn_py
# (`python3 FILE MODE PORT ARGS...` runs t_MODE(ARGS), prints what it returns, exit 0;
# or "error: ..." and exit 1), with the modes big N (N bytes echoed intact), never_reads
# STATS_FILE MB (the server's memory stays flat while a client does not read, then
# every byte comes back; the server runs with --stats into STATS_FILE), resets
# STATS_FILE (20 abrupt resets), hold SECS (says whether the server closes an idle
# connection); more modes (python functions t_NAME) from stdin.
sn_echo_client() {
    {
        cat <<'EOF'
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

def rss_lines(path):
    """The rss (KiB) of every stats line of the server so far."""
    try:
        return [int(m) for m in re.findall(r": stats: .* rss (\d+) KiB", open(path).read())]
    except FileNotFoundError:
        return []

def t_never_reads(stats_path, total_mb):
    """Send without reading: the server stops reading from the connection while its
    writes wait (no queue grows without bound); then read it all back, intact; the
    rss stays flat."""
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
            sent += s.send(data[sent:sent + 262144]); last = time.monotonic()
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
        t_big(20000)  # the server still answers
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
    except ConnectionResetError:
        return "closed by the server (reset)"
EOF
        cat
        cat <<'EOF'

try:
    print(globals()["t_" + sys.argv[1]](*sys.argv[3:]))
except Exception as e:
    print("error: %s: %s" % (type(e).__name__, e)); sys.exit(1)
EOF
    } > "$1"
}
# sn_int_with_client STOP_NAME CLOSE_NAME FILE: with a client of the echo server
# connected (sn_echo_client's hold, from $tmp/client.py), SIGINT: sn_stop STOP_NAME
# (the server's stderr in $tmp/FILE.err says "stopped: 0 connections open"); pass
# CLOSE_NAME when the server closed that client.
sn_int_with_client() {
    timeout 20 python3 "$tmp/client.py" hold "$port" 10 > "$tmp/hold.out" 2>&1 &
    local hpid=$!
    sleep 0.5
    sn_stop "$1" INT "$3" 'stopped: 0 connections open'
    wait $hpid
    grep -q 'closed by the server' "$tmp/hold.out" && pass "$2" || fail "$2" "client: $(cat "$tmp/hold.out")"
}
