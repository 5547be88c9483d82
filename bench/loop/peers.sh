#!/usr/bin/env bash
# bench/loop/peers.sh — which event libraries (the bench/loop peers) are installed,
# and the flags to build against them. The Makefile asks; bench/setup.sh installs.
#   peers.sh list              the installed ones among: uv ev event, one per line
#   peers.sh libs PEER...      the link flags of the installed ones (exit 1: one is missing)
#   peers.sh cflags PEER...    -DSN_HAVE_<PEER>=1 for each installed one, plus its -I flags
# A peer is installed when pkg-config knows it (libuv, libevent) or, failing that
# (libev ships no .pc file), when $CC finds its header.
set -u
CC=${CC:-cc}

pc_name() { case $1 in uv) echo libuv;; event) echo libevent;; *) echo "";; esac; }
header() { case $1 in uv) echo uv.h;; ev) echo ev.h;; event) echo event2/event.h;; esac; }

have() {
    local pc; pc=$(pc_name "$1")
    if [ -n "$pc" ] && command -v pkg-config >/dev/null 2>&1 && pkg-config --exists "$pc"; then
        return 0
    fi
    printf '#include <%s>\n' "$(header "$1")" | $CC -E -x c - >/dev/null 2>&1
}

libs() {
    local pc; pc=$(pc_name "$1")
    if [ -n "$pc" ] && command -v pkg-config >/dev/null 2>&1 && pkg-config --exists "$pc"; then
        pkg-config --libs "$pc"
    else
        echo "-l$1"
    fi
}

case ${1:-} in
list)
    for p in uv ev event; do have "$p" && echo "$p"; done; exit 0 ;;
libs)
    shift
    [ $# -ge 1 ] || exit 2
    out="" rc=0
    for p in "$@"; do
        if have "$p"; then out="$out $(libs "$p")"; else rc=1; fi
    done
    echo "${out# }"
    exit $rc ;;
cflags)
    shift
    out=""
    for p in "$@"; do
        have "$p" || continue
        up=$(echo "$p" | tr a-z A-Z)
        out="$out -DSN_HAVE_$up=1"
        pc=$(pc_name "$p")
        if [ -n "$pc" ] && command -v pkg-config >/dev/null 2>&1 && pkg-config --exists "$pc"; then
            out="$out $(pkg-config --cflags "$pc")"
        fi
    done
    echo "${out# }" ;;
*)
    echo "usage: peers.sh list | libs PEER... | cflags PEER..." >&2; exit 2 ;;
esac
