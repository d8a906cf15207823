#!/usr/bin/env bash
# What SHUNT_STATS reports matches the work done, and the channel keeps its
# promises about system calls: warm reads make none (fs_syscalls does not
# grow with the number of reads), and an open+close costs at most the two
# calls that reserve and release the fd number (issue 2, "The channel").
. "$(dirname "$0")/lib.sh"
it_setup
# run_stats NAME argv...: runs under shunt without strace; sets S_OPS S_SC S_READ S_OPEN
json_field() { "$IT_PY" -c 'import json,sys; o=json.load(open(sys.argv[1])); k=sys.argv[2]; print(o["fs_op_counts"].get(k[3:], 0) if k.startswith("op:") else o.get(k, 0))' "$IT_STATS" "$1"; }
run_stats() {
	run_shunt --no-strace -- "$@"
	if [ "$IT_RC" != 0 ]; then
		it_fail "$* exited $IT_RC under shunt"
		it_show "$IT_ERR" stderr
	fi
	S_OPS=$(json_field fs_ops) S_SC=$(json_field fs_syscalls) S_READ=$(json_field fs_bytes_read)
	S_WRITE=$(json_field fs_bytes_written) S_OPEN=$(json_field op:open) S_HITS=$(json_field fs_cache_hits)
	S_REUSED=$(json_field fs_opens_reused)
	echo "    $*: fs_ops=$S_OPS fs_syscalls=$S_SC fs_bytes_read=$S_READ fs_bytes_written=$S_WRITE opens=$S_OPEN reused=$S_REUSED cache_hits=$S_HITS" >&2
}

# Byte counts: dd reads exactly 1 MiB and writes exactly 1 MiB.
run_stats dd if=@D@/big.bin of=@D@/copy bs=4k count=256 status=none
it_check "fs_bytes_read is the 1 MiB dd read ($S_READ)" test "$S_READ" = 1048576
it_check "fs_bytes_written is the 1 MiB dd wrote ($S_WRITE)" test "$S_WRITE" = 1048576
it_check "dd opened 2 files ($S_OPEN)" test "$S_OPEN" = 2

# Warm reads: the second pass over the same data is served from the shared
# cache; 8x more reads must not cost more system calls.
run_stats dd if=@D@/big.bin of=/dev/null bs=4k count=512 status=none
run_stats dd if=@D@/big.bin of=/dev/null bs=4k count=512 status=none
few=$S_SC
run_stats dd if=@D@/big.bin of=/dev/null bs=512 count=4096 status=none
many=$S_SC
it_check "warm reads make no system calls: 512 reads -> $few, 4096 reads -> $many fs_syscalls" test "$many" -le $((few + 2))
it_check "warm reads hit the cache ($S_HITS of 4096)" test "$S_HITS" -ge 4000

# Opens: 200 open+close pairs cost at most 2 system calls each (plus the
# session's set-up, measured with one open, and ONCE=8 for one-time costs that
# do not grow with the opens: mapping the shared cache of a file opened again
# takes 4-6 system calls, once per file and process).
ONCE=8
run_stats cat @D@/a.txt
one=$S_SC
run_stats sh -c 'exec cat @D@/many/*'
it_check "open+close of 100 distinct files costs <= 2 system calls each: 1 file -> $one, $S_OPEN opens -> $S_SC fs_syscalls" \
	test "$S_SC" -le $((one + 2 * (S_OPEN - 1) + ONCE))
run_stats /usr/bin/python3 -c 'import sys; [open(sys.argv[1]).close() for _ in range(200)]' @D@/a.txt
# Opens of the program: those sent to shuntd and those that reused a kept
# handle (no command at all: runtime/fsclient/reopen.c).
n=$((S_OPEN + S_REUSED))
it_check "open+close of one file 200 times costs <= 2 system calls each: $n opens ($S_REUSED with no command) -> $S_SC fs_syscalls" \
	test "$n" -ge 200 -a "$S_SC" -le $((one + 2 * (n - 1) + ONCE))
it_check "reopening one file 200 times reuses a kept handle ($S_REUSED of 200)" test "$S_REUSED" -ge 190
it_done
