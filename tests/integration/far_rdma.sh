#!/usr/bin/env bash
# rdma:// far memory, for real. On this host, which has no RDMA device:
# rdma:// must fail at start-up saying so, in a program and in shunt-memd,
# never fall back to anything. Then tests/rdma/guest.sh boots a QEMU guest
# (Debian's kernel, soft-RoCE on dummy0, no network to the host) and runs
# tests/rdma/guest-test.sh there: shunt-memd on rdma://, far_verify, GNU
# sort under LD_PRELOAD against a native run, fork with pages on the
# server, refusals, a server killed
# mid-run. The guest's exit code is this test's. When the guest's kernel
# cannot be had this FAILS (never skips). Also `make test-rdma`.
set -u
B=${SHUNT_BUILD:?SHUNT_BUILD must name the build directory}
export -n SHUNT_BUILD
unset SHUNT_BUILD # a SHUNT_ variable the preloaded programs would reject as an unknown key
here=$(cd "$(dirname "$0")/.." && pwd)
T=$(mktemp -d /tmp/shunt-far-rdma.XXXXXX)
trap 'rm -rf "$T"' EXIT
fails=0
ok() { echo "ok   $*"; }
bad() { echo "FAIL $*"; fails=$((fails + 1)); }

if ls /sys/class/infiniband/* >/dev/null 2>&1; then
	echo "note: this host has an RDMA device; the no-device checks below expect another failure"
	nodev="rejected the connection|address not resolvable|cannot reach"
else
	nodev="no RDMA device found \(rdma_rxe/hardware\); use tcp://"
fi
SHUNT_FAR=required SHUNT_FAR_SERVER=rdma://192.0.2.1:7471 SHUNT_LOCAL_MEM=1M LD_PRELOAD=$B/libshunt.so \
	timeout 30 /bin/true >"$T/prog.out" 2>&1
rc=$?
if [ $rc -ne 0 ] && grep -Eq "$nodev" "$T/prog.out"; then ok "program, rdma:// without a device: $(cat "$T/prog.out")"
else bad "program, rdma:// without a device: exit $rc: $(cat "$T/prog.out")"; fi
SHUNT_FAR_SERVER=rdma://192.0.2.1:7471 SHUNT_LOCAL_MEM=1M LD_PRELOAD=$B/libshunt.so timeout 30 /bin/true >"$T/auto.out" 2>&1
rc=$?
if [ $rc -eq 0 ] && grep -q "far memory is off" "$T/auto.out" && grep -Eq "$nodev" "$T/auto.out"; then
	ok "far=auto: a warning naming the cause, the program runs without far memory"
else bad "far=auto without a device: exit $rc: $(cat "$T/auto.out")"; fi
timeout 30 "$B/shunt-memd" --listen rdma://192.0.2.1:7471 --size 64M >"$T/memd.out" 2>&1
rc=$?
if [ $rc -ne 0 ] && grep -Eq "$nodev|no RDMA device has that address" "$T/memd.out"; then ok "shunt-memd --listen rdma:// without a device: $(cat "$T/memd.out")"
else bad "shunt-memd --listen rdma:// without a device: exit $rc: $(cat "$T/memd.out")"; fi

if SHUNT_RDMA_TIMEOUT=${SHUNT_RDMA_TIMEOUT:-330} "$here/rdma/guest.sh" "$B" "$here/rdma/guest-test.sh" >"$T/guest.out" 2>&1; then
	grep -E "^(ok|FAIL|guest)" "$T/guest.out"
	ok "guest on soft-RoCE: every check passed"
else
	rc=$?
	sed 's/^/     /' "$T/guest.out" | tail -60
	bad "guest on soft-RoCE: exit $rc"
fi
echo "far_rdma: $fails failed"
[ "$fails" -eq 0 ]
