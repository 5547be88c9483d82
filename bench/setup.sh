#!/usr/bin/env bash
# bench/setup.sh — install the programs the benchmarks compare sysnet with, from
# Debian packages. Idempotent: a package already installed is left alone and
# apt-get runs only when something is missing. Root only; otherwise it says so and
# does nothing (a benchmark whose peer is missing prints "peer missing").
# A later benchmark adds its packages to PEERS.
set -u

# Debian packages, one per line, with the benchmark that uses them.
PEERS=(
    tcpdump # bench/wire
    tshark  # bench/wire
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
