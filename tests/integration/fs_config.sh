#!/usr/bin/env bash
# Configuration at start-up: an unknown key (as SHUNT_<KEY> or in SHUNT_CONF)
# or a bad value stops the program before it runs, with a message naming
# the key; a valid configuration runs the program normally.
. "$(dirname "$0")/lib.sh"
it_setup it_fixture_std --no-server

# start_stops "desc" KEY-TEXT env...: the program must not run, must exit
# non-zero, and stderr must name KEY-TEXT.
start_stops() {
	local desc=$1 key=$2
	shift 2
	IT_CHECKS=$((IT_CHECKS + 1))
	local out=$IT_T/cfg.out err=$IT_T/cfg.err rc
	timeout 20 env LD_PRELOAD="$IT_LIB" "$@" sh -c 'echo program-ran' >"$out" 2>"$err"
	rc=$?
	if [ "$rc" != 0 ] && ! grep -q program-ran "$out" && grep -qiF -- "$key" "$err"; then
		it_pass "$desc stops the program (exit $rc): $(head -n 1 "$err")"
	else
		it_fail "$desc: expected a non-zero exit before the program runs and a message naming '$key'; got exit $rc"
		it_show "$out" stdout
		it_show "$err" stderr
	fi
}
start_stops "SHUNT_BOGUS=1" bogus SHUNT_BOGUS=1
start_stops "SHUNT_CONF=bogus:1" bogus SHUNT_CONF=bogus:1
start_stops "SHUNT_CONF with an unknown key after a good one" frobnicate SHUNT_CONF=log:warn,frobnicate:2
start_stops "SHUNT_FS_SPIN_US=abc (bad value)" fs_spin_us SHUNT_FS_SPIN_US=abc
start_stops "SHUNT_CONF=fs_idle_ms:-5 (bad value)" fs_idle_ms SHUNT_CONF=fs_idle_ms:-5
start_stops "SHUNT_LOG=loud (bad enum)" log SHUNT_LOG=loud
start_stops "unknown key with the file mount set" bogus SHUNT_FS_MOUNT="$IT_MOUNT" SHUNT_FS_ROOT="$IT_ROOT" \
	SHUNT_FS_SOCKET="$IT_SOCK" SHUNT_BOGUS_KEY=yes

# And the controls: valid settings run the program.
runs() {
	local desc=$1
	shift
	IT_CHECKS=$((IT_CHECKS + 1))
	local out
	out=$(timeout 20 env LD_PRELOAD="$IT_LIB" "$@" sh -c 'echo program-ran' 2>"$IT_T/cfg.err")
	local rc=$?
	if [ "$rc" = 0 ] && [ "$out" = program-ran ]; then
		it_pass "$desc runs the program"
	else
		it_fail "$desc: expected the program to run; exit $rc, stdout '$out'"
		it_show "$IT_T/cfg.err" stderr
	fi
}
runs "no configuration"
runs "SHUNT_LOG=error SHUNT_CONF=fs_spin_us:10" SHUNT_LOG=error SHUNT_CONF=fs_spin_us:10
runs "SHUNT_CONF=log:warn with SHUNT_LOG=info winning" SHUNT_CONF=log:warn SHUNT_LOG=info
it_done
