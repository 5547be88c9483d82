#!/usr/bin/env python3
"""bench/loop/echo_check.py — check that an echo server echoes, before it is timed.

    python3 bench/loop/echo_check.py 127.0.0.1:7000 [-c 1000] [--big 4194304]

1. one connection: messages of 1 B, 100 B, 64 KiB and --big bytes (default 4 MiB,
   more than the socket buffers hold, so the server must cope with partial writes
   while the client is still sending) come back byte for byte;
2. -c connections (default 1000) are opened and all held open at once; each sends
   a message of its own and must get exactly it back; then all are closed.
Prints one line per part and exits 0 if every byte came back. Loopback only."""
import argparse
import os
import resource
import selectors
import socket
import sys
import time


def parse(addr):
    host, _, port = addr.rpartition(":")
    return host.strip("[]"), int(port)


def echo_stream(addr, payload, timeout):
    """Send payload and read it back on one connection, interleaving both ways."""
    s = socket.create_connection(addr, timeout=timeout)
    s.setblocking(False)
    sel = selectors.DefaultSelector()
    sel.register(s, selectors.EVENT_READ | selectors.EVENT_WRITE)
    sent, got = 0, bytearray()
    deadline = time.monotonic() + timeout
    view = memoryview(payload)
    while len(got) < len(payload):
        if time.monotonic() > deadline:
            raise TimeoutError(f"{len(got)}/{len(payload)} bytes back")
        for key, ev in sel.select(0.5):
            if ev & selectors.EVENT_WRITE and sent < len(payload):
                try:
                    sent += s.send(view[sent:sent + 262144])
                except BlockingIOError:
                    pass
                if sent == len(payload):
                    sel.modify(s, selectors.EVENT_READ)
            if ev & selectors.EVENT_READ:
                try:
                    b = s.recv(262144)
                except BlockingIOError:
                    continue
                if not b:
                    raise ConnectionError("server closed the connection")
                got += b
    s.close()
    return bytes(got) == payload


def many(addr, n, timeout):
    socks = []
    for i in range(n):
        s = socket.socket(socket.AF_INET6 if ":" in addr[0] else socket.AF_INET, socket.SOCK_STREAM)
        s.settimeout(timeout)
        s.connect(addr)
        socks.append(s)
    # All n are open now; each sends its own message, then all are read back.
    sel = selectors.DefaultSelector()
    want = {}
    for i, s in enumerate(socks):
        msg = b"conn %06d of %06d\n" % (i, n)
        s.sendall(msg)
        s.setblocking(False)
        want[s] = (msg, bytearray())
        sel.register(s, selectors.EVENT_READ)
    left = n
    deadline = time.monotonic() + timeout
    while left:
        if time.monotonic() > deadline:
            raise TimeoutError(f"{left} of {n} connections did not get their echo")
        for key, _ in sel.select(0.5):
            s = key.fileobj
            b = s.recv(4096)
            if not b:
                raise ConnectionError("server closed a connection")
            msg, got = want[s]
            got += b
            if len(got) >= len(msg):
                if bytes(got) != msg:
                    return False
                sel.unregister(s)
                left -= 1
    for s in socks:
        s.close()
    return True


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("addr")
    ap.add_argument("-c", type=int, default=1000)
    ap.add_argument("--big", type=int, default=4 << 20)
    ap.add_argument("--timeout", type=float, default=20)
    a = ap.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < a.c + 64:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, a.c + 64), hard))
    addr = parse(a.addr)
    ok = True
    for size in (1, 100, 65536, a.big):
        payload = os.urandom(size)
        t = time.monotonic()
        r = echo_stream(addr, payload, a.timeout)
        print(f"{'ok  ' if r else 'FAIL'} echo {size} B on one connection ({(time.monotonic() - t) * 1e3:.1f} ms)")
        ok &= r
    t = time.monotonic()
    r = many(addr, a.c, a.timeout)
    print(f"{'ok  ' if r else 'FAIL'} {a.c} connections open at once, one message each ({(time.monotonic() - t) * 1e3:.0f} ms)")
    ok &= r
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
