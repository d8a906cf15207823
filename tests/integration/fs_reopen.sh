#!/usr/bin/env bash
# Reopen without a round trip (runtime/fsclient/reopen.c): a path opened
# again after its name was replaced, removed, recreated or its directory
# renamed finds what is there now, through shuntd at once and from outside
# shuntd within a second; a forked child reuses nothing of its parent's.
# Natively and under shunt, same transcript (tests/helpers/fs_it_reopen.c);
# then proof that handles were reused at all, and that SHUNT_FS_REOPEN=off
# turns it off.
. "$(dirname "$0")/lib.sh"
it_setup
H=$(it_helper fs_it_reopen)
# --no-strace: the program changes the export root on purpose (outside shuntd).
run_both --no-strace --name "reopen scenes" -- "$H" @D@ @R@

reused() { grep -o '"fs_opens_reused": *[0-9]*' "$1" | awk -F: '{ s += $2 } END { print s + 0 }'; }
n=$(reused "$IT_STATS")
it_check "opens reused a kept handle (fs_opens_reused=$n)" it_positive "$n"

rm -f "$IT_STATS" "$IT_ROOT"/r1 "$IT_ROOT"/r2 "$IT_ROOT"/d2/f
mapfile -t envs < <(it_shunt_env)
timeout 60 env "${envs[@]}" SHUNT_FS_REOPEN=off "$H" "$IT_MOUNT" "$IT_ROOT" >"$IT_T/off.out" 2>&1
n=$(reused "$IT_STATS")
IT_CHECKS=$((IT_CHECKS + 1))
if [ "$n" = 0 ] && grep -q '^unlinked outside: r3 -> errno ENOENT' "$IT_T/off.out"; then
	it_pass "SHUNT_FS_REOPEN=off: same scenes, no handle reused"
else
	it_fail "SHUNT_FS_REOPEN=off: fs_opens_reused=$n (want 0), transcript:"
	it_show "$IT_T/off.out" "output"
fi

# shuntd's own changes must retire kept handles before their completion, not
# when its inotify watcher or the 250 ms tick catch up: a shuntd without the
# watcher, the changes through the mount, each reopen right after.
rm -rf "$IT_ROOT"/r1 "$IT_ROOT"/r2 "$IT_ROOT"/d2 "$IT_TWIN"/r1 "$IT_TWIN"/r2 "$IT_TWIN"/d2
"$IT_SHUNTD" --root "$IT_ROOT" --socket "$IT_T/nw.sock" --no-reopen-watcher >"$IT_T/nw.log" 2>&1 &
nw=$!
for i in $(seq 1 100); do [ -S "$IT_T/nw.sock" ] && break; sleep 0.05; done
"$H" "$IT_TWIN" "$IT_TWIN" inside >"$IT_T/nw.native" 2>&1
timeout 60 env "${envs[@]}" SHUNT_FS_SOCKET="$IT_T/nw.sock" "$H" "$IT_MOUNT" "$IT_ROOT" inside >"$IT_T/nw.out" 2>&1
kill "$nw" 2>/dev/null; wait "$nw" 2>/dev/null
IT_CHECKS=$((IT_CHECKS + 1))
if cmp -s "$IT_T/nw.native" "$IT_T/nw.out" && [ -s "$IT_T/nw.out" ]; then
	it_pass "without the watcher: shuntd's own renames, unlinks and chmods show at the next open"
else
	it_fail "without the watcher: native and shunt transcripts differ:"
	diff -u --label native --label shunt "$IT_T/nw.native" "$IT_T/nw.out" | sed 's/^/    /' >&2
fi
it_done
