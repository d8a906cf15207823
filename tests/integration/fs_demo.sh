#!/usr/bin/env bash
# `make demo` keeps working: tests/demo.sh (sqlite3 natively and under shunt
# with an embedded shuntd, on a smaller database; python3 in far memory with
# an embedded memd), identical outputs, stats, pages fetched back.
. "$(dirname "$0")/lib.sh"
it_init
IT_CHECKS=$((IT_CHECKS + 1))
if DEMO_ROWS=3000 timeout 120 bash "$IT_LIB_DIR/../demo.sh" "$SHUNT_BUILD" >"$IT_T/demo.out" 2>&1 &&
	grep -q 'demo: outputs identical' "$IT_T/demo.out" && grep -qE '^ +fs_ops +[1-9]' "$IT_T/demo.out" &&
	grep -q 'pages were evicted to shunt-memd and fetched back' "$IT_T/demo.out"; then
	it_pass "demo: identical outputs, stats printed, far pages fetched back"
	grep -E 'ms  \(exit' "$IT_T/demo.out" | sed 's/^/    /' >&2
else
	it_fail "tests/demo.sh failed:"
	tail -n 40 "$IT_T/demo.out" | sed 's/^/    /' >&2
fi
it_done
