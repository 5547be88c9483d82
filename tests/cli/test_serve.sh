#!/usr/bin/env bash
# tests/cli/test_serve.sh — `sysnet serve`, the HTTP/1.1 responder, from the
# outside: usage errors and --help; then against running servers (loopback, port 0:
# the kernel picks a free one; each server is killed by the EXIT trap): GET, HEAD,
# keep-alive, pipelining (in order), a head split across reads followed by a big
# pipelined batch, HTTP/1.0 with and without keep-alive, Connection: close, bodies
# skipped, the refusals (400 431 501 505, each closing), the timeouts (slowloris:
# 200 connections trickling a header byte every 100 ms while a normal client is
# still answered; with --header-timeout 1 they get 408 and are closed; idle
# keep-alive connections closed, active ones kept, a slow body, a client that never
# reads its responses), 40 pipelined requests for 1 MB each read late (held at the
# high-water mark, memory bounded), SIGTERM (exit 0, "stopped:" line), wrk if
# installed, and the basic requests again on the uring and poll backends.
# The socket clients are python3. No root.
set -u
cd "$(dirname "$0")/../.."
. tests/lib.sh
sn_tmp_pids

# ---- usage ----
# usage_err NAME PATTERN ARGS...: exit 2 and exactly one line, matching PATTERN.
usage_err() { sn_usage_err "$1" "$2" serve "${@:3}"; }
expect serve_help 0 'usage: sysnet serve' "$SYSNET" serve --help
missing=
for opt in --listen --backend --workers --high-water --stats --body --size --header-timeout --idle-timeout --help; do
    printf '%s\n' "$last_out" | grep -q -- "$opt" || missing="$missing $opt"
done
[ -z "$missing" ] && pass serve_help_complete || fail serve_help_complete "--help does not mention:$missing"
usage_err serve_no_listen 'give the address to listen on' 
usage_err serve_bad_listen "--listen 'nope'" --listen nope
usage_err serve_bad_backend '--backend wants' -l 127.0.0.1:0 --backend kqueue
usage_err serve_bad_workers '--workers wants 1..64' -l 127.0.0.1:0 --workers 0
usage_err serve_workers_port0 '--workers needs a fixed port' -l 127.0.0.1:0 --workers 2
usage_err serve_bad_size '--size wants' -l 127.0.0.1:0 --size 99999999
usage_err serve_bad_header_timeout '--header-timeout wants seconds' -l 127.0.0.1:0 --header-timeout -1
usage_err serve_bad_idle_timeout "--idle-timeout wants seconds.*'soon'" -l 127.0.0.1:0 --idle-timeout soon
usage_err serve_missing_value 'option --header-timeout needs a value' -l 127.0.0.1:0 --header-timeout
usage_err serve_unknown_option "unknown option '--bogus'" -l 127.0.0.1:0 --bogus
usage_err serve_extra_argument "unexpected argument 'extra'" -l 127.0.0.1:0 extra

if ! have python3; then
    skip serve_http "python3 missing (the socket clients are python)"; summary; exit
fi

# ---- servers ----
# start NAME ARGS...: `sysnet serve` on 127.0.0.1:0 in the background; sets $port
# and $spid (also remembered for the trap). Output in $tmp/NAME.out / .err.
start() {
    local name=$1; shift
    "$SYSNET" serve --listen 127.0.0.1:0 "$@" > "$tmp/$name.out" 2> "$tmp/$name.err" &
    spid=$!; pids+=("$spid"); port=
    for _ in $(seq 200); do
        port=$(sed -n 's/.*listening on 127\.0\.0\.1:\([0-9]*\) .*/\1/p' "$tmp/$name.out" 2>/dev/null)
        [ -n "$port" ] && return 0
        kill -0 "$spid" 2>/dev/null || break
        sleep 0.025
    done
    return 1
}
# stop NAME: SIGTERM; pass NAME_sigterm when it exits 0 with its "stopped:" line and
# no sanitizer report.
stop() {
    local name=$1 rc
    kill -TERM "$spid" 2>/dev/null
    wait "$spid"; rc=$?
    if [ $rc != 0 ]; then fail "${name}_sigterm" "exit $rc: $(head -c 400 "$tmp/$name.err")"
    elif grep -qE 'AddressSanitizer|runtime error|LeakSanitizer' "$tmp/$name.err"; then
        fail "${name}_sigterm" "sanitizer report: $(grep -m3 -E 'ERROR|runtime error' "$tmp/$name.err")"
    elif ! grep -q "sysnet serve\[0\]: stopped: 0 connections open, .* requests, rss" "$tmp/$name.err"; then
        fail "${name}_sigterm" "no 'stopped:' line: $(head -c 400 "$tmp/$name.err")"
    else pass "${name}_sigterm"; fi
}

cat > "$tmp/client.py" <<'EOF'
import socket, sys, time, errno, select, re

PORT = int(sys.argv[2])
BODY = b"sysnet test body\n"
GET = b"GET / HTTP/1.1\r\nHost: t\r\n\r\n"

def connect():
    s = socket.create_connection(("127.0.0.1", PORT), timeout=5)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s

class Conn:
    def __init__(self):
        self.s = connect(); self.buf = b""
    def send(self, b):
        self.s.sendall(b)
    def fill(self):
        d = self.s.recv(1 << 20)
        if not d:
            raise EOFError("the server closed, with %r unread" % self.buf[:80])
        self.buf += d
    def response(self, head_only=False):
        """(status, headers dict with lower-case names, body)"""
        while b"\r\n\r\n" not in self.buf:
            self.fill()
        i = self.buf.index(b"\r\n\r\n")
        lines = self.buf[:i].decode().split("\r\n")
        self.buf = self.buf[i + 4:]
        assert lines[0].startswith("HTTP/1.1 "), lines[0]
        hdrs = {}
        for l in lines[1:]:
            k, v = l.split(":", 1)
            hdrs[k.strip().lower()] = v.strip()
        n = 0 if head_only else int(hdrs["content-length"])
        while len(self.buf) < n:
            self.fill()
        body, self.buf = self.buf[:n], self.buf[n:]
        return int(lines[0].split()[1]), hdrs, body
    def ok(self, head_only=False):
        st, h, b = self.response(head_only)
        assert st == 200, st
        assert b == (b"" if head_only else BODY), b
        return h
    def closed(self, timeout=3.0):
        """The server closes (EOF, or a reset) within timeout, sending nothing more."""
        self.s.settimeout(timeout)
        try:
            while True:
                d = self.s.recv(65536)
                if not d:
                    break
                self.buf += d
        except socket.timeout:
            return False
        except ConnectionResetError:
            pass
        assert not self.buf, "unexpected bytes before the close: %r" % self.buf[:80]
        return True
    def still_open(self, t=0.3):
        self.s.settimeout(t)
        try:
            d = self.s.recv(1)
            raise AssertionError("the server closed or sent %r" % d)
        except socket.timeout:
            return True

def t_get():
    c = Conn(); c.send(GET); h = c.ok()
    assert h["content-length"] == str(len(BODY)) and "connection" not in h, h
    c.send(b"HEAD / HTTP/1.1\r\n\r\n"); h = c.ok(head_only=True)
    assert h["content-length"] == str(len(BODY)), h
    c.send(GET); c.ok()
    return "GET, HEAD (head only, Content-Length of the body), GET"

def t_keepalive():
    c = Conn()
    for i in range(2):
        c.send(GET); c.ok()
    c.still_open()
    return "two requests, one after the other, on one connection, which stays open"

def t_pipeline():
    c = Conn()
    # GET and HEAD alternate: a response out of order would break the framing.
    reqs = [GET if i % 2 == 0 else b"HEAD /%d HTTP/1.1\r\n\r\n" % i for i in range(10)]
    c.send(b"".join(reqs))
    for i in range(10):
        c.ok(head_only=i % 2 == 1)
    c.still_open()
    return "10 requests (GET/HEAD alternating) in one write: 10 responses in order"

def t_split_then_batch():
    c = Conn()
    c.send(b"GET /first HTTP/1.1\r\nHost: t\r\nX-Long: " + b"y" * 3000)
    time.sleep(0.1)  # the server has read the partial head
    c.send(b"\r\n\r\n" + GET * 2000)  # the end of that head, then 58 KB of pipelined requests
    for i in range(2001):
        c.ok()
    c.still_open()
    return "a head cut by a read, then its end and 2000 pipelined requests in one write: 2001 responses"

def t_http10():
    c = Conn(); c.send(b"GET / HTTP/1.0\r\n\r\n")
    h = c.ok()
    assert h.get("connection", "").lower() == "close", h
    assert c.closed(), "still open"
    c = Conn()
    for i in range(2):
        c.send(b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
        h = c.ok()
        assert h.get("connection", "").lower() == "keep-alive", h
    c.still_open()
    return "1.0: closed after the response; 1.0 with keep-alive: kept, and the response says so"

def t_conn_close():
    c = Conn()
    c.send(b"GET / HTTP/1.1\r\nConnection: close\r\n\r\n" + GET)  # the second one is after the close
    h = c.ok()
    assert h.get("connection", "").lower() == "close", h
    assert c.closed(), "still open"
    return "one response with Connection: close, the request after it dropped, then FIN"

def t_body():
    c = Conn()
    body = (GET * 200)[:5000]  # looks like requests: it must be skipped, not parsed
    c.send(b"POST /up HTTP/1.1\r\nContent-Length: 5000\r\n\r\n" + body + GET)
    c.ok(); c.ok()
    c.send(b"PUT /up HTTP/1.1\r\nContent-Length: 300000\r\n\r\n")
    for k in range(3):  # the body in pieces, across reads
        c.send(b"z" * 100000); time.sleep(0.02)
    c.send(GET)
    c.ok(); c.ok()
    c.still_open()
    return "Content-Length bodies (5000 bytes that look like requests; 300000 in pieces) skipped"

BAD = {
    "bad_request_line": (b"GARBAGE\r\n\r\n", 400),
    "no_colon": (b"GET / HTTP/1.1\r\nNo colon here\r\n\r\n", 400),
    "blank_before_colon": (b"GET / HTTP/1.1\r\nHost : t\r\n\r\n", 400),
    "control_char": (b"GET / HTTP/1.1\r\nX: a\x01b\r\n\r\n", 400),
    "two_lengths": (b"POST / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", 400),
    "length_and_chunked": (b"POST / HTTP/1.1\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n", 400),
    "bad_length": (b"POST / HTTP/1.1\r\nContent-Length: -5\r\n\r\n", 400),
    "head_too_long": (b"GET / HTTP/1.1\r\nX: " + b"a" * 20000 + b"\r\n\r\n", 431),
    "too_many_headers": (b"GET / HTTP/1.1\r\n" + b"".join(b"X-%d: v\r\n" % i for i in range(100)) + b"\r\n", 431),
    "http2": (b"GET / HTTP/2.0\r\n\r\n", 505),
    "h2_preface": (b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 505),
    "http09_version": (b"GET / HTTP/0.9\r\n\r\n", 505),
    "chunked": (b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n", 501),
}

def t_refuse(case):
    req, want = BAD[case]
    c = Conn(); c.send(req)
    st, h, b = c.response()
    assert st == want, "status %d, wanted %d" % (st, want)
    assert h.get("connection", "").lower() == "close", h
    assert c.closed(), "still open after %d" % st
    return "%d, Connection: close, closed" % st

def t_refuse_split():
    c = Conn()
    c.send(b"GET / HTTP/1.1\r\n")
    for i in range(20):  # 20 x 1 KiB lines, never the blank line: over 16384 bytes
        c.send(b"X-%02d: " % i + b"b" * 1016 + b"\r\n"); time.sleep(0.005)
    st, h, b = c.response()
    assert st == 431 and c.closed(), st
    return "a head growing over 16 KiB across reads: 431, closed"

def t_refuse_after_good():
    c = Conn(); c.send(GET + GET + b"NOT HTTP\r\n\r\n" + GET)
    c.ok(); c.ok()
    st, h, b = c.response()
    assert st == 400 and c.closed(), st
    return "two good requests then a bad one in one write: 200, 200, 400, closed"

def slow_clients(n, secs, want408):
    """n connections trickle a header byte each every 100 ms; meanwhile a normal
    client opens a connection and makes a request every 100 ms. Each trickler is
    watched for a 408 and the close."""
    head = b"GET / HTTP/1.1\r\nHost: t\r\nX-Slow: " + b"s" * 100000
    slow = []
    for i in range(n):
        s = socket.create_connection(("127.0.0.1", PORT), timeout=5); s.setblocking(False)
        slow.append({"s": s, "pos": 0, "t0": time.monotonic(), "rx": b"", "end": None})
    lat = []; t0 = time.monotonic(); nxt = t0
    while time.monotonic() - t0 < secs:
        now = time.monotonic()
        if now >= nxt:
            nxt += 0.1
            for c in slow:
                if c["end"] is None:
                    try:
                        c["s"].send(head[c["pos"]:c["pos"] + 1]); c["pos"] += 1
                    except (BlockingIOError, BrokenPipeError, ConnectionResetError):
                        pass
            a = time.monotonic()
            k = Conn(); k.send(GET); k.ok(); k.s.close()
            lat.append(time.monotonic() - a)
        r, _, _ = select.select([c["s"] for c in slow if c["end"] is None], [], [], max(0, nxt - time.monotonic()))
        for c in slow:
            if c["s"] in r:
                try:
                    d = c["s"].recv(4096)
                except ConnectionResetError:
                    d = b""
                c["rx"] += d
                if not d:
                    c["end"] = time.monotonic() - c["t0"]
    got408 = [c for c in slow if c["rx"].startswith(b"HTTP/1.1 408 ") and c["end"] is not None]
    early = [c for c in slow if c["end"] is not None]
    for c in slow:
        c["s"].close()
    worst = max(lat)
    assert len(lat) >= secs * 5, "only %d normal requests in %.1f s" % (len(lat), secs)
    assert worst < 1.0, "a normal request took %.3f s" % worst
    if want408:
        assert len(got408) == n, "%d of %d got 408 and a close; e.g. %r" % (len(got408), n, [c["rx"][:40] for c in slow if c not in got408][:3])
        ends = sorted(c["end"] for c in got408)
        assert ends[0] >= 0.9, "a 408 after %.2f s, before the 1 s timeout" % ends[0]
        return "%d trickling connections: all got 408 and were closed %.1f..%.1f s after opening; %d normal requests, slowest %.0f ms" % (n, ends[0], ends[-1], len(lat), worst * 1e3)
    assert not early, "%d trickling connections ended early: %r" % (len(early), early[0]["rx"][:60])
    return "%d trickling connections held %.0f s; %d normal requests meanwhile, slowest %.0f ms" % (n, secs, len(lat), worst * 1e3)

def t_idle():
    c = Conn(); c.send(GET); c.ok()
    a = time.monotonic()
    assert c.closed(timeout=4), "idle connection not closed"
    idle = time.monotonic() - a
    assert 0.8 <= idle <= 3.0, "closed after %.2f s of idleness (--idle-timeout 1)" % idle
    k = Conn()  # active: a request every 0.3 s for 2.5 s, kept open throughout
    for i in range(8):
        k.send(GET); k.ok(); time.sleep(0.3)
    k.still_open(0.1)
    q = Conn(); a = time.monotonic()  # opens and says nothing: the head timeout, 408
    st, h, b = q.response()
    dt = time.monotonic() - a
    assert st == 408 and q.closed() and 0.8 <= dt <= 3.0, (st, dt)
    return "idle closed after %.1f s; active kept; silent one 408 after %.1f s" % (idle, dt)

def t_slow_body():
    c = Conn(); c.send(b"POST / HTTP/1.1\r\nContent-Length: 100\r\n\r\n" + b"z" * 10)
    a = time.monotonic()
    st, h, b = c.response()
    dt = time.monotonic() - a
    assert st == 200, st  # the head was complete: its response comes at once
    st, h, b = c.response()
    dt = time.monotonic() - a
    assert st == 408 and c.closed() and 0.8 <= dt <= 3.0, (st, dt)
    return "a body stalled: 200 for its head, then 408 after %.1f s, closed" % dt

def t_never_reads():
    s = connect()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
    s.sendall(b"GET / HTTP/1.1\r\n\r\n" * 200)  # 200 x 1 MB of responses, never read
    a = time.monotonic()
    while time.monotonic() - a < 6:
        err = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)  # ECONNRESET once the server aborts
        if err:
            break
        time.sleep(0.05)
    dt = time.monotonic() - a
    assert err == errno.ECONNRESET, "no reset after %.1f s (SO_ERROR %d)" % (dt, err)
    assert 0.9 <= dt <= 4.0, "reset after %.2f s, wanted the idle timeout (1 s, or 2 while the kernel took bytes)" % dt
    return "a client that pipelines 200 requests for 1 MB each and reads nothing: reset after %.1f s" % dt

def rss_lines(path):
    return [int(m) for m in re.findall(r": stats: .* rss (\d+) KiB", open(path).read())]

def t_pipeline_big(stats_path, n):
    n = int(n)
    time.sleep(1.1)
    base = rss_lines(stats_path)[-1]
    c = Conn()
    c.send(b"GET / HTTP/1.1\r\n\r\n" * n)  # n x 1 MB of responses
    time.sleep(1.5)  # not reading: the server must hold the requests, not queue n MB
    for i in range(n):
        st, h, b = c.response()
        assert st == 200 and len(b) == 1000000 and b == b"x" * 1000000, (i, st, len(b))
    c.still_open()
    time.sleep(1.1)
    peak = max(rss_lines(stats_path))
    assert peak - base < 32 * 1024, "rss grew by %d KiB" % (peak - base)
    return "%d requests for 1 MB pipelined in one write, read after 1.5 s: all %d MB intact; server rss +%d KiB" % (n, n, peak - base)

mode = sys.argv[1]
try:
    print(globals()["t_" + mode](*sys.argv[3:]) if mode != "slow_clients" else
          slow_clients(int(sys.argv[3]), float(sys.argv[4]), int(sys.argv[5])))
except Exception as e:
    print("error: %s: %s" % (type(e).__name__, e))
    sys.exit(1)
EOF

# py NAME MODE ARGS...: the python client against $port; passes on exit 0.
py() {
    local name=$1 out; shift
    if out=$(timeout 30 python3 "$tmp/client.py" "$1" "$port" "${@:2}" 2>&1); then pass "$name ($out)"
    else fail "$name" "$(printf '%s' "$out" | tail -3 | tr '\n' ' ')"; fi
}

if ! start basic --body 'sysnet test body
' --stats; then
    fail serve_start "no listening line: $(head -c 300 "$tmp/basic.err")"; summary; exit
fi
pass serve_start
py serve_get get
py serve_keepalive keepalive
py serve_pipeline pipeline
py serve_split_head_then_batch split_then_batch
py serve_http10 http10
py serve_connection_close conn_close
py serve_body_skipped body
for case in bad_request_line no_colon blank_before_colon control_char two_lengths length_and_chunked bad_length \
            head_too_long too_many_headers http2 h2_preface http09_version chunked; do
    py "serve_refuse_$case" refuse "$case"
done
py serve_refuse_split refuse_split
py serve_refuse_after_good refuse_after_good
py serve_slowloris_default 'slow_clients' 200 3 0
if have wrk; then
    out=$(wrk -t1 -c10 -d1s "http://127.0.0.1:$port/" 2>&1)
    reqs=$(printf '%s\n' "$out" | sed -n 's/^ *\([0-9]*\) requests in .*/\1/p')
    if [ "${reqs:-0}" -gt 0 ] && ! printf '%s\n' "$out" | grep -qE 'Socket errors|Non-2xx'; then
        pass "serve_wrk ($reqs requests in 1 s, no socket errors, all 2xx)"
    else
        fail serve_wrk "$(printf '%s' "$out" | tr '\n' ' ' | head -c 400)"
    fi
else
    skip serve_wrk "wrk not installed"
fi
stop basic

# The timeouts, short.
if start timeouts --body 'sysnet test body
' --header-timeout 1 --idle-timeout 1; then
    py serve_slowloris_408 slow_clients 200 3 1
    py serve_idle_timeout idle
    py serve_slow_body_408 slow_body
    stop timeouts
else
    fail serve_timeouts_start "$(head -c 300 "$tmp/timeouts.err")"
fi
if start noread --size 1000000 --idle-timeout 1 --high-water 65536; then
    py serve_client_never_reads never_reads
    stop noread
else
    fail serve_noread_start "$(head -c 300 "$tmp/noread.err")"
fi
if start big --size 1000000 --high-water 65536 --stats; then
    py serve_pipeline_big_responses pipeline_big "$tmp/big.err" 40
    stop big
else
    fail serve_big_start "$(head -c 300 "$tmp/big.err")"
fi
# The same requests on the other backends.
for b in uring poll; do
    if ! start "be_$b" --backend "$b" --body 'sysnet test body
'; then
        if grep -q 'cannot open the' "$tmp/be_$b.err"; then skip "serve_backend_$b" "$(head -1 "$tmp/be_$b.err")"
        else fail "serve_backend_$b" "$(head -c 300 "$tmp/be_$b.err")"; fi
        continue
    fi
    py "serve_${b}_get" get
    py "serve_${b}_pipeline" pipeline
    py "serve_${b}_split_head_then_batch" split_then_batch
    py "serve_${b}_body_skipped" body
    py "serve_${b}_refuse_after_good" refuse_after_good
    stop "be_$b"
done
summary
