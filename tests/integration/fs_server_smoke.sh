#!/usr/bin/env bash
# shuntd on its own: start it on a temp root, run the tiny ring client
# (HELLO, open/write/read/cache/stat/getdents/close, malformed commands),
# check the files it left, the daemon mode, a bad root, and a clean SIGTERM
# (socket unlinked); then again with two pollers and without the path cache.
# Cleans up its processes (by pid) and temp dir.
set -u
B=${SHUNT_BUILD:-$(cd "$(dirname "$0")/../../build" && pwd)}
# Programs linked with the runtime refuse unknown SHUNT_* variables.
unset SHUNT_BUILD
T=$(mktemp -d /tmp/shunt-srv-smoke.XXXXXX)
PID=
fail=0
cleanup() {
	[ -n "$PID" ] && kill "$PID" 2>/dev/null && sleep 0.2
	[ -n "$PID" ] && kill -9 "$PID" 2>/dev/null
	rm -rf "$T"
}
trap cleanup EXIT
bad() { echo "FAIL: $*" >&2; fail=1; }

for ARGS in "" "--pollers 2" "--no-path-cache"; do
	echo "--- shuntd $ARGS"
	rm -rf "$T/root" "$T/run"
	mkdir -p "$T/root/dir" "$T/root/private"
	chmod 755 "$T"
	chmod 1777 "$T/root"
	chmod 700 "$T/root/private"
	echo secret >"$T/root/private/secret"
	echo root >"$T/root/rootfile"
	"$B/shuntd" --root "$T/root" --socket "$T/run/fs.sock" --log info $ARGS 2>"$T/server.log" &
	PID=$!
	for _ in $(seq 50); do [ -S "$T/run/fs.sock" ] && break; sleep 0.05; done
	[ -S "$T/run/fs.sock" ] || bad "socket never appeared"
	[ "$(stat -c %a "$T/run")" = 700 ] || bad "socket dir mode $(stat -c %a "$T/run")"

	if ! timeout 20 "$B/tests/fs_client_smoke" "$T/run/fs.sock" >"$T/client.out" 2>&1; then
		bad "client reported mismatches"
	fi
	[ -z "$ARGS" ] && cat "$T/client.out"
	[ ! -e "$T/root/dir" ] || bad "client's rmdir did not reach the root"

	# A second client runs while the first server keeps going (sessions end cleanly).
	timeout 20 "$B/tests/fs_client_smoke" "$T/run/fs.sock" >/dev/null 2>&1 && bad "second run should fail: dir is gone"
	mkdir -p "$T/root/dir"
	timeout 20 "$B/tests/fs_client_smoke" "$T/run/fs.sock" >/dev/null 2>&1 || bad "second client"

	# Families, a hostile client, locks, and an unprivileged client (root server
	# switches to the client's fsuid/fsgid/groups).
	for m in family linger hostile locks cachesem pcfill pcext; do
		SMOKE_ROOT="$T/root" timeout 20 "$B/tests/fs_client_smoke" "$T/run/fs.sock" $m >"$T/$m.out" 2>&1 || bad "scenario $m"
		tail -n 3 "$T/$m.out"
	done
	if [ "$(id -u)" = 0 ]; then
		chmod 711 "$T/run"
		timeout 20 setpriv --reuid=65534 --regid=65534 --clear-groups "$B/tests/fs_client_smoke" "$T/run/fs.sock" perms \
			>"$T/perms.out" 2>&1 || bad "scenario perms (uid 65534)"
		tail -n 3 "$T/perms.out"
	fi

	kill -TERM "$PID"
	for _ in $(seq 50); do kill -0 "$PID" 2>/dev/null || break; sleep 0.05; done
	kill -0 "$PID" 2>/dev/null && bad "shuntd ignored SIGTERM"
	wait "$PID" 2>/dev/null
	PID=
	[ -e "$T/run/fs.sock" ] && bad "socket not unlinked on SIGTERM"
	grep -q "session 0 start" "$T/server.log" || bad "no session log line"
	grep -q "fs_op_open" "$T/server.log" || bad "no counters at exit"
	[ -z "$ARGS" ] && cat "$T/server.log"
done

# A fuzzing client (valid tokens, random real ops and arguments) against a
# root holding a symlink out of it: the server answers everything, stays up,
# and nothing outside the root changes.
rm -rf "$T/root" "$T/outside" && mkdir -p "$T/root/d/d2" "$T/outside"
echo canary >"$T/outside/canary"
ln -s "$T/outside" "$T/root/l"
mkfifo "$T/root/fifo"
before=$(cd "$T/outside" && ls -lA --time-style=+%s . && stat -c "%a %u %g %s %Y" canary && md5sum canary)
"$B/shuntd" --root "$T/root" --socket "$T/run/z.sock" --pollers 2 2>"$T/fuzz.log" &
PID=$!
for _ in $(seq 50); do [ -S "$T/run/z.sock" ] && break; sleep 0.05; done
SMOKE_FUZZ_N=8000 timeout 60 "$B/tests/fs_client_smoke" "$T/run/z.sock" fuzz >"$T/fuzz.out" 2>&1 || bad "scenario fuzz"
tail -n 2 "$T/fuzz.out"
kill -0 "$PID" 2>/dev/null || bad "shuntd died under the fuzz"
kill -TERM "$PID"
wait "$PID" 2>/dev/null
PID=
after=$(cd "$T/outside" && ls -lA --time-style=+%s . && stat -c "%a %u %g %s %Y" canary && md5sum canary)
[ "$before" = "$after" ] || bad "the fuzz changed something outside the root"
rm -rf "$T/root"

# Per-family bound on open handles (a quarter of the server's fd limit).
mkdir -p "$T/root"
(ulimit -n 256 && exec "$B/shuntd" --root "$T/root" --socket "$T/run/e.sock" 2>"$T/emfile.log") &
PID=$!
for _ in $(seq 50); do [ -S "$T/run/e.sock" ] && break; sleep 0.05; done
timeout 20 "$B/tests/fs_client_smoke" "$T/run/e.sock" emfile >"$T/emfile.out" 2>&1 || bad "scenario emfile"
tail -n 2 "$T/emfile.out"
kill -TERM "$PID"
wait "$PID" 2>/dev/null
PID=
rm -rf "$T/root"

# The in-memory backend.
"$B/shuntd" --backend mem --socket "$T/run/m.sock" 2>"$T/mem.log" &
PID=$!
for _ in $(seq 50); do [ -S "$T/run/m.sock" ] && break; sleep 0.05; done
timeout 20 "$B/tests/fs_client_smoke" "$T/run/m.sock" memfs >"$T/mem.out" 2>&1 || bad "scenario memfs"
tail -n 1 "$T/mem.out"
kill -TERM "$PID"
wait "$PID" 2>/dev/null
PID=

# The cache budget: closed files' caches go once over --cache-mem.
rm -rf "$T/root" && mkdir -p "$T/root"
"$B/shuntd" --root "$T/root" --socket "$T/run/b.sock" --cache-mem 1M 2>"$T/budget.log" &
PID=$!
for _ in $(seq 50); do [ -S "$T/run/b.sock" ] && break; sleep 0.05; done
timeout 20 "$B/tests/fs_client_smoke" "$T/run/b.sock" budget >"$T/budget.out" 2>&1 || bad "scenario budget"
tail -n 2 "$T/budget.out"
kill -TERM "$PID"
wait "$PID" 2>/dev/null
PID=
cb=$(awk '/cache_bytes/ {print $2}' "$T/budget.log")
[ -n "$cb" ] && [ "$cb" -le $((1024 * 1024)) ] || bad "cache_bytes $cb over a 1 MiB budget"

# Bad root: a clear error, non-zero status.
if "$B/shuntd" --root "$T/nope" --socket "$T/run/x.sock" 2>"$T/err.log"; then bad "bad root accepted"; fi
grep -q "nope" "$T/err.log" || bad "bad-root message does not name it"

# --daemon: the parent returns once the socket accepts; idle exit ends it.
mkdir -p "$T/root/dir"
"$B/shuntd" --root "$T/root" --socket "$T/run/d.sock" --daemon --idle-exit-ms 600 2>"$T/daemon.log" ||
	bad "daemon parent failed"
timeout 20 "$B/tests/fs_client_smoke" "$T/run/d.sock" >/dev/null 2>&1 || bad "client on the daemon"
for _ in $(seq 60); do [ -e "$T/run/d.sock" ] || break; sleep 0.1; done
[ -e "$T/run/d.sock" ] && bad "daemon did not exit when idle"

[ $fail = 0 ] && echo "fs_server_smoke: ok"
exit $fail
