#!/usr/bin/env bash
# Anonymous mmap in far memory: tests/helpers/far_mmap.c checks the kernel's
# semantics (eviction, MADV_DONTNEED zeros, partial munmap, mremap shrink/
# grow/move/FIXED, mprotect, munmap across mappings) natively and then under
# the preload with a small local_mem, where its mappings must really be in
# far memory (far_mmap_bytes) and come back from the server
# (far_faults_remote). Then python3 mmaps a private anonymous buffer itself
# and checksums it: same output as natively, through the same path.
set -u
B=${SHUNT_BUILD:?SHUNT_BUILD must name the build directory}
export -n SHUNT_BUILD
B=$(cd "$B" && pwd)
LIB=$B/libshunt.so
T=$(mktemp -d /tmp/shunt-far-mmap.XXXXXX)
trap 'rm -rf "$T"' EXIT
fails=0
ok() { echo "ok   $*"; }
bad() { echo "FAIL $*"; fails=$((fails + 1)); }
json_val() { sed -n "s/.*\"$2\": \([0-9]*\).*/\1/p" "$1" | sort -n | tail -1; }

if "$B/tests/far_mmap" 16 >"$T/native.out" 2>&1 && grep -q "far_mmap: PASS" "$T/native.out"; then
	ok "far_mmap natively (the checks hold for the kernel)"
else
	bad "far_mmap natively: $(tail -3 "$T/native.out")"
fi

SHUNT_LOCAL_MEM=4M SHUNT_STATS="json:$T/m.json" LD_PRELOAD="$LIB" "$B/tests/far_mmap" 16 >"$T/shunt.out" 2>&1
rc=$?
mb=$(json_val "$T/m.json" far_mmap_bytes)
rf=$(json_val "$T/m.json" far_faults_remote)
if [ $rc -eq 0 ] && grep -q "far_mmap: PASS" "$T/shunt.out" && [ "${mb:-0}" -gt 0 ] && [ "${rf:-0}" -gt 0 ]; then
	ok "far_mmap under shunt, 4M local (far_mmap_bytes $mb, far_faults_remote $rf)"
else
	bad "far_mmap under shunt: exit $rc, far_mmap_bytes ${mb:-missing}, far_faults_remote ${rf:-missing}"
	sed 's/^/     /' "$T/shunt.out" | tail -10
fi

# Far memory off: the interposers forward, the checks still hold.
if LD_PRELOAD="$LIB" "$B/tests/far_mmap" 16 >"$T/off.out" 2>&1 && grep -q "far_mmap: PASS" "$T/off.out"; then
	ok "far_mmap under shunt with far memory off"
else
	bad "far_mmap, far memory off: $(tail -3 "$T/off.out")"
fi

cat >"$T/mm.py" <<'PY'
import mmap, hashlib
n = 48 << 20
m = mmap.mmap(-1, n, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
for i in range(0, n, 4096):
    m[i:i + 8] = (i * 2654435761 % 2**64).to_bytes(8, "little")
m.madvise(mmap.MADV_DONTNEED, 4 << 20, 4 << 20)
m.resize(n + (8 << 20)) if hasattr(m, "resize") else None
print(hashlib.sha256(m[:n]).hexdigest(), m[(4 << 20) + 4096:(4 << 20) + 4104] == bytes(8), len(m))
m.close()
PY
python3 "$T/mm.py" >"$T/py.native" 2>&1
SHUNT_LOCAL_MEM=8M SHUNT_STATS="json:$T/p.json" LD_PRELOAD="$LIB" python3 "$T/mm.py" >"$T/py.shunt" 2>&1
mb=$(json_val "$T/p.json" far_mmap_bytes)
rf=$(json_val "$T/p.json" far_faults_remote)
if cmp -s "$T/py.native" "$T/py.shunt" && [ "${mb:-0}" -ge $((48 << 20)) ] && [ "${rf:-0}" -gt 0 ]; then
	ok "python3 mmap(MAP_PRIVATE|MAP_ANONYMOUS) 48 MiB, madvise, resize: same output (far_mmap_bytes $mb, far_faults_remote $rf)"
else
	bad "python3 mmap: far_mmap_bytes ${mb:-missing}, far_faults_remote ${rf:-missing}; native: $(cat "$T/py.native"); shunt: $(cat "$T/py.shunt")"
fi

# mlockall(MCL_CURRENT) would populate the whole far region (and eviction
# cannot drop locked pages): it fails with ENOMEM and the program goes on.
out=$(SHUNT_LOCAL_MEM=16M timeout 60 env LD_PRELOAD="$LIB" python3 -c '
import ctypes
libc = ctypes.CDLL(None, use_errno=True)
r = libc.mlockall(1)
print(r, ctypes.get_errno(), len(bytearray(8 << 20)))' 2>&1)
rc=$?
if [ $rc -eq 0 ] && [ "$out" = "-1 12 8388608" ]; then
	ok "mlockall with far memory on: ENOMEM, the program goes on"
else
	bad "mlockall with far memory on: exit $rc, $out"
fi

echo "far_mmap: $fails failed"
[ "$fails" -eq 0 ]
