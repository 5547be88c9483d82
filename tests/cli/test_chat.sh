#!/usr/bin/env bash
# tests/cli/test_chat.sh — `sysnet chat` from the outside: usage errors (exit 2, one
# line), a port already taken (exit 1); then with python3 socket clients, on the
# current-thread runtime and on 2 runtime threads: three clients see each other's
# lines in order (and not their own), joins / nick changes / leaves are announced,
# an overlong line gets an error line and is dropped while the next line passes,
# /quit closes; a client that never reads does not block the others (every line
# reaches the two readers, in order, and the server counts drops for the stuck one);
# SIGTERM with clients connected closes them, prints totals, exits 0; no sanitizer
# report. Loopback only, no root; about 10-20 s under ASan.
set -u
cd "$(dirname "$0")/../.."
. tests/lib.sh
sn_tmp_pids

expect chat_help 0 'usage: sysnet chat' "$SYSNET" chat --help
expect chat_help_policy 0 'DROPPED for that client only' "$SYSNET" chat --help
sn_usage_err chat_no_listen 'give the address to listen on' chat
sn_usage_err chat_bad_listen "--listen 'nowhere'" chat --listen nowhere
sn_usage_err chat_bad_queue '--queue wants 1..65536' chat -l 127.0.0.1:0 --queue 0
sn_usage_err chat_bad_threads '--threads wants 0..64' chat -l 127.0.0.1:0 --threads 99
sn_usage_err chat_unknown_option "unknown option '--bogus'" chat -l 127.0.0.1:0 --bogus
sn_usage_err chat_extra_argument "unexpected argument 'x'" chat -l 127.0.0.1:0 x
sn_usage_err chat_missing_value "needs a value" chat -l 127.0.0.1:0 --queue

if ! have python3; then
    skip chat "python3 missing (the clients are python)"; summary; exit
fi

# start NAME ARGS...: `sysnet chat` in the background; sets $spid and $port.
# stop NAME: SIGTERM; pass NAME_sigterm when it exits 0 within 15 s with a "stopped: 0
# clients" line and no sanitizer report (tests/lib.sh).
start() { sn_start chat "$@"; }
stop() { sn_stop "${1}_sigterm" TERM "$1" 'stopped: 0 clients'; }

cat > "$tmp/chat.py" <<'EOF'
import socket, sys, time, threading
PORT = int(sys.argv[2])

class C:
    def __init__(self, rcvbuf=None):
        self.s = socket.socket()
        if rcvbuf:
            self.s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.s.connect(("127.0.0.1", PORT))
        self.s.settimeout(10)
        self.f = self.s.makefile("rb")
        w = self.line()
        assert w.startswith(b"* welcome: you are "), w
        self.id = w.split()[4].decode()
    def line(self):
        l = self.f.readline()
        assert l.endswith(b"\n"), "EOF or a cut line: %r" % l[:60]
        return l
    def chat(self):
        """The next line that is not an announcement."""
        while True:
            l = self.line()
            if not l.startswith(b"* "):
                return l
    def until(self, want):
        """Lines up to one equal to want (announcements and others skipped)."""
        seen = []
        while True:
            l = self.line()
            if l == want:
                return seen
            seen.append(l)
    def send(self, b):
        self.s.sendall(b)

def t_three():
    a = C(); b = C(); c = C()
    # a saw b and c join; b saw c join: sync on those announcements
    a.until(b"* %s joined\n" % b.id.encode()); a.until(b"* %s joined\n" % c.id.encode())
    b.until(b"* %s joined\n" % c.id.encode())
    # 10 rounds: a says 20 lines and b 7; then everyone reads them (a burst stays
    # below the inbox size, 64, so that nothing is dropped for these fast readers)
    n, rounds, per, per_b = 200, 10, 20, 7
    ga, gb, gc = [], [], []
    for r in range(rounds):
        for i in range(per):
            a.send(b"from a %d\n" % (r * per + i))
            if i < per_b:
                b.send(b"from b %d\n" % (r * per_b + i))
        for who, got, k in ((b, gb, per), (c, gc, per + per_b), (a, ga, per_b)):
            for _ in range(k):
                got.append(who.chat())
    want_a = [b"%s: from a %d\n" % (a.id.encode(), i) for i in range(n)]
    want_b = [b"%s: from b %d\n" % (b.id.encode(), i) for i in range(rounds * per_b)]
    assert gb == want_a, "b: a's lines wrong or out of order: %r" % [x for x in gb if x not in want_a][:3]
    assert [x for x in gc if x.startswith(a.id.encode() + b": ")] == want_a, "c: a's lines"
    assert [x for x in gc if x.startswith(b.id.encode() + b": ")] == want_b, "c: b's lines"
    assert ga == want_b, "a: b's lines"
    # nick, overlong line, then a normal one
    a.send(b"/nick alice\n")
    for who in (a, b, c):
        who.until(b"* %s is now alice\n" % a.id.encode())
    a.send(b"y" * 5000 + b"\nafter the long one\n")
    assert a.until(b"* error: line longer than 4096 bytes: dropped\n") == []
    for who in (b, c):
        l = who.chat()
        assert l == b"alice: after the long one\n", "got %r" % l[:80]
    a.send(b"z" * 4096 + b"\r\n")  # exactly the limit (and CRLF): passes
    for who in (b, c):
        l = who.chat()
        assert l == b"alice: " + b"z" * 4096 + b"\n", "the 4096-byte line: %r" % l[:40]
    a.send(b"/nick bad name!\n")
    assert a.line().startswith(b"* error: a nick is"), "bad nick accepted"
    # /quit: c leaves, the others hear it
    c.send(b"/quit\n")
    c.s.settimeout(5)
    rest = c.s.recv(100000)
    while rest:
        rest = c.s.recv(100000)
    for who in (a, b):
        who.until(b"* %s left\n" % c.id.encode())
    # a plain disconnect is announced too
    b.f.close(); b.s.close()  # (the makefile holds the socket open too)
    a.until(b"* %s left\n" % b.id.encode())
    a.s.close()
    return "3 clients: %d + %d lines in order, nick, overlong line, 4096-byte line, /quit and a disconnect announced" % (n, len(want_b))

def t_stuck():
    """d never reads (a small receive buffer); a sends in batches; b and c must get
    every line, in order, whatever d does."""
    d = C(rcvbuf=4096)
    a = C(); b = C(); c = C()
    a.until(b"* %s joined\n" % c.id.encode()); b.until(b"* %s joined\n" % c.id.encode())
    body = b"m" * 4000
    batches, per = 40, 25
    t0 = time.monotonic()
    for k in range(batches):
        for i in range(per):
            a.send(b"%d %s\n" % (k * per + i, body))
        for who in (b, c):
            for i in range(per):
                l = who.chat()
                want = b"%s: %d %s\n" % (a.id.encode(), k * per + i, body)
                assert l == want, "batch %d line %d: %r" % (k, i, l[:40])
    secs = time.monotonic() - t0
    # now d reads what it has: a prefix-ordered subset of a's lines, then nothing more
    d.s.settimeout(1.0)
    got = []
    try:
        while True:
            l = d.f.readline()
            if not l:
                break
            if not l.startswith(b"* "):
                got.append(int(l.split(b": ")[1].split()[0]))
            if len(got) and got[-1] == batches * per - 1:
                break
    except socket.timeout:
        pass
    assert got == sorted(got), "d's lines out of order"
    for x in (a, b, c, d):
        x.s.close()
    return "%d lines of 4 KB to 2 readers in %.1f s while a client never read; it got %d of them afterwards, in order" % (
        batches * per, secs, len(got))

def t_hold():
    a = C(); b = C()
    a.until(b"* %s joined\n" % b.id.encode())
    print("ready", flush=True)
    a.s.settimeout(15); b.s.settimeout(15)
    for x in (a, b):
        while True:
            d = x.s.recv(4096)
            if not d:
                break
    return "both clients closed by the server"

try:
    print(globals()["t_" + sys.argv[1]]())
except Exception as e:
    print("error: %s: %s" % (type(e).__name__, e)); sys.exit(1)
EOF
py() { sn_py "$tmp/chat.py" "$@"; }

taken=$(sn_free_port)
if start chat_holder --listen "127.0.0.1:$taken"; then
    expect chat_cannot_listen 1 "cannot listen on 127.0.0.1:$taken" "$SYSNET" chat --listen "127.0.0.1:$taken"
    stop chat_holder
else fail chat_holder "did not start: $(head -c 300 "$tmp/chat_holder.err")"; fi

for th in 0 2; do
    name=chat_t$th
    if ! start "$name" --listen 127.0.0.1:0 --threads "$th" --queue 64 --stats; then
        fail "$name" "did not start: $(head -c 300 "$tmp/$name.err")"; continue
    fi
    py "${name}_three_clients" three
    py "${name}_never_reader" stuck
    sleep 1.2
    last=$(grep ': stats: ' "$tmp/$name.err" | tail -1)
    dropped=$(printf '%s\n' "$last" | sed -n 's/.* \([0-9]*\) dropped (inbox full).*/\1/p')
    if [ "${dropped:-0}" -gt 0 ]; then pass "${name}_drops_counted ($dropped dropped for the stuck client)"
    else fail "${name}_drops_counted" "stats: $last"; fi
    # SIGTERM with two clients connected
    timeout 30 python3 "$tmp/chat.py" hold "$port" > "$tmp/hold.out" 2>&1 &
    hpid=$!
    for _ in $(seq 200); do [ -s "$tmp/hold.out" ] && break; sleep 0.05; done
    sleep 0.2
    stop "$name"
    wait $hpid
    grep -q 'both clients closed by the server' "$tmp/hold.out" && pass "${name}_stop_closes_clients" ||
        fail "${name}_stop_closes_clients" "$(cat "$tmp/hold.out")"
done
summary
