#!/usr/bin/env bash
# tests/net/test_scan.sh — `sysnet scan` between two network namespaces joined by
# a veth pair (198.18.5.1/24 scans 198.18.5.2/24, which listens on 22, 80, 8080
# and 9000): exactly the listening ports are open and the rest closed; the same
# under 20% loss of what A sends (netem, or an nftables random-drop rule where
# the kernel has no netem) with --retries 3; a host that does not exist
# (198.18.5.3: no ARP answer) is filtered; -T json parses; no CAP_NET_RAW is
# a one-line error with a hint. Usage errors first (they need no root).
# Traffic stays inside the namespaces; every scan is bounded by `timeout`.
set -u
cd "$(dirname "$0")/../.."
. tests/lib.sh


# ---- the command line (no privileges, no packets) ----
expect scan_help 0 'usage: sysnet scan' "$SYSNET" scan --help
expect scan_no_ports 2 'no ports' "$SYSNET" scan 198.18.5.2
expect scan_no_targets 2 'no targets' "$SYSNET" scan -p 80
expect scan_bad_port 2 "ports are numbers 1 to 65535" "$SYSNET" scan 198.18.5.2 -p 0
expect scan_bad_range 2 "low to high" "$SYSNET" scan 198.18.5.2 -p 90-80
expect scan_bad_cidr 2 "CIDR prefix is /0 to /32" "$SYSNET" scan 198.18.5.0/33 -p 80
expect scan_name 2 "names are not resolved" "$SYSNET" scan example.com -p 80
expect scan_ipv6 2 "IPv6 targets are not supported" "$SYSNET" scan 2001:2::1 -p 80
expect scan_too_big 2 'more than 2\^24: add --force' "$SYSNET" scan 198.18.0.0/15 -p 1-200
expect scan_way_too_big 2 'more than 2\^28' "$SYSNET" scan 198.18.0.0/15 -p 1-65535 --force
expect scan_bad_rate 2 '--rate wants' "$SYSNET" scan 198.18.5.2 -p 80 --rate 0
expect scan_bad_rate_max 2 '--rate wants' "$SYSNET" scan 198.18.5.2 -p 80 --rate 1000001
expect scan_bad_retries 2 '--retries wants' "$SYSNET" scan 198.18.5.2 -p 80 --retries 11
expect scan_bad_T 2 '-T wants text or json' "$SYSNET" scan 198.18.5.2 -p 80 -T xml
expect scan_bad_S 2 '-S wants an IPv4 address' "$SYSNET" scan 198.18.5.2 -p 80 -S nope
expect scan_bad_e 1 'no such interface' "$SYSNET" scan 198.18.5.2 -p 80 -e sn-no-such-if0
expect scan_unknown_option 2 'unknown option' "$SYSNET" scan 198.18.5.2 -p 80 --bogus

# ---- the namespaces ----
if ! need_root; then skip scan_ns "needs root (network namespaces, raw sockets)"; summary; exit; fi
for t in ip python3 timeout; do
    if ! have $t; then skip scan_ns "$t missing"; summary; exit; fi
done

A=sn-scan-a-$$; B=sn-scan-b-$$; VA=sn-sa$$; VB=sn-sb$$
tmp=$(mktemp -d); lpid=
cleanup() {
    [ -n "$lpid" ] && kill "$lpid" 2>/dev/null
    ip netns del "$A" 2>/dev/null; ip netns del "$B" 2>/dev/null
    rm -rf "$tmp"
}
trap cleanup EXIT

if ! { ip netns add "$A" && ip netns add "$B" &&
       ip link add "$VA" netns "$A" type veth peer name "$VB" netns "$B" &&
       ip -n "$A" addr add 198.18.5.1/24 dev "$VA" && ip -n "$B" addr add 198.18.5.2/24 dev "$VB" &&
       ip -n "$A" link set lo up && ip -n "$B" link set lo up &&
       ip -n "$A" link set "$VA" up && ip -n "$B" link set "$VB" up; } 2>"$tmp/err"; then
    skip scan_ns "cannot make namespaces: $(head -c 200 "$tmp/err")"; summary; exit
fi

# The listeners: one process, four sockets, gone with the trap (or after 120 s).
ip netns exec "$B" python3 -c '
import socket, sys, time
socks = []
for p in (22, 80, 8080, 9000):
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("198.18.5.2", p))
    s.listen(128)
    socks.append(s)
print("ready", flush=True)
time.sleep(120)
' > "$tmp/listen" 2>&1 &
lpid=$!
for _ in $(seq 50); do grep -q ready "$tmp/listen" 2>/dev/null && break; sleep 0.1; done
if ! grep -q ready "$tmp/listen"; then fail scan_ns "listeners did not start: $(head -c 200 "$tmp/listen")"; summary; exit; fi

scan() { # OUT ARGS...: run a scan in A, bounded in time; stdout to OUT, stderr to OUT.err
    local out=$1; shift
    ip netns exec "$A" timeout 30 "$SYSNET" scan "$@" > "$out" 2> "$out.err"
}
open_ports() { awk '$1 == "open" && $2 == "tcp" { print $3 }' "$1" | sort -n | tr '\n' ' '; }
show() { sed -n '/^HOST/,$p' "$1" | sed 's/^/# /'; } # the table and summary, for the log
clean() { ! grep -qE 'AddressSanitizer|runtime error' "$1" "$1.err"; }
WANT="22 80 8080 9000 "

# 1. No loss: exactly the listening ports open, every other port closed.
scan "$tmp/s1" 198.18.5.2 -p 1-1024,8000-9100 --rate 5000 -q; rc=$?
show "$tmp/s1"
if [ $rc != 0 ] || ! clean "$tmp/s1"; then fail scan_open_closed "exit $rc: $(head -c 300 "$tmp/s1.err")"
elif [ "$(open_ports "$tmp/s1")" != "$WANT" ]; then fail scan_open_closed "open: $(open_ports "$tmp/s1")"
elif ! grep -q '^scanned 1 host x 2125 ports: 4 open, 2121 closed, 0 filtered$' "$tmp/s1"; then
    fail scan_open_closed "summary: $(grep '^scanned' "$tmp/s1")"
else pass scan_open_closed; fi

# 2. 20% of what A sends is lost; three retries still find exactly the open ports.
loss=
if ip netns exec "$A" tc qdisc add dev "$VA" root netem loss 20% 2>/dev/null; then
    loss="netem loss 20% on $VA"
elif have nft && ip netns exec "$A" nft -f - 2>/dev/null <<'EOF'
table ip sn_scan_loss {
    chain out {
        type filter hook output priority 0; policy accept;
        meta l4proto tcp numgen random mod 100 < 20 drop
    }
}
EOF
then
    loss="nft numgen random drop of 20% of A's TCP output (no netem in this kernel)"
fi
if [ -z "$loss" ]; then
    skip scan_lossy_retries "neither tc netem (CONFIG_NET_SCH_NETEM) nor nft (nftables) can drop packets here"
else
    echo "# loss: $loss"
    scan "$tmp/s2" 198.18.5.2 -p 1-1024,8000-9100 --rate 5000 --retries 3 -q; rc=$?
    show "$tmp/s2"
    retried=$(sed -n 's/^sent [0-9]* SYNs (\([0-9]*\) retries).*/\1/p' "$tmp/s2")
    if [ $rc != 0 ] || ! clean "$tmp/s2"; then fail scan_lossy_retries "exit $rc: $(head -c 300 "$tmp/s2.err")"
    elif [ "$(open_ports "$tmp/s2")" != "$WANT" ]; then fail scan_lossy_retries "open: $(open_ports "$tmp/s2")"
    elif ! grep -qE '^scanned 1 host x 2125 ports: 4 open, [0-9]+ closed, [0-9]+ filtered$' "$tmp/s2"; then
        fail scan_lossy_retries "summary: $(grep '^scanned' "$tmp/s2")"
    elif [ "${retried:-0}" -lt 1 ]; then fail scan_lossy_retries "no retries were needed: was anything lost?"
    else pass scan_lossy_retries; fi
    ip netns exec "$A" tc qdisc del dev "$VA" root 2>/dev/null
    ip netns exec "$A" nft delete table ip sn_scan_loss 2>/dev/null
fi

# 3. A range with a host that does not exist: its ports are filtered.
scan "$tmp/s3" 198.18.5.2-198.18.5.3 -p 22,80,81 --rate 1000 --all -q; rc=$?
show "$tmp/s3"
got=$(grep -E '^(open|closed|filtered) tcp ' "$tmp/s3" | sort | tr '\n' ';')
want="closed tcp 81 198.18.5.2;filtered tcp 22 198.18.5.3;filtered tcp 80 198.18.5.3;filtered tcp 81 198.18.5.3;open tcp 22 198.18.5.2;open tcp 80 198.18.5.2;"
if [ $rc != 0 ] || ! clean "$tmp/s3"; then fail scan_filtered "exit $rc: $(head -c 300 "$tmp/s3.err")"
elif [ "$got" != "$want" ]; then fail scan_filtered "got: $got"
elif ! grep -q '^scanned 2 hosts x 3 ports: 2 open, 1 closed, 3 filtered$' "$tmp/s3"; then
    fail scan_filtered "summary: $(grep '^scanned' "$tmp/s3")"
else pass scan_filtered; fi

# 4. -T json (and -e: both sockets bound to the veth): one object per (address,
#    port), every line valid JSON.
scan "$tmp/s4" 198.18.5.2-198.18.5.3 -p 22,80,81,8080 -T json --retries 1 --wait 1 -e "$VA"; rc=$?
if [ $rc != 0 ] || ! clean "$tmp/s4"; then fail scan_json "exit $rc: $(head -c 300 "$tmp/s4.err")"
elif python3 - "$tmp/s4" <<'EOF'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
got = {(r["ip"], r["port"]): r["status"] for r in rows}
assert len(rows) == 8 == len(got), rows
want = {("198.18.5.2", 22): "open", ("198.18.5.2", 80): "open", ("198.18.5.2", 8080): "open",
        ("198.18.5.2", 81): "closed"}
for p in (22, 80, 81, 8080):
    want[("198.18.5.3", p)] = "filtered"
assert got == want, got
assert all(r["proto"] == "tcp" for r in rows)
assert all(r["ttl"] == 64 for r in rows if r["status"] != "filtered")
EOF
then pass scan_json
else fail scan_json "python3 could not read the JSON: $(head -c 300 "$tmp/s4")"; fi
grep -q '^scanned 2 hosts x 4 ports: 3 open, 1 closed, 4 filtered$' "$tmp/s4.err" \
    && pass scan_json_summary_on_stderr || fail scan_json_summary_on_stderr "$(head -c 300 "$tmp/s4.err")"

# 5. Without CAP_NET_RAW: a one-line error with the hint, exit 1.
if have setpriv; then
    expect scan_eperm_hint 1 'CAP_NET_RAW' ip netns exec "$A" setpriv --reuid=65534 --regid=65534 \
        --clear-groups --inh-caps=-all --bounding-set=-all "$SYSNET" scan 198.18.5.2 -p 80 -q
else
    skip scan_eperm_hint "setpriv missing"
fi
summary
