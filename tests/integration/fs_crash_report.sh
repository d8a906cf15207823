#!/usr/bin/env bash
# A fatal signal in libshunt's call path prints a symbolised backtrace on
# stderr, then the process dies of that signal as it would have (here
# SIGSEGV: exit status 139 from the shell). A fault in the program's own
# code prints nothing of ours.
set -u
here=$(cd "$(dirname "$0")" && pwd)
B=$(cd "${SHUNT_BUILD:-$here/../../build}" && pwd)
export -n SHUNT_BUILD
T=$(mktemp -d /tmp/shunt-crash.XXXXXX)
trap 'pkill -f -- "--socket $T/fs.sock" 2>/dev/null; rm -rf "$T"' EXIT
mkdir "$T/root" && echo data > "$T/root/f"
fail=0
env SHUNT_FS_MOUNT=/crash SHUNT_FS_ROOT="$T/root" SHUNT_FS_SOCKET="$T/fs.sock" SHUNT_FS_IDLE_MS=300 \
	LD_PRELOAD="$B/libshunt.so" "$B/tests/fs_it_crash" /crash/f >"$T/out" 2>"$T/err"
rc=$?
if [ $rc -ne 139 ]; then echo "FAIL: expected death by SIGSEGV (139), got $rc"; fail=1; fi
grep -q "fatal signal 11" "$T/err" || { echo "FAIL: no crash report on stderr"; fail=1; }
grep -q "fsc_fstat\|fsc_stat_from_wire" "$T/err" || { echo "FAIL: the backtrace names no libshunt function"; fail=1; }
grep -q "\[libshunt\]" "$T/err" || { echo "FAIL: no frame marked as libshunt's"; fail=1; }
# The program's own crash: no report of ours.
env SHUNT_FS_MOUNT=/crash SHUNT_FS_ROOT="$T/root" SHUNT_FS_SOCKET="$T/fs.sock" LD_PRELOAD="$B/libshunt.so" \
	python3 -c 'import ctypes; ctypes.string_at(0)' 2>"$T/err2"
rc=$?
[ $rc -eq 139 ] || { echo "FAIL: a program's own SIGSEGV should kill it as natively (139), got $rc"; fail=1; }
if grep -q "libshunt's call path" "$T/err2"; then echo "FAIL: reported a crash that is not ours"; fail=1; fi
[ $fail -eq 0 ] && echo "ok: crash report printed with a libshunt backtrace; other crashes untouched" || sed 's/^/    /' "$T/err"
exit $fail
