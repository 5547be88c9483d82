#!/usr/bin/env bash
# bench/codec/run.sh — the codec benchmark (bench/README.md, "codec" explains every number):
# one Order message (bench/codec/order.proto: 10 fields, 2 strings, 3 fills) through
# sysnet-protobuf (snc), sysnet-flat (snc --flat, when it exists), protobuf-c, Cap'n Proto
# and FlatBuffers, and one ITCH 5.0 Add Order through sn_itch_* and a memcpy baseline:
# encode ns, decode ns (every field read), read ns (bytes to one field), wire bytes,
# allocations per op. Each program runs BENCH_MICRO_RUNS times (default 7), the programs
# taking turns within each round; the table gives medians. Before timing, the encodings
# are cross-checked (sysnet-protobuf and protobuf-c byte-identical, each decoding the
# other's bytes to the reference values). No files outside a temporary directory.
set -u
cd "$(dirname "$0")/../.." || exit 1
BUILD=${BUILD:-build}
D=$BUILD/bench/codec
RUNS=${BENCH_MICRO_RUNS:-7}
ITERS=${BENCH_CODEC_ITERS:-200000}
case "$RUNS$ITERS" in *[!0-9]*) echo "bench/codec: BENCH_MICRO_RUNS and BENCH_CODEC_ITERS want numbers"; exit 2;; esac
if [ "$RUNS" -lt 1 ] || [ "$ITERS" -lt 1 ]; then echo "bench/codec: BENCH_MICRO_RUNS and BENCH_CODEC_ITERS must be >= 1"; exit 2; fi
[ -x "$D/bench_codec" ] || { echo "bench/codec: $D/bench_codec is missing: make $D/bench_codec"; exit 1; }

work=$(mktemp -d "${TMPDIR:-/tmp}/sn-bench-codec.XXXXXX") || exit 1
trap 'rm -rf "$work"' EXIT
summary() { if [ -n "${BENCH_SUMMARY:-}" ]; then echo "$1" >> "$BENCH_SUMMARY"; fi; }
fail=0

# The programs, in the order they take turns, and the peers among them.
PROGS=(bench_codec peer_pbc peer_capnp peer_fb)
declare -A PEERNAME=([peer_pbc]="protobuf-c" [peer_capnp]="capnproto" [peer_fb]="flatbuffers")
declare -A OK
for p in "${PROGS[@]}"; do
    if [ -x "$D/$p" ]; then OK[$p]=1; else OK[$p]=0; fi
done

echo "-- cross-checks (untimed)"
"$D/bench_codec" dump "$work/snc.bin" || { echo "bench/codec: bench_codec dump failed"; exit 1; }
if "$D/bench_codec" itchcheck; then
    echo "   ITCH Add Order: sn_itch_decode/encode and the memcpy baseline agree (fields and 36 bytes)"
else
    echo "   ITCH Add Order: sn_itch_* and the memcpy baseline DISAGREE"; fail=1
fi
summary "codec.check.itch_agree=$([ $fail = 0 ] && echo 1 || echo 0)"
if [ "${OK[peer_pbc]}" = 1 ]; then
    "$D/peer_pbc" dump "$work/pbc.bin" || { echo "bench/codec: peer_pbc dump failed"; OK[peer_pbc]=0; }
fi
if [ "${OK[peer_pbc]}" = 1 ]; then
    if cmp -s "$work/snc.bin" "$work/pbc.bin"; then
        echo "   sysnet-protobuf and protobuf-c encodings: byte-identical ($(stat -c %s "$work/snc.bin") bytes)"
        summary "codec.check.pb_identical=1"
    else
        echo "   sysnet-protobuf and protobuf-c encodings DIFFER"; summary "codec.check.pb_identical=0"; fail=1
    fi
    if "$D/bench_codec" check "$work/pbc.bin" && "$D/peer_pbc" check "$work/snc.bin"; then
        echo "   each decodes the other's bytes to the reference values"
    else
        echo "   cross-decoding FAILED"; fail=1
    fi
else
    echo "   protobuf-c: peer missing (no byte comparison)"
fi
if command -v protoc >/dev/null 2>&1; then
    if protoc --decode=snbench.Order -Ibench/codec bench/codec/order.proto < "$work/snc.bin" > "$work/snc.txt" 2>&1 &&
       grep -q 'account: "ACCT-7731-PRIME"' "$work/snc.txt" && [ "$(grep -c '^fills {' "$work/snc.txt")" = 3 ]; then
        echo "   protoc --decode reads the sysnet-protobuf bytes ($(wc -l < "$work/snc.txt") lines of text format)"
    else
        echo "   protoc --decode FAILED on the sysnet-protobuf bytes:"; sed 's/^/     /' "$work/snc.txt"; fail=1
    fi
fi
"$D/bench_codec" flatcheck > "$work/flat.out"; rc=$?
case $rc in
0) echo "   sysnet-flat: verifies, every accessor gives the reference values, and from_flat re-encodes"
   echo "   to the sysnet-protobuf bytes"; summary "codec.check.flat_ok=1" ;;
3) echo "   sysnet-flat: missing ($(cat "$work/flat.out"))" ;;
*) echo "   sysnet-flat: check FAILED"; summary "codec.check.flat_ok=0"; fail=1 ;;
esac
echo "   (Cap'n Proto and FlatBuffers: each program decodes its own encoding and checks every value before timing)"

echo
echo "-- timing: $RUNS rounds of $ITERS ops per operation; in each round every program runs once"
rows=$work/rows
: > "$rows"
for ((r = 1; r <= RUNS; r++)); do
    for p in "${PROGS[@]}"; do
        [ "${OK[$p]}" = 1 ] || continue
        if "$D/$p" bench "$ITERS" > "$work/out" 2> "$work/err"; then
            awk -v r="$r" '$1 == "row" { print r, $2, $3, $4, $5, $6, $7, $8, $9 }' "$work/out" >> "$rows"
            grep '^missing ' "$work/out" > "$work/missing.$p" || true
        else
            echo "   $p failed: $(tr '\n' ' ' < "$work/err")"; OK[$p]=failed; fail=1
        fi
    done
done

# med NAME COL: the median of column COL (3 encode, 4 decode, 5 read, 6 wire, 7-9 allocs)
med() {
    awk -v n="$1" -v c="$2" '$2 == n { print $c }' "$rows" | sort -g | awk '{ v[NR] = $1 } END {
        if (NR == 0) exit 1; m = NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2; print m }'
}
key() { echo "$1" | tr -- '-:' '__'; }
have_row() { grep -q "^[0-9]* $1 " "$rows"; }

table() { # table PREFIX NAME...: the rows of these implementations
    local group=$1; shift
    printf '  %-22s %10s %10s %10s %7s %10s %10s %10s\n' impl "encode ns" "decode ns" "read ns" "wire B" "allocs/enc" "allocs/dec" "allocs/rd"
    local n
    for n in "$@"; do
        local label=${n#itch:}
        if ! have_row "$n"; then
            local why="peer missing"
            case $n in
            sysnet-flat|sysnet-flat-noverify) why="missing: $(cut -d' ' -f3- "$work"/missing.bench_codec 2>/dev/null | head -n1)";;
            esac
            [ "$why" = "missing: " ] && why="missing"
            printf '  %-22s %s\n' "$label" "$why"
            local v=peer_missing; [[ $n == sysnet-* ]] && v=missing
            summary "codec.$group.$(key "$label")=$v"
            continue
        fi
        local e d rd w ae ad ar
        e=$(med "$n" 3); d=$(med "$n" 4); rd=$(med "$n" 5); w=$(med "$n" 6)
        ae=$(med "$n" 7); ad=$(med "$n" 8); ar=$(med "$n" 9)
        printf '  %-22s %10.1f %10.1f %10.1f %7d %10.2f %10.2f %10.2f\n' "$label" "$e" "$d" "$rd" "$w" "$ae" "$ad" "$ar"
        local k; k=$(key "$label")
        summary "codec.$group.$k.encode_ns=$e"; summary "codec.$group.$k.decode_ns=$d"; summary "codec.$group.$k.read_ns=$rd"
        summary "codec.$group.$k.wire_bytes=$w"
        summary "codec.$group.$k.allocs_encode=$ae"; summary "codec.$group.$k.allocs_decode=$ad"; summary "codec.$group.$k.allocs_read=$ar"
    done
}
# ratio A B COL: med(B)/med(A) (how many times faster A is than B), or "-"
ratio() {
    local a b; a=$(med "$1" "$3") && b=$(med "$2" "$3") || { echo "-"; return; }
    awk -v a="$a" -v b="$b" 'BEGIN { if (a > 0) printf "%.2f", b / a; else print "-" }'
}

echo
echo "Order: 10 fields (2 strings) + 3 fills; median ns per op of $RUNS runs; allocations per op"
table order sysnet-protobuf sysnet-flat sysnet-flat-noverify protobuf-c capnproto flatbuffers flatbuffers-noverify
echo "  (decode = bytes to every field read; read = bytes to one field, price; encode = values to bytes."
echo "   sysnet-flat and flatbuffers run their verifier in decode and read, as untrusted input requires;
   the -noverify rows do not (trusted input only)."
echo "   capnproto: unpacked serialization with its 8-byte segment table; allocs 0 with a scratch segment)"
echo
echo "ratios (peer ns / sysnet ns: above 1 sysnet is faster)"
for op in encode:3 decode:4 read:5; do
    o=${op%%:*} c=${op##*:}
    r=$(ratio sysnet-protobuf protobuf-c "$c")
    if [ "$r" = "-" ]; then
        printf '  sysnet-protobuf vs protobuf-c, %-6s  peer missing\n' "$o"
    else
        printf '  sysnet-protobuf vs protobuf-c, %-6s %6sx   (goal >= 3)\n' "$o" "$r"
        summary "codec.order.sysnet_protobuf_per_protobuf_c.$o=$r"
    fi
done
# The fastest peer on decode (decode + access of every field) and on read (one field),
# among the peers that check their input (protobuf-c, capnproto, flatbuffers with its
# Verifier); flatbuffers-noverify is shown beside, for what trusting the input buys.
for op in decode:4 read:5; do
    o=${op%%:*} c=${op##*:}
    best="" bestv=""
    for n in protobuf-c capnproto flatbuffers; do
        have_row "$n" || continue
        v=$(med "$n" "$c")
        if [ -z "$bestv" ] || awk -v a="$v" -v b="$bestv" 'BEGIN { exit !(a < b) }'; then best=$n bestv=$v; fi
    done
    [ -n "$best" ] && summary "codec.order.fastest_peer.$o=$best"
    for s in sysnet-flat sysnet-protobuf; do
        if ! have_row "$s"; then
            [ "$s" = sysnet-flat ] && printf '  sysnet-flat %-6s vs fastest peer: sysnet-flat missing\n' "$o"
            continue
        fi
        if [ -z "$best" ]; then printf '  %s %-6s vs fastest peer: peer missing\n' "$s" "$o"; continue; fi
        r=$(ratio "$s" "$best" "$c")
        goal=""; [ "$s" = sysnet-flat ] && goal="   (goal >= 1 with zero allocations; allocs/op $(med "$s" $((c + 3))))"
        printf '  %s %-6s vs fastest checking peer (%s): %sx%s\n' "$s" "$o" "$best" "$r" "$goal"
        summary "codec.order.$(key "$s")_per_fastest_peer.$o=$r"
        if [ "$s" = sysnet-flat ] && have_row flatbuffers-noverify && have_row sysnet-flat-noverify; then
            r=$(ratio sysnet-flat-noverify flatbuffers-noverify "$c")
            printf '  sysnet-flat-noverify %-6s vs flatbuffers-noverify: %sx\n' "$o" "$r"
            summary "codec.order.sysnet_flat_noverify_per_flatbuffers_noverify.$o=$r"
        fi
    done
done

echo
echo "ITCH 5.0 Add Order ('A', 36 bytes); median ns per op of $RUNS runs"
table itch itch:sysnet itch:memcpy
echo "  (memcpy = the 36 bytes copied into a packed struct, then each field byte-swapped)"
for op in encode:3 decode:4 read:5; do
    o=${op%%:*} c=${op##*:}
    r=$(ratio itch:sysnet itch:memcpy "$c")
    printf '  sn_itch vs memcpy baseline, %-6s %6sx\n' "$o" "$r"
    summary "codec.itch.sysnet_per_memcpy.$o=$r"
done
summary "codec.runs=$RUNS"
summary "codec.iters=$ITERS"
for p in "${PROGS[@]}"; do [ "${OK[$p]}" = failed ] && fail=1; done
exit $fail
