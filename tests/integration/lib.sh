# Shared harness of the file-channel integration tests (tests/integration/fs_*.sh).
# Each test sources this file, builds a fixture in the export root, and calls
# run_both: the same command runs natively on a twin directory and under
# libshunt.so on a mount prefix served from the export root; stdout, exit
# status and both resulting trees must match byte for byte, SHUNT_STATS must
# show commands through the channel, and strace must show no read/write
# system call on a redirected fd. Never edits anything outside its temp dir.
#
# Placeholders in every argument of run_both (and in what programs print):
#   @D@  the data directory: the twin natively, the mount prefix under shunt
#   @W@  a per-side kernel work directory (also compared after each run)
#   @T@  the temp dir shared by both sides (helpers, scripts; not compared)
#   @R@  the real directory behind @D@: the twin natively, the export root
#        under shunt (for changes made behind shunt's back)
#
#   it_setup [fixture-fn]   temp dirs, fixture (default it_fixture_std), twin, shuntd
#   run_both [opts] -- argv  opts: --name N --timeout S --stdin FILE --stderr
#                                  --no-stats --no-strace --no-trees --expect-fail
#   run_shunt [opts] -- argv   shunt side only (sets IT_OUT IT_ERR IT_RC)
#   it_check COND-desc cmd...  fails the test when cmd fails
#   it_done                  prints the summary; exit status is the verdict
if [ "${BASH_SOURCE[0]}" = "$0" ]; then
	echo "lib.sh is the harness the fs_*.sh tests source; it runs nothing by itself"
	exit 0
fi
set -u
export LC_ALL=C TZ=UTC

IT_NAME=$(basename "${0:-test}" .sh)
IT_LIB_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
IT_REPO=$(cd "$IT_LIB_DIR/../.." && pwd)
SHUNT_BUILD=${SHUNT_BUILD:-$IT_REPO/build}
SHUNT_BUILD=$(cd "$SHUNT_BUILD" && pwd)
# run-all.sh hands SHUNT_BUILD to us in the environment; it must not reach
# programs under the preload, which take every SHUNT_* as a configuration key.
export -n SHUNT_BUILD
for v in $(compgen -e | grep '^SHUNT_'); do export -n "$v"; done
IT_LIB=$SHUNT_BUILD/libshunt.so
IT_SHUNTD=${IT_SHUNTD_BIN:-$SHUNT_BUILD/shuntd} # fs_asan_server.sh points this at the ASan build
IT_HELPERS=$SHUNT_BUILD/tests
IT_PY=/usr/bin/python3 # the harness's own python: never run under the preload
IT_FAILS=0
IT_CHECKS=0
IT_SERVER_PID=
IT_T=
IT_MOUNTS=()
IT_START=$(date +%s)

it_log() { printf '%s\n' "$*" >&2; }
it_hdr() { printf '\n=== %s: %s\n' "$IT_NAME" "$*" >&2; }

# Records one failed check; the details follow on stderr.
it_fail() {
	IT_FAILS=$((IT_FAILS + 1))
	printf 'FAIL [%s] %s\n' "$IT_NAME" "$*" >&2
	[ -n "$IT_T" ] && printf '%s\n' "$*" >>"$IT_T/failures"
	return 0
}
it_positive() { [[ "${1:-}" =~ ^[0-9]+$ ]] && [ "$1" -gt 0 ]; }
it_pass() { printf 'ok   [%s] %s\n' "$IT_NAME" "$*" >&2; }

# it_check "what" cmd args...: one pass/fail check on a command's status.
it_check() {
	local what=$1
	shift
	IT_CHECKS=$((IT_CHECKS + 1))
	if "$@"; then it_pass "$what"; else it_fail "$what (command: $*)"; fi
}

# ---- processes: only ours, by pid ------------------------------------------

# Pids of processes this test started that belong to its socket: the
# listener on the socket (ss) and anything whose environment or command line
# names the socket (our clients, an embedded shuntd, the one we started).
it_socket_pids() {
	local sock=$1 p
	{
		ss -xlpn 2>/dev/null | grep -F " $sock " | grep -o 'pid=[0-9]*' | cut -d= -f2
		for p in /proc/[0-9]*; do
			p=${p#/proc/}
			[ "$p" = "$$" ] || [ "$p" = "${BASHPID:-$$}" ] && continue
			if grep -qzxF "SHUNT_FS_SOCKET=$sock" "/proc/$p/environ" 2>/dev/null ||
				grep -qzF -- "$sock" "/proc/$p/cmdline" 2>/dev/null; then
				echo "$p"
			fi
		done
	} | sort -un
}

# Clients of our socket still running (after a timeout: strace does not take
# its tracees down with it): only environments name the socket, shuntd's
# command line does.
it_kill_clients() {
	local p
	for p in /proc/[0-9]*; do
		p=${p#/proc/}
		[ "$p" = "$$" ] || [ "$p" = "${BASHPID:-$$}" ] && continue
		grep -qzxF "SHUNT_FS_SOCKET=$IT_SOCK" "/proc/$p/environ" 2>/dev/null && kill -KILL "$p" 2>/dev/null
	done
	return 0
}

it_listener_pid() {
	ss -xlpn 2>/dev/null | grep -F " $1 " | grep -o 'pid=[0-9]*' | head -n1 | cut -d= -f2
}

it_kill_socket_pids() {
	local sock=$1 sig=${2:-TERM} p
	for p in $(it_socket_pids "$sock"); do
		kill "-$sig" "$p" 2>/dev/null
	done
}

it_cleanup() {
	local rc=$?
	trap - EXIT INT TERM
	if [ -n "$IT_T" ] && [ -d "$IT_T" ]; then
		if [ -n "${IT_SOCK:-}" ]; then
			it_kill_socket_pids "$IT_SOCK" TERM
			local i
			for i in 1 2 3 4 5 6 7 8 9 10; do
				[ -z "$(it_socket_pids "$IT_SOCK")" ] && break
				sleep 0.2
			done
			it_kill_socket_pids "$IT_SOCK" KILL
		fi
		[ -n "$IT_SERVER_PID" ] && kill -KILL "$IT_SERVER_PID" 2>/dev/null
		local m
		for m in "${IT_MOUNTS[@]}"; do # tmpfs a test mounted inside its temp dir
			umount -l "$m" 2>/dev/null
		done
		if [ -n "${IT_KEEP:-}" ]; then
			it_log "kept $IT_T"
		else
			rm -rf "$IT_T"
		fi
	fi
	exit "$rc"
}

# ---- setup -------------------------------------------------------------------

it_require() {
	local f
	for f in "$IT_LIB" "$IT_SHUNTD" "$@"; do
		if [ ! -e "$f" ]; then
			echo "FAIL [$IT_NAME] missing $f (run make first)" >&2
			exit 1
		fi
	done
}

it_helper() { # name -> path of a built tests/helpers program
	local h=$IT_HELPERS/$1
	[ -x "$h" ] || { echo "FAIL [$IT_NAME] missing helper $h (run make)" >&2; exit 1; }
	printf '%s' "$h"
}

# Temp layout: export root (served), twin (native copy), per-side work dirs.
it_init() {
	it_require
	IT_T=$(mktemp -d /tmp/shunt-it.XXXXXX)
	IT_START=$(date +%s)
	trap it_cleanup EXIT
	trap 'exit 130' INT TERM
	IT_ROOT=$IT_T/export
	IT_TWIN=$IT_T/twin
	IT_WN=$IT_T/work-native
	IT_WS=$IT_T/work-shunt
	IT_SOCK=$IT_T/fs.sock
	IT_STATS=$IT_T/stats.json
	IT_TRACE=$IT_T/trace
	IT_MOUNT=/shunt-it-$(od -An -N6 -tx1 /dev/urandom | tr -d ' \n')
	[ -e "$IT_MOUNT" ] && { echo "FAIL [$IT_NAME] $IT_MOUNT exists on this machine" >&2; exit 1; }
	mkdir -p "$IT_ROOT" "$IT_WN" "$IT_WS"
	: >"$IT_T/failures"
	it_write_post
}

# Copies the export root to the twin (cp -a keeps modes and mtimes).
it_sync_twin() {
	rm -rf "$IT_TWIN"
	cp -a "$IT_ROOT" "$IT_TWIN"
	rm -rf "$IT_WS"
	cp -a "$IT_WN" "$IT_WS"
}

# Deterministic pseudo-random bytes: it_bytes SIZE SEED > file
it_bytes() {
	"$IT_PY" - "$1" "$2" <<'EOF'
import random, sys
n, seed = int(sys.argv[1]), sys.argv[2]
r = random.Random(seed)
sys.stdout.buffer.write(r.randbytes(n))
EOF
}

# Lines of pseudo-random words: it_words NLINES SEED > file
it_words() {
	"$IT_PY" - "$1" "$2" <<'EOF'
import random, sys
n, seed = int(sys.argv[1]), sys.argv[2]
r = random.Random(seed)
syl = ["ka", "lo", "mi", "ner", "shu", "nt", "ta", "ve", "xo", "ri", "pa", "dle", "qu", "zen"]
out = []
for i in range(n):
    words = ["".join(r.choice(syl) for _ in range(r.randint(1, 4))) for _ in range(r.randint(1, 8))]
    if r.random() < 0.05:
        words.append("needle")
    out.append(" ".join(words) + ("" if r.random() < 0.9 else "  ") )
sys.stdout.write("\n".join(out) + "\n")
EOF
}

# The standard fixture: text, binary, empty, nested dirs, many small files,
# symlinks, modes, old/new mtimes, a name with spaces.
it_fixture_std() {
	local r=$1
	mkdir -p "$r/sub/deeper/deepest" "$r/many" "$r/emptydir" "$r/tree/a/b" "$r/tree/c"
	printf 'alpha\nbeta\ngamma\ndelta\nepsilon\nzeta\neta\ntheta\niota\nkappa\nlambda\nmu\n' >"$r/a.txt"
	it_words 5000 words >"$r/words"
	it_words 300 small >"$r/sub/notes.txt"
	it_words 40 deep >"$r/sub/deeper/deepest/leaf.txt"
	it_bytes 2097152 big >"$r/big.bin"
	it_bytes 307213 med >"$r/med.bin"
	it_bytes 4096 page >"$r/page.bin"
	: >"$r/empty"
	local i
	for i in $(seq 1 100); do printf 'file %d\n%s\n' "$i" "$(seq -s, 1 $((i % 17)))" >"$r/many/f$i"; done
	for i in 1 2 3; do it_words $((i * 20)) "tree$i" >"$r/tree/a/b/t$i.txt"; done
	it_bytes 70000 treebin >"$r/tree/c/blob"
	printf 'has spaces\n' >"$r/with space.txt"
	printf '#!/bin/sh\necho script ran\n' >"$r/script.sh"
	chmod 0755 "$r/script.sh"
	printf 'secret\n' >"$r/private"
	chmod 0600 "$r/private"
	ln -s a.txt "$r/link-to-a"
	ln -s sub/deeper "$r/link-to-dir"
	# Everything old and fixed, so an mtime a program restores (tar -x, cp -p,
	# gzip) is told apart from "now" by it_manifest --mtime.
	find "$r" -exec touch -h -d '2023-05-05 05:05:05' {} +
	printf 'old\n' >"$r/old.txt"
	printf 'ref\n' >"$r/ref.txt"
	printf 'new\n' >"$r/new.txt"
	touch -d '2020-01-01 00:00:00' "$r/old.txt"
	touch -d '2022-06-01 00:00:00' "$r/ref.txt"
	touch -d '2024-03-01 00:00:00' "$r/new.txt"
	touch -d '2021-01-01 00:00:00' "$r/sub/notes.txt"
}

# Starts our own shuntd on the export root (never under strace, so a traced
# client's read calls are the client's only) and waits for its socket.
it_start_server() {
	"$IT_SHUNTD" --root "$IT_ROOT" --socket "$IT_SOCK" >"$IT_T/shuntd.log" 2>&1 &
	IT_SERVER_PID=$!
	local i
	for i in $(seq 1 100); do
		[ -S "$IT_SOCK" ] && [ -n "$(it_listener_pid "$IT_SOCK")" ] && return 0
		if ! kill -0 "$IT_SERVER_PID" 2>/dev/null; then
			it_fail "shuntd --root $IT_ROOT --socket $IT_SOCK exited at start:"
			sed 's/^/    shuntd: /' "$IT_T/shuntd.log" >&2
			return 1
		fi
		sleep 0.05
	done
	it_fail "shuntd did not listen on $IT_SOCK within 5 s"
	sed 's/^/    shuntd: /' "$IT_T/shuntd.log" >&2
	return 1
}

# it_setup [fixture-fn] [--no-server]
it_setup() {
	local fx=${1:-it_fixture_std} server=1
	[ "${2:-}" = --no-server ] && server=0
	it_init
	"$fx" "$IT_ROOT"
	it_sync_twin
	if [ "$server" = 1 ] && ! it_start_server; then
		it_done
	fi
}

# ---- running -------------------------------------------------------------------

# Environment of a program under shunt (used through env(1)).
it_shunt_env() {
	printf '%s\n' "LD_PRELOAD=$IT_LIB" "SHUNT_FS_MOUNT=$IT_MOUNT" "SHUNT_FS_ROOT=$IT_ROOT" \
		"SHUNT_FS_SOCKET=$IT_SOCK" "SHUNT_STATS=json:$IT_STATS"
}

it_subst() { # side(n|s) string -> string with placeholders replaced
	local s=$2
	if [ "$1" = n ]; then
		s=${s//@Dx@/${IT_TWIN}x}
		s=${s//@D@/$IT_TWIN}
		s=${s//@W@/$IT_WN}
		s=${s//@R@/$IT_TWIN}
	else
		s=${s//@D@/$IT_MOUNT}
		s=${s//@W@/$IT_WS}
		s=${s//@R@/$IT_ROOT}
	fi
	s=${s//@Dx@/${IT_MOUNT}x} # a sibling whose name starts with the mount's
	printf '%s' "${s//@T@/$IT_T}"
}

it_sed_escape() { printf '%s' "$1" | sed 's/[][\.*^$/&]/\\&/g'; }

# Replaces the side's paths by placeholders (the export root is left alone:
# if it shows up in a client's output, that is a leak worth seeing).
it_normalize() { # side file
	local d w
	if [ "$1" = n ]; then d=$IT_TWIN w=$IT_WN; else d=$IT_MOUNT w=$IT_WS; fi
	sed -e "s/$(it_sed_escape "$d")/@D@/g" -e "s/$(it_sed_escape "$w")/@W@/g" "$2"
}

# The harness's checks after a run, in one python process (tree manifests,
# the stats JSON, the strace log): written into the temp dir by it_init.
it_write_post() {
	cat >"$IT_T/post.py" <<'EOF'
import hashlib, json, os, re, stat, sys

def manifest(top, with_mtime, start, subst=()):
    """type, mode, size, link target, sha256 of everything under top; link
    targets with the side's own paths replaced by placeholders (subst)"""
    rows = []
    for dirpath, dirs, files in os.walk(top):
        for name in sorted(dirs + files):
            p = os.path.join(dirpath, name)
            rel = os.path.relpath(p, top)
            st = os.lstat(p)
            m = stat.S_IMODE(st.st_mode)
            if stat.S_ISLNK(st.st_mode):
                tgt = os.readlink(p)
                for path, ph in subst:
                    tgt = tgt.replace(path, ph)
                rows.append(f"{rel} link -> {tgt} o={st.st_uid}:{st.st_gid}")
            elif stat.S_ISDIR(st.st_mode):
                rows.append(f"{rel} dir {m:o} o={st.st_uid}:{st.st_gid}")
            elif stat.S_ISREG(st.st_mode):
                h = hashlib.sha256()
                with open(p, "rb") as f:
                    for chunk in iter(lambda: f.read(1 << 20), b""):
                        h.update(chunk)
                t = ""
                if with_mtime:  # "now" differs between the two runs; a restored time must not
                    t = f" mtime={int(st.st_mtime)}" if st.st_mtime < start - 1 else " mtime=recent"
                rows.append(f"{rel} file {m:o} o={st.st_uid}:{st.st_gid} size={st.st_size} nlink={st.st_nlink}{t} sha256={h.hexdigest()}")
            else:
                rows.append(f"{rel} other {stat.S_IFMT(st.st_mode):o} {m:o}")
    return sorted(rows)

def stats_summary(path):
    """sums the counters of every JSON object in the file (one per process)"""
    try:
        text = open(path).read()
    except OSError:
        return "none"
    dec, i, objs = json.JSONDecoder(), 0, []
    while True:
        while i < len(text) and text[i].isspace():
            i += 1
        if i >= len(text):
            break
        try:
            o, i = dec.raw_decode(text, i)
        except ValueError as e:
            return f"bad-json {e}"
        objs.append(o)
    if not objs:
        return "none"
    ops = sum(o.get("fs_ops", 0) for o in objs)
    sc = sum(o.get("fs_syscalls", 0) for o in objs)
    hits = sum(o.get("fs_cache_hits", 0) for o in objs)
    counts = {}
    for o in objs:
        for k, v in (o.get("fs_op_counts") or {}).items():
            counts[k] = counts.get(k, 0) + v
    nz = ",".join(f"{k}={v}" for k, v in sorted(counts.items()) if v)
    return f"{ops} {sc} {hits} objects={len(objs)} ops[{nz}]"

IO = {"read", "pread64", "readv", "preadv", "preadv2", "write", "pwrite64", "writev",
      "pwritev", "pwritev2", "sendfile", "copy_file_range", "splice"}

def trace_check(path, root, mount):
    """read/write-family calls on redirected fds in an strace -f -y log: an fd
    whose /proc/self/fd target is under the export root or the mount, an fd
    reserved with O_PATH or shunt's reserved memfd, or one the kernel refused
    with EBADF while live (annotated); and opens of export-root files by the
    client itself (shuntd is never traced)"""
    line_re = re.compile(r'^(\d+)\s+(.*)$')
    start_re = re.compile(r'^(\w+)\((.*)$')
    resumed_re = re.compile(r'^<\.\.\. (\w+) resumed>(.*)$')
    str_re = re.compile(r'"(?:[^"\\]|\\.)*"(?:\.\.\.)?')
    fd_re = re.compile(r'(?<![\w"])(\d+)<((?:[^<>]|<[^<>]*>)*)>')
    opath, pending, bad = set(), {}, []
    def under(t):
        return t == root or t.startswith(root + "/") or t == mount or t.startswith(mount + "/")
    def judge(name, text, shown):
        args = str_re.sub('""', text)
        head, _, res = args.rpartition(") =")
        if not head:
            head, res = args, ""
        for fd, tgt in fd_re.findall(head):
            if under(tgt):
                bad.append(f"{name} on a file of the export root or mount: {shown}")
            elif tgt.startswith("/memfd:shunt-reserved"):
                bad.append(f"{name} on a redirected fd's reserved number ({tgt}): {shown}")
            elif tgt in opath:
                bad.append(f"{name} on an fd reserved with O_PATH ({tgt}): {shown}")
            elif "EBADF" in res:
                bad.append(f"{name}: the kernel refused a live fd with EBADF: {shown}")
    for raw in open(path, errors="replace"):
        raw = raw.rstrip("\n")
        m = line_re.match(raw)
        if not m:
            continue
        pid, body = m.groups()
        r = resumed_re.match(body)
        if r:
            name, text = r.group(1), pending.pop(pid, "") + r.group(2)
        else:
            s = start_re.match(body)
            if not s:
                continue
            name, text = s.groups()
            if text.endswith("<unfinished ...>"):
                pending[pid] = text[: -len("<unfinished ...>")]
                continue
        if name in ("openat", "open", "openat2"):
            o = re.search(r'=\s*\d+<(.*)>$', text)
            if o and under(o.group(1)):
                bad.append(f"the client opened a file of the export root itself, not through shuntd: {raw}")
            if o and "O_PATH" in text and not o.group(1).startswith("/dev/"):
                opath.add(o.group(1))
        if name in IO:
            judge(name, text, raw if not r else f"{pid} {name}({text}")
    out = bad[:30]
    if len(bad) > 30:
        out.append(f"... {len(bad) - 30} more")
    return out

def write(path, text):
    with open(path, "w") as f:
        f.write(text)

def main(argv):
    cmd = argv[1]
    if cmd == "manifest":  # DIR [mtime] START
        print("\n".join(manifest(argv[2], argv[3] == "mtime", int(argv[4]))))
    elif cmd == "stats":  # FILE
        print(stats_summary(argv[2]))
    elif cmd == "trace":  # FILE ROOT MOUNT
        bad = trace_check(argv[2], argv[3], argv[4])
        print("\n".join(bad)) if bad else None
        return 1 if bad else 0
    elif cmd == "after":  # OUTDIR MTIME START STATS|- TRACE|- ROOT MOUNT TWIN WN WS [N S WHAT]...
        out, mt, start, stats, trace, root, mount, twin, wn, ws = argv[2:12]
        rest, i = argv[12:], 0
        sub_n = ((twin, "@D@"), (wn, "@W@"))
        sub_s = ((mount, "@D@"), (ws, "@W@"))
        while i + 3 <= len(rest):
            n, s, what = rest[i:i + 3]
            i += 3
            write(f"{out}/man.n.{what}", "\n".join(manifest(n, mt == "mtime", int(start), sub_n)) + "\n")
            write(f"{out}/man.s.{what}", "\n".join(manifest(s, mt == "mtime", int(start), sub_s)) + "\n")
        if stats != "-":
            write(f"{out}/post.stats", stats_summary(stats) + "\n")
        if trace != "-":
            bad = trace_check(trace, root, mount) if os.path.getsize(trace) else ["strace wrote no log"]
            write(f"{out}/post.trace", "".join(b + "\n" for b in bad))
    return 0

sys.exit(main(sys.argv))
EOF
}

it_manifest() { "$IT_PY" "$IT_T/post.py" manifest "$1" "${2:-}" "$IT_START"; }
it_stats_summary() { "$IT_PY" "$IT_T/post.py" stats "$1"; }
it_trace_check() { "$IT_PY" "$IT_T/post.py" trace "$1" "$IT_ROOT" "$IT_MOUNT"; }

# Compares the twin with the export root and the two work dirs, from the
# manifests `post.py after` wrote (it_after_run), plus diff -r.
it_compare_trees() { # label
	local label=$1 ok=0 a n s what
	for a in "$IT_TWIN:$IT_ROOT:data" "$IT_WN:$IT_WS:work"; do
		IFS=: read -r n s what <<<"$a"
		if ! diff -u --label "native $what dir" --label "shunt $what dir" "$IT_T/man.n.$what" "$IT_T/man.s.$what" >"$IT_T/man.diff"; then
			it_fail "$label: $what dir differs after the run (native twin vs export root):"
			head -n 60 "$IT_T/man.diff" | sed 's/^/    /' >&2
			ok=1
		fi
		# symlink targets are compared (side paths normalized) in the manifests
		diff -r --no-dereference "$n" "$s" 2>&1 | grep -v '^Symbolic links .* differ$' >"$IT_T/tree.diff"
		if [ -s "$IT_T/tree.diff" ]; then
			it_fail "$label: diff -r of the $what dir:"
			head -n 20 "$IT_T/tree.diff" | sed 's/^/    /' >&2
			ok=1
		fi
	done
	return $ok
}

# One python pass after a run: manifests (if trees), stats, trace.
it_after_run() { # trees(0|1)
	local args=("$IT_T" "${IT_O_MTIME:-none}" "$IT_START")
	if [ "$IT_O_STATS" = 1 ]; then args+=("$IT_STATS"); else args+=(-); fi
	if [ "$IT_O_STRACE" = 1 ]; then
		[ -e "$IT_TRACE" ] || : >"$IT_TRACE"
		args+=("$IT_TRACE")
	else
		args+=(-)
	fi
	args+=("$IT_ROOT" "$IT_MOUNT" "$IT_TWIN" "$IT_WN" "$IT_WS")
	[ "$1" = 1 ] && args+=("$IT_TWIN" "$IT_ROOT" data "$IT_WN" "$IT_WS" work)
	"$IT_PY" "$IT_T/post.py" after "${args[@]}"
}

# run_shunt [opts] -- argv: runs argv under shunt only (after placeholder
# substitution) in the shunt work dir. Sets IT_OUT IT_ERR IT_RC.
it_parse_opts() {
	IT_O_NAME= IT_O_TIMEOUT=60 IT_O_STDIN=/dev/null IT_O_STDERR=0 IT_O_STATS=1 IT_O_STRACE=1
	IT_O_TREES=1 IT_O_MTIME= IT_O_EXPECT_FAIL=0
	while [ $# -gt 0 ]; do
		case $1 in
		--name) IT_O_NAME=$2; shift 2 ;;
		--timeout) IT_O_TIMEOUT=$2; shift 2 ;;
		--stdin) IT_O_STDIN=$2; shift 2 ;;
		--stderr) IT_O_STDERR=1; shift ;;
		--no-stats) IT_O_STATS=0; shift ;;
		--no-strace) IT_O_STRACE=0; shift ;;
		--no-trees) IT_O_TREES=0; shift ;;
		--mtime) IT_O_MTIME=mtime; shift ;;
		--expect-fail) IT_O_EXPECT_FAIL=1; shift ;;
		--) shift; break ;;
		*) echo "run_both: unknown option $1" >&2; exit 2 ;;
		esac
	done
	IT_ARGV=("$@")
	[ -n "$IT_O_NAME" ] || IT_O_NAME="${IT_ARGV[*]}"
}

it_exec_side() { # side(n|s) -> runs IT_ARGV, files $IT_T/out.$side err.$side rc.$side
	local side=$1 a argv=() envs=()
	for a in "${IT_ARGV[@]}"; do argv+=("$(it_subst "$side" "$a")"); done
	local stdin
	stdin=$(it_subst "$side" "$IT_O_STDIN")
	if [ "$side" = n ]; then
		(cd "$IT_WN" && exec timeout -k 5 "$IT_O_TIMEOUT" "${argv[@]}") \
			<"$stdin" >"$IT_T/out.n" 2>"$IT_T/err.n"
		echo $? >"$IT_T/rc.n"
		return
	fi
	mapfile -t envs < <(it_shunt_env)
	rm -f "$IT_STATS" "$IT_TRACE"
	if [ "$IT_O_STRACE" = 1 ]; then
		(cd "$IT_WS" && exec timeout -k 5 "$IT_O_TIMEOUT" strace -f -qq -y -s 16 --seccomp-bpf -o "$IT_TRACE" \
			-e trace=read,pread64,readv,preadv,preadv2,write,pwrite64,writev,pwritev,pwritev2,sendfile,copy_file_range,splice,open,openat,openat2 \
			env "${envs[@]}" "${argv[@]}") <"$stdin" >"$IT_T/out.s" 2>"$IT_T/err.s"
	else
		(cd "$IT_WS" && exec timeout -k 5 "$IT_O_TIMEOUT" env "${envs[@]}" "${argv[@]}") \
			<"$stdin" >"$IT_T/out.s" 2>"$IT_T/err.s"
	fi
	echo $? >"$IT_T/rc.s"
}

run_shunt() {
	it_parse_opts "$@"
	it_exec_side s
	IT_OUT=$IT_T/out.s IT_ERR=$IT_T/err.s IT_RC=$(cat "$IT_T/rc.s")
}

it_show() { # file label
	if [ -s "$1" ]; then
		echo "    --- $2 (first 30 lines):" >&2
		head -n 30 "$1" | sed 's/^/    | /' >&2
	else
		echo "    --- $2: (empty)" >&2
	fi
}

# Checks the channel evidence of the last shunt run.
it_check_channel() { # label -> 0 ok (after it_after_run)
	local label=$1 ok=0 s
	if [ "$IT_O_STATS" = 1 ]; then
		s=$(cat "$IT_T/post.stats")
		set -- $s
		if [ "$1" = none ] || [ "$1" = bad-json ]; then
			it_fail "$label: no usable SHUNT_STATS JSON at $IT_STATS ($s)"
			ok=1
		elif [ "$1" -le 0 ]; then
			it_fail "$label: fs_ops=0: nothing went through the channel ($s)"
			ok=1
		else
			echo "    channel: fs_ops=$1 fs_syscalls=$2 fs_cache_hits=$3 $4 $5" >&2
		fi
	fi
	if [ "$IT_O_STRACE" = 1 ] && [ -s "$IT_T/post.trace" ]; then
		it_fail "$label: read/write system calls on redirected fds (strace -f -y):"
		sed 's/^/    /' "$IT_T/post.trace" >&2
		ok=1
	fi
	return $ok
}

# run_both [opts] -- argv: native on the twin, then under shunt; compares.
run_both() {
	it_parse_opts "$@"
	local label=$IT_O_NAME ok=0
	IT_CHECKS=$((IT_CHECKS + 1))
	it_exec_side n
	it_exec_side s
	local rn rs
	rn=$(cat "$IT_T/rc.n") rs=$(cat "$IT_T/rc.s")
	it_normalize n "$IT_T/out.n" >"$IT_T/out.n.norm"
	it_normalize s "$IT_T/out.s" >"$IT_T/out.s.norm"
	if [ "$rs" = 124 ] || [ "$rs" = 137 ]; then
		it_fail "$label: under shunt it timed out after ${IT_O_TIMEOUT}s (exit $rs)"
		it_kill_clients
		ok=1
	elif [ "$rn" != "$rs" ]; then
		it_fail "$label: exit status native=$rn shunt=$rs"
		ok=1
	fi
	if [ "$IT_O_EXPECT_FAIL" = 0 ] && [ "$rn" != 0 ]; then
		it_fail "$label: the native run itself failed (exit $rn): the test is wrong"
		ok=1
	fi
	if ! cmp -s "$IT_T/out.n.norm" "$IT_T/out.s.norm"; then
		it_fail "$label: stdout differs (native vs shunt, paths normalized):"
		diff -u --label native --label shunt "$IT_T/out.n.norm" "$IT_T/out.s.norm" | head -n 40 | sed 's/^/    /' >&2
		ok=1
	fi
	if [ "$IT_O_STDERR" = 1 ]; then
		it_normalize n "$IT_T/err.n" >"$IT_T/err.n.norm"
		it_normalize s "$IT_T/err.s" >"$IT_T/err.s.norm"
		if ! cmp -s "$IT_T/err.n.norm" "$IT_T/err.s.norm"; then
			it_fail "$label: stderr differs:"
			diff -u --label native --label shunt "$IT_T/err.n.norm" "$IT_T/err.s.norm" | head -n 30 | sed 's/^/    /' >&2
			ok=1
		fi
	fi
	it_after_run "$IT_O_TREES"
	if [ "$IT_O_TREES" = 1 ]; then
		it_compare_trees "$label" || ok=1
	fi
	it_check_channel "$label" || ok=1
	if [ $ok = 0 ]; then
		it_pass "$label"
	else
		it_show "$IT_T/err.n" "native stderr"
		it_show "$IT_T/err.s" "shunt stderr"
		it_resync
	fi
	return $ok
}

# After a mismatch, make the two sides identical again so one failure does
# not cascade into every later check.
it_resync() {
	[ -n "${IT_NO_RESYNC:-}" ] && return 0
	# contents only: a test may have mounted something inside the dirs
	find "$IT_TWIN" "$IT_WS" -mindepth 1 -maxdepth 1 -exec rm -rf {} + 2>/dev/null
	cp -a "$IT_ROOT/." "$IT_TWIN/"
	cp -a "$IT_WN/." "$IT_WS/"
}

it_done() {
	if [ "$IT_CHECKS" = 0 ] && [ "$IT_FAILS" = 0 ]; then
		it_fail "no check ran"
	fi
	if [ "$IT_FAILS" -gt 0 ]; then
		printf '\n%s: FAILED (%d failures over %d checks):\n' "$IT_NAME" "$IT_FAILS" "$IT_CHECKS" >&2
		[ -n "$IT_T" ] && grep -v '^ ' "$IT_T/failures" | sed 's/^/  - /' >&2
		exit 1
	fi
	printf '\n%s: all %d checks passed\n' "$IT_NAME" "$IT_CHECKS" >&2
	exit 0
}
