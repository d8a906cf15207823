#!/usr/bin/env bash
# Running out of room: a full file system (a small tmpfs inside the export
# root and the twin) gives writers ENOSPC exactly as natively, and what was
# written before stays; RLIMIT_FSIZE (ulimit -f) stops a writer with SIGXFSZ
# or EFBIG at the same size natively and under shunt. The tmpfs mounts live
# in the test's temp dir and are unmounted by the harness.
. "$(dirname "$0")/lib.sh"
it_setup
for d in "$IT_ROOT/small" "$IT_TWIN/small"; do
	mkdir -p "$d"
	if ! mount -t tmpfs -o size=4m,mode=0755 shunt-it-small "$d"; then
		it_fail "cannot mount a tmpfs on $d"
		it_done
	fi
	IT_MOUNTS+=("$d")
done
run_both --expect-fail --stderr -- dd if=/dev/zero of=@D@/small/fill bs=64k count=100 status=none
run_both -- sh -c 'stat -c %s @D@/small/fill; rm @D@/small/fill; echo x > @D@/small/after && cat @D@/small/after'
run_both --expect-fail -- sh -c 'head -c 3000000 @D@/big.bin > @D@/small/a; echo "first rc=$?"; head -c 3000000 @D@/big.bin > @D@/small/b; echo "second rc=$?"; stat -c %s @D@/small/a @D@/small/b; exit 1'
run_both --expect-fail -- /usr/bin/python3 -c '
import errno, os, sys
fd = os.open(sys.argv[1] + "/small/py", os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
total = 0
try:
    while True:
        total += os.write(fd, b"z" * 65536)
except OSError as e:
    print("stopped with", errno.errorcode[e.errno])
print("size", os.fstat(fd).st_size == total)
sys.exit(1)' @D@
run_both -- sh -c 'rm -f @D@/small/*; ls @D@/small | wc -l'
# RLIMIT_FSIZE is the writer's limit (shuntd writes on its behalf)
# Soft limit only (-S): shunt sizes its own shared-memory files under the
# same limit and raises the soft one to the hard one for that; a hard limit
# below ~17 MiB leaves it unable to set up (a documented limit).
run_both --expect-fail -- bash -c 'ulimit -S -f 64; dd if=/dev/zero of=@D@/capped bs=4k count=100 status=none; echo "rc=$?"; stat -c %s @D@/capped'
run_both --expect-fail -- bash -c 'trap "" XFSZ; ulimit -S -f 64; head -c 200000 @D@/big.bin > @D@/capped2; echo "rc=$?"; stat -c %s @D@/capped2'
it_done
