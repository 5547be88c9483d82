#!/usr/bin/env bash
# tests/cli/test_feed.sh — `sysnet feed` from the outside: usage errors (exit 2, one
# line); a server (port 0, the port read from its first line) and clients over
# loopback: all N text messages with sequence numbers 1..N and End of Session;
# ITCH Add Orders decoded one per line; resuming with --from; -c N then logout; a
# bad password and an unknown session rejected (exit 1 with the reason); a paced
# session (--rate); --once. Loopback only; every server is killed by the EXIT trap.
set -u
cd "$(dirname "$0")/../.."
. tests/lib.sh
sn_tmp_pids

expect feed_help 0 'usage: sysnet feed' "$SYSNET" feed --help
sn_usage_err feed_no_mode 'give one of --listen' feed
sn_usage_err feed_both_modes 'give one of --listen' feed --listen 127.0.0.1:0 --connect 127.0.0.1:1
sn_usage_err feed_bad_listen "--listen 'nowhere'" feed --listen nowhere
sn_usage_err feed_connect_no_port 'needs a port' feed --connect 127.0.0.1
sn_usage_err feed_bad_messages '--messages wants' feed --listen 127.0.0.1:0 --messages 0
sn_usage_err feed_bad_rate '--rate wants' feed --listen 127.0.0.1:0 --rate x
sn_usage_err feed_bad_from '--from wants' feed --connect 127.0.0.1:1 --from -3
sn_usage_err feed_bad_count '-c wants' feed --connect 127.0.0.1:1 -c 0
sn_usage_err feed_long_user '--user takes at most 6' feed --connect 127.0.0.1:1 --user abcdefg
sn_usage_err feed_long_password '--password takes at most 10' feed --connect 127.0.0.1:1 -p 12345678901
sn_usage_err feed_unknown_option "unknown option '--bogus'" feed --listen 127.0.0.1:0 --bogus
sn_usage_err feed_missing_value "needs a value" feed --listen 127.0.0.1:0 --messages
sn_usage_err feed_extra_argument "unexpected argument 'x'" feed --listen 127.0.0.1:0 x

# start_server NAME ARGS...: runs `sysnet feed --listen 127.0.0.1:0 ARGS` in the
# background; sets $port (empty on failure) and $spid.
start_server() {
    local name=$1; shift
    port=""
    "$SYSNET" feed --listen 127.0.0.1:0 "$@" > "$tmp/$name.srv" 2>&1 &
    spid=$!; pids+=("$spid")
    for _ in $(seq 1 100); do
        port=$(grep -o 'listening on 127.0.0.1:[0-9]*' "$tmp/$name.srv" 2>/dev/null | sed 's/.*://')
        [ -n "$port" ] && return 0
        sleep 0.05
    done
    fail "$name" "the server did not start: $(head -c 300 "$tmp/$name.srv")"
    return 1
}

# connect_client NAME ARGS...: the client's output in $tmp/NAME.out, exit code in $crc.
connect_client() {
    local name=$1; shift
    timeout 30 "$SYSNET" feed --connect "127.0.0.1:$port" "$@" > "$tmp/$name.out" 2> "$tmp/$name.err"
    crc=$?
}

no_sanitizer() { ! grep -qE 'AddressSanitizer|runtime error|LeakSanitizer' "$@"; }

# ---- text messages: all 5000, in order, then End of Session ----
if start_server text --messages 5000 --user alice --password secret; then
    connect_client text -u alice -p secret
    lines=$(grep -cE '^[0-9]+ sysnet feed message' "$tmp/text.out")
    seqok=$(awk '/^[0-9]+ sysnet feed message/ { n++; if ($1 != n || $5 + 0 != n) bad++ } END { print bad + 0 }' "$tmp/text.out")
    if [ "$crc" = 0 ] && [ "$lines" = 5000 ] && [ "$seqok" = 0 ] &&
       grep -qE '^5000 messages, sequence 1\.\.5000, .* msgs/s, end of session$' "$tmp/text.out" && no_sanitizer "$tmp/text.err"; then
        pass feed_text_all_in_order
    else
        fail feed_text_all_in_order "exit $crc, $lines lines, $seqok out of order: $(tail -n 2 "$tmp/text.out") $(head -c 300 "$tmp/text.err")"
    fi
    # resume from 4990: 11 messages, 4990..5000
    connect_client resume -u alice -p secret --from 4990
    if [ "$crc" = 0 ] && [ "$(grep -cE '^[0-9]+ sysnet' "$tmp/resume.out")" = 11 ] &&
       head -n 2 "$tmp/resume.out" | grep -q '^4990 sysnet feed message 0000004990$' &&
       grep -q '^11 messages, sequence 4990\.\.5000,' "$tmp/resume.out"; then
        pass feed_resume_from
    else
        fail feed_resume_from "exit $crc: $(head -n 3 "$tmp/resume.out" | tr '\n' '|') $(tail -n 1 "$tmp/resume.out")"
    fi
    # -c 100: logs out after 100 messages, exit 0 (the server may have sent all
    # of it and End of Session before the Logout Request arrived)
    connect_client count -u alice -p secret -c 100 -q
    if [ "$crc" = 0 ] && grep -q '^100 messages, sequence 1\.\.100, .*logout$' "$tmp/count.out"; then
        pass feed_count_logout
    else
        fail feed_count_logout "exit $crc: $(cat "$tmp/count.out" "$tmp/count.err" | head -c 300)"
    fi
    # a bad password: exit 1, one line with the reason
    connect_client badpw -u alice -p wrong
    if [ "$crc" = 1 ] && grep -q '^sysnet feed: login rejected by 127.0.0.1:[0-9]*: not authorized (A)$' "$tmp/badpw.err" &&
       [ "$(wc -l < "$tmp/badpw.err")" = 1 ]; then
        pass feed_bad_password_rejected
    else
        fail feed_bad_password_rejected "exit $crc: $(cat "$tmp/badpw.out" "$tmp/badpw.err" | head -c 300)"
    fi
    connect_client badsess -u alice -p secret --session NOPE
    if [ "$crc" = 1 ] && grep -q 'login rejected .*session not available (S)' "$tmp/badsess.err"; then
        pass feed_unknown_session_rejected
    else
        fail feed_unknown_session_rejected "exit $crc: $(cat "$tmp/badsess.err" | head -c 300)"
    fi
    sleep 0.2
    if [ "$(grep -cE 'client alice: (logout|end of session), ' "$tmp/text.srv")" = 3 ] &&
       [ "$(grep -c 'client alice: login rejected' "$tmp/text.srv")" = 2 ]; then
        pass feed_server_log
    else
        fail feed_server_log "$(head -c 600 "$tmp/text.srv")"
    fi
    kill -INT "$spid" 2>/dev/null; wait "$spid" 2>/dev/null; src=$?
    if [ "$src" = 0 ] && grep -q '^sysnet feed: 3 sessions, 3 logins, 2 rejected' "$tmp/text.srv" && no_sanitizer "$tmp/text.srv"; then
        pass feed_server_sigint_totals
    else
        fail feed_server_sigint_totals "exit $src: $(tail -n 2 "$tmp/text.srv")"
    fi
fi

# ---- ITCH, paced, --once: 600 Add Orders at 2000/s (0.3 s from the server's start) ----
if start_server itch --messages 600 --rate 2000 --itch --once; then
    connect_client itch --itch
    lines=$(grep -cE '^[0-9]+ A Add Order locate=[0-9]+ ts=342[0-9]+\.[0-9]{9} ref=[0-9]+ [BS] [0-9]+ [A-Z]+ @ [0-9]+\.[0-9]{4}$' "$tmp/itch.out")
    refok=$(awk '/ Add Order / { n++; if ($1 != n || $7 != "ref=" n) bad++ } END { print bad + 0 }' "$tmp/itch.out")
    if [ "$crc" = 0 ] && [ "$lines" = 600 ] && [ "$refok" = 0 ] &&
       grep -q '^600 messages, sequence 1\.\.600, .*end of session$' "$tmp/itch.out"; then
        pass feed_itch_decoded
    else
        fail feed_itch_decoded "exit $crc, $lines lines, $refok bad: $(head -n 2 "$tmp/itch.out" | tr '\n' '|') $(head -c 300 "$tmp/itch.err")"
    fi
    # the client logged in at most ~0.15 s after the start: the rest came paced
    secs=$(grep -oE '^600 messages, sequence 1\.\.600, [0-9.]+ s' "$tmp/itch.out" | awk '{ print $5 }')
    if awk -v s="${secs:-0}" 'BEGIN { exit !(s >= 0.1 && s < 5) }'; then
        pass feed_rate_paces
    else
        fail feed_rate_paces "600 messages at 2000/s took ${secs:-?} s after login (want 0.1 .. 5)"
    fi
    for _ in $(seq 1 100); do kill -0 "$spid" 2>/dev/null || break; sleep 0.05; done
    if ! kill -0 "$spid" 2>/dev/null && wait "$spid"; then
        pass feed_server_once
    else
        fail feed_server_once "the server is still running (or failed) after --once: $(tail -n 2 "$tmp/itch.srv")"
    fi
fi

# ---- nobody listening: exit 1 ----
if have python3; then
    free=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
    port=$free
    connect_client refused
    if [ "$crc" = 1 ] && grep -q "^sysnet feed: cannot connect to 127.0.0.1:$free: " "$tmp/refused.err"; then
        pass feed_connect_refused
    else
        fail feed_connect_refused "exit $crc: $(cat "$tmp/refused.err" | head -c 300)"
    fi
fi
summary
