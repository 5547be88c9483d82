#!/usr/bin/env bash
# tests/cli/test_c10k.sh — C10K, proven on this machine: `sysnet echo` holds 10,000
# concurrent TCP connections from `sysnet load` (another process; each process
# stays under the 20,000-file limit), a message goes both ways on every one of them,
# all close cleanly, and the server's memory per connection is reported (user:
# resident set growth / connections; kernel: /proc/net/sockstat's TCP pages). Then
# 50,000: `echo --workers 4` (SO_REUSEPORT) and three load processes spread over
# 127.0.0.1-3 source addresses. Loopback only. C10K_CONNS / C10K_BIG override the
# two sizes (0 skips the second).
set -u
cd "$(dirname "$0")/../.."
. tests/lib.sh

# The release build when there is one: ASan's shadow memory would swamp the
# per-connection figure (the ASan build runs the robustness tests).
BIN=$SN_BUILD/sysnet
[ -x "$BIN" ] || BIN=$SYSNET
N=${C10K_CONNS:-10000}
BIG=${C10K_BIG:-50000}
tmp=$(mktemp -d)
spid=
cleanup() {
    [ -n "$spid" ] && kill -9 "$spid" 2>/dev/null
    pkill -9 -f "sysnet load 127.0.0.1:$PORT" 2>/dev/null
    rm -rf "$tmp"
}
PORT=$((20000 + $$ % 20000))
trap cleanup EXIT

hard=$(ulimit -Hn)
if [ "$hard" != unlimited ] && [ "$hard" -lt $((N + 100)) ]; then
    skip c10k "the hard open-file limit is $hard, below $N connections"; summary; exit
fi
ulimit -n "$hard" 2>/dev/null

sockstat_pages() { awk '/^TCP:/ { for (i = 1; i < NF; i++) if ($i == "mem") print $(i + 1) }' /proc/net/sockstat; }

# start_echo ARGS...: the server in the background, waits for its listening line(s).
start_echo() {
    local want=$1; shift
    "$BIN" echo --listen 127.0.0.1:$PORT --stats "$@" > "$tmp/echo.out" 2> "$tmp/echo.err" &
    spid=$!
    for _ in $(seq 100); do
        [ "$(grep -c 'listening on' "$tmp/echo.out" 2>/dev/null)" -ge "$want" ] && return 0
        sleep 0.05
    done
    return 1
}
stop_echo() {
    kill -TERM "$spid" 2>/dev/null
    wait "$spid"; local rc=$?; spid=
    return $rc
}
# The highest "connections open" the server's stats lines showed, and the rss then.
peak_line() { grep ': stats: ' "$tmp/echo.err" | awk '{ for (i = 1; i < NF; i++) if ($(i+1) == "connections") c = $i; if (c >= best) { best = c; line = $0 } } END { print line }'; }

# ---- 10,000 ----
if ! start_echo 1; then fail c10k_server "no listening line: $(head -c 300 "$tmp/echo.err")"; summary; exit; fi
sleep 1.2
base_rss=$(grep ': stats: ' "$tmp/echo.err" | tail -1 | sed 's/.*rss \([0-9]*\) KiB.*/\1/')
base_pages=$(sockstat_pages)
"$BIN" load 127.0.0.1:$PORT -c "$N" -d 3 -t 2 -s 64 > "$tmp/load.out" 2> "$tmp/load.err" &
lpid=$!
# Sample the kernel's TCP memory while the connections are up.
peak_pages=$base_pages
while kill -0 $lpid 2>/dev/null; do
    p=$(sockstat_pages); [ "$p" -gt "$peak_pages" ] && peak_pages=$p
    sleep 0.25
done
wait $lpid; lrc=$?
res=$(grep '^result' "$tmp/load.out")
conns=$(printf '%s' "$res" | sed -n 's/.*conns=\([0-9]*\).*/\1/p')
msgs=$(printf '%s' "$res" | sed -n 's/.* msgs=\([0-9]*\).*/\1/p')
errs=$(printf '%s' "$res" | sed -n 's/.*errors=\([0-9]*\).*/\1/p')
if [ "$lrc" = 0 ] && [ "$conns" = "$N" ] && [ "${errs:-1}" = 0 ] && [ "${msgs:-0}" -ge "$N" ]; then
    pass "c10k_hold_${N}_exchange ($conns connections, $msgs messages echoed, 0 errors)"
else
    fail "c10k_hold_${N}_exchange" "load exit $lrc: $res $(tail -3 "$tmp/load.err" | tr '\n' ' ')"
fi
sleep 1.2
peak=$(peak_line)
peak_conns=$(printf '%s' "$peak" | awk '{ for (i = 1; i < NF; i++) if ($(i+1) == "connections") print $i }')
peak_rss=$(printf '%s' "$peak" | sed 's/.*rss \([0-9]*\) KiB.*/\1/')
if [ "${peak_conns:-0}" -ge "$N" ]; then
    user_b=$(( (peak_rss - base_rss) * 1024 / peak_conns ))
    kern_b=$(( (peak_pages - base_pages) * 4096 / (2 * N) ))
    pass "c10k_memory (server: $user_b bytes of user memory per connection; kernel: ~$kern_b bytes of TCP buffer memory per socket, both ends on this host)"
else
    fail c10k_memory "the server never reported $N open connections: $(grep stats "$tmp/echo.err" | tail -3 | tr '\n' ' ')"
fi
# Every connection closed, the server is back to 0 and exits cleanly on SIGTERM.
sleep 1
last=$(grep ': stats: ' "$tmp/echo.err" | tail -1)
if stop_echo && printf '%s' "$last" | grep -q ': 0 connections open' &&
   grep -q "stopped: 0 connections open, [0-9]* peak, $N closed" "$tmp/echo.err"; then
    pass c10k_all_closed
else
    fail c10k_all_closed "last stats: $last / $(grep stopped "$tmp/echo.err")"
fi

# ---- 50,000 with worker processes and several source addresses ----
if [ "$BIG" -gt 0 ]; then
    per=$(( (BIG + 2) / 3 ))
    if ! start_echo 4 --workers 4; then fail c10k_big_server "workers did not start: $(head -c 300 "$tmp/echo.err")"
    else
        : > "$tmp/pids"
        for k in 0 1 2; do
            n=$per; [ $k = 2 ] && n=$((BIG - 2 * per))
            # each process its own source address, 127.0.0.(k+1): ~17k ports of each
            "$BIN" load 127.0.0.1:$PORT -c "$n" -d 4 -t 1 --sources $((k + 1))-$((k + 1)) --connect-timeout 20 -q \
                > "$tmp/load$k.out" 2> "$tmp/load$k.err" &
            echo $! >> "$tmp/pids"
        done
        ok=1; total=0; totmsgs=0
        for k in 0 1 2; do
            wait "$(sed -n "$((k + 1))p" "$tmp/pids")" || ok=0
            r=$(grep '^result' "$tmp/load$k.out")
            c=$(printf '%s' "$r" | sed -n 's/.*conns=\([0-9]*\).*/\1/p'); total=$((total + ${c:-0}))
            m=$(printf '%s' "$r" | sed -n 's/.* msgs=\([0-9]*\).*/\1/p'); totmsgs=$((totmsgs + ${m:-0}))
            e=$(printf '%s' "$r" | sed -n 's/.*errors=\([0-9]*\).*/\1/p'); [ "${e:-1}" = 0 ] || ok=0
        done
        sleep 1.2
        if [ $ok = 1 ] && [ "$total" = "$BIG" ] && [ "$totmsgs" -ge "$BIG" ] && stop_echo; then
            closed=$(grep -o 'stopped: [0-9]* connections open, [0-9]* peak, [0-9]* closed' "$tmp/echo.err" |
                     awk '{ s += $(NF-1) } END { print s + 0 }')
            if [ "$closed" = "$BIG" ]; then
                pass "c10k_hold_${BIG}_workers (4 server processes, 3 load processes: $total connections, $totmsgs messages, all $closed closed)"
            else fail "c10k_hold_${BIG}_workers" "the servers closed $closed of $BIG"; fi
        else
            fail "c10k_hold_${BIG}_workers" "connections $total of $BIG, messages $totmsgs: $(cat "$tmp"/load*.err | grep -v '^sysnet load: [ 0-9]* s:' | tail -3 | tr '\n' ' ')"
        fi
    fi
fi
summary
