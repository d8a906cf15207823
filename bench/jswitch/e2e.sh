#!/usr/bin/env bash
# End to end, SHUNT_JSW=off against on in the same run: fsbench (bench/fs)
# under LD_PRELOAD on a shunt mount, against a shuntd started with the same
# mode, for the 4 KiB read from the client's cache (read4k-hot, 1 MiB file)
# and open+fstat+close (openstat: every op reaches the server's dispatch
# through the channel). Passes alternate off/on so load drifts hit both;
# each mode has its own shuntd and data copy. Then the far-memory fault path:
# farfault.c against a shunt-memd started with the same mode (every page read
# misses a 4 MiB local bound: a remote fetch plus a write-back each). TSV rows
# (fsbench's columns, with the mode as peer and the pass in front; for
# far-fault the median column is the mean wall time per faulting touch and
# p99 is NA) on stdout.
# Usage: e2e.sh BUILD_DIR OUT_DIR   (E2E_SECS, E2E_PASSES override)
set -euo pipefail
build=$1 out=$2
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
secs=${E2E_SECS:-0.6}
passes=${E2E_PASSES:-3}
mnt=/shunt-jswbench
tmp=$(mktemp -d /var/tmp/shunt-jswe2e.XXXXXX)
pids=()
cleanup() {
	for p in "${pids[@]+"${pids[@]}"}"; do kill "$p" 2>/dev/null || true; done
	for p in "${pids[@]+"${pids[@]}"}"; do wait "$p" 2>/dev/null || true; done
	rm -rf "$tmp"
}
trap cleanup EXIT

gcc -std=gnu17 -O2 -D_GNU_SOURCE -o "$out/fsbench" "$repo/bench/fs/fsbench.c" -luring -lpthread
gcc -std=gnu17 -O2 -D_GNU_SOURCE -o "$out/farfault" "$here/farfault.c"

declare -A sock spid far
for mode in off on; do
	SHUNT_JSW=$mode "$build/shunt-memd" --listen tcp://127.0.0.1:0 --size 256M >"$tmp/memd-$mode.out" \
		2>"$tmp/memd-$mode.err" &
	pids+=("$!")
	for _ in $(seq 1 100); do grep -q "listening on port" "$tmp/memd-$mode.out" && break; sleep 0.05; done
	port=$(grep -o "listening on port [0-9]*" "$tmp/memd-$mode.out" | grep -o "[0-9]*$") ||
		{ echo "e2e: shunt-memd ($mode) did not start: $(tail -1 "$tmp/memd-$mode.err")" >&2; exit 1; }
	far[$mode]=tcp://127.0.0.1:$port
	d=$tmp/data-$mode
	mkdir -p "$d/small"
	head -c 1M /dev/urandom >"$d/read.dat"
	head -c 1M /dev/urandom >"$d/hot.dat"
	head -c 64K /dev/urandom >"$d/write.dat"
	for i in $(seq -f %03g 0 63); do head -c 4096 /dev/urandom >"$d/small/f$i"; done
	sock[$mode]=$tmp/$mode.sock
	SHUNT_JSW=$mode "$build/shuntd" --root "$d" --socket "${sock[$mode]}" >"$tmp/shuntd-$mode.log" 2>&1 &
	spid[$mode]=$!
	pids+=("${spid[$mode]}")
	for _ in $(seq 1 100); do [ -S "${sock[$mode]}" ] && break; sleep 0.05; done
	[ -S "${sock[$mode]}" ] || { echo "e2e: shuntd ($mode) did not start: $(tail -1 "$tmp/shuntd-$mode.log")" >&2; exit 1; }
done

client() { # mode cmd...
	local mode=$1
	shift
	env SHUNT_JSW="$mode" LD_PRELOAD="$build/libshunt.so" SHUNT_FS_MOUNT=$mnt SHUNT_FS_ROOT="$tmp/data-$mode" \
		SHUNT_FS_SOCKET="${sock[$mode]}" "$@"
}
for mode in off on; do # warm each client cache the way a user would
	client "$mode" cat $mnt/read.dat $mnt/hot.dat >/dev/null
done

for pass in $(seq 1 "$passes"); do
	for mode in off on; do
		client "$mode" "$out/fsbench" --dir $mnt --peer "$mode" --workloads read4k-hot,openstat --threads 1 \
			--secs "$secs" --warm 0.3 --server-pid "${spid[$mode]}" | sed "s/^/$pass\t/"
	done
	for mode in off on; do
		r=$(env SHUNT_JSW="$mode" LD_PRELOAD="$build/libshunt.so" SHUNT_FAR_SERVER="${far[$mode]}" \
			SHUNT_LOCAL_MEM=4M "$out/farfault" 32 2)
		IFS=$'\t' read -r touched wall cpu <<<"$r"
		printf '%s\t%s\tfar\tfar-fault\t1\tok\t%s\tNA\tNA\t%s\tNA\t%s\tNA\n' "$pass" "$mode" "$touched" "$wall" "$cpu"
	done
done
