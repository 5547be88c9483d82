#!/usr/bin/env bash
# fuzz/mkcorpus.sh — (re)make the seed corpus of fuzz_frame from the frames that
# `sysnet lab` crafts (demo and edge sets): one file per frame, prefixed by the
# two control bytes fuzz_frame reads (link type 0 = Ethernet, extra wire bytes).
set -eu
cd "$(dirname "$0")/.."
SYSNET=${SYSNET:-build/sysnet}
out=fuzz/corpus/fuzz_frame
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
mkdir -p "$out"
for set in demo edge; do
    "$SYSNET" lab -q --set $set -w "$tmp/$set.pcap" >/dev/null
    python3 - "$tmp/$set.pcap" "$out" "$set" <<'PY'
import struct, sys
data = open(sys.argv[1], 'rb').read()
off, i = 24, 0
while off + 16 <= len(data):
    _, _, incl, orig = struct.unpack_from('<IIII', data, off)
    frame = data[off + 16: off + 16 + incl]
    open(f"{sys.argv[2]}/{sys.argv[3]}-{i:02d}", 'wb').write(bytes([0, min(orig - incl, 255)]) + frame)
    off += 16 + incl; i += 1
PY
done
ls "$out" | wc -l
