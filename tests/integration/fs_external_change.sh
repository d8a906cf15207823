#!/usr/bin/env bash
# Changes made behind shunt's back, directly in the exported directory by a
# program not under shunt (shuntd shares the directory with other programs),
# are seen by a client that has the file open and cached: in-place
# overwrite, append, truncate, a new file, a removed one. No strace here: the
# helper writing the export root directly is part of the test.
. "$(dirname "$0")/lib.sh"
it_setup
cat >"$IT_T/behind.py" <<'PYEOF'
import os, subprocess, sys
served, real = sys.argv[1], sys.argv[2]
env = {k: v for k, v in os.environ.items() if not k.startswith(("LD_PRELOAD", "SHUNT_"))}
def behind(*cmd):
    # Writes the real directory through the kernel (its path is not under the
    # mount, so even if shunt re-adds itself to this environment it stays out).
    subprocess.run(cmd, check=True, env=env)
with open(served + "/behind.txt", "wb") as f:
    f.write(b"A" * 10000)
# shunt promises close-to-open consistency for changes made outside it (the
# README's limits): a descriptor opened after the change sees it. Reads
# through a descriptor opened before it may still see the old bytes.
def reopen_read(off, n):
    fd = os.open(served + "/behind.txt", os.O_RDONLY)
    try:
        return os.pread(fd, n, off), os.fstat(fd).st_size
    finally:
        os.close(fd)
fd = os.open(served + "/behind.txt", os.O_RDONLY)
print("first", os.pread(fd, 4, 0), os.fstat(fd).st_size)
os.close(fd)
behind("dd", "if=/dev/zero", "of=" + real + "/behind.txt", "bs=100", "count=1", "conv=notrunc", "status=none")
print("after in-place overwrite", reopen_read(0, 4), reopen_read(100, 4))
behind("sh", "-c", "printf BBBB >> " + real + "/behind.txt")
print("after append", reopen_read(9998, 8))
behind("truncate", "-s", "50", real + "/behind.txt")
got, size = reopen_read(0, 100)
print("after truncate", size, len(got))
print("stat by path", os.stat(served + "/behind.txt").st_size)
behind("sh", "-c", "echo new > " + real + "/created-behind; rm " + real + "/a.txt")
print("listing", sorted(n for n in os.listdir(served) if n in ("created-behind", "a.txt")))
print("new file", open(served + "/created-behind").read().strip(), os.path.exists(served + "/a.txt"))
PYEOF
run_both --no-strace -- /usr/bin/python3 @T@/behind.py @D@ @R@
it_done
