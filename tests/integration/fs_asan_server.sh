#!/usr/bin/env bash
# Runs real programs and the hostile-client smoke against shuntd built with
# ASan+UBSan (make SAN=asan): the server reads untrusted shared memory, so
# that is where a memory error would hide. Any sanitizer report fails the
# test (the server aborts and the clients see it die).
set -u
here=$(cd "$(dirname "$0")" && pwd)
B=${SHUNT_BUILD:-$here/../../build}
B=$(cd "$B" && pwd)
asan=$B/asan
[ -x "$asan/shuntd" ] && [ -x "$asan/tests/fs_client_smoke" ] || {
	echo "FAIL: no ASan build in $asan (make test builds it: make SAN=asan all)"
	exit 1
}
export ASAN_OPTIONS=detect_leaks=0:abort_on_error=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
fail=0
for t in fs_cat fs_tar fs_sqlite fs_python fs_stress; do
	if IT_SHUNTD_BIN=$asan/shuntd SHUNT_BUILD=$B bash "$here/$t.sh" >"$asan/$t-asan.log" 2>&1; then
		echo "ok   $t against the ASan shuntd"
	else
		echo "FAIL $t against the ASan shuntd (log: $asan/$t-asan.log):"
		grep -E 'FAIL|ERROR: AddressSanitizer|runtime error|SUMMARY' "$asan/$t-asan.log" | head -20
		fail=1
	fi
done
# The smoke includes a hostile client writing garbage into its own rings.
if SHUNT_BUILD=$asan bash "$here/fs_server_smoke.sh" >"$asan/smoke-asan.log" 2>&1; then
	echo "ok   fs_server_smoke (hostile client) against the ASan shuntd"
else
	echo "FAIL fs_server_smoke against the ASan shuntd (log: $asan/smoke-asan.log):"
	grep -E 'FAIL|ERROR: AddressSanitizer|runtime error|SUMMARY' "$asan/smoke-asan.log" | head -20
	fail=1
fi
exit $fail
