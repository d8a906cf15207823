#!/usr/bin/env bash
# Runs the suite: Criterion unit binaries (plain, ASan+UBSan, TSan builds) and
# the integration scripts in tests/integration/ (each runs real programs under
# the preload). Prints each result, the log of each failure, and a closing
# "N passed, N failed" line; exits non-zero on any failure.
set -u
root=$(cd "${1:-build}" && pwd)
only=${2:-all}
here=$(cd "$(dirname "$0")" && pwd)
logs="$root/test-logs"
mkdir -p "$logs"
pass=0 fail=0 failed=()

run_one() { # name timeout_s cmd...
	local name=$1 t=$2
	shift 2
	local log="$logs/${name//\//_}.log" start=$SECONDS
	if timeout --kill-after=10 "$t" "$@" >"$log" 2>&1; then
		pass=$((pass + 1))
		echo "PASS $name ($((SECONDS - start))s)"
	else
		local rc=$?
		fail=$((fail + 1))
		failed+=("$name")
		echo "FAIL $name (exit $rc, $((SECONDS - start))s); last lines of $log:"
		tail -n 40 "$log" | sed 's/^/    /'
	fi
}

if [ "$only" = all ] || [ "$only" = unit ]; then
	for variant in "" asan tsan; do
		dir="$root${variant:+/$variant}/tests"
		[ -d "$dir" ] || continue
		for t in "$dir"/test_*; do
			[ -x "$t" ] || continue
			name="unit${variant:+-$variant}/$(basename "$t")"
			TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1" ASAN_OPTIONS="detect_leaks=0" \
				run_one "$name" 300 "$t" --jobs 2 --timeout 120
		done
	done
fi

if [ "$only" = all ] || [ "$only" = integration ]; then
	for t in "$here"/integration/*.sh; do
		[ -f "$t" ] || continue
		[ "$(basename "$t")" = lib.sh ] && continue # the harness, sourced by the tests
		SHUNT_BUILD="$root" run_one "integration/$(basename "$t" .sh)" 600 bash "$t"
	done
fi

echo
[ ${#failed[@]} -eq 0 ] || echo "failed: ${failed[*]}"
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
