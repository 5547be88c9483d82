#!/usr/bin/env bash
# tests/cli/test_sniff_cli.sh — the `sysnet` command line: help, usage errors,
# bad input files (a one-line reason and a non-zero exit, never a crash), -c,
# -T json validity, -E header, --count.
set -u
cd "$(dirname "$0")/../.."
. tests/lib.sh
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT


"$SYSNET" lab -q -w "$tmp/demo.pcap" >/dev/null
n=$("$SYSNET" sniff -r "$tmp/demo.pcap" --count)

expect cli_help 0 'usage: sysnet COMMAND' "$SYSNET" --help
expect cli_sniff_help 0 'usage: sysnet sniff' "$SYSNET" sniff --help
expect cli_lab_help 0 'usage: sysnet lab' "$SYSNET" lab --help
expect cli_unknown_command 2 "unknown command 'bogus'" "$SYSNET" bogus
expect cli_unknown_option 2 'unknown option' "$SYSNET" sniff -r "$tmp/demo.pcap" --bogus
expect cli_missing_value 2 'needs a value' "$SYSNET" sniff -r
expect cli_no_input 2 'no input' "$SYSNET" sniff
expect cli_bad_count 2 '-c wants a packet count' "$SYSNET" sniff -r "$tmp/demo.pcap" -c 0
expect cli_unknown_field 2 "unknown field 'ip.bogus'" "$SYSNET" sniff -r "$tmp/demo.pcap" -T fields -e ip.bogus
expect cli_fields_need_e 2 'needs at least one -e' "$SYSNET" sniff -r "$tmp/demo.pcap" -T fields
expect cli_missing_file 1 'no such file' "$SYSNET" sniff -r "$tmp/nope.pcap"
head -c 1000 /dev/urandom > "$tmp/garbage"; printf 'XXXX' | dd of="$tmp/garbage" conv=notrunc 2>/dev/null
expect cli_garbage_file 1 'sysnet sniff: .*garbage: ' "$SYSNET" sniff -r "$tmp/garbage"
: > "$tmp/empty"
expect cli_empty_file 1 'sysnet sniff: ' "$SYSNET" sniff -r "$tmp/empty"
sz=$(stat -c %s "$tmp/demo.pcap"); head -c $((sz - 7)) "$tmp/demo.pcap" > "$tmp/cut.pcap"
expect cli_truncated_file 1 "after $((n - 1)) packets" "$SYSNET" sniff -r "$tmp/cut.pcap" -q
expect cli_count 0 "^$n\$" "$SYSNET" sniff -r "$tmp/demo.pcap" --count
expect cli_c_limits 0 '^3$' bash -c "'$SYSNET' sniff -r '$tmp/demo.pcap' -c 3 | wc -l"
expect cli_header 0 $'^frame.number\tip.src$' "$SYSNET" sniff -r "$tmp/demo.pcap" -c 1 -T fields -E header=y -e frame.number -e ip.src
expect cli_separator 0 '^1,,$' "$SYSNET" sniff -r "$tmp/demo.pcap" -c 1 -T fields -E separator=, -e frame.number -e ip.src -e ip.dst
expect cli_stdin 0 "^$n\$" bash -c "cat '$tmp/demo.pcap' | '$SYSNET' sniff -r - --count"
if have python3; then
    "$SYSNET" sniff -r "$tmp/demo.pcap" -T json > "$tmp/j.txt"
    if python3 -c "
import json,sys
rows=[json.loads(l) for l in open(sys.argv[1])]
assert len(rows)==$n, len(rows)
assert any(isinstance(r.get('ip.src'), list) for r in rows)   # ICMP errors: two ip.src
assert all('frame.number' in r for r in rows)
" "$tmp/j.txt"; then pass cli_json_valid; else fail cli_json_valid "python could not read the JSON"; fi
else
    skip cli_json_valid "python3 missing"
fi
summary
