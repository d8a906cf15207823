#!/usr/bin/env bash
# The harness itself can fail: each of its checks (stdout, exit status, data
# tree, work tree, fs_ops, strace) is fed a run that must trip exactly it.
# The "shunt" side here is a fake that serves the export root through the
# kernel (mount = export root, no preload), so it needs no client or server.
. "$(dirname "$0")/lib.sh"
it_init
it_fixture_std "$IT_ROOT"
it_sync_twin
IT_MOUNT=$IT_ROOT
IT_LIB=/nonexistent-on-purpose.so # ld.so warns and runs the program plainly
IT_NO_RESYNC=1

# expect_trip REASON-REGEX [run_both args...]: the run must fail for REASON.
expect_trip() {
	local why=$1
	shift
	: >"$IT_T/failures"
	local before=$IT_FAILS
	(run_both "$@") 2>"$IT_T/selftest.log"
	IT_CHECKS=$((IT_CHECKS + 1))
	if grep -qE -- "$why" "$IT_T/failures"; then
		it_pass "harness catches: $why"
	else
		IT_FAILS=$before
		it_fail "harness missed '$why' for: $*; it reported:"
		sed 's/^/    /' "$IT_T/selftest.log" >&2
	fi
	it_sync_twin
}

# A run that matches passes (so the trips below are not a harness that always fails).
it_check "harness passes an identical run" run_both --no-stats --no-strace -- sh -c 'cat @D@/a.txt; ls @D@ >@W@/ls'
expect_trip 'stdout differs' --no-stats --no-strace -- sh -c 'echo @D@ | tr / _'
expect_trip 'exit status native=0 shunt=3' --no-stats --no-strace -- \
	sh -c 'case @D@ in *twin) exit 0 ;; *) exit 3 ;; esac'
expect_trip 'data dir differs' --no-stats --no-strace -- sh -c 'case @D@ in *twin) ;; *) echo x >>@D@/a.txt ;; esac'
expect_trip 'data dir differs' --no-stats --no-strace -- sh -c 'case @D@ in *twin) ;; *) chmod 0700 @D@/a.txt ;; esac'
expect_trip 'work dir differs' --no-stats --no-strace -- sh -c 'case @D@ in *twin) ;; *) echo >@W@/extra ;; esac'
expect_trip 'no usable SHUNT_STATS' --no-strace -- cat @D@/a.txt
expect_trip 'read/write system calls on redirected fds' --no-stats -- cat @D@/a.txt
expect_trip 'timed out' --timeout 1 --no-stats --no-strace -- sh -c 'case @D@ in *twin) ;; *) sleep 5 ;; esac'
expect_trip 'native run itself failed' --no-stats --no-strace -- cat @D@/missing

# The stats reader sums several JSON objects (one per process) and the trace
# checker tells redirected fds from others.
printf '{"fs_ops": 2, "fs_syscalls": 1, "fs_op_counts": {"open": 1}}\n{"fs_ops": 3, "fs_syscalls": 0, "fs_op_counts": {"open": 2}}\n' >"$IT_T/s.json"
it_check "stats: objects summed" test "$(it_stats_summary "$IT_T/s.json" | cut -d' ' -f1,2,4)" = "5 1 objects=2"
cat >"$IT_T/t1" <<T
100 read(3<$IT_ROOT/a.txt>, "alpha"..., 131072) = 66
T
cat >"$IT_T/t2" <<T
100 openat(AT_FDCWD, "/", O_RDONLY|O_CLOEXEC|O_PATH) = 7</>
100 read(0<pipe:[1234]>, "x", 1) = 1
100 write(1</dev/pts/0>, "a<b>c"..., 5) = 5
101 read(7</>, "" <unfinished ...>
101 <... read resumed>, 10) = -1 EBADF (Bad file descriptor)
T
cat >"$IT_T/t3" <<T
100 read(0<pipe:[1234]>, "x", 1) = 1
100 pread64(4</tmp/elsewhere>, "", 10, 0) = 0
100 read(9, 0x7ff, 10) = -1 EBADF (Bad file descriptor)
T
trips() { ! it_trace_check "$1" >"$IT_T/tc.out" || return 1; test "$(wc -l <"$IT_T/tc.out")" = "$2"; }
it_check "trace: read on an export-root file is caught" trips "$IT_T/t1" 1
it_check "trace: read on an O_PATH-reserved fd is caught" trips "$IT_T/t2" 1
cat >"$IT_T/t4" <<T
100 openat(AT_FDCWD, "$IT_ROOT/a.txt", O_RDONLY) = 3<$IT_ROOT/a.txt>
T
it_check "trace: a client opening an export-root file itself is caught" trips "$IT_T/t4" 1
it_check "trace: plain kernel I/O passes" it_trace_check "$IT_T/t3"
it_done
