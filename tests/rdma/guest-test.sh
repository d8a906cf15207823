# Runs inside the RDMA guest (tests/rdma/guest.sh; busybox sh): shunt-memd
# on rdma:// over soft-RoCE, and clients of it: the transport's round trip,
# the far-memory verification stress, an unmodified program (GNU sort)
# under LD_PRELOAD compared with a native run, jump switches under
# emulation, fork with pages remote (the child gets them through its
# parent), the refusals (max clients, out of space,
# nothing listening, no route), space freed when a client goes, and a
# server killed mid-run. Exit status: the number of failures.
A=${RDMA_GUEST_ADDR:?}
S=/opt/shunt
T=/opt/shunt/tests
fails=0
ok() { echo "ok   $*"; }
bad() { echo "FAIL $*"; fails=$((fails + 1)); }
show() { sed 's/^/     /' "$@" | tail -n 25; }

start_memd() { # port args...
	local port=$1
	shift
	timeout 250 $S/shunt-memd --listen rdma://$A:$port "$@" >/tmp/memd.$port 2>&1 &
	MEMD_PID=$!
	for _ in $(seq 50); do grep -q "listening on port" /tmp/memd.$port && return 0; sleep 0.1; done
	bad "shunt-memd on port $port did not start"
	show /tmp/memd.$port
	return 1
}
json_num() { sed -n "s/.*\"$1\": \([0-9]*\).*/\1/p" "$2" | tail -1; }

start_memd 7471 --size 512M --max-clients 8
MAIN=$MEMD_PID
U=rdma://$A:7471

# 1. The transport alone: write 8 MiB, read it back, free it.
if timeout 60 $T/far_memd_client $U roundtrip 8 >/tmp/rt.out 2>&1; then ok "transport round trip, 8 MiB"; else bad "transport round trip"; show /tmp/rt.out; fi

# 2. The far-memory verification stress over rdma:// (prefetch on: batched
#    reads; single-page reads are in the faults that do not prefetch).
if timeout 150 $T/far_verify --local 1 --factor 4 --threads 2 --seed 7 --server $U >/tmp/v1.out 2>&1 &&
	grep -q "far_verify: PASS" /tmp/v1.out; then
	ok "far_verify over rdma://, 2 threads, 4x local_mem (1 MiB)"
	grep -E "service|remote" /tmp/v1.out | sed 's/^/     /'
else
	bad "far_verify over rdma://"
	show /tmp/v1.out
fi

# 2b. Jump switches under emulation: threads calling through sites while the
#     worker rewrites them back to back. QEMU's TCG does not honour x86
#     cross-modifying code (a stale translation outlives the patch and its
#     serialisation): this crashed within seconds in every run until the
#     runtime learned to patch nothing there (runtime/jswitch/sync.c).
if timeout 60 $T/jsw_stress 2 2 >/tmp/jsw.out 2>&1; then ok "jump switches under TCG: $(cat /tmp/jsw.out)"
else bad "jump switches under TCG: exit $?"; show /tmp/jsw.out; fi

# 3. An unmodified program (GNU sort by full path: busybox, static, has
#    one too): its buffer lives in far memory with
#    1 MiB resident; the output must equal a native run's.
awk 'BEGIN { srand(7); for (i = 0; i < 40000; i++) printf "%08x %d %s\n", int(rand() * 4294967295), i, (i % 7 ? "x" : "yy") }' >/tmp/in.txt
timeout 60 /usr/bin/sort -S 32M /tmp/in.txt >/tmp/native.txt
rm -f /tmp/sort.json
if SHUNT_FAR=required SHUNT_FAR_SERVER=$U SHUNT_LOCAL_MEM=1M SHUNT_STATS=json:/tmp/sort.json LD_PRELOAD=$S/libshunt.so \
	timeout 150 /usr/bin/sort -S 32M /tmp/in.txt >/tmp/shunt.txt 2>/tmp/sort.err; then
	remote=$(json_num far_faults_remote /tmp/sort.json)
	reads=$(json_num far_verbs_reads /tmp/sort.json)
	writes=$(json_num far_verbs_writes /tmp/sort.json)
	if ! cmp -s /tmp/native.txt /tmp/shunt.txt; then
		bad "sort over rdma://: output differs from the native run"
	elif ! grep -q '"far_transport": "rdma"' /tmp/sort.json; then
		bad "sort over rdma://: the stats do not say rdma"
		show /tmp/sort.json
	elif [ "${remote:-0}" -eq 0 ] || [ "${reads:-0}" -eq 0 ] || [ "${writes:-0}" -eq 0 ]; then
		bad "sort over rdma://: no remote traffic (far_faults_remote=$remote far_verbs_reads=$reads far_verbs_writes=$writes)"
	else
		ok "sort -S 32M over rdma:// with 1 MiB resident: output equals native ($(wc -l </tmp/shunt.txt) lines; far_faults_remote=$remote, verbs reads=$reads writes=$writes)"
	fi
else
	bad "sort over rdma:// failed"
	show /tmp/sort.err
fi

# 3b. fork with 4 MiB on the server (tests/helpers/far_fork_check.c): the
#     child cannot use the parent's queue pair, so it gets the pages through
#     its parent, checksums and checks them, writes its own; the parent,
#     whose other thread faults far pages in meanwhile, checks the child's
#     checksum and its own copy, then writes and pushes out new values.
SHUNT_LOG=debug SHUNT_FAR_SERVER=$U SHUNT_LOCAL_MEM=1M LD_PRELOAD=$S/libshunt.so timeout 120 $T/far_fork_check 4 >/tmp/fork.out 2>&1
rc=$?
copied=$(sed -n 's/.*fork child copied \([0-9]*\) pages.*/\1/p' /tmp/fork.out | tail -1)
if [ $rc -eq 0 ] && grep -q "fork ok" /tmp/fork.out && [ "${copied:-0}" -gt 0 ]; then
	ok "fork with pages on the server: the child read $copied pages through its parent; both sides checked"
else
	bad "fork over rdma://: exit $rc, ${copied:-no} pages copied"
	grep -v "debug:" /tmp/fork.out | show
fi

# 3c. forks while 3 threads allocate, write and free far blocks of up to
#     2.5 MiB with 1 MiB resident: each fork's prepare races write-backs,
#     remote faults and frees, and the parent serves each child meanwhile
#     (an evicting thread that allocated inside rdma-core while it held
#     off forks deadlocked here).
SHUNT_FAR_SERVER=$U SHUNT_LOCAL_MEM=1M LD_PRELOAD=$S/libshunt.so timeout 120 $T/far_fork_mt 3 1 >/tmp/fmt.out 2>&1
rc=$?
if [ $rc -eq 0 ] && grep -q "forks ok" /tmp/fmt.out; then ok "3 forks while 3 threads allocate far blocks over rdma://"
else bad "forks while threads allocate far blocks: exit $rc"; show /tmp/fmt.out; fi

# 4. Refusals name their cause.
start_memd 7472 --size 32M --max-clients 1
ONE=$MEMD_PID
mkfifo /tmp/hold
timeout 120 $T/far_memd_client rdma://$A:7472 hold 8 </tmp/hold >/tmp/hold.out 2>&1 &
HOLDER=$!
exec 3>/tmp/hold
sleep 2
timeout 30 $T/far_memd_client rdma://$A:7472 ask 1 >/tmp/busy.out 2>&1
rc=$?
if [ $rc -eq 2 ] && grep -q "too many clients" /tmp/busy.out; then ok "--max-clients 1: a second client is refused: $(cat /tmp/busy.out)"
else bad "--max-clients: exit $rc"; show /tmp/busy.out; fi
exec 3>&-
wait $HOLDER
sleep 1
free=$(timeout 30 $T/far_memd_client rdma://$A:7472 free 2>&1)
if [ "$free" = $((32 << 20)) ]; then ok "a client's regions are freed when it disconnects"; else bad "space after disconnect: $free"; fi
timeout 30 $T/far_memd_client rdma://$A:7472 ask 128 >/tmp/nospc.out 2>&1
rc=$?
if [ $rc -eq 3 ] && grep -q "only 32 MiB left" /tmp/nospc.out; then ok "out of space is refused: $(cat /tmp/nospc.out)"
else bad "out of space: exit $rc"; show /tmp/nospc.out; fi
SHUNT_FAR=required SHUNT_FAR_SERVER=rdma://$A:7472 SHUNT_LOCAL_MEM=1M LD_PRELOAD=$S/libshunt.so timeout 30 /usr/bin/sort /dev/null \
	>/tmp/small.out 2>&1
rc=$?
if [ $rc -ne 0 ] && grep -q "far memory needs 64 MiB to start" /tmp/small.out; then ok "a program refused by a small server stops: $(head -1 /tmp/small.out)"
else bad "small server: exit $rc"; show /tmp/small.out; fi
kill $ONE
timeout 30 $T/far_memd_client rdma://$A:7999 ask 1 >/tmp/nolisten.out 2>&1
rc=$?
if [ $rc -eq 2 ] && grep -q "is shunt-memd listening there" /tmp/nolisten.out; then ok "nothing listening: $(cat /tmp/nolisten.out)"
else bad "nothing listening: exit $rc"; show /tmp/nolisten.out; fi
timeout 30 $T/far_memd_client rdma://10.99.0.1:7471 ask 1 >/tmp/noroute.out 2>&1
rc=$?
if [ $rc -eq 2 ] && grep -q "address not resolvable" /tmp/noroute.out; then ok "no route: $(cat /tmp/noroute.out)"
else bad "no route: exit $rc"; show /tmp/noroute.out; fi

# 5. The server dies while the program still needs pages it holds: SIGBUS
#    with a message, never zeros.
timeout 150 $T/far_verify --local 1 --factor 48 --threads 2 --seed 19 --server $U >/tmp/dead.out 2>&1 &
VP=$!
sleep 8
kill -9 $MAIN
wait $VP
rc=$?
if [ $rc -eq 135 ] && grep -q "cannot be used any more" /tmp/dead.out; then
	ok "server killed mid-run: SIGBUS with a message"
	grep -E "lost|cannot be used" /tmp/dead.out | head -2 | sed 's/^/     /'
elif grep -q "far_verify: PASS" /tmp/dead.out; then
	ok "server killed mid-run: the run had already finished (too fast to test this)"
else
	bad "server killed mid-run: exit $rc"
	show /tmp/dead.out
fi
grep -q mismatch /tmp/dead.out && bad "server death produced wrong data"

echo "guest tests: $fails failed"
exit $fails
