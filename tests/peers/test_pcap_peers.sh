#!/usr/bin/env bash
# tests/peers/test_pcap_peers.sh — the pcap module against Wireshark's own tools.
#   1. text2pcap makes a capture from a hex dump written here (no network); editcap
#      turns it into pcap (µs), nanosecond pcap, pcapng and a snaplen-cut pcap;
#      mergecap makes a pcapng with two interfaces of different link types.
#   2. `sysnet sniff -r FILE -T fields -e frame.number -e frame.len -e frame.cap_len
#      -e frame.time_epoch` prints what tshark prints for each of those files.
#   3. Files written by `sysnet sniff -r IN -w OUT` (pcap), `--nano` (pcap-ns) and
#      `--pcapng` are read by tshark and capinfos without error, have the expected
#      file type, and carry the same frames (fields and an MD5 of every frame's bytes).
# Prints "ok   NAME" / "FAIL NAME: why" / "skip NAME: why", then the summary line.
set -u
cd "$(dirname "$0")/../.." || exit 1
. tests/lib.sh

tmp=$(mktemp -d /tmp/sn-pcap-peers.XXXXXX)
trap 'rm -rf "$tmp"' EXIT

if ! have tshark || ! have editcap || ! have text2pcap || ! have capinfos; then
    skip pcap_peers "tshark/editcap/text2pcap/capinfos not installed (Debian: tshark, wireshark-common)"
    summary
    exit
fi

# tshark and friends warn on stderr when run as root; keep stderr for real errors only.
quiet() { grep -v -e '^Running as user' -e '^ *$' -e '^-\+$' "$@" || true; }

FIELDS=(-T fields -e frame.number -e frame.len -e frame.cap_len -e frame.time_epoch)

# ---- 1. the source capture --------------------------------------------------------
# One hex line per 16 bytes, as `od`/text2pcap like it: "OFFSET  XX XX ...".
hexdump_frame() { # STAMP HEXBYTES...
    local stamp=$1; shift
    local bytes=("$@") off=0 line
    printf '%s\n' "$stamp"
    while [ $off -lt ${#bytes[@]} ]; do
        line=$(printf '%04x ' $off)
        for b in "${bytes[@]:off:16}"; do line+=" $b"; done
        printf '%s\n' "$line"
        off=$((off + 16))
    done
    printf '\n'
}
iso() { # SECONDS FRACTION(9 digits): an ISO 8601 UTC stamp with nanoseconds
    printf '%s.%sZ' "$(date -u -d "@$1" +%Y-%m-%dT%H:%M:%S)" "$2"
}
ETH=(00 11 22 33 44 55 66 77 88 99 aa bb)
{
    # IPv4/UDP 198.18.0.1 -> 198.18.0.2, 1234 -> 5678, 4 bytes of payload
    hexdump_frame "$(iso 1700000000 123456789)" "${ETH[@]}" 08 00 \
        45 00 00 20 00 01 00 00 40 11 00 00 c6 12 00 01 c6 12 00 02 \
        04 d2 16 2e 00 0c 00 00 de ad be ef
    # IPv6, no next header, 2001:2::1 -> 2001:2::2
    hexdump_frame "$(iso 1700000001 000000001)" "${ETH[@]}" 86 dd \
        60 00 00 00 00 00 3b 40 20 01 00 02 00 00 00 00 00 00 00 00 00 00 00 01 \
        20 01 00 02 00 00 00 00 00 00 00 00 00 00 00 02
    # ARP request, a stamp before 2001
    hexdump_frame "$(iso 999999999 999999999)" ff ff ff ff ff ff 66 77 88 99 aa bb 08 06 \
        00 01 08 00 06 04 00 01 66 77 88 99 aa bb c6 12 00 01 00 00 00 00 00 00 c6 12 00 02
    # A full-size frame (1514 bytes) after 2038
    big=()
    for ((i = 0; i < 1500; i++)); do printf -v h '%02x' $((i % 251)); big+=("$h"); done
    hexdump_frame "$(iso 2147483648 500000000)" "${ETH[@]}" 08 00 "${big[@]}"
    # A small frame late in the pcap range (2096), microsecond-aligned
    hexdump_frame "$(iso 4000000000 250000000)" "${ETH[@]}" 08 06 00 00
} > "$tmp/frames.txt"

src=$tmp/src.pcapng
if text2pcap -q -t ISO "$tmp/frames.txt" "$src" > "$tmp/t2p.log" 2>&1 && capinfos "$src" > /dev/null 2>&1; then
    pass pcap_peers_text2pcap_source
else
    fail pcap_peers_text2pcap_source "text2pcap: $(quiet "$tmp/t2p.log" | head -3 | tr '\n' ' ')"
    summary
    exit
fi

# Raw-IP frames for a second interface (linktype 101) in a merged pcapng.
{
    hexdump_frame "$(iso 1700000000 500000000)" 45 00 00 14 00 02 00 00 40 3b 00 00 c6 12 00 01 c6 12 00 02
} > "$tmp/raw.txt"

declare -A FILES # name -> path
make_file() { # NAME PATH CMD...: make one capture with editcap/mergecap
    local name=$1 path=$2; shift 2
    if "$@" > "$tmp/$name.log" 2>&1 && capinfos "$path" > /dev/null 2>&1; then
        FILES[$name]=$path
        pass "pcap_peers_make_$name"
    else
        fail "pcap_peers_make_$name" "$(quiet "$tmp/$name.log" | head -2 | tr '\n' ' ')"
    fi
}
make_file pcap "$tmp/us.pcap" editcap -F pcap "$src" "$tmp/us.pcap"
make_file nsecpcap "$tmp/ns.pcap" editcap -F nsecpcap "$src" "$tmp/ns.pcap"
make_file pcapng "$tmp/ng.pcapng" editcap -F pcapng "$src" "$tmp/ng.pcapng"
make_file snap60 "$tmp/snap60.pcap" editcap -F pcap -s 60 "$src" "$tmp/snap60.pcap"
if have mergecap; then
    text2pcap -q -l 101 -t ISO "$tmp/raw.txt" "$tmp/raw.pcapng" > /dev/null 2>&1
    make_file twoifaces "$tmp/two.pcapng" mergecap -F pcapng -w "$tmp/two.pcapng" "$src" "$tmp/raw.pcapng"
else
    skip pcap_peers_make_twoifaces "mergecap not installed"
fi

# ---- 2. sysnet reads what Wireshark wrote -----------------------------------------
if [ ! -x "$SYSNET" ]; then
    skip pcap_peers_sysnet "no $SYSNET (build it first: make)"
    summary
    exit
fi

# Compare `sysnet sniff -r` with `tshark -r` on FILE, with extra args for both.
same_fields() { # NAME FILE [tshark/sysnet args...]
    local name=$1 file=$2; shift 2
    tshark -r "$file" "$@" > "$tmp/$name.tshark" 2> "$tmp/$name.tshark.err"
    local trc=$?
    "$SYSNET" sniff -r "$file" "$@" > "$tmp/$name.sysnet" 2> "$tmp/$name.sysnet.err"
    local src_rc=$?
    if [ $trc -ne 0 ]; then
        fail "$name" "tshark failed ($trc): $(quiet "$tmp/$name.tshark.err" | head -2 | tr '\n' ' ')"
    elif [ $src_rc -ne 0 ]; then
        fail "$name" "sysnet sniff exited $src_rc: $(head -2 "$tmp/$name.sysnet.err" | tr '\n' ' ')"
    elif [ ! -s "$tmp/$name.tshark" ]; then
        fail "$name" "tshark printed nothing"
    elif ! diff -u "$tmp/$name.tshark" "$tmp/$name.sysnet" > "$tmp/$name.diff"; then
        fail "$name" "differs from tshark: $(grep -E '^[-+][^-+]' "$tmp/$name.diff" | head -4 | tr '\t\n' ' |')"
    else
        pass "$name"
    fi
}

for name in pcap nsecpcap pcapng snap60 twoifaces; do
    [ -n "${FILES[$name]:-}" ] || continue
    same_fields "pcap_peers_read_$name" "${FILES[$name]}" "${FIELDS[@]}"
done

# ---- 3. Wireshark reads what sysnet wrote ------------------------------------------
# Expected file types as capinfos -t names them.
declare -A WFLAG=([pcap]="" [nsecpcap]="--nano" [pcapng]="--pcapng")
declare -A WTYPE=([pcap]="Wireshark/tcpdump/... - pcap" [nsecpcap]="Wireshark/tcpdump/... - nanosecond pcap"
                  [pcapng]="Wireshark/... - pcapng")
# What the frames must look like: the source as Wireshark itself converts it (the µs
# pcap truncates stamps to the microsecond, as editcap does), bytes included.
CHECK_FIELDS=("${FIELDS[@]}" -e frame.md5_hash -o frame.generate_md5_hash:TRUE)

for in_name in nsecpcap pcapng; do
    in=${FILES[$in_name]:-}
    [ -n "$in" ] || continue
    for out_fmt in pcap nsecpcap pcapng; do
        name=pcap_peers_write_${out_fmt}_from_$in_name
        out=$tmp/out-$in_name.$out_fmt
        # shellcheck disable=SC2086 # the flag is empty for plain pcap
        if ! "$SYSNET" sniff -r "$in" -w "$out" ${WFLAG[$out_fmt]} > "$tmp/$name.log" 2>&1; then
            fail "$name" "sysnet sniff -w failed: $(head -2 "$tmp/$name.log" | tr '\n' ' ')"
            continue
        fi
        if ! capinfos -t "$out" > "$tmp/$name.cap" 2>&1; then
            fail "$name" "capinfos: $(quiet "$tmp/$name.cap" | head -2 | tr '\n' ' ')"
            continue
        fi
        type=$(sed -n 's/^File type: *//p' "$tmp/$name.cap")
        if [ "$type" != "${WTYPE[$out_fmt]}" ]; then
            fail "$name" "capinfos says file type '$type', want '${WTYPE[$out_fmt]}'"
            continue
        fi
        want=${FILES[$out_fmt]}
        tshark -r "$want" "${CHECK_FIELDS[@]}" > "$tmp/$name.want" 2> /dev/null
        if ! tshark -r "$out" "${CHECK_FIELDS[@]}" > "$tmp/$name.got" 2> "$tmp/$name.err"; then
            fail "$name" "tshark cannot read it: $(quiet "$tmp/$name.err" | head -2 | tr '\n' ' ')"
        elif [ -n "$(quiet "$tmp/$name.err")" ]; then
            fail "$name" "tshark warns: $(quiet "$tmp/$name.err" | head -2 | tr '\n' ' ')"
        elif ! diff -u "$tmp/$name.want" "$tmp/$name.got" > "$tmp/$name.diff"; then
            fail "$name" "frames differ: $(grep -E '^[-+][^-+]' "$tmp/$name.diff" | head -4 | tr '\t\n' ' |')"
        else
            pass "$name"
        fi
    done
done

# sysnet reading back its own output gives what tshark reads from it.
for out_fmt in pcap nsecpcap pcapng; do
    out=$tmp/out-pcapng.$out_fmt
    [ -f "$out" ] && same_fields "pcap_peers_reread_$out_fmt" "$out" "${FIELDS[@]}"
done

summary
