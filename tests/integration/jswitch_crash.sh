#!/usr/bin/env bash
# A crash inside the jump switches' slot pages (an int3 of a copy's padding,
# what a thread sent to a stale or half-written copy executes) is reported
# with the evidence needed to tell which: the site, the part of its slot,
# the selector, each copy's write generation and what the worker is
# writing, the bytes around the PC (all of the copies when the kernel's
# rseq fixup has moved the PC to the abort handler). The process still dies
# of SIGTRAP, never resumes in the slot.
set -uo pipefail
build=${SHUNT_BUILD:-build}
export -n SHUNT_BUILD
unset SHUNT_BUILD
bin="$build/tests/jsw_crash"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fails=0
bad() { echo "FAIL $*"; sed 's/^/     /' "$tmp/err"; fails=$((fails + 1)); }

SHUNT_JSW=on "$bin" 2>"$tmp/err"
rc=$?
[ $rc -eq 133 ] || bad "int3 in a slot: exit $rc, expected death by SIGTRAP (133)"
grep -q "fatal signal 5 (code 128" "$tmp/err" || bad "int3 in a slot: no fatal-signal line for the trap"
# The thread usually still has the site's rseq_cs set from its last call
# through it, so the kernel moves the pc to the abort handler before the
# handler runs (and the report shows every copy); if it was preempted in
# between, the kernel had cleared rseq_cs and the pc is the int3 itself.
if grep -q "jump switches: pc is site h_crash's slot +500 (abort handler); runtime: copy A active" "$tmp/err"; then
	grep -q "rseq abort on signal delivery" "$tmp/err" || bad "int3 in a slot (rseq abort): no dump of the copies"
	grep -q "^    +256: .*cc cc cc cc" "$tmp/err" || bad "int3 in a slot (rseq abort): the dump lacks copy A's padding"
elif grep -q "jump switches: pc is site h_crash's slot +259 (copy A); runtime: copy A active" "$tmp/err"; then
	grep -q "\[cc\]" "$tmp/err" || bad "int3 in a slot: the bytes around the pc do not mark it"
else
	bad "int3 in a slot: the report does not name the site, offset, part and active copy"
fi
grep -Eq "copy A written at generation [1-9][0-9]*, B at [0-9]+, now [1-9][0-9]*; worker writing: nothing" "$tmp/err" ||
	bad "int3 in a slot: no write generations"
[ $fails -eq 0 ] && echo "ok   int3 in a slot: $(grep 'jump switches' "$tmp/err" | head -1)"

SHUNT_JSW=on "$bin" segv 2>"$tmp/err"
rc=$?
[ $rc -eq 139 ] || bad "jump outside the slots: exit $rc, expected SIGSEGV (139)"
grep -q "jump switches:" "$tmp/err" && bad "jump outside the slots: a jump-switch section anyway"
echo "jswitch_crash: $fails failed"
[ $fails -eq 0 ]
