#!/usr/bin/env bash
# tests/peers/test_protoc.sh — snc's generated code checked against protoc (Debian
# package protobuf-compiler). For the schemas in tests/peers/proto/, snc writes C with
# --main; the program is built with -Werror by gcc and clang (and linked with
# build/libsysnet.a), then once more under ASan+UBSan for the runs. For each
# text-format message below: `protoc --encode` makes the bytes, our program decodes
# and re-encodes them, the output must be byte-identical to protoc's, and
# `protoc --decode` must print the same text for both. Unpacked repeated input
# (protoc with [packed = false]) must come back packed, equal to protoc's packed
# encoding. Every prefix of a valid message must be accepted or refused exactly
# when protoc accepts or refuses it, and hostile inputs must exit 1 with a
# one-line reason and no sanitizer report.
set -u
cd "$(dirname "$0")/../.."
. tests/lib.sh

if ! have protoc; then skip protoc "protoc not installed (apt-get install protobuf-compiler)"; summary; exit; fi
if ! have python3; then skip protoc "python3 not installed"; summary; exit; fi
SNC=$SN_BUILD/snc
if [ ! -x "$SNC" ]; then skip protoc "$SNC not built (make)"; summary; exit; fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
PROTO=tests/peers/proto
WARN="-std=c11 -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Wvla"
SAN="-fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer"
CC=${CC:-cc}

# build NAME SCHEMA MSG [--flat]: generate and compile; the ASan program is $tmp/NAME/prog.
build() {
    local name=$1 schema=$2 msg=$3 d=$tmp/$1 ok=1 out
    mkdir -p "$d"
    if ! out=$("$SNC" --c-out "$d" --main "$msg" "${@:4}" "$PROTO/$schema.proto" 2>&1); then
        fail "snc_$name" "$out"; return 1
    fi
    for c in gcc clang; do
        have $c || continue
        if ! out=$($c $WARN -Iinclude -O2 -o "$d/prog_$c" "$d"/*.c "$SN_BUILD/libsysnet.a" 2>&1); then
            fail "snc_${name}_werror_$c" "$(printf '%s' "$out" | head -c 600)"; ok=0
        fi
    done
    if [ -f "$SN_BUILD/asan/libsysnet.a" ]; then
        out=$($CC $WARN -Iinclude -O1 -g $SAN -o "$d/prog" "$d"/*.c "$SN_BUILD/asan/libsysnet.a" 2>&1)
    else
        out=$($CC $WARN -Iinclude -O1 -g -o "$d/prog" "$d"/*.c "$SN_BUILD/libsysnet.a" 2>&1)
    fi
    if [ $? != 0 ]; then fail "snc_${name}_build" "$(printf '%s' "$out" | head -c 600)"; return 1; fi
    [ $ok = 1 ] && pass "snc_${name}_builds_werror"
    return 0
}

penc() { protoc -I"$PROTO" --encode="$2" "$PROTO/$1.proto"; }   # SCHEMA MSG < text > bin
pdec() { protoc -I"$PROTO" --decode="$2" "$PROTO/$1.proto"; }   # SCHEMA MSG < bin > text
sanitizer_spoke() { grep -qE 'AddressSanitizer|runtime error|LeakSanitizer' "$1"; }

# roundtrip NAME PROG SCHEMA MSG TEXT
roundtrip() {
    local name=$1 prog=$2 schema=$3 msg=$4 text=$5 f=$tmp/rt_$1
    if ! printf '%s\n' "$text" | penc "$schema" "$msg" > "$f.in" 2> "$f.perr"; then
        fail "$name" "protoc --encode refused the test text: $(head -c 300 "$f.perr")"; return
    fi
    if ! "$prog" < "$f.in" > "$f.out" 2> "$f.err" || sanitizer_spoke "$f.err"; then
        fail "$name" "our program failed: $(head -c 300 "$f.err")"; return
    fi
    if ! cmp -s "$f.in" "$f.out"; then
        fail "$name" "re-encoding differs: protoc $(xxd -p "$f.in" | tr -d '\n' | head -c 200) ours $(xxd -p "$f.out" | tr -d '\n' | head -c 200)"
        return
    fi
    if ! pdec "$schema" "$msg" < "$f.out" > "$f.t2" 2>&1 || ! pdec "$schema" "$msg" < "$f.in" > "$f.t1" 2>&1 ||
        ! cmp -s "$f.t1" "$f.t2"; then
        fail "$name" "protoc --decode reads ours differently"; return
    fi
    pass "$name ($(stat -c %s "$f.in") bytes)"
}

build scalars scalars sn.test.Scalars || { summary; exit; }
build order nested sn.test.Order || { summary; exit; }
build repeated nested sn.test.Repeated || { summary; exit; }
build node nested sn.test.Node || { summary; exit; }
S=$tmp/scalars/prog O=$tmp/order/prog R=$tmp/repeated/prog N=$tmp/node/prog
# --flat: the same programs through the flat layout (decode, to flat, verify, read
# back through the accessors, re-encode). Every case below runs on both.
build scalars_flat scalars sn.test.Scalars --flat || { summary; exit; }
build order_flat nested sn.test.Order --flat || { summary; exit; }
build repeated_flat nested sn.test.Repeated --flat || { summary; exit; }
build node_flat nested sn.test.Node --flat || { summary; exit; }

# The interop cases, run once per path; in the flat run every test name starts "flat_".
SFX=""
pass() { echo "ok   $SFX$1"; sn_pass=$((sn_pass+1)); }
fail() { echo "FAIL $SFX$1: $2"; sn_fail=$((sn_fail+1)); }
cases() {
# ---- scalars ----
roundtrip scalars_extremes "$S" scalars sn.test.Scalars '
f_double: -1.5
f_float: 3.25
f_int32: -1
f_int64: -9223372036854775808
f_uint32: 4294967295
f_uint64: 18446744073709551615
f_sint32: -2147483648
f_sint64: 9223372036854775807
f_fixed32: 4294967295
f_fixed64: 18446744073709551615
f_sfixed32: -2147483648
f_sfixed64: -1
f_bool: true
f_string: "héllo wörld ✓ 🎉 Ελληνικά 日本語"
f_bytes: "\000\001\377\200"
color: NEGATIVE
big_number: 7
two_byte_tag: 1
default: 42'
roundtrip scalars_other_extremes "$S" scalars sn.test.Scalars '
f_double: 1.7976931348623157e308
f_float: -3.4028235e38
f_int32: 2147483647
f_int64: 9223372036854775807
f_uint32: 2147483648
f_uint64: 9223372036854775808
f_sint32: 2147483647
f_sint64: -9223372036854775808
f_fixed32: 1
f_fixed64: 9223372036854775808
f_sfixed32: 2147483647
f_sfixed64: -9223372036854775808
color: GREEN
big_number: -2147483648
two_byte_tag: -1'
roundtrip scalars_varint_boundaries "$S" scalars sn.test.Scalars '
f_int32: -2147483648
f_int64: 127
f_uint32: 128
f_uint64: 16383
f_sint32: -64
f_sint64: 64
default: 16384'
roundtrip scalars_specials "$S" scalars sn.test.Scalars '
f_double: -inf
f_float: inf
f_string: "\"quotes\" and \\ and \n newline"
f_bytes: ""
o_double: nan'
roundtrip scalars_zero_defaults_not_sent "$S" scalars sn.test.Scalars '
f_double: 0
f_int32: 0
f_string: ""
f_bool: false
color: COLOR_UNSPECIFIED'
roundtrip scalars_optional_zero_sent "$S" scalars sn.test.Scalars '
o_int32: 0
o_string: ""
o_bool: false
o_double: 0
o_color: COLOR_UNSPECIFIED'
roundtrip scalars_negative_zero "$S" scalars sn.test.Scalars '
f_double: -0.0
f_float: -0.0'
roundtrip scalars_empty "$S" scalars sn.test.Scalars ''

# ---- nested messages, enums, repeated messages/strings/bytes ----
roundtrip order_full "$O" nested sn.test.Order '
id: 18446744073709551615
symbol: "AAPL"
side: SELL
fills { qty: 100 price: -12345 venue: "XNAS" }
fills { }
fills { qty: 1 venue: "Zürich" }
best { qty: 5 price: 9223372036854775807 }
tags: "α"
tags: ""
tags: "🎉"
blobs: "\000"
blobs: ""
sides: BUY
sides: SELL
sides: SIDE_UNSPECIFIED
tree { value: 1 child { value: -2 child { value: 3 } } kids { value: 4 } kids { } kids { kids { child { } } } }
qualified { venue: "q" }'
roundtrip order_empty_submessages "$O" nested sn.test.Order '
best { }
tree { }'
roundtrip repeated_packed_all_types "$R" nested sn.test.Repeated '
r_double: [0, -1.5, 1e-300, -inf]
r_float: [0, 1.25, -3.4028235e38]
r_int32: [0, 1, 127, 128, -1, -2147483648, 2147483647]
r_int64: [0, -9223372036854775808, 9223372036854775807, 4294967295]
r_uint32: [0, 4294967295, 128]
r_uint64: [0, 18446744073709551615, 9223372036854775808]
r_sint32: [0, -1, 1, -2147483648, 2147483647]
r_sint64: [0, -9223372036854775808, 9223372036854775807]
r_fixed32: [0, 4294967295]
r_fixed64: [0, 18446744073709551615]
r_sfixed32: [-2147483648, 0, 2147483647]
r_sfixed64: [-9223372036854775808, 0]
r_bool: [true, false, true]
r_enum: [BUY, SELL, SIDE_UNSPECIFIED]
r_string: ["a", "", "ü"]
r_bytes: ["\377", ""]
empty { }'

# ---- unpacked input must come back packed, as protoc packs it ----
unpacked() { # NAME TEXT
    local name=$1 text=$2 f=$tmp/up_$1
    printf '%s\n' "$text" | penc unpacked sn.test.Repeated > "$f.u" &&
        printf '%s\n' "$text" | penc nested sn.test.Repeated > "$f.p" || { fail "$name" "protoc --encode failed"; return; }
    if cmp -s "$f.u" "$f.p"; then fail "$name" "protoc's [packed = false] encoding is not unpacked?"; return; fi
    if ! "$R" < "$f.u" > "$f.out" 2> "$f.err" || sanitizer_spoke "$f.err"; then
        fail "$name" "our program failed: $(head -c 300 "$f.err")"; return
    fi
    if cmp -s "$f.out" "$f.p"; then pass "$name ($(stat -c %s "$f.u") -> $(stat -c %s "$f.p") bytes)"
    else fail "$name" "ours $(xxd -p "$f.out" | tr -d '\n' | head -c 200) protoc $(xxd -p "$f.p" | tr -d '\n' | head -c 200)"; fi
}
unpacked unpacked_all_types '
r_double: [0, -1.5, 1e-300]
r_float: [0, 1.25]
r_int32: [0, 1, 127, 128, -1, -2147483648]
r_int64: [-9223372036854775808, 9223372036854775807]
r_uint32: [4294967295, 128]
r_uint64: [18446744073709551615]
r_sint32: [-1, 1, -2147483648]
r_sint64: [-9223372036854775808]
r_fixed32: [0, 4294967295]
r_fixed64: [18446744073709551615]
r_sfixed32: [-2147483648, 2147483647]
r_sfixed64: [-9223372036854775808]
r_bool: [true, false]
r_enum: [BUY, SELL]
r_string: ["x"]'
# Packed and unpacked runs of the same field in one message (a merge): compared
# with protoc's own decode -> encode of the same bytes.
f=$tmp/mixed
printf 'r_int32: [1, -2, 300]\nr_fixed64: [7]\nr_bool: [true]\n' | penc unpacked sn.test.Repeated > "$f.u"
printf 'r_int32: [4, 5]\nr_fixed64: [8, 9]\nr_bool: [false]\n' | penc nested sn.test.Repeated > "$f.p"
cat "$f.u" "$f.p" "$f.u" > "$f.in"
pdec nested sn.test.Repeated < "$f.in" | penc nested sn.test.Repeated > "$f.want"
if "$R" < "$f.in" > "$f.out" 2> "$f.err" && ! sanitizer_spoke "$f.err" && cmp -s "$f.out" "$f.want"; then
    pass mixed_packed_unpacked_runs
else fail mixed_packed_unpacked_runs "ours $(xxd -p "$f.out" | tr -d '\n' | head -c 200) protoc $(xxd -p "$f.want" | tr -d '\n' | head -c 200)"; fi

# ---- unknown fields are skipped (the Order program reading a Scalars message) ----
f=$tmp/unknown
printf 'f_double: 1\nf_fixed32: 5\nf_string: "x"\nbig_number: 3\n' | penc scalars sn.test.Scalars > "$f.in"
if "$N" < "$f.in" > "$f.out" 2> "$f.err" && ! sanitizer_spoke "$f.err" && [ "$(xxd -p "$f.out")" = "$(printf 'value: 0' | penc nested sn.test.Node | xxd -p)" ]; then
    pass unknown_fields_skipped
else fail unknown_fields_skipped "$(head -c 300 "$f.err") out=$(xxd -p "$f.out")"; fi

# ---- every prefix: accepted exactly when protoc accepts it, and then equal ----
truncations() { # NAME PROG SCHEMA MSG BIN
    local name=$1 prog=$2 schema=$3 msg=$4 bin=$5 n k bad="" f=$tmp/tr
    n=$(stat -c %s "$bin")
    for ((k = 0; k < n; k++)); do
        head -c "$k" "$bin" > "$f.in"
        "$prog" < "$f.in" > "$f.out" 2> "$f.err"; local rc=$?
        if sanitizer_spoke "$f.err" || { [ $rc != 0 ] && [ $rc != 1 ]; }; then bad="prefix $k: rc $rc $(head -c 200 "$f.err")"; break; fi
        if pdec "$schema" "$msg" < "$f.in" > "$f.txt" 2>/dev/null; then
            penc "$schema" "$msg" < "$f.txt" > "$f.want"
            if [ $rc != 0 ]; then bad="prefix $k: protoc accepts, we refuse: $(cat "$f.err")"; break; fi
            if ! cmp -s "$f.out" "$f.want"; then bad="prefix $k: re-encoding differs"; break; fi
        elif [ $rc = 0 ]; then
            bad="prefix $k: protoc refuses, we accept"; break
        elif [ "$(wc -l < "$f.err")" != 1 ]; then
            bad="prefix $k: reason is not one line: $(head -c 200 "$f.err")"; break
        fi
    done
    if [ -z "$bad" ]; then pass "$name ($n prefixes)"; else fail "$name" "$bad"; fi
}
truncations truncate_scalars "$S" scalars sn.test.Scalars "$tmp/rt_scalars_extremes.in"
truncations truncate_order "$O" nested sn.test.Order "$tmp/rt_order_full.in"
truncations truncate_repeated "$R" nested sn.test.Repeated "$tmp/rt_repeated_packed_all_types.in"

# ---- hostile inputs: exit 1, one line, no sanitizer report ----
hostile_file() { # NAME PROG FILE
    run_it() { "$2" < "$1"; }
    expect "hostile_$1" 1 'malformed input|nested too deeply|UTF-8' run_it "$3" "$2"
}
hostile() { # NAME PROG PYTHON-EXPR-FOR-BYTES
    python3 -c "import sys; sys.stdout.buffer.write($3)" > "$tmp/h_$1"
    hostile_file "$1" "$2" "$tmp/h_$1"
}
hostile overlong_varint "$S" "b'\x18' + b'\xff'*10 + b'\x01'"
hostile varint_10th_byte_2 "$S" "b'\x20' + b'\xff'*9 + b'\x02'"
hostile truncated_varint "$S" "b'\x20' + b'\xff'*5"
hostile length_overflow "$S" "b'\x72\x05ab'"
hostile length_huge "$S" "b'\x72\xff\xff\xff\xff\xff\xff\xff\xff\x7f'"
hostile length_2to64 "$S" "b'\x72' + b'\xff'*9 + b'\x01'"
hostile truncated_fixed64 "$S" "b'\x09\x00\x00\x00'"
hostile truncated_fixed32 "$S" "b'\x15\x00'"
hostile truncated_tag "$S" "b'\x80'"
hostile group_start "$S" "b'\x0b\x0c'"
hostile group_unknown_field "$S" "b'\xfb\x07'"
hostile wire_type_7 "$S" "b'\x0f'"
hostile field_number_0 "$S" "b'\x00\x00'"
hostile tag_over_32_bits "$S" "b'\x80\x80\x80\x80\x80\x01\x00'"
hostile bad_utf8 "$S" "b'\x72\x02\xc3\x28'"
hostile utf8_surrogate "$S" "b'\x72\x03\xed\xa0\x80'"
hostile utf8_overlong "$S" "b'\x72\x02\xc0\xaf'"
hostile packed_fixed_not_multiple "$R" "b'\x4a\x03\x00\x00\x00'"
hostile packed_varint_cut "$R" "b'\x1a\x02\x01\x80'"
hostile packed_count_claims_huge "$R" "b'\x1a\xff\xff\xff\xff\x0f\x01'"
hostile nested_length_past_parent "$O" "b'\x2a\x02\x1a\x05abcde'"
# Nesting: 100 levels decode (protobuf's limit is 100 too), 101 and 5000 are refused.
nest() { # LEVELS FILE: Node { child { child { ... } } }, LEVELS deep
    python3 -c '
import sys
b = b""
for _ in range(int(sys.argv[1])):
    n, v = len(b), bytearray()
    while True:
        v.append((n & 0x7f) | (0x80 if n > 0x7f else 0)); n >>= 7
        if not n: break
    b = b"\x12" + bytes(v) + b
sys.stdout.buffer.write(b)' "$1" > "$2"
}
nest 101 "$tmp/deep101"; hostile_file deep_nesting_101 "$N" "$tmp/deep101"
nest 5000 "$tmp/deep5000"; hostile_file deep_nesting_5000 "$N" "$tmp/deep5000"
nest 100 "$tmp/deep99"
if "$N" < "$tmp/deep99" > "$tmp/deep99.out" 2> "$tmp/deep99.err" && cmp -s "$tmp/deep99" "$tmp/deep99.out" &&
    pdec nested sn.test.Node < "$tmp/deep99.out" > /dev/null 2>&1; then
    pass nesting_100_levels_ok
else fail nesting_100_levels_ok "$(head -c 300 "$tmp/deep99.err")"; fi
# 200000 empty elements of a repeated message (2 bytes each): decodes (the arena grows)
# and re-encodes as protoc does.
python3 -c "import sys; sys.stdout.buffer.write(b'\x22\x00' * 200000)" > "$tmp/many"
pdec nested sn.test.Order < "$tmp/many" | penc nested sn.test.Order > "$tmp/many.want"
if "$O" < "$tmp/many" > "$tmp/many.out" 2> "$tmp/many.err" && ! sanitizer_spoke "$tmp/many.err" &&
    cmp -s "$tmp/many.out" "$tmp/many.want"; then
    pass many_empty_elements
else fail many_empty_elements "$(head -c 300 "$tmp/many.err")"; fi

}
cases
S=$tmp/scalars_flat/prog O=$tmp/order_flat/prog R=$tmp/repeated_flat/prog N=$tmp/node_flat/prog SFX=flat_
cases
S=$tmp/scalars/prog O=$tmp/order/prog R=$tmp/repeated/prog N=$tmp/node/prog SFX=""

# ---- the generated verifier on hostile flat buffers (a C program over nested.proto) ----
# From a valid flat Order: every prefix must be refused with -ENODATA; every byte set
# to 0x00, 0xff, b^0x01 and b^0x80 must be refused or, when accepted, read back and
# re-encode under ASan; a huge count, a self-referencing and a backwards offset are
# refused; a Node chain 100 levels below the root verifies, 101 does not.
mkdir -p "$tmp/fc"
"$SNC" --c-out "$tmp/fc" --flat "$PROTO/nested.proto" > "$tmp/fc/snc.err" 2>&1 || fail flat_verifier_snc "$(cat "$tmp/fc/snc.err")"
cat > "$tmp/fc/flatcheck.c" <<'EOF'
#include "nested.pb.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint8_t arena_buf[1 << 22];

static int read_back(const uint8_t *b, size_t n)
{
    struct sn_pb_arena a;
    struct sn_test_Order m;
    static uint8_t out[1 << 20];
    sn_pb_arena_init(&a, arena_buf, sizeof(arena_buf));
    int rc = sn_test_Order_from_flat(&m, b, n, &a);
    if (rc < 0)
        return rc;
    return sn_test_Order_encode(&m, out, sizeof(out)) < 0 ? -1 : 0;
}

static int node_chain(int levels)
{
    static struct sn_test_Node nodes[200];
    static uint8_t buf[1 << 16];
    memset(nodes, 0, sizeof(nodes));
    for (int i = 0; i < levels; i++)
        nodes[i].child = &nodes[i + 1];
    int n = sn_test_Node_to_flat(&nodes[0], buf, sizeof(buf));
    return n < 0 ? n : sn_test_Node_flat_verify(buf, (size_t)n);
}

int main(void)
{
    static uint8_t in[1 << 16], flat[1 << 16], mut[1 << 16];
    size_t len = fread(in, 1, sizeof(in), stdin);
    struct sn_pb_arena a;
    struct sn_test_Order m;
    sn_pb_arena_init(&a, arena_buf, sizeof(arena_buf));
    if (sn_test_Order_decode(&m, in, len, &a) < 0) { puts("decode failed"); return 1; }
    int n = sn_test_Order_to_flat(&m, flat, sizeof(flat));
    if (n < 0 || sn_test_Order_flat_verify(flat, (size_t)n) != 0) { puts("valid buffer refused"); return 1; }
    if ((size_t)n != sn_test_Order_flat_size(&m)) { puts("size differs"); return 1; }
    if (sn_test_Order_to_flat(&m, flat, (size_t)n - 1) != -ENOSPC) { puts("no -ENOSPC"); return 1; }
    for (int k = 0; k < n; k++)
        if (sn_test_Order_flat_verify(flat, (size_t)k) != -ENODATA) { printf("prefix %d not -ENODATA\n", k); return 1; }
    long accepted = 0, refused = 0;
    static const int how[4] = {0, 1, 2, 3};
    for (int k = 0; k < n; k++)
        for (int h = 0; h < 4; h++) {
            memcpy(mut, flat, (size_t)n);
            uint8_t v = how[h] == 0 ? 0 : how[h] == 1 ? 0xff : how[h] == 2 ? (uint8_t)(flat[k] ^ 1) : (uint8_t)(flat[k] ^ 0x80);
            if (v == flat[k])
                continue;
            mut[k] = v;
            int rc = sn_test_Order_flat_verify(mut, (size_t)n);
            if (rc == 0) {
                accepted++;
                if (read_back(mut, (size_t)n) != 0) { printf("byte %d: verified but unreadable\n", k); return 1; }
            } else if (rc == -EBADMSG || rc == -ENODATA) {
                refused++;
            } else {
                printf("byte %d: rc %d\n", k, rc);
                return 1;
            }
        }
    /* fills: a huge count (offset kept) and an offset into the header */
    const uint8_t *t = sn_test_Order_flat_root(flat);
    size_t fills_slot = 0;
    for (size_t s = 0; s + 8 <= sn_test_Order_FLAT_TABLE_SIZE; s += 4) /* find the (off, count) of fills */
        if (sn_test_Order_flat_fills_count(t) && sn_load_le32(t + s + 4) == sn_test_Order_flat_fills_count(t) &&
            t + sn_load_le32(t + s) == sn_test_Order_flat_fills_at(t, 0)) { fills_slot = s; break; }
    memcpy(mut, flat, (size_t)n);
    sn_store_le32(mut + SN_FLAT_HDR_SIZE + fills_slot + 4, 0xffffffffu);
    if (sn_test_Order_flat_verify(mut, (size_t)n) != -EBADMSG) { puts("huge count accepted"); return 1; }
    memcpy(mut, flat, (size_t)n);
    sn_store_le32(mut + SN_FLAT_HDR_SIZE + fills_slot, 0);
    if (sn_test_Order_flat_verify(mut, (size_t)n) != -EBADMSG) { puts("count without offset accepted"); return 1; }
    memcpy(mut, flat, (size_t)n);
    sn_store_le32(mut + SN_FLAT_HDR_SIZE + fills_slot, 1);
    if (sn_test_Order_flat_verify(mut, (size_t)n) != -EBADMSG) { puts("backwards offset accepted"); return 1; }
    memcpy(mut, flat, (size_t)n);
    sn_store_le32(mut + 4, sn_test_Order_FLAT_HASH ^ 1);
    if (sn_test_Order_flat_verify(mut, (size_t)n) != -EBADMSG) { puts("wrong layout hash accepted"); return 1; }
    if (node_chain(100) != 0) { puts("100 levels refused"); return 1; }
    if (node_chain(101) != -EBADMSG) { puts("101 levels accepted"); return 1; }
    printf("ok %d bytes, %ld mutations accepted, %ld refused\n", n, accepted, refused);
    return 0;
}
EOF
if out=$($CC $WARN -Iinclude -O1 -g $SAN -o "$tmp/fc/flatcheck" "$tmp/fc"/*.c "$SN_BUILD/asan/libsysnet.a" 2>&1); then
    if out=$("$tmp/fc/flatcheck" < "$tmp/rt_order_full.in" 2>&1) && ! printf '%s' "$out" | grep -qE 'AddressSanitizer|runtime error'; then
        pass "flat_verifier_hostile (${out#ok })"
    else fail flat_verifier_hostile "$(printf '%s' "$out" | head -c 400)"; fi
else fail flat_verifier_build "$(printf '%s' "$out" | head -c 600)"; fi

# ---- fuzz/gen holds snc's current output for nested.proto (fuzz/fuzz_flat.c includes it) ----
mkdir -p "$tmp/gen"
"$SNC" --c-out "$tmp/gen" --flat "$PROTO/nested.proto" 2>/dev/null
if cmp -s "$tmp/gen/nested.pb.h" fuzz/gen/nested.pb.h && cmp -s "$tmp/gen/nested.pb.c" fuzz/gen/nested.pb.c; then
    pass flat_fuzz_gen_up_to_date
else fail flat_fuzz_gen_up_to_date "regenerate: build/snc --c-out fuzz/gen --flat tests/peers/proto/nested.proto"; fi

# ---- snc's own errors: file:line:col: message, exit 1 ----
snc_error() { # NAME PATTERN PROTO-TEXT
    printf '%s\n' "$3" > "$tmp/bad_$1.proto"
    expect "snc_error_$1" 1 "^$tmp/bad_$1.proto:[0-9]+:[0-9]+: .*$2" "$SNC" --c-out "$tmp" "$tmp/bad_$1.proto"
}
snc_error proto2 'syntax "proto2" is not supported' 'syntax = "proto2";'
snc_error no_syntax 'expected .syntax' 'message A {}'
snc_error undefined_type '"Nope" is not defined' $'syntax = "proto3";\nmessage A { Nope x = 1; }'
snc_error dup_number 'field number 1 is already used' $'syntax = "proto3";\nmessage A {\n  int32 x = 1;\n  int32 y = 1;\n}'
snc_error field_zero 'field numbers start at 1' $'syntax = "proto3";\nmessage A { int32 x = 0; }'
snc_error field_too_big 'out of range' $'syntax = "proto3";\nmessage A { int32 x = 536870912; }'
snc_error reserved_range 'reserved for the protobuf' $'syntax = "proto3";\nmessage A { int32 x = 19000; }'
snc_error enum_first_nonzero 'first enum value must be zero' $'syntax = "proto3";\nenum E { A = 1; }'
snc_error missing_semicolon "expected ';'" $'syntax = "proto3";\nmessage A { int32 x = 1 }'
snc_error oneof "'oneof' is not supported" $'syntax = "proto3";\nmessage A { oneof o { int32 x = 1; } }'
snc_error unterminated_comment 'unterminated' $'syntax = "proto3";\n/* forever'
printf 'syntax = "proto3";\nmessage A {\n  repeated int32 x = 1;\n  int32 x_count = 2;\n}\n' > "$tmp/bad_flat_clash.proto"
expect snc_error_flat_accessor_clash 1 "^$tmp/bad_flat_clash.proto:4:3: .*defined twice" "$SNC" --c-out "$tmp" --flat "$tmp/bad_flat_clash.proto"
expect snc_main_unknown_message 1 'no such message' "$SNC" --c-out "$tmp" --main sn.test.Nope "$PROTO/scalars.proto"

summary
