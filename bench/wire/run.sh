#!/usr/bin/env bash
# bench/wire/run.sh — the wire benchmark (bench/README.md explains every number):
#   1. sn_csum GB/s beside memcpy and a naive RFC 1071 loop, on the same buffers;
#   2. sn_dissect ns/packet over the `sysnet lab --set demo` mix, in memory;
#   3. `sysnet sniff` against tcpdump and tshark, reading the same capture of
#      BENCH_PACKETS packets (default 1000000) made by cycling that mix.
# Whole programs: median wall time of BENCH_RUNS runs (default 3), the programs taking
# turns within each round. Reads and writes files only (a temporary directory); no traffic.
set -u
cd "$(dirname "$0")/../.." || exit 1
BUILD=${BUILD:-build}
BW=$BUILD/bench/wire/bench_wire
SN=$BUILD/sysnet
N=${BENCH_PACKETS:-1000000}
RUNS=${BENCH_RUNS:-3}
FIELDS=(ip.src ip.dst tcp.srcport tcp.dstport tcp.flags)

for f in "$BW" "$SN"; do
    [ -x "$f" ] || { echo "bench/wire: $f is missing: make all $BW"; exit 1; }
done
case "$N$RUNS" in *[!0-9]*) echo "bench/wire: BENCH_PACKETS and BENCH_RUNS want numbers"; exit 2;; esac
if [ "$N" -lt 1 ] || [ "$RUNS" -lt 1 ]; then echo "bench/wire: BENCH_PACKETS and BENCH_RUNS must be >= 1"; exit 2; fi

work=$(mktemp -d "${TMPDIR:-/tmp}/sn-bench-wire.XXXXXX") || exit 1
trap 'rm -rf "$work"' EXIT
summary() { if [ -n "${BENCH_SUMMARY:-}" ]; then echo "$1" >> "$BENCH_SUMMARY"; fi; }
fail=0

echo "-- 1. checksum (bench_wire csum)"
"$BW" csum || fail=1

echo
echo "-- 2. dissection (bench_wire dissect, over the packets of sysnet lab --set demo)"
mix=$work/mix.pcap
if ! "$SN" lab --set demo -q -w "$mix" > "$work/lab.out" 2>&1; then
    echo "bench/wire: sysnet lab failed:"; cat "$work/lab.out"; exit 1
fi
"$BW" dissect "$mix" || fail=1

echo
echo "-- 3. whole programs on one capture (bench_wire mkpcap, then sysnet sniff / tcpdump / tshark)"
big=$work/big.pcap
"$BW" mkpcap "$mix" "$big" "$N" || exit 1
mb=$(awk -v b="$(stat -c %s "$big")" 'BEGIN { printf "%.1f", b / 1e6 }')

efields=()
for f in "${FIELDS[@]}"; do efields+=(-e "$f"); done

# Check once, untimed, that sysnet reads every packet and prints one line for each.
got=$("$SN" sniff -r "$big" --count 2>&1)
lines=$("$SN" sniff -r "$big" -T fields "${efields[@]}" 2>/dev/null | wc -l)
if [ "$got" != "$N" ] || [ "$lines" != "$N" ]; then
    echo "bench/wire: sysnet sniff read $got packets and printed $lines field lines, not $N"; fail=1
fi

# The contestants, in the order they take turns; each writes to /dev/null.
ORDER=(sysnet_text tcpdump_text tshark_text sysnet_fields tshark_fields)
need() { case $1 in sysnet_*) echo "$SN";; tcpdump_*) echo tcpdump;; tshark_*) echo tshark;; esac; }
contestant() {
    case $1 in
    sysnet_text)   "$SN" sniff -r "$big" ;;
    tcpdump_text)  tcpdump -n -r "$big" ;;
    tshark_text)   tshark -n -r "$big" ;;
    sysnet_fields) "$SN" sniff -r "$big" -T fields "${efields[@]}" ;;
    tshark_fields) tshark -n -r "$big" -T fields "${efields[@]}" ;;
    esac
}

declare -A TIMES STATUS
for k in "${ORDER[@]}"; do
    if command -v "$(need "$k")" >/dev/null 2>&1; then STATUS[$k]=ok; else STATUS[$k]=missing; fi
    TIMES[$k]=""
done

now_us() { local t=${EPOCHREALTIME:-}; if [ -n "$t" ]; then t=${t/[.,]/}; echo "$t"; else echo $(( $(date +%s%N) / 1000 )); fi; }

echo "   timing: $RUNS rounds; in each, every program reads $N packets ($mb MB, in the page cache)"
for ((r = 1; r <= RUNS; r++)); do
    for k in "${ORDER[@]}"; do
        [ "${STATUS[$k]}" = ok ] || continue
        s=$(now_us)
        if contestant "$k" > /dev/null 2> "$work/$k.err"; then
            e=$(now_us)
            TIMES[$k]+="$((e - s)) "
        else
            STATUS[$k]="failed"
            echo "   $k failed: $(tail -n 2 "$work/$k.err" | tr '\n' ' ')"
        fi
    done
    printf '   round %d/%d done\n' "$r" "$RUNS"
done

# "median min max" of the microsecond times on stdin (median of an even count: mean of the middle two).
stats_us() { tr ' ' '\n' | grep . | sort -n | awk '{ v[NR] = $1 } END { if (NR == 0) exit 1;
    m = NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2; printf "%d %d %d\n", m, v[1], v[NR] }'; }
declare -A MED SPREAD
for k in "${ORDER[@]}"; do
    [ "${STATUS[$k]}" = ok ] || continue
    read -r med min max < <(echo "${TIMES[$k]}" | stats_us)
    MED[$k]=$med
    SPREAD[$k]=$(awk -v a="$min" -v b="$max" -v m="$med" 'BEGIN { printf "%.0f%%", 100 * (b - a) / m }')
done

# row LABEL KEY SYSNETKEY GROUP PEER: one line of the table plus its summary keys.
row() {
    local label=$1 k=$2 base=$3 group=$4 peer=$5
    if [ "${STATUS[$k]}" != ok ]; then
        local why="peer missing"; [ "${STATUS[$k]}" = failed ] && why="failed"
        printf '  %-42s %9s\n' "$label" "$why"
        summary "wire.$group.${peer}_pps=${why// /_}"
        return
    fi
    local t=${MED[$k]} ratio="-"
    if [ "$k" != "$base" ] && [ "${STATUS[$base]}" = ok ]; then
        ratio=$(awk -v p="$t" -v s="${MED[$base]}" 'BEGIN { printf "%.2f", p / s }')
        summary "wire.$group.sysnet_per_$peer=$ratio"
    fi
    awk -v l="$label" -v t="$t" -v n="$N" -v r="$ratio" -v sp="${SPREAD[$k]}" \
        'BEGIN { printf "  %-42s %9.3f %7s %12.0f %8.3f %12s\n", l, t / 1e6, sp, n / (t / 1e6), n / (t / 1e6) / 1e6, r }'
    summary "wire.$group.${peer}_s=$(awk -v t="$t" 'BEGIN { printf "%.3f", t / 1e6 }')"
    summary "wire.$group.${peer}_pps=$(awk -v t="$t" -v n="$N" 'BEGIN { printf "%.0f", n / (t / 1e6) }')"
}

echo
echo "sniff: $N packets ($mb MB pcap), median wall time of $RUNS runs, stdout to /dev/null"
printf '  %-42s %9s %7s %12s %8s %12s\n' "text summaries" "seconds" "spread" "packets/s" "Mpps" "sysnet/peer"
row "sysnet sniff -r F"                         sysnet_text  sysnet_text sniff_text sysnet
row "tcpdump -n -r F"                           tcpdump_text sysnet_text sniff_text tcpdump
row "tshark -n -r F"                            tshark_text  sysnet_text sniff_text tshark
printf '  %s\n' "fields: -T fields -e ${FIELDS[*]}"
row "sysnet sniff -r F -T fields -e ... (5)"    sysnet_fields sysnet_fields sniff_fields sysnet
row "tshark -n -r F -T fields -e ... (5)"       tshark_fields sysnet_fields sniff_fields tshark
echo "  (sysnet/peer = peer time / sysnet time: how many times faster sysnet is;"
echo "   spread = (slowest - fastest) / median over the $RUNS runs)"
summary "wire.sniff.packets=$N"
for k in "${ORDER[@]}"; do [ "${STATUS[$k]}" = failed ] && fail=1; done
exit $fail
