#!/usr/bin/env bash
# bench/codec/peers.sh — the bench/codec peers: which are installed, and how to build them.
# The Makefile asks; bench/setup.sh installs (protobuf-c-compiler libprotobuf-c-dev
# capnproto libcapnp-dev flatbuffers-compiler libflatbuffers-dev).
#   peers.sh list              the installed ones among: pbc capnp fb, one per line
#   peers.sh snc SNC DIR       generate the sysnet code of order.proto into DIR with SNC:
#                              `snc --flat` (protobuf and flat layout) when it works, else
#                              protobuf only; DIR/snb_flat.h says which (SNB_HAVE_FLAT, or
#                              SNB_FLAT_MISSING "reason"), for bench_codec.c
#   peers.sh build PEER OUT    generate the peer's code from bench/codec/order.* into
#                              $BUILD/bench/codec/gen/PEER and build OUT (peer_PEER.c / .cpp);
#                              a peer that is not installed prints "peer missing" and
#                              builds nothing (exit 0: the benchmark reports it so)
# pbc = protobuf-c (protoc-c, C, $CC), capnp = Cap'n Proto (capnp compile -oc++, $CXX),
# fb = FlatBuffers (flatc --cpp, $CXX). Peers are built with the flags bench_codec gets
# (-O2 -g -march=native), and are not -Werror (their generated code is not ours).
set -u
cd "$(dirname "$0")/../.." || exit 1
CC=${CC:-cc}
CXX=${CXX:-g++}
BUILD=${BUILD:-build}
OPT=(-O2 -g -march=native -D_GNU_SOURCE)

pc() { command -v pkg-config >/dev/null 2>&1 && pkg-config --exists "$1"; }
have() {
    case $1 in
    pbc)   command -v protoc-c >/dev/null 2>&1 && pc libprotobuf-c ;;
    capnp) command -v capnp >/dev/null 2>&1 && command -v capnpc-c++ >/dev/null 2>&1 && pc capnp ;;
    fb)    command -v flatc >/dev/null 2>&1 &&
           printf '#include <flatbuffers/flatbuffers.h>\n' | $CXX -E -x c++ - >/dev/null 2>&1 ;;
    *) return 1 ;;
    esac
}
pkgs() {
    case $1 in
    pbc) echo "protobuf-c-compiler libprotobuf-c-dev" ;;
    capnp) echo "capnproto libcapnp-dev" ;;
    fb) echo "flatbuffers-compiler libflatbuffers-dev" ;;
    esac
}

build() {
    local p=$1 out=$2 gen=$BUILD/bench/codec/gen/$1
    if ! have "$p"; then
        echo "bench/codec: $out: peer missing ($(pkgs "$p"): bash bench/setup.sh as root installs it)"
        return 0
    fi
    rm -rf "$gen" && mkdir -p "$gen" "$(dirname "$out")" || return 1
    local abs; abs=$(cd "$gen" && pwd) || return 1
    local -a cmd
    case $p in
    pbc)
        (cd bench/codec && protoc-c --c_out="$abs" order.proto) || return 1
        # shellcheck disable=SC2046
        cmd=($CC -std=c11 -Wall "${OPT[@]}" -Ibench/codec -I"$gen" -o "$out" bench/codec/peer_pbc.c
             $(pkg-config --cflags --libs libprotobuf-c)) ;;
    capnp)
        (cd bench/codec && capnp compile -oc++:"$abs" order.capnp) || return 1
        # shellcheck disable=SC2046
        cmd=($CXX -std=c++17 -Wall "${OPT[@]}" -Ibench/codec -I"$gen" -o "$out" bench/codec/peer_capnp.cpp
             "$gen/order.capnp.c++" $(pkg-config --cflags --libs capnp)) ;;
    fb)
        flatc --cpp -o "$gen" bench/codec/order.fbs || return 1
        local fl="-lflatbuffers"; pc flatbuffers && fl=$(pkg-config --cflags --libs flatbuffers)
        # shellcheck disable=SC2206
        cmd=($CXX -std=c++17 -Wall "${OPT[@]}" -Ibench/codec -I"$gen" -o "$out" bench/codec/peer_fb.cpp $fl) ;;
    esac
    echo "${cmd[*]}"
    "${cmd[@]}"
}

gen_snc() {
    local snc=$1 dir=$2
    rm -rf "$dir" && mkdir -p "$dir" || return 1
    if "$snc" --c-out "$dir" --flat bench/codec/order.proto 2> "$dir/flat.err" &&
       grep -q 'snbench_Order_flat_verify' "$dir/order.pb.h"; then
        echo "$snc --c-out $dir --flat bench/codec/order.proto"
        echo '#define SNB_HAVE_FLAT 1' > "$dir/snb_flat.h"
    else
        local why; why=$(head -n 1 "$dir/flat.err" | tr -d '"\\')
        [ -n "$why" ] || why="snc --flat wrote no flat layout"
        echo "bench/codec: sysnet-flat missing ($why); building sysnet-protobuf only"
        rm -f "$dir"/*.pb.[ch] "$dir/main.c"
        echo "$snc --c-out $dir bench/codec/order.proto"
        "$snc" --c-out "$dir" bench/codec/order.proto || return 1
        printf '#define SNB_FLAT_MISSING "%s"\n' "$why" > "$dir/snb_flat.h"
    fi
    rm -f "$dir/flat.err"
}

case ${1:-} in
snc)
    [ $# -eq 3 ] || { echo "usage: peers.sh snc SNC DIR" >&2; exit 2; }
    gen_snc "$2" "$3" ;;
list)
    for p in pbc capnp fb; do have "$p" && echo "$p"; done; exit 0 ;;
build)
    [ $# -eq 3 ] || { echo "usage: peers.sh build PEER OUT" >&2; exit 2; }
    build "$2" "$3" ;;
*)
    echo "usage: peers.sh list | snc SNC DIR | build PEER OUT" >&2; exit 2 ;;
esac
