#!/usr/bin/env bash
# tests/peers/test_wire_tshark.sh — the packet layer checked against tshark.
#  (a) packets of every kind emitted by `wire` (sysnet lab) are written to a pcap;
#      tshark reads back the same value for every field sysnet knows, and finds
#      every checksum good; the edge set (bad/zero checksums, padding, cut
#      captures) gives the same fields too.
#  (b) real kernel traffic (ping, TCP handshake + data, UDP, IPv6, ARP/ND, ICMP
#      errors) between two network namespaces, captured by tcpdump (whole and cut
#      at a snaplen), gives the same `-T fields` output from sysnet and tshark.
set -u
cd "$(dirname "$0")/../.."
. tests/lib.sh
TSHARK_OPTS=(-o ip.check_checksum:TRUE -o tcp.check_checksum:TRUE -o udp.check_checksum:TRUE
             -o ip.defragment:FALSE)
tmp=$(mktemp -d)
NS1=sn-wire-a-$$ NS2=sn-wire-b-$$
cleanup() { ip netns del "$NS1" 2>/dev/null; ip netns del "$NS2" 2>/dev/null; rm -rf "$tmp"; }
trap cleanup EXIT

if ! have tshark; then skip tshark_fields "tshark not installed"; summary; exit; fi
mapfile -t FIELDS < <("$SYSNET" sniff --list-fields)
EARGS=(); for f in "${FIELDS[@]}"; do EARGS+=(-e "$f"); done

# compare NAME PCAP: every field, every packet; prints the first differences.
compare() {
    local name=$1 pcap=$2
    "$SYSNET" sniff -r "$pcap" -T fields "${EARGS[@]}" > "$tmp/ours.txt" 2> "$tmp/ours.err" ||
        { fail "$name" "sysnet sniff failed: $(head -c 300 "$tmp/ours.err")"; return 1; }
    tshark "${TSHARK_OPTS[@]}" -r "$pcap" -T fields "${EARGS[@]}" > "$tmp/theirs.txt" 2>/dev/null
    local np; np=$(wc -l < "$tmp/theirs.txt")
    if cmp -s "$tmp/ours.txt" "$tmp/theirs.txt"; then
        pass "$name ($np packets x ${#FIELDS[@]} fields identical)"
        return 0
    fi
    # Report which fields differ, packet by packet.
    python3 - "$tmp/ours.txt" "$tmp/theirs.txt" "${FIELDS[@]}" <<'PY' > "$tmp/diff.txt"; head -20 "$tmp/diff.txt"
import sys
a=open(sys.argv[1]).read().split('\n'); b=open(sys.argv[2]).read().split('\n'); names=sys.argv[3:]
if len(a)!=len(b): print(f"  packet count differs: sysnet {len(a)-1}, tshark {len(b)-1}")
for i,(x,y) in enumerate(zip(a,b)):
    if x==y: continue
    for n,u,v in zip(names,x.split('\t'),y.split('\t')):
        if u!=v: print(f"  packet {i+1} {n}: sysnet '{u}' tshark '{v}'")
PY
    fail "$name" "field values differ from tshark (above)"
}

# (a) what we emit
if "$SYSNET" lab -q -w "$tmp/demo.pcap" > /dev/null; then
    compare tshark_fields_emitted_demo "$tmp/demo.pcap"
    bad=$(tshark "${TSHARK_OPTS[@]}" -r "$tmp/demo.pcap" -T fields -e ip.checksum.status -e tcp.checksum.status \
            -e udp.checksum.status -e icmp.checksum.status -e icmpv6.checksum.status 2>/dev/null | grep -c '0')
    good=$(tshark "${TSHARK_OPTS[@]}" -r "$tmp/demo.pcap" -T fields -e ip.checksum.status -e tcp.checksum.status \
            -e udp.checksum.status -e icmp.checksum.status -e icmpv6.checksum.status 2>/dev/null | tr '\t,' '\n\n' | grep -c '^1$')
    if [ "$bad" = 0 ] && [ "$good" -gt 20 ]; then pass "tshark_checksums_good_on_emitted ($good good, 0 bad)"
    else fail tshark_checksums_good_on_emitted "tshark found $bad packets with a bad checksum ($good good)"; fi
    malformed=$(tshark -r "$tmp/demo.pcap" 2>/dev/null | grep -ci 'malformed')
    [ "$malformed" = 0 ] && pass tshark_no_malformed_on_emitted || fail tshark_no_malformed_on_emitted "$malformed malformed"
else
    fail tshark_fields_emitted_demo "sysnet lab failed"
fi
if "$SYSNET" lab -q --set edge -w "$tmp/edge.pcap" > /dev/null; then
    compare tshark_fields_emitted_edge "$tmp/edge.pcap"
else
    fail tshark_fields_emitted_edge "sysnet lab --set edge failed"
fi

# (b) real kernel traffic between two namespaces
if ! need_root || ! have tcpdump || ! have ip; then
    skip tshark_fields_kernel_traffic "needs root, ip and tcpdump"
    summary; exit
fi
setup() {
    ip netns add "$NS1" && ip netns add "$NS2" &&
    ip link add sn-wa$$ netns "$NS1" type veth peer name sn-wb$$ netns "$NS2" &&
    ip -n "$NS1" addr add 198.18.0.1/24 dev sn-wa$$ && ip -n "$NS2" addr add 198.18.0.2/24 dev sn-wb$$ &&
    ip -n "$NS1" addr add 2001:2::1/64 dev sn-wa$$ nodad && ip -n "$NS2" addr add 2001:2::2/64 dev sn-wb$$ nodad &&
    ip -n "$NS1" link set sn-wa$$ up && ip -n "$NS2" link set sn-wb$$ up &&
    ip -n "$NS1" link set lo up && ip -n "$NS2" link set lo up
}
if ! setup; then fail tshark_fields_kernel_traffic "could not create namespaces"; summary; exit; fi
# Checksum offload would leave partial checksums in captured packets; the kernel
# computes them in software when offload is off (veth honours ethtool -K too).
traffic() {
    ip netns exec "$NS1" ping -c 3 -i 0.05 -W 1 198.18.0.2 >/dev/null
    ip netns exec "$NS1" ping -c 2 -i 0.05 -W 1 -s 2000 198.18.0.2 >/dev/null
    ip netns exec "$NS1" ping -6 -c 3 -i 0.05 -W 1 2001:2::2 >/dev/null
    ip netns exec "$NS2" python3 - <<'PY' &
import socket
for fam, addr in ((socket.AF_INET, '198.18.0.2'), (socket.AF_INET6, '2001:2::2')):
    s = socket.socket(fam); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((addr, 8080)); s.listen(); s.settimeout(5)
    c, _ = s.accept(); d = c.recv(1000); c.sendall(d * 3); c.close(); s.close()
PY
    local srv=$!
    sleep 0.3
    ip netns exec "$NS1" python3 - <<'PY'
import socket, time
for addr in ('198.18.0.2', '2001:2::2'):
    c = socket.create_connection((addr, 8080), timeout=5); c.sendall(b'hello from sysnet tests ' * 20)
    n = 0
    while n < 480 * 3:
        d = c.recv(65536)
        if not d: break
        n += len(d)
    c.close(); time.sleep(0.1)
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u.sendto(b'udp datagram', ('198.18.0.2', 9999))
u6 = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM); u6.sendto(b'udp6 datagram', ('2001:2::2', 9999))
time.sleep(0.2)
PY
    wait $srv
}
for snap in 0 80; do
    ip netns exec "$NS1" tcpdump -i sn-wa$$ -s "$snap" -U -w "$tmp/k$snap.pcap" 2>/dev/null & tp=$!
    sleep 0.7
    traffic
    sleep 0.5
    kill -INT $tp; wait $tp 2>/dev/null
    n=$(tshark -r "$tmp/k$snap.pcap" 2>/dev/null | wc -l)
    if [ "$n" -lt 30 ]; then fail "tshark_fields_kernel_traffic_snap$snap" "only $n packets captured"; continue; fi
    compare "tshark_fields_kernel_traffic_snap$snap" "$tmp/k$snap.pcap"
done
summary
