#!/usr/bin/env bash
# bench/capture/run.sh — the capture benchmark (bench/README.md explains every number).
# A veth pair between two network namespaces made here (sn-capA-PID, sn-capB-PID) is
# flooded by our TX-ring generator (bench_capture tx, in A, on CPU 0); in B, on CPU 1,
# `sysnet sniff -i`, `tcpdump` and `netsniff-ng` take turns capturing:
#   1. to /dev/null at fixed offered loads, B's receive path on the capturer's CPU
#      (RPS): packets captured, capture packets/s, loss %, kernel drops and the
#      capturer's CPU time per packet, same load, same run;
#   2. to /dev/null as fast as the generator goes, B's receive path on the generator's
#      CPU so the capturer has CPU 1 to itself, with the default ring and a small one:
#      the capturer's own cost, and who drops when the ring is tight;
#   3. decoding: `sysnet sniff -n -i` against `tcpdump -n -i`, text to /dev/null, at
#      the loads of part 1, placed as in part 2;
#   4. transmit packets/s of our generator against trafgen, same frames, same veth.
# Medians of BENCH_RUNS runs (default 3). Needs root; the traffic never leaves the
# two namespaces (addresses from 198.18.0.0/15), which are removed on exit.
set -u
cd "$(dirname "$0")/../.." || exit 1
BUILD=${BUILD:-build}
BC=$BUILD/bench/capture/bench_capture
SN=$BUILD/sysnet
RUNS=${BENCH_RUNS:-3}
LOADS=${BENCH_CAPTURE_LOADS:-100000 300000 1000000 0}   # packets/s; 0 = as fast as possible
DLOADS=${BENCH_CAPTURE_DECODE_LOADS:-$LOADS}            # part 3's loads
STEP_S=${BENCH_CAPTURE_SECONDS:-1.0}                    # seconds of traffic per step ...
MAXP=${BENCH_CAPTURE_MAX_PACKETS:-600000}               # ... but at most this many packets
SIZE=${BENCH_CAPTURE_SIZE:-60}                          # frame bytes without the FCS
BUF_KIB=${BENCH_CAPTURE_BUFFER_KIB:-4096}               # every capturer's ring/buffer
ALONE_KIB=${BENCH_CAPTURE_ALONE_KIB:-4096 512 256}      # part 2's rings, KiB
TXP=${BENCH_CAPTURE_TX_PACKETS:-1500000}                # frames per transmit run (part 4)
SETTLE=${BENCH_CAPTURE_SETTLE:-1.2}                     # s from the last frame to SIGINT: tcpdump
SETTLE_FAST=${BENCH_CAPTURE_SETTLE_FAST:-0.3}           # ... sysnet and netsniff-ng
NICE=${BENCH_CAPTURE_NICE:--10}                         # nice(1) of generators and capturers
CAPS=(sysnet tcpdump netsniff)
DCAPS=(sysnet tcpdump)                                  # part 3 (netsniff-ng: see the README)

if [ "$(id -u)" != 0 ]; then
    echo "bench/capture: skipped: needs root (network namespaces)"
    exit 0
fi
for c in ip taskset; do
    command -v "$c" >/dev/null 2>&1 || { echo "bench/capture: skipped: $c is missing"; exit 0; }
done
[ -x "$BC" ] || { echo "bench/capture: $BC is missing: make all $BC"; exit 1; }
for v in "$RUNS" "$MAXP" "$SIZE" "$BUF_KIB" "$TXP" $LOADS $DLOADS $ALONE_KIB; do
    case $v in ''|*[!0-9]*) echo "bench/capture: BENCH_RUNS, BENCH_CAPTURE_{LOADS,DECODE_LOADS,MAX_PACKETS,SIZE,BUFFER_KIB,ALONE_KIB,TX_PACKETS} want numbers"; exit 2;; esac
done
case $NICE in -[0-9]|-1[0-9]|-20|[0-9]|1[0-9]) ;; *) echo "bench/capture: BENCH_CAPTURE_NICE wants -20..19"; exit 2;; esac
for v in "$STEP_S" "$SETTLE" "$SETTLE_FAST"; do
    case $v in ''|*[!0-9.]*) echo "bench/capture: BENCH_CAPTURE_SECONDS and BENCH_CAPTURE_SETTLE{,_FAST} want seconds"; exit 2;; esac
done
if [ "$RUNS" -lt 1 ] || [ "$MAXP" -lt 1 ] || [ "$TXP" -lt 1 ]; then
    echo "bench/capture: BENCH_RUNS and the packet counts must be >= 1"; exit 2
fi
for v in "$BUF_KIB" $ALONE_KIB; do
    [ "$v" -ge 64 ] || { echo "bench/capture: rings (BENCH_CAPTURE_BUFFER_KIB, _ALONE_KIB) must be >= 64 KiB"; exit 2; }
done
if [ "$SIZE" -lt 42 ] || [ "$SIZE" -gt 1514 ]; then
    echo "bench/capture: BENCH_CAPTURE_SIZE must be 42..1514 (the veth's MTU is 1500)"; exit 2
fi

summary() { if [ -n "${BENCH_SUMMARY:-}" ]; then echo "$1" >> "$BENCH_SUMMARY"; fi; }
fail=0
T0=$SECONDS

# ---- the two namespaces, removed on exit (also on failure or ^C) -------------------
NA=sn-capA-$$ NB=sn-capB-$$ IA=sncap-a IB=sncap-b
work=$(mktemp -d "${TMPDIR:-/tmp}/sn-bench-capture.XXXXXX") || exit 1
cap_pid=
cleanup() {
    trap - EXIT INT TERM
    local ns p
    [ -n "$cap_pid" ] && kill -KILL "$cap_pid" 2>/dev/null
    for ns in "$NA" "$NB"; do # whatever still runs inside our namespaces is ours
        for p in $(ip netns pids "$ns" 2>/dev/null); do kill -KILL "$p" 2>/dev/null; done
    done
    wait 2>/dev/null
    ip netns del "$NA" 2>/dev/null
    ip netns del "$NB" 2>/dev/null
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

ncpu=$(nproc 2>/dev/null || echo 1)
GEN_CPU=0 CAP_CPU=1
[ "$ncpu" -ge 2 ] || CAP_CPU=0

setup() {
    ip netns add "$NA" && ip netns add "$NB" || return 1
    local ns
    for ns in "$NA" "$NB"; do
        # no IPv6: no router solicitation or DAD may land in a capture
        ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1 >/dev/null 2>&1
        ip -n "$ns" link set lo up || return 1
    done
    # Made inside A with its peer moved straight to B: never in the host's namespace.
    ip -n "$NA" link add "$IA" type veth peer name "$IB" netns "$NB" || return 1
    ip -n "$NA" link set "$IA" addrgenmode none 2>/dev/null
    ip -n "$NB" link set "$IB" addrgenmode none 2>/dev/null
    ip -n "$NA" addr add 198.18.0.1/30 dev "$IA" && ip -n "$NB" addr add 198.18.0.2/30 dev "$IB" || return 1
    ip -n "$NA" link set "$IA" up && ip -n "$NB" link set "$IB" up || return 1
}
if ! setup; then
    echo "bench/capture: could not set up the namespaces and the veth pair"; exit 1
fi
mac_of() { ip -n "$1" -o link show dev "$2" | sed -n 's/.*link\/ether \([0-9a-f:]*\).*/\1/p'; }
MAC_A=$(mac_of "$NA" "$IA") MAC_B=$(mac_of "$NB" "$IB")
[ -n "$MAC_A" ] && [ -n "$MAC_B" ] || { echo "bench/capture: cannot read the veth MAC addresses"; exit 1; }
# The frames' destination: not B's MAC, as on a mirror port, where a capture box sees
# traffic between other hosts. B's IP layer then drops each frame at once (not for
# this host), instead of looking up a route it does not have and discarding it
# there, which made the kernel's per-packet work about a third longer and measures
# nothing about the capturers; they see every frame either way.
MAC_TO=02:00:00:00:00:02
[ "$MAC_TO" != "$MAC_B" ] && [ "$MAC_TO" != "$MAC_A" ] || MAC_TO=02:00:00:00:00:03

# Generators and capturers run at nice NICE, each in a session of its own: with
# autogroups (kernel.sched_autogroup_enabled), nice weighs only within a session's
# group, and the groups share a CPU equally, so at any nice a program of another
# session (a compiler, someone's test) would take half of CPU 1 from the capturer.
# A session of its own is a group of its own, whose nice is then set to NICE too.
# setsid, sh and nice all exec: the pid stays the program's.
if command -v setsid >/dev/null 2>&1; then
    BOOST=(setsid sh -c 'echo "$0" > /proc/self/autogroup 2>/dev/null; exec nice -n "$0" "$@"' "$NICE")
else
    BOOST=(nice -n "$NICE")
fi

# Receive Packet Steering on B's end: where the receiving half of the veth runs.
# mask 0: on the sender's CPU, inside its send(2); else on that CPU (a softirq).
rps() { ip netns exec "$NB" sh -c "echo $1 > /sys/class/net/$IB/queues/rx-0/rps_cpus" 2>/dev/null; }

gen() { # bench_capture tx on A's end, pinned; extra options follow
    ip netns exec "$NA" "${BOOST[@]}" taskset -c "$GEN_CPU" "$BC" tx "$IA" --bypass --size "$SIZE" \
        --src-mac "$MAC_A" --dst-mac "$MAC_TO" "$@"
}
field() { sed -n "s/.*[[:space:]]$1=\([^[:space:]]*\).*/\1/p"; } # key=value out of a tx line

now_us() { local t=${EPOCHREALTIME:-}; if [ -n "$t" ]; then t=${t/[.,]/}; echo "$t"; else echo $(( $(date +%s%N) / 1000 )); fi; }
# "median" of the numbers on stdin (an even count: the mean of the middle two)
median() { tr ' ' '\n' | grep . | sort -g | awk '{ v[NR] = $1 } END { if (NR == 0) exit 1;
    m = NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2; printf "%.6f\n", m }'; }
fmt_load() { case $1 in 0) echo max;; *000000) echo "$(( $1 / 1000000 ))M";; *000) echo "$(( $1 / 1000 ))k";; *) echo "$1";; esac; }
npkts() { # packets of a step at load $1: STEP_S worth, at most MAXP (MAXP at max)
    awk -v r="$1" -v s="$STEP_S" -v m="$MAXP" 'BEGIN { if (r == 0) { print m; exit }
        n = int(r * s + 0.5); if (n > m) n = m; if (n < 1) n = 1; print n }'
}

# CPU time of process $1 so far, in ns, all its threads: the scheduler's run time of
# each (/proc/PID/task/TID/schedstat, first field: what utime + stime add up to, at
# ns precision). Without schedstat: utime + stime of /proc/PID/stat (fields 14-15,
# clock ticks: 10 ms, coarse for a step of 100k packets at under 100 ns each).
CLK_TCK=$(getconf CLK_TCK 2>/dev/null || echo 100)
cpu_ns() {
    local s=0 ok=0 f v rest st
    for f in /proc/"$1"/task/*/schedstat; do
        read -r v rest < "$f" 2>/dev/null || continue
        s=$((s + v)) ok=1
    done
    if [ $ok = 0 ]; then
        st=$(cat "/proc/$1/stat" 2>/dev/null) || { echo 0; return; }
        set -- ${st##*) }   # from field 3 on: utime, stime are the 12th and 13th
        s=$(( (${12} + ${13}) * 1000000000 / CLK_TCK ))
    fi
    echo "$s"
}
# "busy total" clock ticks of CPU $CAP_CPU so far (/proc/stat: busy = user + nice +
# system + irq + softirq + steal, total = busy + idle + iowait)
cpu_ticks() {
    awk -v c="cpu$CAP_CPU" '$1 == c { b = $2 + $3 + $4 + $7 + $8 + $9; print b, b + $5 + $6 }' /proc/stat
}
cpu_src=schedstat
[ -r /proc/self/schedstat ] || cpu_src="utime+stime (10 ms ticks)"
# Does this kernel keep softirq time out of the tasks' CPU time? (part 1's note)
irqacct=unknown
if [ -r /proc/config.gz ] && command -v zcat >/dev/null 2>&1; then
    if zcat /proc/config.gz 2>/dev/null | grep -q '^CONFIG_IRQ_TIME_ACCOUNTING=y'; then irqacct=yes; else irqacct=no; fi
elif [ -r "/boot/config-$(uname -r)" ]; then
    if grep -q '^CONFIG_IRQ_TIME_ACCOUNTING=y' "/boot/config-$(uname -r)"; then irqacct=yes; else irqacct=no; fi
fi

# ---- the capturers --------------------------------------------------------------
declare -A STATUS WHY SFAIL
STATUS[sysnet]=ok STATUS[tcpdump]=ok STATUS[netsniff]=ok
if [ ! -x "$SN" ]; then
    STATUS[sysnet]=na WHY[sysnet]="$SN is missing (make all)"
elif ! "$SN" sniff --help 2>&1 | grep -qE '(^|[[:space:]])-i[[:space:]]'; then
    STATUS[sysnet]=na WHY[sysnet]="this build of sysnet sniff has no -i (live capture)"
fi
command -v tcpdump >/dev/null 2>&1 || STATUS[tcpdump]=missing
command -v netsniff-ng >/dev/null 2>&1 || STATUS[netsniff]=missing
label() { case $1 in sysnet) echo "sysnet sniff";; tcpdump) echo tcpdump;; netsniff) echo netsniff-ng;; esac; }
key() { case $1 in netsniff) echo netsniff_ng;; *) echo "$1";; esac; }
print_status() {
    local c
    for c in "$@"; do
        case ${STATUS[$c]} in
        na) echo "   sysnet: not available: ${WHY[$c]}";;
        missing) echo "   $(label "$c"): peer missing";;
        esac
    done
}

# Start capturer $1 in B, pinned, in mode $2 with a ring of $3 KiB, promiscuous (each
# one's default), no filter. Sets cap_pid. Mode w: packets to /dev/null as a pcap
# file; mode p: tcpdump-like text lines to /dev/null (-n), statistics on stderr.
start_capturer() {
    local out=$work/$1.out err=$work/$1.err
    case $1.$2 in
    sysnet.w)   ip netns exec "$NB" "${BOOST[@]}" taskset -c "$CAP_CPU" "$SN" sniff -i "$IB" -w /dev/null -q \
                    -B "$3" > "$out" 2> "$err" & ;;
    tcpdump.w)  ip netns exec "$NB" "${BOOST[@]}" taskset -c "$CAP_CPU" tcpdump -i "$IB" -w /dev/null -n \
                    -B "$3" > "$out" 2> "$err" & ;;
    netsniff.w) ip netns exec "$NB" "${BOOST[@]}" taskset -c "$CAP_CPU" netsniff-ng --in "$IB" --out /dev/null \
                    --silent --ring-size "${3}KiB" --no-sock-mem --notouch-irq > "$out" 2> "$err" & ;;
    sysnet.p)   : > "$out"; ip netns exec "$NB" "${BOOST[@]}" taskset -c "$CAP_CPU" "$SN" sniff -n -i "$IB" \
                    -B "$3" > /dev/null 2> "$err" & ;;
    tcpdump.p)  : > "$out"; ip netns exec "$NB" "${BOOST[@]}" taskset -c "$CAP_CPU" tcpdump -n -i "$IB" \
                    -B "$3" > /dev/null 2> "$err" & ;;
    *) return 1;;
    esac
    cap_pid=$!
}
# Has process $1 a packet socket of its own, in B? (/proc/PID/net is the namespace of
# PID: checked to be B's first, since for an instant the process is still `ip netns
# exec` in ours; then the inodes of B's packet sockets against the PID's fds.)
NB_NS="net:[$(stat -L -c %i "/run/netns/$NB" 2>/dev/null)]"
has_packet_socket() {
    local inodes fd l
    [ "$(readlink "/proc/$1/ns/net" 2>/dev/null)" = "$NB_NS" ] || return 1
    inodes=" $(awk 'NR > 1 { printf "%s ", $NF }' "/proc/$1/net/packet" 2>/dev/null)"
    [ "$inodes" != " " ] || return 1
    for fd in /proc/"$1"/fd/*; do
        l=$(readlink "$fd" 2>/dev/null) || continue
        case $l in "socket:["*"]") l=${l#socket:[}; l=${l%]}
            case $inodes in *" $l "*) return 0;; esac;;
        esac
    done
    return 1
}
# Ready when capturer $1 (default cap_pid) has its packet socket, plus a moment for
# its ring. 1 if it died or took more than 5 s.
wait_ready() {
    local i pid=${1:-$cap_pid}
    for ((i = 0; i < 100; i++)); do
        kill -0 "$pid" 2>/dev/null || return 1
        if has_packet_socket "$pid"; then sleep 0.3; return 0; fi
        sleep 0.05
    done
    return 1
}
# After the last frame: the capturer's settle time (tcpdump's ring hands a partly
# filled block over only after 1 s: SETTLE; the others' after 100 ms at most:
# SETTLE_FAST), then until it has been idle (under 5 ms of CPU in 50 ms) — a capturer
# that fell behind works through its ring first — at most 3 s more.
settle() {
    local s=$SETTLE_FAST i a b
    [ "$1" = tcpdump ] && s=$SETTLE
    sleep "$s"
    a=$(cpu_ns "$cap_pid")
    for ((i = 0; i < 60; i++)); do
        sleep 0.05
        b=$(cpu_ns "$cap_pid")
        [ $((b - a)) -lt 5000000 ] && return 0
        a=$b
    done
}
# SIGINT (what a user types), then up to 5 s for the statistics; TERM/KILL if stuck.
stop_capturer() {
    local i rc=0
    kill -INT "$cap_pid" 2>/dev/null
    for ((i = 0; i < 100; i++)); do kill -0 "$cap_pid" 2>/dev/null || break; sleep 0.05; done
    if kill -0 "$cap_pid" 2>/dev/null; then
        kill -TERM "$cap_pid" 2>/dev/null; sleep 1; kill -KILL "$cap_pid" 2>/dev/null; rc=1
    fi
    wait "$cap_pid" 2>/dev/null
    cap_pid=
    return $rc
}
# "captured kernel_drops" from capturer $1's exit statistics, or nothing.
#   sysnet, tcpdump: "N packets captured" / "N packets dropped by kernel" (stderr)
#   netsniff-ng (stdout), TPACKET_V3: "S packets incoming (U unread on exit)" with S
#     the packets it walked (wrote), U = all the kernel counted less S, drops
#     included; "P packets passed filter" = all less drops; "D packets failed filter
#     (out of space)" = drops. Captured = S (min(S, P) also holds for TPACKET_V2,
#     where S is all the kernel counted and U is 0).
parse_capture() {
    case $1 in
    sysnet|tcpdump)
        awk '/packets? captured/ { c = $1 } /packets? dropped by kernel/ { d = $1 }
             END { if (c != "" && d != "") print c, d }' "$work/$1.err" ;;
    netsniff)
        cat "$work/$1.out" "$work/$1.err" | tr -d '\r' | awk '
             /packets incoming/ { s = $1 } /packets passed filter/ { p = $1 } /packets failed filter/ { d = $1 }
             END { if (s != "" && p != "" && d != "") print (s + 0 < p + 0 ? s : p), d }' ;;
    esac
}

# ---- one step: capturer $1 in mode $2 (ring $3 KiB) while $5 frames go at load $4 ----
# Appends the step's numbers to A[metric|cell|capturer] with cell $6. 0 ok; 1 the
# capturer failed (message printed); 2 the generator failed.
declare -A A
step() {
    local c=$1 mode=$2 buf=$3 load=$4 n=$5 cell=$6 line c0 c1 cm b0 t0 b1 t1 stopped res got drops sent secs
    start_capturer "$c" "$mode" "$buf"
    if ! wait_ready; then
        stop_capturer
        echo "   $(label "$c") did not start: $(cat "$work/$c.out" "$work/$c.err" | grep -v '^Cannot set' | tail -n 2 | tr '\n' ' ')"
        return 1
    fi
    c0=$(cpu_ns "$cap_pid"); read -r b0 t0 <<< "$(cpu_ticks)"
    if ! line=$(gen --count "$n" --rate "$load" 2> "$work/gen.err"); then
        stop_capturer
        echo "   generator failed: $(tail -n 1 "$work/gen.err")"
        return 2
    fi
    cm=$(cpu_ns "$cap_pid"); read -r b1 t1 <<< "$(cpu_ticks)"
    settle "$c"
    c1=$(cpu_ns "$cap_pid")                               # just before the SIGINT
    stopped=ok; stop_capturer || stopped=stuck
    res=$(parse_capture "$c")
    if [ "$stopped" != ok ] || [ -z "$res" ]; then
        echo "   $(label "$c") gave no statistics ($stopped): $(cat "$work/$c.out" "$work/$c.err" | grep -v '^Cannot set' | tail -n 3 | tr '\n' ' ')"
        return 1
    fi
    read -r got drops <<< "$res"
    sent=$(field frames <<< "$line") secs=$(field seconds <<< "$line")
    A[TXPPS|$cell|$c]+="$(field pps <<< "$line") " A[CAPT|$cell|$c]+="$got " A[KDROP|$cell|$c]+="$drops "
    A[CPPS|$cell|$c]+="$(awk -v g="$got" -v s="$secs" 'BEGIN { printf "%.0f", (s > 0 ? g / s : 0) }') "
    A[LOSS|$cell|$c]+="$(awk -v g="$got" -v n="$sent" 'BEGIN { printf "%.4f", 100 * (n - g) / n }') "
    [ "$got" -gt 0 ] && A[CPU|$cell|$c]+="$(awk -v d=$((c1 - c0)) -v g="$got" 'BEGIN { printf "%.1f", d / g }') "
    # the share of CPU $CAP_CPU that went to anything but the capturer while the frames flowed
    # (not in part 1: see OTHER_OK)
    [ "$OTHER_OK" = 1 ] && [ "$t1" -gt "$t0" ] && A[OTHER|$cell|$c]+="$(awk -v b=$((b1 - b0)) -v t=$((t1 - t0)) -v k="$CLK_TCK" \
        -v m=$((cm - c0)) 'BEGIN { o = 100 * (b * 1e9 / k - m) / (t * 1e9 / k); printf "%.1f", (o < 0 ? 0 : o) }') "
    if [ "$got" -gt "$sent" ]; then echo "   note: $(label "$c") captured $got packets of $sent sent (other traffic?)"; fi
    return 0
}
# Every capturer of the list in $3 on cell $4, mode $1, ring $2, load $5, packets $6;
# section $7 (a capturer that fails is left out of the rest of its section).
steps() {
    local mode=$1 buf=$2 cell=$4 load=$5 n=$6 sec=$7 c rc
    for c in $3; do
        [ "${STATUS[$c]}" = ok ] && [ -z "${SFAIL[$sec,$c]:-}" ] || continue
        step "$c" "$mode" "$buf" "$load" "$n" "$cell"; rc=$?
        [ $rc = 1 ] && SFAIL[$sec,$c]=1
        [ $rc = 2 ] && fail=1
    done
}

# ---- tables ---------------------------------------------------------------------
declare -A M
med() { # median of metric $1 of cell $2, capturer $3 into M[...]; 1 if no data
    [ -n "${A[$1|$2|$3]:-}" ] || return 1
    M[$1|$2|$3]=$(echo "${A[$1|$2|$3]}" | median)
}
# table HEAD "CAPS" ROW...: ROW = "shown label|cell|summary prefix|packets"
table() {
    local head=$1 caps=$2 row shown cell kp n first c k why m
    shift 2
    printf '  %-7s %-12s %8s %7s %8s %11s %6s %8s %8s %7s\n' "$head" capturer "tx pps" sent captured \
        "capture pps" "loss %" "k. drops" "CPU ns/p" "other %"
    for row in "$@"; do
        IFS='|' read -r shown cell kp n <<< "$row"
        summary "$kp.packets=$n"
        first=1
        for c in $caps; do
            [ $first = 1 ] || shown=""
            first=0
            k="$kp.$(key "$c")"
            if [ -z "${A[CAPT|$cell|$c]:-}" ]; then
                case ${STATUS[$c]} in
                na) why="not available";; missing) why="peer missing";; *) why="failed";;
                esac
                summary "$k.capture_pps=${why// /_}"
                [ "$c" = sysnet ] && [ "$why" = "not available" ] && why="sysnet: not available"
                printf '  %-7s %-12s %s\n' "$shown" "$(label "$c")" "$why"
                continue
            fi
            for m in TXPPS CAPT CPPS LOSS KDROP CPU OTHER; do med $m "$cell" "$c" || M[$m|$cell|$c]=""; done
            awk -v l="$shown" -v c="$(label "$c")" -v t="${M[TXPPS|$cell|$c]}" -v n="$n" \
                -v g="${M[CAPT|$cell|$c]}" -v p="${M[CPPS|$cell|$c]}" -v s="${M[LOSS|$cell|$c]}" \
                -v d="${M[KDROP|$cell|$c]}" -v u="${M[CPU|$cell|$c]}" -v o="${M[OTHER|$cell|$c]}" \
                'BEGIN { printf "  %-7s %-12s %8.0f %7d %8.0f %11.0f %6.2f %8.0f %8s %7s\n", l, c, t, n, g, p, s, d,
                         (u == "" ? "-" : sprintf("%.0f", u)), (o == "" ? "-" : sprintf("%.0f", o)) }'
            summary "$k.tx_pps=$(printf '%.0f' "${M[TXPPS|$cell|$c]}")"
            summary "$k.captured=$(printf '%.0f' "${M[CAPT|$cell|$c]}")"
            summary "$k.capture_pps=$(printf '%.0f' "${M[CPPS|$cell|$c]}")"
            summary "$k.loss_pct=$(printf '%.2f' "${M[LOSS|$cell|$c]}")"
            summary "$k.kernel_drops=$(printf '%.0f' "${M[KDROP|$cell|$c]}")"
            [ -n "${M[CPU|$cell|$c]}" ] && summary "$k.cpu_ns_per_pkt=$(printf '%.1f' "${M[CPU|$cell|$c]}")"
            [ -n "${M[OTHER|$cell|$c]}" ] && summary "$k.other_cpu_pct=$(printf '%.1f' "${M[OTHER|$cell|$c]}")"
        done
    done
}
# ratios "PEERS" ROW...: capture pps sysnet/peer and CPU per packet peer/sysnet
ratio() { # $1 numerator $2 denominator; "-" if either is missing or 0
    awk -v a="$1" -v b="$2" 'BEGIN { if (a == "" || b == "" || b + 0 == 0) print "-"; else printf "%.2f", a / b }'
}
ratios() {
    local peers=$1 row shown cell kp n p v hdr=""
    shift
    for p in $peers; do hdr+=$(printf ' %18s' "sysnet/$(label "$p")"); done
    for p in $peers; do hdr+=$(printf ' %18s' "$(label "$p")/sysnet"); done
    printf '  %-7s%s\n' "" "$hdr"
    printf '  %-7s' ""
    for p in $peers; do printf ' %18s' "(capture pps)"; done
    for p in $peers; do printf ' %18s' "(CPU per packet)"; done
    echo
    for row in "$@"; do
        IFS='|' read -r shown cell kp n <<< "$row"
        printf '  %-7s' "$shown"
        for p in $peers; do
            v=$(ratio "${M[CPPS|$cell|sysnet]:-}" "${M[CPPS|$cell|$p]:-}")
            [ "$v" != - ] && summary "$kp.sysnet_over_$(key "$p")=$v"
            printf ' %18s' "$v"
        done
        for p in $peers; do
            v=$(ratio "${M[CPU|$cell|$p]:-}" "${M[CPU|$cell|sysnet]:-}")
            [ "$v" != - ] && summary "$kp.cpu_$(key "$p")_over_sysnet=$v"
            printf ' %18s' "$v"
        done
        echo
    done
}

# ---- 1. capture at fixed offered loads, receive path on the capturer's CPU ---------
# No "other %" here: /proc/stat's busy time is sampled at the timer tick, and a CPU
# woken thousands of times a second for B's receive softirq (an IPI per burst) is
# caught busy at many more ticks than its real busy time: the column would be noise.
OTHER_OK=0
mask=$(printf '%x' $(( 1 << CAP_CPU )))
if [ "$ncpu" -ge 2 ] && rps "$mask"; then
    where="the receive path of B's veth end on CPU $CAP_CPU too (RPS)"
else
    where="the receive path on the generator's CPU (no RPS)"
fi
echo "-- 1. capture: ${SIZE}-byte UDP frames over a veth pair, generator (bench_capture tx --bypass)"
echo "   on CPU $GEN_CPU, capturer on CPU $CAP_CPU with $where;"
echo "   each capturer with a ${BUF_KIB} KiB ring, writing to /dev/null, stopped by SIGINT ${SETTLE} s"
echo "   (tcpdump) or ${SETTLE_FAST} s (the others) after the last frame; $RUNS runs, capturers in turn;"
echo "   generators and capturers at nice $NICE, each in a session of its own"
print_status "${CAPS[@]}"
ROWS1=()
for load in $LOADS; do ROWS1+=("$(fmt_load "$load")|L$load|capture.load_$(fmt_load "$load")|$(npkts "$load")"); done
for ((r = 1; r <= RUNS; r++)); do
    for load in $LOADS; do steps w "$BUF_KIB" "${CAPS[*]}" "L$load" "$load" "$(npkts "$load")" load; done
    printf '   round %d/%d done\n' "$r" "$RUNS"
done
for load in $LOADS; do summary "capture.load_$(fmt_load "$load").offered_pps=$load"; done
echo
table offered "${CAPS[*]}" "${ROWS1[@]}"
echo "  (medians of $RUNS runs; tx pps: the generator's rate while that capturer listened; capture"
echo "   pps = captured / the generator's seconds; loss % = (sent - captured) / sent; k. drops: the"
echo "   capturer's own count of packets its ring had no room for; CPU ns/p: the capturer's CPU time"
echo "   from the first frame to the SIGINT / packets captured ($cpu_src, all threads); other %:"
echo "   in parts 2 and 3 only)"
case $irqacct in
no)  echo "   Here CPU $CAP_CPU also runs B's receive softirq, and CPU ns/p includes the part of it that ran"
     echo "   while the capturer was the current task (this kernel has no CONFIG_IRQ_TIME_ACCOUNTING):"
     echo "   part 2 has the capturer's own cost";;
yes) echo "   Here CPU $CAP_CPU also runs B's receive softirq (kept out of CPU ns/p: this kernel has"
     echo "   CONFIG_IRQ_TIME_ACCOUNTING=y)";;
*)   echo "   Here CPU $CAP_CPU also runs B's receive softirq: CPU ns/p may include the part of it run while"
     echo "   the capturer was current (kernels without CONFIG_IRQ_TIME_ACCOUNTING charge it so): part 2"
     echo "   has the capturer's own cost";;
esac
echo
echo "  ratios, above 1: sysnet better (captured more per second / spent less CPU per packet):"
ratios "tcpdump netsniff" "${ROWS1[@]}"

# ---- 2. the capturer alone on its CPU: default ring and a small one ----------------
echo
rps 0
OTHER_OK=1
if [ "$ncpu" -lt 2 ]; then
    echo "-- 2. capturer alone on its CPU: skipped (one CPU)"
    summary "capture.alone=skipped_one_cpu"
else
    echo "-- 2. capturer alone on CPU $CAP_CPU: B's end receives inside the generator's send(2) on CPU"
    echo "   $GEN_CPU (no RPS), so the kernel's receive work (veth, the copy into the ring) is not on"
    echo "   the capturer's CPU; $(npkts 0) frames as fast as the generator goes, rings of $(echo $ALONE_KIB | sed 's/ /, /g') KiB,"
    echo "   writing to /dev/null; $RUNS runs, capturers in turn"
    print_status "${CAPS[@]}"
    ROWS2=()
    for kib in $ALONE_KIB; do ROWS2+=("${kib}K|R$kib|capture.alone.ring_${kib}k|$(npkts 0)"); done
    for ((r = 1; r <= RUNS; r++)); do
        for kib in $ALONE_KIB; do steps w "$kib" "${CAPS[*]}" "R$kib" 0 "$(npkts 0)" alone; done
        printf '   round %d/%d done\n' "$r" "$RUNS"
    done
    echo
    table ring "${CAPS[*]}" "${ROWS2[@]}"
    echo "  (as in part 1; CPU ns/p is the capturer's own work: reading the ring, writing the pcap"
    echo "   records, its system calls; 1e9 / CPU ns/p is what a core of its own would absorb. other %:"
    echo "   the share of CPU $CAP_CPU that went to anything but the capturer while the frames flowed, i.e."
    echo "   other programs on this machine: above a few %, they competed with the capturer for CPU $CAP_CPU"
    echo "   (which runs at nice $NICE), and drops may owe to them)"
    echo
    echo "  ratios, above 1: sysnet better:"
    ratios "tcpdump netsniff" "${ROWS2[@]}"
fi

# ---- 3. decoding: text lines to /dev/null ------------------------------------------
echo
echo "-- 3. decoding: \`sysnet sniff -n -i IF -B $BUF_KIB > /dev/null\` against \`tcpdump -n -i IF -B $BUF_KIB"
echo "   > /dev/null\`, capturer alone on CPU $CAP_CPU, receive on CPU $GEN_CPU as in part 2; $RUNS runs"
print_status "${DCAPS[@]}"
# The same 3 frames printed by both, side by side: the same work per line.
if [ "${STATUS[sysnet]}" = ok ] && [ "${STATUS[tcpdump]}" = ok ]; then
    ip netns exec "$NB" "${BOOST[@]}" taskset -c "$CAP_CPU" "$SN" sniff -n -i "$IB" -c 3 > "$work/s.sysnet" 2>/dev/null &
    p1=$!
    ip netns exec "$NB" "${BOOST[@]}" taskset -c "$CAP_CPU" tcpdump -n -i "$IB" -c 3 > "$work/s.tcpdump" 2>/dev/null &
    p2=$!
    if wait_ready "$p1" && wait_ready "$p2" && gen --count 3 --rate 1000 > /dev/null 2>&1; then
        for ((i = 0; i < 60; i++)); do
            kill -0 "$p1" 2>/dev/null || kill -0 "$p2" 2>/dev/null || break; sleep 0.05
        done
    fi
    kill -KILL "$p1" "$p2" 2>/dev/null; wait "$p1" "$p2" 2>/dev/null
    echo "   the same frame, as each prints it:"
    echo "     sysnet:  $(head -n 1 "$work/s.sysnet")"
    echo "     tcpdump: $(head -n 1 "$work/s.tcpdump")"
fi
ROWS3=()
for load in $DLOADS; do ROWS3+=("$(fmt_load "$load")|D$load|capture.decode.load_$(fmt_load "$load")|$(npkts "$load")"); done
for ((r = 1; r <= RUNS; r++)); do
    for load in $DLOADS; do steps p "$BUF_KIB" "${DCAPS[*]}" "D$load" "$load" "$(npkts "$load")" decode; done
    printf '   round %d/%d done\n' "$r" "$RUNS"
done
echo
table offered "${DCAPS[*]}" "${ROWS3[@]}"
echo "  (as in part 2; CPU ns/p: the capturer's own work, decoding and printing included; where it"
echo "   drops, capture pps x CPU ns/p near 1e9 means it had CPU $CAP_CPU to itself and was too slow)"
echo
echo "  ratios, above 1: sysnet better:"
ratios "tcpdump" "${ROWS3[@]}"

# ---- 4. transmit: bench_capture tx against trafgen ----------------------------------
echo
echo "-- 4. transmit: $TXP frames of $SIZE bytes as fast as possible on the same veth, nothing"
echo "   capturing; B's end receives on the sender's CPU $GEN_CPU (no RPS: trafgen stops at the first"
echo "   EAGAIN of a full socket buffer); both with PACKET_QDISC_BYPASS, one process on CPU $GEN_CPU"
rps 0
TG=ok
command -v trafgen >/dev/null 2>&1 || TG=missing
cfg=$work/frames.cfg
"$BC" trafgen-conf --size "$SIZE" --src-mac "$MAC_A" --dst-mac "$MAC_TO" > "$cfg" || TG=failed
declare -A TSELF TWALL
TSELF[sysnet]="" TSELF[trafgen]="" TWALL[sysnet]="" TWALL[trafgen]=""
tx_ok=ok
for ((r = 1; r <= RUNS; r++)); do
    s=$(now_us)
    if line=$(gen --count "$TXP" 2> "$work/gen.err"); then
        e=$(now_us)
        TSELF[sysnet]+="$(field pps <<< "$line") "
        TWALL[sysnet]+="$(awk -v n="$TXP" -v t=$((e - s)) 'BEGIN { printf "%.0f", n / (t / 1e6) }') "
    else
        echo "   generator failed: $(tail -n 1 "$work/gen.err")"; tx_ok=failed; fail=1
    fi
    if [ "$TG" = ok ]; then
        # -P 1: one process (pinned to CPU 0 by trafgen itself); --no-sock-mem and
        # --notouch-irq: leave the system's socket memory and IRQ affinity alone.
        s=$(now_us)
        ip netns exec "$NA" "${BOOST[@]}" taskset -c "$GEN_CPU" trafgen -i "$cfg" -o "$IA" -P 1 -n "$TXP" \
            --no-sock-mem --notouch-irq > "$work/tg.out" 2>&1
        rc=$? e=$(now_us)
        # "N packets outgoing" and "S sec, U usec on CPU0 (N packets)": its own clock
        read -r out tsec <<< "$(tr -d '\r' < "$work/tg.out" | awk '/packets outgoing/ { o = $1 }
                                     /usec on CPU/ { t += $1 + $3 / 1e6 } END { print o + 0, t + 0 }')"
        if [ $rc = 0 ] && [ "$out" = "$TXP" ] && [ "$tsec" != 0 ]; then
            TSELF[trafgen]+="$(awk -v n="$TXP" -v t="$tsec" 'BEGIN { printf "%.0f", n / t }') "
            TWALL[trafgen]+="$(awk -v n="$TXP" -v t=$((e - s)) 'BEGIN { printf "%.0f", n / (t / 1e6) }') "
        else
            TG=failed
            echo "   trafgen failed (exit $rc, $out frames sent): $(grep -v '^ *$' "$work/tg.out" | tail -n 2 | tr '\n' ' ')"
        fi
    fi
done
printf '  %-24s %14s %14s\n' generator "packets/s" "wall packets/s"
txrow() { # $1 name $2 key $3 status
    if [ "$3" != ok ] || [ -z "${TSELF[$2]}" ]; then
        local why="failed"; [ "$3" = missing ] && why="peer missing"
        printf '  %-24s %14s\n' "$1" "$why"
        summary "capture.tx.$2_pps=${why// /_}"
        return
    fi
    M[TX|$2]=$(echo "${TSELF[$2]}" | median) M[TXW|$2]=$(echo "${TWALL[$2]}" | median)
    printf '  %-24s %14.0f %14.0f\n' "$1" "${M[TX|$2]}" "${M[TXW|$2]}"
    summary "capture.tx.$2_pps=$(printf '%.0f' "${M[TX|$2]}")"
    summary "capture.tx.$2_wall_pps=$(printf '%.0f' "${M[TXW|$2]}")"
}
txrow "bench_capture tx --bypass" sysnet "$tx_ok"
txrow "trafgen -P 1" trafgen "$TG"
summary "capture.tx.packets=$TXP"
if [ -n "${M[TX|sysnet]:-}" ] && [ -n "${M[TX|trafgen]:-}" ]; then
    v=$(awk -v s="${M[TX|sysnet]}" -v p="${M[TX|trafgen]}" 'BEGIN { printf "%.2f", s / p }')
    w=$(awk -v s="${M[TXW|sysnet]}" -v p="${M[TXW|trafgen]}" 'BEGIN { printf "%.2f", s / p }')
    echo "  sysnet/trafgen: $v (wall: $w)"
    summary "capture.tx.sysnet_over_trafgen=$v"
    summary "capture.tx.sysnet_over_trafgen_wall=$w"
fi
echo "  (medians of $RUNS runs; packets/s by each program's own clock, from its first frame to"
echo "   the last one sent; wall: from process start to exit)"
for k in "${!SFAIL[@]}"; do fail=1; done
[ "$TG" = failed ] && fail=1
echo
echo "  (bench/capture took $((SECONDS - T0)) s)"
summary "capture.seconds=$((SECONDS - T0))"
exit $fail
