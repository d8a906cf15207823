#!/usr/bin/env bash
# The user-facing edges: `shunt run` (the README's way to run a program),
# `shunt stats PID` on a live process, SHUNT_LOG=debug explaining redirect
# decisions, and fs_fallback (error / native) when no shuntd can be reached.
. "$(dirname "$0")/lib.sh"
it_setup
SHUNT=$SHUNT_BUILD/shunt
it_require "$SHUNT"
RUN=("$SHUNT" run --fs-root "$IT_ROOT" --fs-mount "$IT_MOUNT" --conf "fs_socket:$IT_SOCK")

out=$(timeout 30 "${RUN[@]}" -- cat "$IT_MOUNT/a.txt" 2>"$IT_T/e1")
it_check "shunt run -- cat reads the served file" test "$out" = "$(cat "$IT_ROOT/a.txt")"
timeout 30 "${RUN[@]}" --stats -- sh -c "cat $IT_MOUNT/big.bin >/dev/null" 2>"$IT_T/e2"
it_check "shunt run --stats prints the counters" grep -qE '^ *fs_ops +[1-9]' "$IT_T/e2"
grep -qE '^ *fs_ops +[1-9]' "$IT_T/e2" || it_show "$IT_T/e2" stderr

# shunt stats PID of a process still running
timeout 30 "${RUN[@]}" -- /usr/bin/python3 -c '
import sys, time
data = open(sys.argv[1], "rb").read()
print("ready", len(data), flush=True)
time.sleep(4)' "$IT_MOUNT/big.bin" >"$IT_T/live.out" 2>"$IT_T/live.err" &
live=$!
for i in $(seq 1 100); do grep -q ready "$IT_T/live.out" && break; sleep 0.05; done
pid=$live # timeout's child, and its child if shunt run forks: the leaf is python
while c=$(pgrep -P "$pid" | head -n 1) && [ -n "$c" ]; do pid=$c; done
timeout 10 "$SHUNT" stats "$pid" >"$IT_T/stats.out" 2>&1
it_check "shunt stats PID shows the live process's reads" grep -qE '^ *fs_bytes_read +(209[0-9]{4}|[3-9][0-9]{6}|[0-9]{8,})' "$IT_T/stats.out"
grep -qE '^ *fs_bytes_read' "$IT_T/stats.out" || it_show "$IT_T/stats.out" "shunt stats $pid"
wait "$live"

# SHUNT_LOG=debug says what it redirected
mapfile -t envs < <(it_shunt_env)
timeout 30 env "${envs[@]}" SHUNT_LOG=debug cat "$IT_MOUNT/a.txt" /etc/hostname >/dev/null 2>"$IT_T/dbg"
it_check "SHUNT_LOG=debug names the redirected path" grep -q -- "$IT_MOUNT/a.txt" "$IT_T/dbg"

# No server reachable and no fs_root to start one: error by default ...
nosock=$IT_T/nobody-listens.sock
timeout 30 env LD_PRELOAD="$IT_LIB" SHUNT_FS_MOUNT="$IT_MOUNT" SHUNT_FS_SOCKET="$nosock" cat "$IT_MOUNT/a.txt" \
	>"$IT_T/fb.out" 2>"$IT_T/fb.err"
rc=$?
it_check "fs_fallback=error: the call fails (exit $rc: $(head -c 120 "$IT_T/fb.err"))" \
	sh -c "[ $rc != 0 ] && [ $rc != 124 ] && grep -qiE 'not connected|input/output' '$IT_T/fb.err'"
# ... and the kernel on the same path with fs_fallback=native (the mount is a real dir here)
out=$(timeout 30 env LD_PRELOAD="$IT_LIB" SHUNT_FS_MOUNT="$IT_TWIN" SHUNT_FS_SOCKET="$nosock" SHUNT_FS_FALLBACK=native \
	cat "$IT_TWIN/a.txt" 2>"$IT_T/fb2.err")
it_check "fs_fallback=native: the kernel serves the same path" test "$out" = "$(cat "$IT_TWIN/a.txt")"
[ "$out" = "$(cat "$IT_TWIN/a.txt")" ] || it_show "$IT_T/fb2.err" stderr
it_done
