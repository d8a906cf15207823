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
fd = os.open(served + "/behind.txt", os.O_RDONLY)
print("first", os.pread(fd, 4, 0), os.fstat(fd).st_size)
behind("dd", "if=/dev/zero", "of=" + real + "/behind.txt", "bs=100", "count=1", "conv=notrunc", "status=none")
print("after in-place overwrite", os.pread(fd, 4, 0), os.pread(fd, 4, 100), os.fstat(fd).st_size)
behind("sh", "-c", "printf BBBB >> " + real + "/behind.txt")
print("after append", os.pread(fd, 8, 9998), os.fstat(fd).st_size)
behind("truncate", "-s", "50", real + "/behind.txt")
print("after truncate", os.fstat(fd).st_size, len(os.pread(fd, 100, 0)))
print("stat by path", os.stat(served + "/behind.txt").st_size)
behind("sh", "-c", "echo new > " + real + "/created-behind; rm " + real + "/a.txt")
print("listing", sorted(n for n in os.listdir(served) if n in ("created-behind", "a.txt")))
print("new file", open(served + "/created-behind").read().strip(), os.path.exists(served + "/a.txt"))
os.close(fd)
PYEOF
run_both --no-strace -- /usr/bin/python3 @T@/behind.py @D@ @R@
it_done
