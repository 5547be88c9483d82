#!/usr/bin/env bash
# tests/net/test_sniff_live.sh — live `sysnet sniff -i` between two network
# namespaces joined by a veth pair (198.18.6.1/24 in A sends, 198.18.6.2/24 in B
# captures). IPv6 is off and the neighbours are static, so the link carries exactly
# the packets the test sends. Checked: the exact count and bytes caught, with a
# kernel filter, without one, with --fanout 2 (hash and lb, every worker busy),
# -c stopping by itself, SIGINT and SIGTERM flushing the file and printing
# tcpdump's three statistics lines, --snaplen cutting in the kernel, -Q in/out,
# 802.1Q-tagged frames given back with their tag and selected by `vlan 5`, and
# every file read by tshark without a complaint. Usage errors first (no root).
# Traffic stays inside the namespaces; each capture is bounded by --duration 30.
# (Not by timeout(1): it passes a SIGINT on to its whole process group, so the
# capture would get it twice, and a second ^C kills.)
set -u
cd "$(dirname "$0")/../.."
. tests/lib.sh


# ---- the command line (no privileges, no packets) ----
expect live_help 0 '-i IFACE' "$SYSNET" sniff --help
expect live_i_and_r 2 'exclusive' "$SYSNET" sniff -i lo -r x.pcap
expect live_no_input 2 'no input' "$SYSNET" sniff -c 1
expect live_any 2 'any is not supported' "$SYSNET" sniff -i any
expect live_fanout_zero 2 '--fanout wants' "$SYSNET" sniff -i lo --fanout 0
expect live_fanout_big 2 '--fanout wants' "$SYSNET" sniff -i lo --fanout 65
expect live_fanout_mode 2 '--fanout-mode wants' "$SYSNET" sniff -i lo --fanout 2 --fanout-mode xor
expect live_mode_alone 2 'needs --fanout N' "$SYSNET" sniff -i lo --fanout-mode lb
expect live_Q 2 '-Q wants' "$SYSNET" sniff -i lo -Q both
expect live_B 2 '-B wants' "$SYSNET" sniff -i lo -B 1
expect live_s 2 'at least 14' "$SYSNET" sniff -i lo -s 10
expect live_file_fanout 2 'for live capture' "$SYSNET" sniff -r x.pcap --fanout 2
expect live_bad_filter 2 'at byte' "$SYSNET" sniff -i lo udp port
expect live_no_dev 1 'no such device' "$SYSNET" sniff -i sn-no-such0
expect live_list 0 '^[0-9]+\.lo$' "$SYSNET" sniff -D
if need_root && have setpriv; then
    expect live_eperm 1 'CAP_NET_RAW' setpriv --reuid=65534 --regid=65534 --clear-groups --inh-caps=-all \
        "$SYSNET" sniff -i lo -c 1
fi

# ---- the namespaces ----
if ! need_root; then skip live_ns "needs root (network namespaces, packet sockets)"; summary; exit; fi
for t in ip python3 timeout tshark; do
    if ! have $t; then skip live_ns "$t missing"; summary; exit; fi
done

A=sn-live-a-$$; B=sn-live-b-$$; VA=sn-la$$; VB=sn-lb$$
tmp=$(mktemp -d); spid=
cleanup() {
    [ -n "$spid" ] && kill -9 "$spid" 2>/dev/null
    ip netns del "$A" 2>/dev/null; ip netns del "$B" 2>/dev/null
    rm -rf "$tmp"
}
trap cleanup EXIT

if ! { ip netns add "$A" && ip netns add "$B" &&
       ip netns exec "$A" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1 &&
       ip netns exec "$B" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1 &&
       ip link add "$VA" netns "$A" type veth peer name "$VB" netns "$B" &&
       ip -n "$A" addr add 198.18.6.1/24 dev "$VA" && ip -n "$B" addr add 198.18.6.2/24 dev "$VB" &&
       ip -n "$A" link set "$VA" up && ip -n "$B" link set "$VB" up; } 2>"$tmp/err"; then
    skip live_ns "cannot make namespaces: $(head -c 200 "$tmp/err")"; summary; exit
fi
MA=$(ip -n "$A" -br link show "$VA" | awk '{print $3}')
MB=$(ip -n "$B" -br link show "$VB" | awk '{print $3}')
ip -n "$A" neigh replace 198.18.6.2 lladdr "$MB" dev "$VA" nud permanent
ip -n "$B" neigh replace 198.18.6.1 lladdr "$MA" dev "$VB" nud permanent

# The sender: N UDP datagrams from A to B:PORT, payload sizes 1..1400 cycling, source
# ports cycling over 64 values (so the fanout hash has flows to spread); prints
# "COUNT BYTES" with BYTES the sum of the Ethernet frame lengths (14 + 20 + 8 + payload).
cat > "$tmp/send.py" <<'EOF'
import socket, sys
n, port = int(sys.argv[1]), int(sys.argv[2])
socks = []
for i in range(64):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("198.18.6.1", 0))
    socks.append(s)
total = 0
for i in range(n):
    size = 1 + (i * 37) % 1400
    socks[i % 64].sendto(b"x" * size, ("198.18.6.2", port))
    total += 14 + 20 + 8 + size
print(n, total)
EOF
# Tagged frames: COUNT frames with 802.1Q VID 5 (UDP inside) written on A's
# AF_PACKET socket; the receiving kernel strips the tag before packet sockets see it.
cat > "$tmp/vlan.py" <<'EOF'
import socket, struct, sys
ifname, n, src, dst = sys.argv[1], int(sys.argv[2]), bytes.fromhex(sys.argv[3].replace(":", "")), bytes.fromhex(sys.argv[4].replace(":", ""))
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
s.bind((ifname, 0))
def csum(b):
    if len(b) % 2: b += b"\0"
    t = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    while t >> 16: t = (t & 0xffff) + (t >> 16)
    return ~t & 0xffff
payload = b"tagged!!"
udp = struct.pack("!HHHH", 4000, 7100, 8 + len(payload), 0) + payload
ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 1, 0, 64, 17, 0,
                 socket.inet_aton("198.18.6.1"), socket.inet_aton("198.18.6.2"))
ip = ip[:10] + struct.pack("!H", csum(ip)) + ip[12:]
frame = dst + src + struct.pack("!HH", 0x8100, 5) + struct.pack("!H", 0x0800) + ip + udp
for _ in range(n):
    s.send(frame)
print(n, len(frame))
EOF

# start_sniff NAME ARGS...: a capture in B on VB, output in $tmp/NAME.{out,err};
# waits for its "listening on" line.
start_sniff() {
    local name=$1; shift
    ip netns exec "$B" "$SYSNET" sniff -i "$VB" --duration 30 "$@" > "$tmp/$name.out" 2> "$tmp/$name.err" &
    spid=$!
    for _ in $(seq 100); do grep -q 'listening on' "$tmp/$name.err" 2>/dev/null && return 0; sleep 0.05; done
    return 1
}
# stop_sniff [SIGNAL]: stop it (after the ring's 8 ms retire timeout has passed) and wait.
stop_sniff() {
    sleep 0.3
    kill -"${1:-INT}" "$spid" 2>/dev/null
    wait "$spid"; local rc=$?; spid=
    return $rc
}
stat_line() { sed -n "s/^\([0-9]*\) packets\{0,1\} $2\$/\1/p" "$1"; } # FILE WHAT -> the number
# tshark_sum FILE -> "COUNT BYTES" (frame.len); complains about anything on stderr.
tshark_sum() {
    local out
    out=$(tshark -r "$1" -T fields -e frame.len 2> "$tmp/tshark.err") || { echo "tshark failed: $(head -c 200 "$tmp/tshark.err")"; return; }
    sed -i '/Running as user/d' "$tmp/tshark.err"
    [ -s "$tmp/tshark.err" ] && { echo "tshark said: $(head -c 200 "$tmp/tshark.err")"; return; }
    printf '%s\n' "$out" | awk 'NF { n++; b += $1 } END { print n + 0, b + 0 }'
}
sanitizer_clean() { ! grep -qE 'AddressSanitizer|runtime error|LeakSanitizer' "$@"; }

# check_capture NAME RUN RC WANT_COUNT WANT_BYTES FILE: the three statistics lines
# of capture RUN, the file as tshark reads it, exit code 0, nothing from the sanitizers.
check_capture() {
    local name=$1 err=$tmp/$2.err rc=$3 count=$4 bytes=$5 file=$6
    local cap recv drop
    cap=$(stat_line "$err" captured); recv=$(stat_line "$err" "received by filter")
    drop=$(stat_line "$err" "dropped by kernel")
    if [ "$rc" != 0 ]; then fail "$name" "exit $rc: $(head -c 300 "$err")"; return; fi
    if ! sanitizer_clean "$err"; then fail "$name" "sanitizer report: $(grep -m1 -E 'Sanitizer|runtime error' "$err")"; return; fi
    if [ "$cap" != "$count" ] || [ "$recv" != "$count" ] || [ "$drop" != 0 ]; then
        fail "$name" "captured '$cap', received by filter '$recv', dropped '$drop'; wanted $count, $count, 0"; return
    fi
    local got; got=$(tshark_sum "$file")
    if [ "$got" != "$count $bytes" ]; then fail "$name" "tshark reads '$got' from the file, wanted '$count $bytes'"; return; fi
    pass "$name"
}

N=2000
# 1. Kernel filter, pcap file, SIGINT: only the N datagrams to port 7000, not the
#    500 to port 7001.
if start_sniff filt -w "$tmp/filt.pcap" udp and dst port 7000; then
    read -r n bytes < <(ip netns exec "$A" python3 "$tmp/send.py" $N 7000)
    ip netns exec "$A" python3 "$tmp/send.py" 500 7001 > /dev/null
    stop_sniff INT; rc=$?
    check_capture live_kernel_filter filt "$rc" "$n" "$bytes" "$tmp/filt.pcap"
else fail live_kernel_filter "no 'listening on' line: $(head -c 300 "$tmp/filt.err")"; kill -9 "$spid" 2>/dev/null; spid=; fi

# 2. No filter, pcapng, SIGTERM: the link carries exactly what we send (-Q in: B's
#    ICMP port-unreachable answers go the other way).
if start_sniff all -w "$tmp/all.pcapng" --pcapng -Q in; then
    read -r n bytes < <(ip netns exec "$A" python3 "$tmp/send.py" $N 7002)
    stop_sniff TERM; rc=$?
    check_capture live_no_filter_pcapng all "$rc" "$n" "$bytes" "$tmp/all.pcapng"
else fail live_no_filter_pcapng "did not start: $(head -c 300 "$tmp/all.err")"; kill -9 "$spid" 2>/dev/null; spid=; fi

# 3-4. Fanout: two workers, hash then round robin; each worker must have had packets.
for mode in hash lb; do
    name=fanout_$mode
    if start_sniff $name -w "$tmp/$name.pcap" --fanout 2 --fanout-mode $mode --stats udp; then
        read -r n bytes < <(ip netns exec "$A" python3 "$tmp/send.py" $N 7003)
        stop_sniff INT; rc=$?
        busy=$(grep -cE 'worker [01]: [1-9][0-9]* matched' "$tmp/$name.err")
        if [ "$busy" != 2 ]; then fail "live_$name" "not every worker had packets: $(grep worker "$tmp/$name.err" | tr '\n' ' ')"
        else check_capture "live_$name" $name "$rc" "$n" "$bytes" "$tmp/$name.pcap"; fi
    else fail "live_$name" "did not start: $(head -c 300 "$tmp/$name.err")"; kill -9 "$spid" 2>/dev/null; spid=; fi
done

# 5. -c stops by itself, text lines printed as they come.
if start_sniff count -c 5 udp port 7004; then
    ip netns exec "$A" python3 "$tmp/send.py" 20 7004 > /dev/null
    for _ in $(seq 50); do kill -0 "$spid" 2>/dev/null || break; sleep 0.1; done
    wait "$spid"; rc=$?; spid=
    lines=$(grep -c 'IP 198.18.6.1.[0-9]* > 198.18.6.2.7004: UDP, length' "$tmp/count.out")
    if [ "$rc" = 0 ] && [ "$lines" = 5 ] && [ "$(stat_line "$tmp/count.err" captured)" = 5 ]; then pass live_count_stops
    else fail live_count_stops "exit $rc, $lines lines: $(head -c 300 "$tmp/count.err")"; fi
else fail live_count_stops "did not start"; kill -9 "$spid" 2>/dev/null; spid=; fi

# 6. --count and --snaplen 64: the kernel keeps 64 bytes, the wire length stays.
if start_sniff snap -s 64 -w "$tmp/snap.pcap" udp port 7005; then
    read -r n bytes < <(ip netns exec "$A" python3 "$tmp/send.py" 300 7005)
    stop_sniff INT; rc=$?
    caps=$(tshark -r "$tmp/snap.pcap" -T fields -e frame.cap_len -e frame.len 2>/dev/null |
           awk '{ if ($1 != ($2 < 64 ? $2 : 64)) bad++; n++; b += $2 } END { print n + 0, b + 0, bad + 0 }')
    if [ "$rc" = 0 ] && [ "$caps" = "$n $bytes 0" ]; then pass live_snaplen
    else fail live_snaplen "exit $rc; tshark: '$caps', wanted '$n $bytes 0'"; fi
else fail live_snaplen "did not start"; kill -9 "$spid" 2>/dev/null; spid=; fi

# 7. Direction, on the sender's side: -Q out sees the datagrams, -Q in none of them.
for dir in out in; do
    ip netns exec "$A" "$SYSNET" sniff -i "$VA" --duration 30 -Q $dir --count udp port 7006 \
        > "$tmp/q$dir.out" 2> "$tmp/q$dir.err" &
    spid=$!
    for _ in $(seq 100); do grep -q 'listening on' "$tmp/q$dir.err" 2>/dev/null && break; sleep 0.05; done
    ip netns exec "$A" python3 "$tmp/send.py" 100 7006 > /dev/null
    stop_sniff INT
    want=100; [ $dir = in ] && want=0
    if [ "$(cat "$tmp/q$dir.out")" = $want ]; then pass "live_Q_$dir"
    else fail "live_Q_$dir" "--count printed '$(cat "$tmp/q$dir.out")', wanted $want: $(head -c 200 "$tmp/q$dir.err")"; fi
done

# 8. 802.1Q: 50 tagged frames among 100 plain datagrams; `vlan 5` runs in user space
#    on the frame with its tag put back, and the file carries the tag.
if start_sniff vlan -w "$tmp/vlan.pcap" vlan 5 and udp; then
    ip netns exec "$A" python3 "$tmp/send.py" 100 7100 > /dev/null
    read -r vn vlen < <(ip netns exec "$A" python3 "$tmp/vlan.py" "$VA" 50 "$MA" "$MB")
    stop_sniff INT; rc=$?
    ids=$(tshark -r "$tmp/vlan.pcap" -T fields -e vlan.id -e udp.dstport 2>/dev/null | sort | uniq -c | awk '{$1=$1; print}')
    if [ "$rc" = 0 ] && [ "$ids" = "$vn 5 7100" ] && [ "$(stat_line "$tmp/vlan.err" captured)" = "$vn" ]; then
        pass live_vlan_rebuilt
    else fail live_vlan_rebuilt "exit $rc; tshark: '$ids', wanted '$vn 5 7100' ($vlen-byte frames)"; fi
else fail live_vlan_rebuilt "did not start"; kill -9 "$spid" 2>/dev/null; spid=; fi

summary
