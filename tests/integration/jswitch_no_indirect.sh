#!/usr/bin/env bash
# Hot paths contain no plain indirect branches: disassembles the built
# objects of the listed runtime folders and fails on any `call *` or `jmp *`
# outside the retpoline thunks (gcc's __x86_indirect_thunk_* and shunt's own
# shunt_jsw_thunk_r11). Checks first that the detector catches one.
# To cover another hot path, add its folder to HOT_DIRS.
set -euo pipefail
HOT_DIRS=(
	runtime/jswitch
	runtime/channel
	runtime/fsserver
	runtime/fsclient
)
build=${SHUNT_BUILD:-build}
here=$(cd "$(dirname "$0")/../.." && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# Prints "object: function: instruction" for every plain indirect branch.
scan() {
	objdump -d --no-show-raw-insn "$@" | awk '
		/file format/ { obj = $1; sub(/:$/, "", obj); next }
		/^[0-9a-f]+ <.*>:$/ { fn = $2; gsub(/[<>:]/, "", fn); next }
		/\t(notrack )?(call|jmp)[lq]? +\*/ {
			if (fn ~ /^__x86_indirect_thunk_/ || fn ~ /^__x86_indirect_call_thunk_/ || fn == "shunt_jsw_thunk_r11")
				next
			line = $0; sub(/^ +[0-9a-f]+:\t/, "", line)
			print obj ": " fn ": " line
		}'
}

# The detector must see a plain indirect call when there is one.
printf 'int f(int (*g)(void)) { return g() + 1; }\n' >"$tmp/probe.c"
gcc -O2 -c "$tmp/probe.c" -o "$tmp/probe.o"
if [ -z "$(scan "$tmp/probe.o")" ]; then
	echo "FAIL: the scanner misses a plain indirect call"
	exit 1
fi

objs=()
for d in "${HOT_DIRS[@]}"; do
	[ -d "$here/$d" ] || { echo "FAIL: $d is listed but does not exist"; exit 1; }
	for src in "$here/$d"/*.c; do
		o="$build/obj/$d/$(basename "${src%.c}").o"
		[ -f "$o" ] || { echo "FAIL: $o not built (make all first)"; exit 1; }
		objs+=("$o")
	done
done
found=$(scan "${objs[@]}")
if [ -n "$found" ]; then
	echo "FAIL: plain indirect branches on hot paths:"
	echo "$found"
	exit 1
fi
echo "ok: ${#objs[@]} objects in ${HOT_DIRS[*]}: no plain indirect call or jmp outside the thunks"
