#!/usr/bin/env bash
# tests/net/test_ping_trace.sh — `sysnet ping` and `sysnet trace` across a router:
#
#   h1 (198.18.1.1, 2001:2:0:1::1) -- r (198.18.1.254 | 198.19.2.254,
#        2001:2:0:1::fe | 2001:2:0:2::fe; forwarding) -- h2 (198.19.2.2, 2001:2:0:2::2)
#
# three network namespaces joined by two veth pairs. Checks: ping h1 -> h2 gets
# 3 replies from h2's kernel (TTL 63: one router) and statistics lines that parse,
# v4 and v6; an address with no host gives 100% loss and exit 1 within -W; -t 1
# gets "Time to live exceeded" / "Time exceeded: Hop limit" from the router;
# duplicates (netem duplicate) are marked (DUP!) and reordering (netem jitter)
# loses nothing; SIGINT prints the statistics; `trace` in UDP, ICMP and TCP mode
# (open port: SYN-ACK; closed port: RST) shows the router as hop 1 and h2 as
# hop 2, v4 and v6; without CAP_NET_RAW ping and trace exit 1 with the hint.
# Usage errors first (they need no root). Traffic stays inside the namespaces;
# every run is bounded by counts, -W/-w and `timeout`.
set -u
cd "$(dirname "$0")/../.."
. tests/lib.sh


# ---- the command line (no privileges, no packets) ----
expect ping_help 0 'usage: sysnet ping' "$SYSNET" ping --help
expect ping_no_host 2 'no host' "$SYSNET" ping
expect ping_name 2 'names are not resolved' "$SYSNET" ping example.com
expect ping_port 2 'without a port' "$SYSNET" ping 198.18.1.1:80
expect ping_bad_count 2 '-c wants' "$SYSNET" ping -c 0 198.18.1.1
expect ping_bad_interval 2 '-i wants' "$SYSNET" ping -i 0.0001 198.18.1.1
expect ping_bad_size 2 '-s wants' "$SYSNET" ping -s 70000 198.18.1.1
expect ping_bad_ttl 2 '-t wants' "$SYSNET" ping -t 0 198.18.1.1
expect ping_bad_family 2 'is not an IPv6 address' "$SYSNET" ping -6 198.18.1.1
expect ping_unknown_option 2 'unknown option' "$SYSNET" ping --bogus 198.18.1.1
expect trace_help 0 'usage: sysnet trace' "$SYSNET" trace --help
expect trace_no_host 2 'no host' "$SYSNET" trace
expect trace_name 2 'names are not resolved' "$SYSNET" trace example.com
expect trace_bad_q 2 '-q wants' "$SYSNET" trace -q 11 198.18.1.1
expect trace_bad_m 2 '-m wants' "$SYSNET" trace -m 0 198.18.1.1
expect trace_bad_f 2 'beyond -m' "$SYSNET" trace -f 9 -m 5 198.18.1.1
expect trace_bad_w 2 '-w wants' "$SYSNET" trace -w x 198.18.1.1
expect trace_bad_p 2 '-p wants' "$SYSNET" trace -T -p 0 198.18.1.1

# ---- the namespaces ----
if ! need_root; then skip ping_trace_ns "needs root (network namespaces, raw sockets)"; summary; exit; fi
for t in ip python3 timeout; do
    if ! have $t; then skip ping_trace_ns "$t missing"; summary; exit; fi
done

H1=sn-pt-h1-$$; R=sn-pt-r-$$; H2=sn-pt-h2-$$
tmp=$(mktemp -d); lpid=
cleanup() {
    [ -n "$lpid" ] && kill "$lpid" 2>/dev/null
    ip netns del "$H1" 2>/dev/null; ip netns del "$R" 2>/dev/null; ip netns del "$H2" 2>/dev/null
    rm -rf "$tmp"
}
trap cleanup EXIT

# Hosts route the other subnet through r. Rate limits of ICMP errors are off in
# r and h2 (per-namespace sysctls) so that back-to-back traces all get answers.
# No duplicate address detection (link-local addresses included: conf.default is
# read when the veths are made), so every address works at once.
if ! { ip netns add "$H1" && ip netns add "$R" && ip netns add "$H2" &&
       for ns in "$H1" "$R" "$H2"; do ip netns exec "$ns" sysctl -qw net.ipv6.conf.default.accept_dad=0 || exit 1; done &&
       ip link add sn-pt1a$$ netns "$H1" type veth peer name sn-pt1b$$ netns "$R" &&
       ip link add sn-pt2a$$ netns "$R" type veth peer name sn-pt2b$$ netns "$H2" &&
       for ns in "$H1" "$R" "$H2"; do ip -n "$ns" link set lo up || exit 1; done &&
       ip netns exec "$R" sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1 \
           net.ipv4.icmp_ratelimit=0 net.ipv6.icmp.ratelimit=0 &&
       ip netns exec "$H2" sysctl -qw net.ipv4.icmp_ratelimit=0 net.ipv6.icmp.ratelimit=0 &&
       ip -n "$H1" addr add 198.18.1.1/24 dev sn-pt1a$$ &&
       ip -n "$H1" addr add 2001:2:0:1::1/64 dev sn-pt1a$$ nodad &&
       ip -n "$R" addr add 198.18.1.254/24 dev sn-pt1b$$ &&
       ip -n "$R" addr add 2001:2:0:1::fe/64 dev sn-pt1b$$ nodad &&
       ip -n "$R" addr add 198.19.2.254/24 dev sn-pt2a$$ &&
       ip -n "$R" addr add 2001:2:0:2::fe/64 dev sn-pt2a$$ nodad &&
       ip -n "$H2" addr add 198.19.2.2/24 dev sn-pt2b$$ &&
       ip -n "$H2" addr add 2001:2:0:2::2/64 dev sn-pt2b$$ nodad &&
       ip -n "$H1" link set sn-pt1a$$ up && ip -n "$R" link set sn-pt1b$$ up &&
       ip -n "$R" link set sn-pt2a$$ up && ip -n "$H2" link set sn-pt2b$$ up &&
       ip -n "$H1" route add 198.19.2.0/24 via 198.18.1.254 &&
       ip -n "$H1" -6 route add 2001:2:0:2::/64 via 2001:2:0:1::fe &&
       ip -n "$H2" route add 198.18.1.0/24 via 198.19.2.254 &&
       ip -n "$H2" -6 route add 2001:2:0:1::/64 via 2001:2:0:2::fe; } 2>"$tmp/err"; then
    skip ping_trace_ns "cannot make namespaces: $(head -c 200 "$tmp/err")"; summary; exit
fi
in_h1() { timeout 30 ip netns exec "$H1" "$@"; }

# TCP listeners on h2 port 80 (v4 and v6) for trace -T; gone with the trap (or after 120 s).
ip netns exec "$H2" python3 -c '
import socket, time
a = socket.socket(); a.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
a.bind(("198.19.2.2", 80)); a.listen(64)
b = socket.socket(socket.AF_INET6); b.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
b.bind(("2001:2:0:2::2", 80)); b.listen(64)
print("ready", flush=True)
time.sleep(120)
' > "$tmp/listen" 2>&1 &
lpid=$!
for _ in $(seq 50); do grep -q ready "$tmp/listen" 2>/dev/null && break; sleep 0.1; done
grep -q ready "$tmp/listen" || fail tcp_listener "python listener did not start: $(head -c 200 "$tmp/listen")"
# ARP / neighbour discovery warm-up, so that no test starts with resolution delays.
in_h1 "$SYSNET" ping -c 1 -W 2 198.19.2.2 >/dev/null 2>&1; in_h1 "$SYSNET" ping -c 1 -W 2 2001:2:0:2::2 >/dev/null 2>&1

# The statistics of a run: "N packets transmitted, M received, P% packet loss, time Tms"
# and "rtt min/avg/max/mdev = a/b/c/d ms" with min <= avg <= max.
stats_ok() { # OUTPUT SENT RECEIVED
    printf '%s\n' "$1" | grep -qE "^$2 packets transmitted, $3 received, 0% packet loss, time [0-9]+ms$" &&
    printf '%s\n' "$1" | python3 -c '
import re, sys
m = [re.match(r"^rtt min/avg/max/mdev = ([0-9]+\.[0-9]{3})/([0-9]+\.[0-9]{3})/([0-9]+\.[0-9]{3})/([0-9]+\.[0-9]{3}) ms$", l) for l in sys.stdin]
m = [x for x in m if x]
assert len(m) == 1
mn, avg, mx, md = map(float, m[0].groups())
assert mn <= avg <= mx and md >= 0 and md <= mx - mn
'
}

for v in 4 6; do
    if [ $v = 4 ]; then dst=198.19.2.2 gw=198.18.1.254 none=198.19.2.77 tx='Time to live exceeded'
    else dst=2001:2:0:2::2 gw=2001:2:0:1::fe none=2001:2:0:2::77 tx='Time exceeded: Hop limit'; fi
    dre=$(printf '%s' "$dst" | sed 's/\./\\./g'); gre=$(printf '%s' "$gw" | sed 's/\./\\./g')

    # three replies from h2's kernel, one router away (ttl 63)
    if expect ping${v}_replies 0 "^64 bytes from $dre: icmp_seq=3 ttl=63 time=[0-9.]+ ms$" \
        in_h1 "$SYSNET" ping -c 3 -i 0.05 -W 2 "$dst"; then
        n=$(printf '%s\n' "$last_out" | grep -cE "^64 bytes from $dre: icmp_seq=[123] ttl=63 time=")
        if [ "$n" = 3 ] && stats_ok "$last_out" 3 3 &&
           printf '%s\n' "$last_out" | grep -qx -- "--- $dst ping statistics ---"; then pass ping${v}_stats
        else fail ping${v}_stats "replies $n, statistics: $(printf '%s' "$last_out" | tail -3)"; fi
    fi
    # -q: only the first line and the statistics
    if expect ping${v}_quiet 0 '^3 packets transmitted, 3 received' in_h1 "$SYSNET" ping -q -c 3 -i 0.01 "$dst"; then
        if printf '%s\n' "$last_out" | grep -q 'bytes from'; then fail ping${v}_quiet_lines "-q printed replies"
        else pass ping${v}_quiet_lines; fi
    fi
    # -s: bigger data, and a data size without room for the timestamp
    if [ $v = 4 ]; then head="^PING $dre \\($dre\\) 1000\\(1028\\) bytes of data\\.$"; else head="^PING $dre\\($dre\\) 1000 data bytes$"; fi
    expect ping${v}_header 0 "$head" in_h1 "$SYSNET" ping -c 1 -s 1000 "$dst"
    expect ping${v}_size 0 "^1008 bytes from $dre: icmp_seq=2 " in_h1 "$SYSNET" ping -c 2 -i 0.02 -s 1000 "$dst"
    expect ping${v}_size_small 0 "^12 bytes from $dre: icmp_seq=1 ttl=63$" in_h1 "$SYSNET" ping -c 1 -s 4 "$dst"
    # nobody there: 100% loss, exit 1, bounded by -W
    t0=$(date +%s%N)
    expect ping${v}_no_host 1 '^2 packets transmitted, 0 received, 100% packet loss' \
        in_h1 "$SYSNET" ping -c 2 -i 0.05 -W 1 "$none"
    el=$(( ($(date +%s%N) - t0) / 1000000 ))
    if [ "$el" -lt 2500 ]; then pass ping${v}_no_host_bounded; else fail ping${v}_no_host_bounded "took ${el} ms with -W 1"; fi
    # TTL 1: the router says so
    expect ping${v}_ttl1 1 "^From $gre icmp_seq=1 $tx$" in_h1 "$SYSNET" ping -c 1 -t 1 -W 1 "$dst" &&
        { printf '%s\n' "$last_out" | grep -qE '^1 packets transmitted, 0 received, \+1 errors, 100% packet loss' &&
          pass ping${v}_ttl1_stats || fail ping${v}_ttl1_stats "$(printf '%s' "$last_out" | tail -2)"; }
    # SIGINT: the statistics still come, exit 0 after replies (-c 100 bounds it to 5 s;
    # `ip netns exec` execs, so $! is ping itself)
    ip netns exec "$H1" "$SYSNET" ping -c 100 -i 0.05 "$dst" > "$tmp/int$v" 2>&1 & ppid=$!
    sleep 0.5; kill -INT "$ppid"; wait "$ppid"; rc=$?
    if [ $rc = 0 ] && grep -q -- "--- $dst ping statistics ---" "$tmp/int$v" &&
       grep -qE '^([1-9]|[1-9][0-9]) packets transmitted, [1-9][0-9]* received' "$tmp/int$v"; then pass ping${v}_sigint
    else fail ping${v}_sigint "exit $rc: $(tail -3 "$tmp/int$v")"; fi

    # trace in each mode: hop 1 the router, hop 2 the destination, then stop
    for mode in U I T; do
        name=trace${v}_$mode
        if expect $name 0 "^ 2  $dre  [0-9]+\.[0-9]{3} ms  [0-9]+\.[0-9]{3} ms  [0-9]+\.[0-9]{3} ms$" \
            in_h1 "$SYSNET" trace -$mode -n -w 1 -m 6 "$dst"; then
            if printf '%s\n' "$last_out" | grep -qE "^ 1  $gre  [0-9]+\.[0-9]{3} ms  [0-9]+\.[0-9]{3} ms  [0-9]+\.[0-9]{3} ms$" &&
               ! printf '%s\n' "$last_out" | grep -qE '^ 3 ' &&
               printf '%s\n' "$last_out" | head -1 | grep -qE "^traceroute to $dre \($dre\), 6 hops max, [0-9]+ byte packets$"
            then pass ${name}_hops; else fail ${name}_hops "$(printf '%s' "$last_out" | head -c 400)"; fi
        fi
    done
    # TCP to a closed port: the destination's RST ends the trace just the same
    expect trace${v}_T_closed 0 "^ 2  $dre  " in_h1 "$SYSNET" trace -T -p 81 -q 2 -w 1 -m 4 "$dst"
    # -f 2 starts at the destination; -q 1 one probe per hop
    expect trace${v}_first 0 "^ 2  $dre  [0-9.]+ ms$" in_h1 "$SYSNET" trace -I -f 2 -q 1 -w 1 "$dst"
    # nobody there: stars until -m, exit 1
    expect trace${v}_no_host 1 '^ 3  \* \*$' in_h1 "$SYSNET" trace -q 2 -w 0.3 -m 3 "$none"
done

# Duplicates and reordering, with netem on the router's side towards h2.
if ip netns exec "$R" tc qdisc add dev sn-pt2a$$ root netem duplicate 100% 2>/dev/null; then
    if expect ping_dup 0 '^64 bytes from 198\.19\.2\.2: icmp_seq=[0-9]+ ttl=63 time=[0-9.]+ ms \(DUP!\)$' \
        in_h1 "$SYSNET" ping -c 3 -i 0.05 -W 1 198.19.2.2; then
        if printf '%s\n' "$last_out" | grep -qE '^3 packets transmitted, 3 received, \+3 duplicates, 0% packet loss'
        then pass ping_dup_stats; else fail ping_dup_stats "$(printf '%s' "$last_out" | tail -2)"; fi
    fi
    ip netns exec "$R" tc qdisc change dev sn-pt2a$$ root netem delay 30ms 25ms
    if expect ping_reorder 0 '^20 packets transmitted, 20 received, 0% packet loss' \
        in_h1 "$SYSNET" ping -q -c 20 -i 0.005 -W 2 198.19.2.2; then
        in_h1 "$SYSNET" ping -c 20 -i 0.005 -W 2 2001:2:0:2::2 > "$tmp/reorder" 2>&1
        if grep -qE '^20 packets transmitted, 20 received, 0% packet loss' "$tmp/reorder" &&
           ! grep -q 'DUP' "$tmp/reorder"; then pass ping_reorder6
        else fail ping_reorder6 "$(tail -3 "$tmp/reorder")"; fi
    fi
    ip netns exec "$R" tc qdisc del dev sn-pt2a$$ root 2>/dev/null
else
    skip ping_dup "no netem in this kernel"
fi

# Without CAP_NET_RAW: one line with the hint, exit 1.
if have setpriv; then
    expect ping_eperm 1 '^sysnet ping: raw sockets need CAP_NET_RAW: run as root or `setcap cap_net_raw\+ep build/sysnet`$' \
        in_h1 setpriv --reuid=65534 --regid=65534 --clear-groups "$SYSNET" ping -c 1 198.19.2.2
    expect trace_eperm 1 '^sysnet trace: raw sockets need CAP_NET_RAW' \
        in_h1 setpriv --reuid=65534 --regid=65534 --clear-groups "$SYSNET" trace 198.19.2.2
else
    skip ping_eperm "setpriv missing"
fi
summary
