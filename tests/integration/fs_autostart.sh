#!/usr/bin/env bash
# The embedded shuntd: with no server on SHUNT_FS_SOCKET and SHUNT_FS_ROOT
# set, the first client starts one; later clients share it; it exits by
# itself once idle (SHUNT_FS_IDLE_MS).
. "$(dirname "$0")/lib.sh"
it_setup it_fixture_std --no-server
envs=(LD_PRELOAD="$IT_LIB" SHUNT_FS_MOUNT="$IT_MOUNT" SHUNT_FS_ROOT="$IT_ROOT" SHUNT_FS_SOCKET="$IT_SOCK"
	SHUNT_FS_IDLE_MS=1500 SHUNT_STATS="json:$IT_STATS")
# (SHUNT_STATS is for the clients; it is not a request for the server's table)
it_check "no server before the first client" test -z "$(it_listener_pid "$IT_SOCK")"
out=$(timeout 30 env "${envs[@]}" cat "$IT_MOUNT/a.txt" 2>"$IT_T/err1")
it_check "first client reads through an autostarted shuntd" test "$out" = "$(cat "$IT_ROOT/a.txt")"
[ "$out" = "$(cat "$IT_ROOT/a.txt")" ] || it_show "$IT_T/err1" stderr
set -- $(it_stats_summary "$IT_STATS")
it_check "first client used the channel (fs_ops=${1:-none})" it_positive "${1:-}"
first=$(it_listener_pid "$IT_SOCK")
it_check "an embedded shuntd listens on the socket after the client exited" test -n "$first"
out=$(timeout 30 env "${envs[@]}" sh -c 'cat '"$IT_MOUNT"'/a.txt >/dev/null; echo second > '"$IT_MOUNT"'/from-second; wc -c < '"$IT_MOUNT"'/big.bin' 2>"$IT_T/err2")
it_check "second client works" test "$out" = 2097152
it_check "second client's write landed in the export root" test "$(cat "$IT_ROOT/from-second" 2>/dev/null)" = second
second=$(it_listener_pid "$IT_SOCK")
it_check "second client shared the same server (pid $first vs $second)" test -n "$first" -a "$first" = "$second"
# A client that keeps a file open but stays idle longer than fs_idle_ms
# keeps its server: the embedded shuntd only leaves once no session is left.
out=$(timeout 30 env "${envs[@]}" /usr/bin/python3 -c '
import os, sys, time
fd = os.open(sys.argv[1], os.O_RDONLY)
first = os.pread(fd, 5, 0)
time.sleep(3)
print(first == os.pread(fd, 5, 0), os.fstat(fd).st_size)' "$IT_MOUNT/a.txt" 2>"$IT_T/err3")
it_check "an idle client holding a file outlives fs_idle_ms and still reads it ($out)" test "$out" = "True $(stat -c %s "$IT_ROOT/a.txt")"
[ "$out" = "True $(stat -c %s "$IT_ROOT/a.txt")" ] || it_show "$IT_T/err3" stderr
gone=0
for i in $(seq 1 100); do
	[ -z "$(it_listener_pid "$IT_SOCK")" ] && { gone=1; break; }
	sleep 0.1
done
it_check "the embedded shuntd exits once idle (SHUNT_FS_IDLE_MS=1500)" test "$gone" = 1
# The embedded server inherits the first client's stderr: nothing of its own
# may land there (no SHUNT_STATS or log was asked for).
for e in err1 err2 err3; do
	IT_CHECKS=$((IT_CHECKS + 1))
	if [ -s "$IT_T/$e" ]; then
		it_fail "stderr of client ${e#err} is not empty (the embedded shuntd wrote to it?):"
		it_show "$IT_T/$e" stderr
	else
		it_pass "stderr of client ${e#err} stays empty"
	fi
done
it_done
