#!/usr/bin/env bash
# tests/cli/test_ctx_aarch64.sh — the AArch64 context switch (src/task/ctx_aarch64.S),
# which this x86-64 machine cannot run natively: tests/cross/ctx_check.c is built
# with it and src/task/stack.c by aarch64-linux-gnu-gcc (-static -O2) and run under
# qemu-aarch64 — ping-pong, every callee-saved register (x19-x29, d8-d15) across
# switches, 16-byte sp at entry, deep recursion on a 32 KiB stack, the guard page,
# and the overflow message from a child. The same program built for the host with
# the host's ctx_<arch>.S (gcc, and clang when present) runs too. Skips (exit 0)
# when the cross compiler or qemu is missing (.ci/run installs gcc-aarch64-linux-gnu,
# libc6-dev-arm64-cross and qemu-user).
set -u
cd "$(dirname "$0")/../.."
. tests/lib.sh
tmp=$(mktemp -d); trap 'rm -f -r "$tmp"' EXIT

WARN="-std=c11 -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Wvla"
CHECKS="pingpong regs align recursion guard overflow"

# run_checks PREFIX EXTRA_CHECKS CMD...: run the program; one pass/fail per check line.
run_checks() {
    local pfx=$1 extra=$2; shift 2
    local out rc c
    out=$(timeout 60 "$@" 2>&1); rc=$?
    for c in $CHECKS $extra; do
        if printf '%s\n' "$out" | grep -qx "ok   $c"; then
            pass "${pfx}_$c"
        else
            fail "${pfx}_$c" "$(printf '%s\n' "$out" | grep -m1 "^FAIL $c" || echo "no result (exit $rc): $(printf '%s' "$out" | tail -c 300)")"
        fi
    done
    [ "$rc" = 0 ] || fail "${pfx}_exit" "exit $rc"
}

# build NAME CC ASM FLAGS...: compile ctx_check with CC and the given .S; "ok" or a fail line.
build() {
    local name=$1 cc=$2 asm=$3; shift 3
    if "$cc" $WARN -D_GNU_SOURCE -Iinclude "$@" -o "$tmp/$name" tests/cross/ctx_check.c "$asm" \
           src/task/stack.c -lpthread -lm > "$tmp/$name.log" 2>&1; then
        return 0
    fi
    fail "${name}_build" "$(head -c 400 "$tmp/$name.log")"
    return 1
}

# ---- AArch64 under qemu ----
xcc=""
for c in aarch64-linux-gnu-gcc aarch64-linux-gnu-gcc-12; do have "$c" && { xcc=$c; break; }; done
qemu=""
for q in qemu-aarch64 qemu-aarch64-static; do have "$q" && { qemu=$q; break; }; done
if [ -z "$xcc" ]; then
    skip ctx_aarch64 "no aarch64-linux-gnu-gcc (apt-get install gcc-aarch64-linux-gnu libc6-dev-arm64-cross)"
elif [ -z "$qemu" ]; then
    skip ctx_aarch64 "no qemu-aarch64 (apt-get install qemu-user)"
else
    if build ctx_aarch64 "$xcc" src/task/ctx_aarch64.S -static -O2; then
        pass ctx_aarch64_build
        run_checks ctx_aarch64 "" "$qemu" "$tmp/ctx_aarch64"
    fi
    # With BTI landing pads and the GNU property note (-mbranch-protection=standard):
    # still assembles and runs.
    if build ctx_aarch64_bti "$xcc" src/task/ctx_aarch64.S -static -O2 -mbranch-protection=standard; then
        run_checks ctx_aarch64_bti "" "$qemu" "$tmp/ctx_aarch64_bti"
    fi
fi

# ---- the host ----
arch=$(uname -m)
if [ -f "src/task/ctx_$arch.S" ]; then
    extra=""; [ "$arch" = x86_64 ] && extra=fpctl
    for cc in gcc clang; do
        have "$cc" || { skip "ctx_${arch}_$cc" "$cc not installed"; continue; }
        if build "ctx_${arch}_$cc" "$cc" "src/task/ctx_$arch.S" -O2; then
            run_checks "ctx_${arch}_$cc" "$extra" "$tmp/ctx_${arch}_$cc"
        fi
    done
else
    skip ctx_host "no src/task/ctx_$arch.S for this machine"
fi

summary
