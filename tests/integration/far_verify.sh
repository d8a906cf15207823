#!/usr/bin/env bash
# The far-memory verification stress (tests/helpers/far_verify.c) through the
# runtime API: a seeded pattern over four times local_mem from several
# threads, forced eviction, read back; once with the embedded memory server,
# once against a real shunt-memd on loopback, once without prefetch, and once
# with the server killed mid-run (the program must die of SIGBUS with a
# message, never read zeros). Kills only the server it started.
set -u
B=${SHUNT_BUILD:?SHUNT_BUILD must name the build directory}
V=$B/tests/far_verify
T=$(mktemp -d /tmp/shunt-far-verify.XXXXXX)
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

run() { # name args...
	local name=$1
	shift
	if "$V" "$@" >"$T/out" 2>&1 && grep -q "far_verify: PASS" "$T/out"; then
		ok "$name"
		sed 's/^/     /' "$T/out" | grep -E "service|max resident"
	else
		bad "$name"
		sed 's/^/     /' "$T/out"
	fi
}

run "embedded server, 4 threads, 4x local_mem" --local 16 --factor 4 --threads 4 --seed 7
run "embedded server, 8 threads, tiny local_mem" --local 2 --factor 8 --threads 8 --seed 11
run "embedded server, no prefetch" --local 8 --factor 4 --threads 3 --seed 13 --no-prefetch

start_memd() {
	"$B/shunt-memd" --listen tcp://127.0.0.1:0 --size 2G >"$T/memd.out" 2>"$T/memd.err" &
	MEMD_PID=$!
	for _ in $(seq 100); do grep -q "listening on port" "$T/memd.out" 2>/dev/null && break; sleep 0.05; done
	PORT=$(sed -n 's/.*listening on port \([0-9]*\).*/\1/p' "$T/memd.out")
	[ -n "$PORT" ] || { bad "shunt-memd did not start: $(cat "$T/memd.err")"; exit 1; }
}

start_memd
run "real shunt-memd on loopback" --local 16 --factor 4 --threads 4 --seed 17 --server "tcp://127.0.0.1:$PORT"

# The server dies while the program still needs pages it holds.
"$V" --local 4 --factor 64 --threads 2 --seed 19 --server "tcp://127.0.0.1:$PORT" >"$T/dead.out" 2>&1 &
VP=$!
sleep 0.5
kill "$MEMD_PID"
wait "$MEMD_PID" 2>/dev/null
MEMD_PID=
wait "$VP"
rc=$?
if [ "$rc" -eq $((128 + 7)) ] && grep -q "shunt-memd at tcp://127.0.0.1:$PORT cannot be used any more" "$T/dead.out"; then
	ok "server killed mid-run: SIGBUS with a message"
elif grep -q "far_verify: PASS" "$T/dead.out"; then
	ok "server killed mid-run: the run had already finished (machine too fast to test this)"
else
	bad "server killed mid-run: exit $rc"
	sed 's/^/     /' "$T/dead.out" | tail -20
fi
if grep -q "mismatch" "$T/dead.out"; then
	bad "server death produced wrong data"
fi

echo "far_verify: $fails failed"
[ "$fails" -eq 0 ]
