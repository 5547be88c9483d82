#!/usr/bin/env bash
# bench/capture/run.sh — the capture benchmark (bench/README.md explains every number):
#   1. a veth pair between two network namespaces made here (sn-capA-PID, sn-capB-PID)
#      is flooded by our TX-ring generator (bench_capture tx, in A, on CPU 0) at fixed
#      offered loads; in B, on CPU 1, `sysnet sniff -i`, `tcpdump` and `netsniff-ng`
#      take turns capturing to /dev/null: packets captured, capture packets/s, loss %
#      and the kernel's drop count of each, same load, same run;
#   2. transmit packets/s of our generator against trafgen, same frames, same veth.
# Medians of BENCH_RUNS runs (default 3). Needs root; the traffic never leaves the
# two namespaces (addresses from 198.18.0.0/15), which are removed on exit.
set -u
cd "$(dirname "$0")/../.." || exit 1
BUILD=${BUILD:-build}
BC=$BUILD/bench/capture/bench_capture
SN=$BUILD/sysnet
RUNS=${BENCH_RUNS:-3}
LOADS=${BENCH_CAPTURE_LOADS:-100000 300000 1000000 0}   # packets/s; 0 = as fast as possible
STEP_S=${BENCH_CAPTURE_SECONDS:-1.5}                    # seconds of traffic per step ...
MAXP=${BENCH_CAPTURE_MAX_PACKETS:-1000000}              # ... but at most this many packets
SIZE=${BENCH_CAPTURE_SIZE:-60}                          # frame bytes without the FCS
BUF_KIB=${BENCH_CAPTURE_BUFFER_KIB:-4096}               # every capturer's ring/buffer
TXP=${BENCH_CAPTURE_TX_PACKETS:-1500000}                # frames per transmit run (part 2)
SETTLE=${BENCH_CAPTURE_SETTLE:-1.2}                     # seconds between the last frame and SIGINT
CAPS=(sysnet tcpdump netsniff)

if [ "$(id -u)" != 0 ]; then
    echo "bench/capture: skipped: needs root (network namespaces)"
    exit 0
fi
for c in ip taskset; do
    command -v "$c" >/dev/null 2>&1 || { echo "bench/capture: skipped: $c is missing"; exit 0; }
done
[ -x "$BC" ] || { echo "bench/capture: $BC is missing: make all $BC"; exit 1; }
for v in "$RUNS" "$MAXP" "$SIZE" "$BUF_KIB" "$TXP" $LOADS; do
    case $v in ''|*[!0-9]*) echo "bench/capture: BENCH_RUNS, BENCH_CAPTURE_{LOADS,MAX_PACKETS,SIZE,BUFFER_KIB,TX_PACKETS} want numbers"; exit 2;; esac
done
for v in "$STEP_S" "$SETTLE"; do
    case $v in ''|*[!0-9.]*) echo "bench/capture: BENCH_CAPTURE_SECONDS and BENCH_CAPTURE_SETTLE want seconds"; exit 2;; esac
done
if [ "$RUNS" -lt 1 ] || [ "$MAXP" -lt 1 ] || [ "$TXP" -lt 1 ]; then
    echo "bench/capture: BENCH_RUNS and the packet counts must be >= 1"; exit 2
fi
if [ "$SIZE" -lt 42 ] || [ "$SIZE" -gt 1514 ]; then
    echo "bench/capture: BENCH_CAPTURE_SIZE must be 42..1514 (the veth's MTU is 1500)"; exit 2
fi

summary() { if [ -n "${BENCH_SUMMARY:-}" ]; then echo "$1" >> "$BENCH_SUMMARY"; fi; }
fail=0

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

# Receive Packet Steering on B's end: where the receiving half of the veth runs.
# mask 0: on the sender's CPU, inside its send(2); else on that CPU (a softirq).
rps() { ip netns exec "$NB" sh -c "echo $1 > /sys/class/net/$IB/queues/rx-0/rps_cpus" 2>/dev/null; }

gen() { # bench_capture tx on A's end, pinned; extra options follow
    ip netns exec "$NA" taskset -c "$GEN_CPU" "$BC" tx "$IA" --bypass --size "$SIZE" \
        --src-mac "$MAC_A" --dst-mac "$MAC_B" "$@"
}
field() { sed -n "s/.*[[:space:]]$1=\([^[:space:]]*\).*/\1/p"; } # key=value out of a tx line

now_us() { local t=${EPOCHREALTIME:-}; if [ -n "$t" ]; then t=${t/[.,]/}; echo "$t"; else echo $(( $(date +%s%N) / 1000 )); fi; }
# "median" of the numbers on stdin (an even count: the mean of the middle two)
median() { tr ' ' '\n' | grep . | sort -g | awk '{ v[NR] = $1 } END { if (NR == 0) exit 1;
    m = NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2; printf "%.6f\n", m }'; }
fmt_load() { case $1 in 0) echo max;; *000000) echo "$(( $1 / 1000000 ))M";; *000) echo "$(( $1 / 1000 ))k";; *) echo "$1";; esac; }

# ---- the capturers --------------------------------------------------------------
declare -A STATUS WHY
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

# Start capturer $1 in B, pinned, every one with a BUF_KIB ring, promiscuous (each
# one's default), no filter, packets to /dev/null. Sets cap_pid.
start_capturer() {
    local out=$work/$1.out err=$work/$1.err
    case $1 in
    sysnet)   ip netns exec "$NB" taskset -c "$CAP_CPU" "$SN" sniff -i "$IB" -w /dev/null -q \
                  -B "$BUF_KIB" > "$out" 2> "$err" & ;;
    tcpdump)  ip netns exec "$NB" taskset -c "$CAP_CPU" tcpdump -i "$IB" -w /dev/null -n \
                  -B "$BUF_KIB" > "$out" 2> "$err" & ;;
    netsniff) ip netns exec "$NB" taskset -c "$CAP_CPU" netsniff-ng --in "$IB" --out /dev/null \
                  --silent --ring-size "${BUF_KIB}KiB" --no-sock-mem --notouch-irq > "$out" 2> "$err" & ;;
    esac
    cap_pid=$!
}
# Ready when a packet socket exists in B (only capturers open one there), plus a
# moment for its ring. 1 if the capturer died or took more than 5 s.
# (/proc/PID/net is the namespace of PID: checked to be B's first, since for an
# instant the process is still `ip netns exec` in ours.)
wait_ready() {
    local i n want
    want="net:[$(stat -L -c %i "/run/netns/$NB" 2>/dev/null)]"
    for ((i = 0; i < 100; i++)); do
        kill -0 "$cap_pid" 2>/dev/null || return 1
        n=0
        if [ "$(readlink "/proc/$cap_pid/ns/net" 2>/dev/null)" = "$want" ]; then
            n=$(wc -l < "/proc/$cap_pid/net/packet" 2>/dev/null || echo 0)
        fi
        if [ "$n" -gt 1 ]; then sleep 0.3; return 0; fi
        sleep 0.05
    done
    return 1
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
#   netsniff-ng:     "N packets passed filter" less "(U unread on exit)", and
#                    "N packets failed filter (out of space)" = ring drops (stdout)
parse_capture() {
    case $1 in
    sysnet|tcpdump)
        awk '/packets? captured/ { c = $1 } /packets? dropped by kernel/ { d = $1 }
             END { if (c != "" && d != "") print c, d }' "$work/$1.err" ;;
    netsniff)
        cat "$work/$1.out" "$work/$1.err" | tr -d '\r' | awk '
             /packets incoming/ { u = $0; sub(/.*\(/, "", u); sub(/ unread.*/, "", u) }
             /packets passed filter/ { p = $1 } /packets failed filter/ { d = $1 }
             END { if (p != "" && d != "") print p - u, d }' ;;
    esac
}

# ---- 1. capture at fixed offered loads ---------------------------------------------
declare -A TXPPS CAPT CPPS LOSS KDROP NPKT
for load in $LOADS; do
    if [ "$load" = 0 ]; then NPKT[$load]=$MAXP; else
        NPKT[$load]=$(awk -v r="$load" -v s="$STEP_S" -v m="$MAXP" 'BEGIN { n = int(r * s + 0.5); if (n > m) n = m; if (n < 1) n = 1; print n }')
    fi
    for c in "${CAPS[@]}"; do TXPPS[$load,$c]="" CAPT[$load,$c]="" CPPS[$load,$c]="" LOSS[$load,$c]="" KDROP[$load,$c]=""; done
done
mask=$(printf '%x' $(( 1 << CAP_CPU )))
if [ "$ncpu" -ge 2 ] && rps "$mask"; then
    where="the receive path of B's veth end on CPU $CAP_CPU too (RPS)"
else
    where="the receive path on the generator's CPU (no RPS)"
fi
echo "-- 1. capture: ${SIZE}-byte UDP frames over a veth pair, generator (bench_capture tx --bypass)"
echo "   on CPU $GEN_CPU, capturer on CPU $CAP_CPU with $where;"
echo "   each capturer with a ${BUF_KIB} KiB ring, writing to /dev/null, stopped by SIGINT ${SETTLE} s"
echo "   after the last frame; $RUNS runs, capturers in turn in each"
for c in "${CAPS[@]}"; do
    case ${STATUS[$c]} in
    na) echo "   sysnet: not available: ${WHY[$c]}";;
    missing) echo "   $(label "$c"): peer missing";;
    esac
done
for ((r = 1; r <= RUNS; r++)); do
    for load in $LOADS; do
        n=${NPKT[$load]}
        for c in "${CAPS[@]}"; do
            [ "${STATUS[$c]}" = ok ] || continue
            start_capturer "$c"
            if ! wait_ready; then
                stop_capturer
                STATUS[$c]=failed
                echo "   $(label "$c") did not start: $(cat "$work/$c.out" "$work/$c.err" | grep -v '^Cannot set' | tail -n 2 | tr '\n' ' ')"
                continue
            fi
            if ! line=$(gen --count "$n" --rate "$load" 2> "$work/gen.err"); then
                stop_capturer
                echo "   generator failed: $(tail -n 1 "$work/gen.err")"
                fail=1; continue
            fi
            sleep "$SETTLE"
            stopped=ok; stop_capturer || stopped=stuck
            res=$(parse_capture "$c")
            if [ "$stopped" != ok ] || [ -z "$res" ]; then
                STATUS[$c]=failed
                echo "   $(label "$c") gave no statistics ($stopped): $(cat "$work/$c.out" "$work/$c.err" | grep -v '^Cannot set' | tail -n 3 | tr '\n' ' ')"
                continue
            fi
            read -r got drops <<< "$res"
            sent=$(field frames <<< "$line") secs=$(field seconds <<< "$line") txpps=$(field pps <<< "$line")
            TXPPS[$load,$c]+="$txpps " CAPT[$load,$c]+="$got " KDROP[$load,$c]+="$drops "
            CPPS[$load,$c]+="$(awk -v g="$got" -v s="$secs" 'BEGIN { printf "%.0f", (s > 0 ? g / s : 0) }') "
            LOSS[$load,$c]+="$(awk -v g="$got" -v n="$sent" 'BEGIN { printf "%.4f", 100 * (n - g) / n }') "
            if [ "$got" -gt "$sent" ]; then echo "   note: $(label "$c") captured $got packets of $sent sent (other traffic?)"; fi
        done
    done
    printf '   round %d/%d done\n' "$r" "$RUNS"
done
rps 0

declare -A M
echo
printf '  %-8s %-13s %11s %10s %10s %12s %8s %12s\n' offered capturer "tx pps" sent captured "capture pps" "loss %" "kernel drops"
for load in $LOADS; do
    L=$(fmt_load "$load") first=1
    summary "capture.load_$L.offered_pps=$load"
    summary "capture.load_$L.packets=${NPKT[$load]}"
    for c in "${CAPS[@]}"; do
        shown=$L; [ $first = 1 ] || shown=""; first=0
        k="capture.load_$L.$(key "$c")"
        if [ -z "${CAPT[$load,$c]}" ]; then
            case ${STATUS[$c]} in
            na) why="not available";; missing) why="peer missing";; *) why="failed";;
            esac
            summary "$k.capture_pps=${why// /_}"
            [ "$c" = sysnet ] && [ "$why" = "not available" ] && why="sysnet: not available"
            printf '  %-8s %-13s %s\n' "$shown" "$(label "$c")" "$why"
            continue
        fi
        for m in TXPPS CAPT CPPS LOSS KDROP; do
            declare -n arr=$m
            M[$m,$load,$c]=$(echo "${arr[$load,$c]}" | median)
            unset -n arr
        done
        awk -v l="$shown" -v c="$(label "$c")" -v t="${M[TXPPS,$load,$c]}" -v n="${NPKT[$load]}" \
            -v g="${M[CAPT,$load,$c]}" -v p="${M[CPPS,$load,$c]}" -v s="${M[LOSS,$load,$c]}" -v d="${M[KDROP,$load,$c]}" \
            'BEGIN { printf "  %-8s %-13s %11.0f %10d %10.0f %12.0f %8.2f %12.0f\n", l, c, t, n, g, p, s, d }'
        summary "$k.tx_pps=$(printf '%.0f' "${M[TXPPS,$load,$c]}")"
        summary "$k.captured=$(printf '%.0f' "${M[CAPT,$load,$c]}")"
        summary "$k.capture_pps=$(printf '%.0f' "${M[CPPS,$load,$c]}")"
        summary "$k.loss_pct=$(printf '%.2f' "${M[LOSS,$load,$c]}")"
        summary "$k.kernel_drops=$(printf '%.0f' "${M[KDROP,$load,$c]}")"
    done
done
echo "  (medians of $RUNS runs; tx pps: the generator's rate while that capturer listened; capture"
echo "   pps = captured / the generator's seconds; loss % = (sent - captured) / sent; kernel drops:"
echo "   the capturer's own count of packets its ring had no room for)"
echo
echo "  capture pps ratios, sysnet/peer (above 1: sysnet captured more per second):"
printf '  %-8s %16s %20s\n' offered sysnet/tcpdump sysnet/netsniff-ng
for load in $LOADS; do
    L=$(fmt_load "$load") cells=()
    for c in tcpdump netsniff; do
        if [ -n "${M[CPPS,$load,sysnet]:-}" ] && [ -n "${M[CPPS,$load,$c]:-}" ]; then
            v=$(awk -v s="${M[CPPS,$load,sysnet]}" -v p="${M[CPPS,$load,$c]}" 'BEGIN { if (p > 0) printf "%.2f", s / p; else print "-" }')
            [ "$v" != "-" ] && summary "capture.load_$L.sysnet_over_$(key "$c")=$v"
        elif [ -z "${M[CPPS,$load,sysnet]:-}" ]; then v="sysnet n/a"
        else v="peer n/a"; fi
        cells+=("$v")
    done
    printf '  %-8s %16s %20s\n' "$L" "${cells[0]}" "${cells[1]}"
done

# ---- 2. transmit: bench_capture tx against trafgen ----------------------------------
echo
echo "-- 2. transmit: $TXP frames of $SIZE bytes as fast as possible on the same veth, nothing"
echo "   capturing; B's end receives on the sender's CPU $GEN_CPU (no RPS: trafgen stops at the first"
echo "   EAGAIN of a full socket buffer); both with PACKET_QDISC_BYPASS, one process on CPU $GEN_CPU"
TG=ok
command -v trafgen >/dev/null 2>&1 || TG=missing
cfg=$work/frames.cfg
"$BC" trafgen-conf --size "$SIZE" --src-mac "$MAC_A" --dst-mac "$MAC_B" > "$cfg" || TG=failed
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
        ip netns exec "$NA" taskset -c "$GEN_CPU" trafgen -i "$cfg" -o "$IA" -P 1 -n "$TXP" \
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
    M[TX,$2]=$(echo "${TSELF[$2]}" | median) M[TXW,$2]=$(echo "${TWALL[$2]}" | median)
    printf '  %-24s %14.0f %14.0f\n' "$1" "${M[TX,$2]}" "${M[TXW,$2]}"
    summary "capture.tx.$2_pps=$(printf '%.0f' "${M[TX,$2]}")"
    summary "capture.tx.$2_wall_pps=$(printf '%.0f' "${M[TXW,$2]}")"
}
txrow "bench_capture tx --bypass" sysnet "$tx_ok"
txrow "trafgen -P 1" trafgen "$TG"
summary "capture.tx.packets=$TXP"
if [ -n "${M[TX,sysnet]:-}" ] && [ -n "${M[TX,trafgen]:-}" ]; then
    v=$(awk -v s="${M[TX,sysnet]}" -v p="${M[TX,trafgen]}" 'BEGIN { printf "%.2f", s / p }')
    w=$(awk -v s="${M[TXW,sysnet]}" -v p="${M[TXW,trafgen]}" 'BEGIN { printf "%.2f", s / p }')
    echo "  sysnet/trafgen: $v (wall: $w)"
    summary "capture.tx.sysnet_over_trafgen=$v"
    summary "capture.tx.sysnet_over_trafgen_wall=$w"
fi
echo "  (medians of $RUNS runs; packets/s by each program's own clock, from its first frame to"
echo "   the last one sent; wall: from process start to exit)"
for c in "${CAPS[@]}"; do [ "${STATUS[$c]}" = failed ] && fail=1; done
[ "$TG" = failed ] && fail=1
exit $fail
