#!/usr/bin/env bash
# python3 (the interpreter itself, unmodified): open/read/write/seek, text
# and binary modes, listdir/scandir/stat/os.walk, rename/remove/makedirs/
# rmtree, shutil.copyfile (sendfile) and copytree, mmap of a served file,
# fcntl record locks and flock held across a fork, truncate, os.pread/pwrite.
. "$(dirname "$0")/lib.sh"
it_setup
PY=/usr/bin/python3
cat >"$IT_T/fs_script.py" <<'PYEOF'
import fcntl, hashlib, mmap, os, shutil, stat, sys, traceback
D = sys.argv[1]
p = lambda *a: os.path.join(D, *a)
def h(b): return hashlib.sha256(b).hexdigest()[:16]
status = 0
def section(fn):
    # Each part runs even when an earlier one failed, so one missing call
    # does not hide the rest; a failure prints the exception (compared).
    global status
    print(f"--- {fn.__name__}")
    try:
        fn()
    except Exception as e:
        status = 1
        print(f"{fn.__name__} FAILED: {type(e).__name__} errno={getattr(e, 'errno', None)}")
        traceback.print_exc()
    sys.stdout.flush()
    return fn

@section
def prepare():
    shutil.rmtree(p("py"), ignore_errors=True)

@section
def open_read_write_seek():
    with open(p("py-out.txt"), "w") as f:
        for i in range(3000):
            f.write(f"row {i} {i * i}\n")
    with open(p("py-out.txt")) as f:
        lines = f.readlines()
    print("lines", len(lines), lines[1234].strip())
    with open(p("py-out.txt"), "rb+") as f:
        f.seek(100); f.write(b"XYZ"); f.seek(-10, 2); tail = f.read()
        print("seek/tell", f.tell(), tail)
        f.seek(0); print("head", f.read(20))
    with open(p("py-out.txt"), "ab") as f:
        f.write(b"appended\n"); print("append tell", f.tell())
    with open(p("big.bin"), "rb") as f:
        data = f.read()
        print("big", len(data), h(data))
        f.seek(12345); print("big seek", h(f.read(100000)))
    with open(p("med.bin"), "rb", buffering=0) as f:
        print("med unbuffered", h(b"".join(iter(lambda: f.read(7777), b""))))

@section
def os_level():
    fd = os.open(p("py-raw.bin"), os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o640)
    os.write(fd, b"0123456789" * 1000)
    os.pwrite(fd, b"PWRITE", 5000)
    print("pread", os.pread(fd, 16, 4995), os.lseek(fd, 0, os.SEEK_CUR), os.lseek(fd, -3, os.SEEK_END))
    os.ftruncate(fd, 7000)
    st = os.fstat(fd)
    print("fstat", st.st_size, oct(stat.S_IMODE(st.st_mode)), stat.S_ISREG(st.st_mode))
    os.fsync(fd); os.close(fd)
    os.truncate(p("py-raw.bin"), 6000)
    print("stat", os.stat(p("py-raw.bin")).st_size, os.path.getsize(p("big.bin")))
    print("lstat link", stat.S_ISLNK(os.lstat(p("link-to-a")).st_mode), os.readlink(p("link-to-a")))
    print("exists", os.path.exists(p("a.txt")), os.path.exists(p("nope")), os.path.isdir(p("sub")), os.path.isfile(p("sub")))
    print("access", os.access(p("script.sh"), os.X_OK), os.access(p("a.txt"), os.X_OK), os.access(p("nope"), os.F_OK))
    print("mtimes", int(os.stat(p("old.txt")).st_mtime), int(os.stat(p("new.txt")).st_mtime))

@section
def directories():
    print("listdir", sorted(os.listdir(D))[:12])
    print("scandir", sorted((e.name, e.is_dir(), e.is_file(), e.is_symlink()) for e in os.scandir(p("sub"))))
    walk = [(os.path.relpath(r, D), sorted(ds), sorted(fs)) for r, ds, fs in os.walk(D)]
    print("walk", len(walk), sorted(walk)[:4])
    os.makedirs(p("py", "a", "b"), exist_ok=True)
    with open(p("py", "a", "b", "f"), "w") as f: f.write("deep\n")
    os.rename(p("py", "a", "b", "f"), p("py", "moved"))
    os.replace(p("py", "moved"), p("py", "replaced"))
    os.remove(p("py", "replaced"))
    os.rmdir(p("py", "a", "b"))
    print("after removes", sorted(os.listdir(p("py"))))
    for path, exc in ((p("nope", "x"), None), (p("sub"), None)):
        try:
            open(path) if "nope" in path else os.rmdir(path)
        except OSError as e:
            print("error", type(e).__name__, e.errno)
    cwd = os.getcwd()
    os.chdir(p("sub"))
    try:
        print("chdir", os.path.relpath(os.getcwd(), D), sorted(os.listdir(".")), open("notes.txt").readline().strip())
    finally:
        os.chdir(cwd)

@section
def shutil_copies():
    shutil.copyfile(p("big.bin"), p("py", "big-copy"))
    print("copyfile", h(open(p("py", "big-copy"), "rb").read()))
    shutil.copytree(p("tree"), p("py", "tree"))
    shutil.rmtree(p("py", "tree", "a"))
    print("copytree", sorted(os.listdir(p("py", "tree"))))

@section
def shutil_copy2_keeps_metadata():
    shutil.copy2(p("old.txt"), p("py", "old-copy"))
    print("copy2", int(os.stat(p("py", "old-copy")).st_mtime))

@section
def mmap_read():
    with open(p("big.bin"), "rb") as f:
        m = mmap.mmap(f.fileno(), 0, prot=mmap.PROT_READ)
        print("mmap", len(m), h(m[:]), h(m[1000000:1000100]), m.find(b"\x00\x01"))
        m.close()
    with open(p("py-raw.bin"), "rb") as f:
        m = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
        print("mmap written", m[4995:5011], len(m))
        m.close()

@section
def locks_across_fork():
    fd = os.open(p("lockfile"), os.O_RDWR | os.O_CREAT, 0o644)
    os.write(fd, b"x" * 100)
    fcntl.lockf(fd, fcntl.LOCK_EX, 10, 0)
    to_child, from_parent = os.pipe()
    from_child, to_parent = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            fd2 = os.open(p("lockfile"), os.O_RDWR)
            try:
                fcntl.lockf(fd2, fcntl.LOCK_EX | fcntl.LOCK_NB, 10, 0); res = "got it (WRONG)"
            except OSError as e:
                res = f"busy {e.errno in (11, 13)}"
            fcntl.lockf(fd2, fcntl.LOCK_EX | fcntl.LOCK_NB, 10, 50)  # disjoint range: free
            try:
                fcntl.flock(fd2, fcntl.LOCK_EX | fcntl.LOCK_NB); fl = "flock free"
            except OSError as e:
                fl = f"flock busy {e.errno}"
            os.write(to_parent, f"{res} disjoint-ok {fl}\n".encode())
            os.read(to_child, 1)  # the parent has unlocked
            fcntl.lockf(fd2, fcntl.LOCK_EX | fcntl.LOCK_NB, 10, 0)
            os.write(to_parent, b"child locked after unlock\n")
        except Exception as e:
            os.write(to_parent, f"child failed: {type(e).__name__} {getattr(e, 'errno', None)}\n".encode())
        os._exit(0)
    print("child says", os.read(from_child, 100).decode().strip())
    fcntl.lockf(fd, fcntl.LOCK_UN, 10, 0)
    os.write(from_parent, b"u")
    print("child says", os.read(from_child, 100).decode().strip())
    os.waitpid(pid, 0)
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    fcntl.flock(fd, fcntl.LOCK_UN)
    os.close(fd)

print("done")
sys.exit(status)
PYEOF
run_both -- $PY @T@/fs_script.py @D@

# Writable mappings of a served file: MAP_PRIVATE must work as natively
# (copy on write, the file unchanged); MAP_SHARED too (the writes reach the
# file by msync/munmap, and reads through shunt see them).
cat >"$IT_T/mmap_w.py" <<'PYEOF'
import errno, hashlib, mmap, os, sys
D = sys.argv[1]
path = os.path.join(D, "mapped.bin")
with open(path, "wb") as f:
    f.write(bytes(range(256)) * 64)
with open(path, "r+b") as f:
    m = mmap.mmap(f.fileno(), 0, flags=mmap.MAP_PRIVATE, prot=mmap.PROT_READ | mmap.PROT_WRITE)
    m[0:5] = b"PRIVA"
    print("private mapping sees", bytes(m[0:6]), "file has", os.pread(f.fileno(), 6, 0))
    m.close()
if sys.argv[2] == "private":
    sys.exit(0)
with open(path, "r+b") as f:
    try:
        m = mmap.mmap(f.fileno(), 0, flags=mmap.MAP_SHARED, prot=mmap.PROT_READ | mmap.PROT_WRITE)
    except OSError as e:
        print("shared writable mapping refused:", errno.errorcode.get(e.errno, e.errno))
        sys.exit(10 if e.errno == errno.ENODEV else 11)
    m[100:106] = b"SHARED"
    m.flush()
    m.close()
with open(path, "rb") as f:
    data = f.read()
print("after msync+munmap the file has", data[100:106], hashlib.sha256(data).hexdigest()[:16])
PYEOF
run_both --name "python mmap MAP_PRIVATE write" -- $PY @T@/mmap_w.py @D@ private
run_both --name "python mmap MAP_SHARED write reaches the file" -- $PY @T@/mmap_w.py @D@ shared
run_both -- $PY -c 'import sys, os; print(sorted(os.listdir(sys.argv[1])))' @D@/many
run_both -- sh -c "cd @D@ && $PY -c 'import os; print(os.getcwd().endswith(\"/\") , sorted(os.listdir(\".\"))[:5], open(\"a.txt\").read())'"
cp "$IT_T/fs_script.py" "$IT_ROOT/served_script.py"
cp "$IT_T/fs_script.py" "$IT_TWIN/served_script.py"
run_both -- $PY @D@/served_script.py @D@
it_done
