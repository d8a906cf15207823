#!/usr/bin/env bash
# Exact return values and errno of failing calls (ENOENT, EEXIST with
# O_EXCL, ENOTDIR, EISDIR, EBADF on closed and wrong-mode fds, ELOOP,
# ENOTEMPTY, EINVAL...), compared with the kernel's; then, under shunt only,
# paths and symlinks that escape the export root must fail with EACCES or
# ENOENT and never reach the file outside.
. "$(dirname "$0")/lib.sh"
fixture() {
	local r=$1
	mkdir -p "$r/sub/inner" "$r/emptysub"
	echo hello >"$r/file"
	: >"$r/wonly"
	echo victim >"$r/victim"
	echo x >"$r/sub/f"
	ln -s loop2 "$r/loop1"
	ln -s loop1 "$r/loop2"
	ln -s file "$r/link-to-file"
	ln -s sub "$r/link-to-sub"
	ln -s nowhere "$r/dangling"
	ln -s /etc/passwd "$r/passwd-link"
	ln -s /etc "$r/etc-link"
	ln -s ../../../../../../../../../.. "$r/up-link"
	ln -s /proc/self/root/etc/passwd "$r/proc-link"
	ln -s /proc/self/cwd "$r/cwd-link"
}
it_setup fixture
H=$(it_helper fs_it_errno)
run_both -- "$H" compare @D@
run_both -- "$H" compare @D@/link-to-sub/..
marker=shunt-escape-$$-$RANDOM
run_shunt -- "$H" escape @D@ "$marker"
IT_CHECKS=$((IT_CHECKS + 1))
if [ "$IT_RC" = 0 ]; then
	it_pass "escapes from the export root all refused"
	sed 's/^/    /' "$IT_OUT" >&2
else
	it_fail "a path escaped the export root (exit $IT_RC):"
	sed 's/^/    /' "$IT_OUT" >&2
	it_show "$IT_ERR" "stderr"
fi
for f in "/tmp/$marker" "/tmp/$marker.2" "/tmp/$marker.3" /etc/shunt-escaped; do
	if [ -e "$f" ]; then
		it_fail "escape created $f outside the export root"
		rm -rf "$f"
	fi
done
it_check "victim still inside the export root" test -f "$IT_ROOT/victim"
# System calls shunt cannot see (made without libc) on a redirected fd.
echo hello >"$IT_ROOT/file"
run_shunt -- "$H" raw @D@
IT_CHECKS=$((IT_CHECKS + 1))
if [ "$IT_RC" = 0 ]; then
	it_pass "raw system calls on a redirected fd fail cleanly or work"
	sed 's/^/    /' "$IT_OUT" >&2
else
	it_fail "a raw system call on a redirected fd did something else (exit $IT_RC):"
	sed 's/^/    /' "$IT_OUT" >&2
	it_show "$IT_ERR" stderr
fi
it_done
