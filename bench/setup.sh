#!/usr/bin/env bash
# bench/setup.sh — install the programs the benchmarks compare sysnet with, from
# Debian packages. Idempotent: a package already installed is left alone and
# apt-get runs only when something is missing. Root only; otherwise it says so and
# does nothing (a benchmark whose peer is missing prints "peer missing").
# A later benchmark adds its packages to PEERS.
set -u

# Debian packages, one per line, with the benchmark that uses them.
PEERS=(
    tcpdump     # bench/wire, bench/capture
    tshark      # bench/wire
    netsniff-ng # bench/capture: netsniff-ng (capture) and trafgen (TX ring generator)
    iproute2    # bench/capture: ip netns, veth pairs (usually installed already)
    libuv1-dev   # bench/loop: echo_uv, bench_timers
    libev-dev    # bench/loop: echo_ev, bench_timers
    libevent-dev # bench/loop: echo_event
    nginx-light  # bench/loop: the peer of sysnet serve (run from a temp prefix, 127.0.0.1 only)
    wrk          # bench/loop: drives sysnet serve and nginx
    python3      # bench/loop: echo_check.py checks each echo server before it is timed
    protobuf-c-compiler  # bench/codec: protoc-c (protoc --c_out), the protobuf-c peer
    libprotobuf-c-dev    # bench/codec: libprotobuf-c
    capnproto            # bench/codec: capnp compile -oc++
    libcapnp-dev         # bench/codec: libcapnp, libkj (C++, built with g++)
    flatbuffers-compiler # bench/codec: flatc --cpp
    libflatbuffers-dev   # bench/codec: libflatbuffers (C++)
    g++                  # bench/codec: the Cap'n Proto and FlatBuffers peers are C++
    protobuf-compiler    # bench/codec: protoc --decode cross-check
)

if [ "$(id -u)" != 0 ]; then
    echo "bench/setup.sh: not root; peers are not installed (missing ones are reported as such)"
    exit 0
fi
if ! command -v apt-get >/dev/null 2>&1 || ! command -v dpkg-query >/dev/null 2>&1; then
    echo "bench/setup.sh: no apt-get/dpkg here; install these by hand: ${PEERS[*]}"
    exit 0
fi

missing=()
for p in "${PEERS[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
        missing+=("$p")
    fi
done
if [ ${#missing[@]} -eq 0 ]; then
    echo "bench/setup.sh: peers installed: ${PEERS[*]}"
    exit 0
fi

echo "bench/setup.sh: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
# tshark's wireshark-common asks whether non-root users may capture: no.
if command -v debconf-set-selections >/dev/null 2>&1; then
    echo "wireshark-common wireshark-common/install-setuid boolean false" | debconf-set-selections
fi
if ! apt-get install -y -q --no-install-recommends "${missing[@]}"; then
    # The package lists may be stale or absent (a fresh container): refresh once.
    if ! { apt-get update -q && apt-get install -y -q --no-install-recommends "${missing[@]}"; }; then
        echo "bench/setup.sh: apt-get failed; the benchmarks run without: ${missing[*]}"
        exit 1
    fi
fi
# Debian starts the nginx service it installs (port 80, every address): bench/loop runs its
# own nginx on 127.0.0.1 from a temporary prefix, so stop and disable the system one.
if [[ " ${missing[*]} " == *" nginx-light "* ]]; then
    if command -v systemctl >/dev/null 2>&1 && systemctl is-enabled nginx >/dev/null 2>&1; then
        systemctl disable --now nginx >/dev/null 2>&1
    elif command -v service >/dev/null 2>&1; then
        service nginx stop >/dev/null 2>&1
    fi
    true
fi
