#!/usr/bin/env bash
# shuntd dies (SIGKILL) while a client loops reading, writing and opening
# served files (tests/helpers/fs_it_reader.c): the client must get an error
# (EIO or similar) within seconds: never hang, never read wrong data.
. "$(dirname "$0")/lib.sh"
it_setup
H=$(it_helper fs_it_reader)
"$H" make "$IT_ROOT/pattern.bin" 4194304 || { it_fail "cannot make the pattern file"; it_done; }

# one_death LABEL SIGNAL: start a reader, let it work, kill the server.
one_death() {
	local label=$1 sig=$2
	IT_CHECKS=$((IT_CHECKS + 1))
	if [ -z "$(it_listener_pid "$IT_SOCK")" ]; then
		rm -f "$IT_SOCK"
		it_start_server || return
	fi
	local envs
	mapfile -t envs < <(it_shunt_env)
	rm -f "$IT_STATS"
	env "${envs[@]}" SHUNT_FS_FALLBACK=error "$H" "$IT_MOUNT/pattern.bin" "$IT_MOUNT/scratch.bin" 60 \
		>"$IT_T/reader.out" 2>"$IT_T/reader.err" &
	local reader=$! i
	for i in $(seq 1 100); do
		grep -q '^progress' "$IT_T/reader.out" && break
		kill -0 "$reader" 2>/dev/null || break
		sleep 0.05
	done
	if ! grep -q '^progress' "$IT_T/reader.out"; then
		it_fail "$label: the reader made no progress before the kill"
		it_show "$IT_T/reader.out" "reader stdout"
		it_show "$IT_T/reader.err" "reader stderr"
		kill -KILL "$reader" 2>/dev/null
		wait "$reader" 2>/dev/null
		return
	fi
	local server
	server=$(it_listener_pid "$IT_SOCK")
	kill "-$sig" $server "$IT_SERVER_PID" 2>/dev/null
	local t0=$SECONDS
	for i in $(seq 1 200); do
		kill -0 "$reader" 2>/dev/null || break
		sleep 0.05
	done
	if kill -0 "$reader" 2>/dev/null; then
		it_fail "$label: the client still runs 10 s after shuntd died (hang, or reads served without a server):"
		tail -n 3 "$IT_T/reader.out" | sed 's/^/    /' >&2
		kill -KILL "$reader" 2>/dev/null
		wait "$reader" 2>/dev/null
		return
	fi
	wait "$reader"
	local rc=$?
	case $rc in
	3) it_pass "$label: client got an error $((SECONDS - t0))s after the kill: $(grep '^error' "$IT_T/reader.out")" ;;
	4) it_fail "$label: WRONG DATA after the server died: $(grep WRONG "$IT_T/reader.out")" ;;
	*) it_fail "$label: client exited $rc (expected 3: an error from a call)"
	   tail -n 3 "$IT_T/reader.out" | sed 's/^/    /' >&2
	   it_show "$IT_T/reader.err" "reader stderr" ;;
	esac
	# What it wrote before the kill must be intact in the export root.
	IT_SERVER_PID=
}
one_death "SIGKILL" KILL
one_death "SIGTERM" TERM
# After the deaths, a new client works again: with SHUNT_FS_ROOT set it
# starts an embedded shuntd of its own (cleaned up with the test).
mapfile -t envs < <(it_shunt_env)
it_check "a new client after the server died reads correct data" \
	cmp -s "$IT_ROOT/pattern.bin" <(timeout 30 env "${envs[@]}" cat "$IT_MOUNT/pattern.bin")
it_check "pattern file unharmed" cmp -s "$IT_ROOT/pattern.bin" <("$H" make /dev/stdout 4194304)
it_done
