#!/usr/bin/env bash
# Real programs with far memory on and a small SHUNT_LOCAL_MEM: each must
# print exactly what it prints natively, exit the same way, and show
# far_faults_remote > 0 (its pages really went to the memory server and came
# back). Also: read()/write() on evicted far buffers, fork (also with 8 MiB
# on the server, embedded and real), a real shunt-memd, an unreachable
# server (auto: a warning; required: refusal), and far memory off (the same
# programs, no far activity at all).
set -u
B=${SHUNT_BUILD:?SHUNT_BUILD must name the build directory}
unset SHUNT_BUILD # a SHUNT_ variable the preloaded programs would reject as an unknown key
LIB=$B/libshunt.so
T=$(mktemp -d /tmp/shunt-far-programs.XXXXXX)
MEMD_PID=
fails=0
cleanup() {
	if [ -n "$MEMD_PID" ] && kill -0 "$MEMD_PID" 2>/dev/null; then
		kill "$MEMD_PID" 2>/dev/null
		wait "$MEMD_PID" 2>/dev/null
	fi
	rm -rf "$T"
}
trap cleanup EXIT
ok() { echo "ok   $*"; }
bad() { echo "FAIL $*"; fails=$((fails + 1)); }

json_val() { # file key: the largest value over the objects (one per process)
	sed -n "s/.*\"$2\": \([0-9]*\).*/\1/p" "$1" | sort -n | tail -1
}

# far NAME ENV -- CMD...: native vs under the preload with ENV (far memory on).
far() {
	local name=$1 envs=$2
	shift 3
	"$@" >"$T/native.out" 2>"$T/native.err" </dev/null
	local nrc=$?
	rm -f "$T/stats.json" # each process appends its object
	env $envs SHUNT_STATS="json:$T/stats.json" LD_PRELOAD="$LIB" "$@" >"$T/shunt.out" 2>"$T/shunt.err" </dev/null
	local src=$?
	local remote
	remote=$(json_val "$T/stats.json" far_faults_remote)
	if [ "$nrc" != "$src" ]; then
		bad "$name: exit $src, natively $nrc"
		sed 's/^/     /' "$T/shunt.err" | tail -10
	elif ! cmp -s "$T/native.out" "$T/shunt.out"; then
		bad "$name: output differs from the native run"
	elif [ "${remote:-0}" -le 0 ]; then
		bad "$name: far_faults_remote is ${remote:-missing}"
	else
		ok "$name (far_faults_remote $remote, evictions $(json_val "$T/stats.json" far_evictions))"
	fi
}

# ---- inputs (made natively) ----
python3 - "$T" <<'EOF'
import random, sys
random.seed(3)
d = sys.argv[1]
with open(d + "/lines.txt", "w") as f:
    for i in range(150000):  # ~4.9 MB: more than the 4M of local memory sort gets
        f.write("%08x %s\n" % (random.getrandbits(32), "y" * random.randint(5, 40)))
with open(d + "/one.txt", "w") as f:
    for i in range(30000):
        f.write("%08x %s\n" % (random.getrandbits(32), "z" * random.randint(5, 40)))
import base64
with open(d + "/text400k.txt", "wb") as f:  # hard to compress: xz -9's match finder works over all of it
    f.write(base64.encodebytes(random.randbytes(300000)))
with open(d + "/blob.bin", "wb") as f:
    f.write(random.randbytes(24 << 20))
EOF
cat >"$T/bytes.py" <<'EOF'
import hashlib
b = bytearray(64 << 20)
for i in range(0, len(b), 4096):
    b[i:i + 8] = (i * 2654435761 % 2**64).to_bytes(8, "little")
l = [i * 7 for i in range(1_000_000)]
print(hashlib.sha256(b).hexdigest(), sum(l), len(l))
EOF
cat >"$T/fork.py" <<'EOF'
import os, hashlib
b = bytearray(48 << 20)
for i in range(0, len(b), 4096):
    b[i:i + 8] = (i * 40503 % 2**64).to_bytes(8, "little")
h = hashlib.sha256(b).hexdigest()
r, w = os.pipe()
pid = os.fork()
if pid == 0:
    os.close(r)
    b[1] ^= 1  # the child writes its own copy
    os.write(w, hashlib.sha256(b).hexdigest().encode())
    os._exit(0)
os.close(w)
child = os.read(r, 100).decode()
os.waitpid(pid, 0)
b[1] ^= 1
b[1] ^= 1
print("parent", h == hashlib.sha256(b).hexdigest())
b[1] ^= 1
print("child saw the parent's data", child == hashlib.sha256(b).hexdigest())
EOF
cat >"$T/index.sql" <<'EOF'
PRAGMA cache_size=-100000;
CREATE TABLE t(a INTEGER, b TEXT);
WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x+1 FROM c WHERE x<200000)
INSERT INTO t SELECT (x*2654435761)%1000003, printf('%08x-%s', (x*40503)%65536, substr('abcdefghijklmnopqrstuvwxyz', 1+x%20)) FROM c;
CREATE INDEX ti ON t(b, a);
SELECT count(*), sum(a), max(b), min(b) FROM t;
SELECT a, b FROM t ORDER BY b DESC, a LIMIT 3;
EOF

far "python3: 64 MiB bytearray and a 1M list, 16M local" "SHUNT_LOCAL_MEM=16M" -- python3 "$T/bytes.py"
if grep -q '"far_top_sites_by_bytes": \[{"bytes": [1-9]' "$T/stats.json" && grep -q 'PyByteArray' "$T/stats.json"; then
	ok "stats name the top far allocation sites"
else
	bad "stats lack far allocation sites: $(grep far_top_sites "$T/stats.json" | head -2)"
fi
far "sort -S 64M on a 4.9 MB file, 4M local" "SHUNT_LOCAL_MEM=4M" -- sort -S 64M "$T/lines.txt"
far "sqlite3: 100 MB cache, index over 200k rows, 10M local, far_min 32K" "SHUNT_LOCAL_MEM=10M SHUNT_FAR_MIN=32K" -- sqlite3 :memory: ".read $T/index.sql"
far "xz -3, 8M local" "SHUNT_LOCAL_MEM=8M" -- xz -3 -T1 -c "$T/one.txt"
# xz -9 allocates 674 MiB (64 MiB dictionary, its match finder): far memory
# with random access; a small input keeps the thrashing short.
far "xz -9 (674 MiB of far allocations), 32M local" "SHUNT_LOCAL_MEM=32M" -- xz -9 -T1 -c "$T/text400k.txt"
far "python3 fork: the child sees the parent's far pages" "SHUNT_LOCAL_MEM=16M" -- python3 "$T/fork.py"
if grep -q "True" "$T/shunt.out" && ! grep -q "False" "$T/shunt.out"; then ok "fork: both sides checked"; else bad "fork: $(cat "$T/shunt.out")"; fi

# read() into a far buffer, evict it, write() it out.
rm -f "$T/rw.json"
SHUNT_LOCAL_MEM=8M SHUNT_STATS="json:$T/rw.json" LD_PRELOAD="$LIB" "$B/tests/far_rw" "$T/blob.bin" "$T/blob.out" 64
rc=$?
if [ $rc -eq 0 ] && cmp -s "$T/blob.bin" "$T/blob.out" && [ "$(json_val "$T/rw.json" far_faults_remote)" -gt 0 ]; then
	ok "read()/write() on evicted far buffers (far_faults_remote $(json_val "$T/rw.json" far_faults_remote))"
else
	bad "read()/write() on evicted far buffers: exit $rc"
fi

# Threads allocating, checking and freeing far blocks at once.
rm -f "$T/mt.json"
SHUNT_LOCAL_MEM=8M SHUNT_STATS="json:$T/mt.json" LD_PRELOAD="$LIB" "$B/tests/far_mt_malloc" 4 60 >"$T/mt.out" 2>&1
rc=$?
if [ $rc -eq 0 ] && [ "$(json_val "$T/mt.json" far_faults_remote)" -gt 0 ]; then
	ok "threads malloc/calloc/realloc/posix_memalign/free far blocks at once (far_faults_remote $(json_val "$T/mt.json" far_faults_remote))"
else
	bad "threads on far blocks: exit $rc: $(tail -3 "$T/mt.out")"
fi

# fork() while threads allocate and free far blocks (lock order across fork).
SHUNT_LOCAL_MEM=16M timeout 120 env LD_PRELOAD="$LIB" "$B/tests/far_fork_mt" 100 >"$T/fmt.out" 2>&1
rc=$?
if [ $rc -eq 0 ] && grep -q "forks ok" "$T/fmt.out"; then
	ok "100 forks while 3 threads allocate far blocks"
else
	bad "forks while threads allocate far blocks: exit $rc: $(tail -3 "$T/fmt.out")"
fi

# fork with 8 MiB on the server (tests/helpers/far_fork_check.c): the child
# gets them through its parent, checks and rewrites them; the parent checks
# its own copy and writes back new values after. ENV names the server.
fork_check() { # label env...
	local label=$1
	shift
	env "$@" SHUNT_LOCAL_MEM=1M SHUNT_LOG=debug LD_PRELOAD="$LIB" timeout 120 "$B/tests/far_fork_check" 8 >"$T/ffc.out" 2>&1
	local rc=$? copied
	copied=$(sed -n 's/.*fork child copied \([0-9]*\) pages.*/\1/p' "$T/ffc.out" | sort -n | tail -1)
	if [ $rc -eq 0 ] && grep -q "fork ok" "$T/ffc.out" && [ "${copied:-0}" -gt 0 ]; then
		ok "fork, $label: the child read $copied pages from the server through its parent, both sides checked"
	else
		bad "fork, $label: exit $rc, ${copied:-no} pages copied: $(grep -v 'debug:' "$T/ffc.out" | tail -5)"
	fi
}
fork_check "embedded server"

# A real shunt-memd.
"$B/shunt-memd" --listen tcp://127.0.0.1:0 --size 1G >"$T/memd.out" 2>&1 &
MEMD_PID=$!
for _ in $(seq 100); do grep -q "listening on port" "$T/memd.out" 2>/dev/null && break; sleep 0.05; done
PORT=$(sed -n 's/.*listening on port \([0-9]*\).*/\1/p' "$T/memd.out")
far "python3 against a real shunt-memd" "SHUNT_FAR_SERVER=tcp://127.0.0.1:$PORT SHUNT_LOCAL_MEM=16M" -- python3 "$T/bytes.py"
fork_check "real shunt-memd" "SHUNT_FAR_SERVER=tcp://127.0.0.1:$PORT"
kill "$MEMD_PID"
wait "$MEMD_PID" 2>/dev/null
MEMD_PID=

# Unreachable server: auto starts with far memory off and a warning;
# required refuses to start.
SHUNT_FAR_SERVER=tcp://127.0.0.1:1 LD_PRELOAD="$LIB" python3 -c 'print(6*7)' >"$T/o" 2>"$T/e"
if [ "$(cat "$T/o")" = 42 ] && grep -q "far memory is off: cannot reach shunt-memd" "$T/e"; then
	ok "unreachable server, far auto: runs with a warning"
else
	bad "unreachable server, far auto: $(cat "$T/o") / $(cat "$T/e")"
fi
SHUNT_FAR=required SHUNT_FAR_SERVER=tcp://127.0.0.1:1 LD_PRELOAD="$LIB" python3 -c 'print(6*7)' >"$T/o" 2>"$T/e"
rc=$?
if [ $rc -ne 0 ] && [ ! -s "$T/o" ] && grep -q "far memory is required" "$T/e"; then
	ok "unreachable server, far required: refuses (exit $rc)"
else
	bad "unreachable server, far required: exit $rc, $(cat "$T/e")"
fi

# Far memory off (nothing set): same output, no far activity.
LD_PRELOAD="$LIB" SHUNT_STATS="json:$T/off.json" sort -S 64M "$T/lines.txt" >"$T/off.out" 2>"$T/off.err"
if cmp -s "$T/off.out" <(sort -S 64M "$T/lines.txt") && [ "$(json_val "$T/off.json" far_alloc_bytes)" = 0 ] && [ "$(json_val "$T/off.json" far_mmap_bytes)" = 0 ] &&
	[ ! -s "$T/off.err" ]; then
	ok "far memory off: same output, no far allocation"
else
	bad "far memory off: $(head -3 "$T/off.err")"
fi

echo "far_programs: $fails failed"
[ "$fails" -eq 0 ]
