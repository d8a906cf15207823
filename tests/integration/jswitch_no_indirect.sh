#!/usr/bin/env bash
# The hot paths make no indirect call or jump of their own: every one goes
# through a jump switch (include/shunt/jswitch.h). Disassembles the built
# objects of the hot folders (with relocations) and fails on
#   - a plain `call *`/`jmp *` (an unprotected indirect branch), and
#   - a call or jump to a retpoline thunk (__x86_indirect_thunk_*): an
#     indirect call that is safe but ~20 ns, the thing jump switches replace;
#   - a jump to the jump switches' own retpoline (shunt_jsw_thunk_r11) from
#     anything but their fallbacks (cold entries, the learning stub).
# The thunks themselves are not calls. Checks first that it catches each
# kind in a planted object, and that a jump-switch call passes.
# Covered: every object of HOT_DIRS but programs' main files; a function that
# must stay indirect goes in ALLOW with the reason.
set -euo pipefail
export -n SHUNT_BUILD
HOT_DIRS=(
	preload          # the interposers' forwards to libc (REAL, real.h)
	runtime/fsclient # the file client
	runtime/channel  # the command ring (wake, liveness callbacks)
	runtime/fsserver # decode, poller, backend operations (fs_dispatch)
	runtime/transport # far-memory transport operations (struct xport_ops)
	runtime/far      # the far-memory fault path
	runtime/ccache   # the cache both sides use (evict hook)
	runtime/jswitch  # the mechanism itself
)
# "object-basename:function  reason", for calls that must stay indirect.
ALLOW=(
	"rdma_lib.o:rdma_lib_device_count  start-up: counting RDMA devices"
	"transport_rdma.o:rdma_connect_  connection set-up (rdma_cm, PD, CQ, QP, registrations)"
	"transport_rdma.o:wait_cm  connection set-up: waiting for a CM event"
	"transport_rdma.o:rdma_reg_buf  registering a buffer region, not per page"
	"transport_rdma.o:kill_conn  a dead connection: once"
	"transport_rdma.o:teardown  closing the connection"
	"transport_rdma.o:rdma_close  closing the connection"
)
build=${SHUNT_BUILD:-build}
here=$(cd "$(dirname "$0")/../.." && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# Prints "object: function: what" for every offending branch.
scan() {
	objdump -dr --no-show-raw-insn "$@" | awk '
		/file format/ { obj = $1; sub(/:$/, "", obj); sub(/.*\//, "", obj); next }
		/^[0-9a-f]+ <.*>:$/ { fn = $2; gsub(/[<>:]/, "", fn); pend = 0; next }
		function thunk(f) { return f ~ /^__x86_indirect_(call_)?thunk_/ || f == "shunt_jsw_thunk_r11" }
		function fallback(f) { return f ~ /^shunt_jsw_(v?cold_|learn_stub$)/ }
		/\t(notrack )?(call|jmp)[lq]? +\*/ {
			if (!thunk(fn)) { line = $0; sub(/^ +[0-9a-f]+:\t/, "", line); print obj ": " fn ": plain " line }
			pend = 0; next
		}
		/\t(call|jmp)[lq]? / { pend = 1; next }
		pend && /R_X86_64_(PLT32|PC32)\t/ {
			sym = $3; sub(/[-+]0x[0-9a-f]+$/, "", sym)
			if (sym ~ /^__x86_indirect_(call_)?thunk_/ && !thunk(fn))
				print obj ": " fn ": retpoline call via " sym
			else if (sym == "shunt_jsw_thunk_r11" && !thunk(fn) && !fallback(fn))
				print obj ": " fn ": jump-switch retpoline outside a fallback"
			pend = 0; next
		}
		{ pend = 0 }'
}

# The scanner must see each kind of indirect call, and pass a switch call.
cat >"$tmp/probe.c" <<'EOF'
#include "shunt/jswitch.h"
SHUNT_JSW_SITE(probe_site, int, 1, int);
int planted(int (*g)(int), int x) { return g(x) + 1; }
int switched(int (*g)(int), int x) { return SHUNT_JSW_CALL(probe_site, g, x) + 1; }
EOF
gcc -O2 -I"$here/include" -c "$tmp/probe.c" -o "$tmp/plain.o"
gcc -O2 -I"$here/include" -mindirect-branch=thunk -c "$tmp/probe.c" -o "$tmp/retpoline.o"
gcc -O2 -I"$here/include" -mindirect-branch=thunk-extern -c "$tmp/probe.c" -o "$tmp/extern.o"
for o in plain retpoline extern; do
	found=$(scan "$tmp/$o.o")
	if ! grep -q ": planted: " <<<"$found"; then
		echo "FAIL: the scanner misses the planted indirect call in the $o build"
		exit 1
	fi
	if grep -q ": switched: " <<<"$found"; then
		echo "FAIL: the scanner flags a jump-switch call ($o build): $found"
		exit 1
	fi
done
echo "ok: the scanner flags a planted indirect call (plain, retpoline, extern thunk) and passes a jump-switch call"

objs=()
for d in "${HOT_DIRS[@]}"; do
	[ -d "$here/$d" ] || { echo "FAIL: $d is listed but does not exist"; exit 1; }
	for src in "$here/$d"/*.c; do
		case $src in *_main.c) continue ;; esac # a program's start-up, not a hot path
		o="$build/obj/$d/$(basename "${src%.c}").o"
		[ -f "$o" ] || { echo "FAIL: $o not built (make all first)"; exit 1; }
		objs+=("$o")
	done
done
found=$(scan "${objs[@]}")
for a in "${ALLOW[@]+"${ALLOW[@]}"}"; do
	key=${a%% *}
	found=$(grep -v "^${key%%:*}: ${key#*:}: " <<<"$found" || true)
done
nfn=$(objdump -d "${objs[@]}" | grep -c '^[0-9a-f]* <.*>:$')
if [ -n "$found" ]; then
	echo "FAIL: indirect calls on hot paths (use SHUNT_JSW_CALL / REAL(), include/shunt/jswitch.h, preload/real.h):"
	echo "$found"
	exit 1
fi
echo "ok: ${#objs[@]} objects, $nfn functions in ${HOT_DIRS[*]}: no indirect call or jump outside the jump switches"
