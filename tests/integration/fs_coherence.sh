#!/usr/bin/env bash
# Coherence between sessions: one process rewrites blocks of a served file
# (and resizes it) while another, which has the file open and its blocks
# cached, reads each change right after it is made. Once as two forked
# children, once as two programs launched separately (two session
# families), natively and under shunt (tests/helpers/fs_it_coherence.c).
. "$(dirname "$0")/lib.sh"
it_setup
H=$(it_helper fs_it_coherence)
run_both -- "$H" pair @D@

# pair_apart SIDE: writer and reader started independently, taking turns
# through two FIFOs in the temp dir.
pair_apart() {
	local side=$1 d envs=()
	if [ "$side" = native ]; then d=$IT_TWIN; else d=$IT_MOUNT; mapfile -t envs < <(it_shunt_env); fi
	rm -f "$IT_T/w2r" "$IT_T/r2w" "$IT_STATS"
	mkfifo "$IT_T/w2r" "$IT_T/r2w"
	if [ "$side" = native ]; then "$H" make "$IT_TWIN/apart.bin"; else "$H" make "$IT_ROOT/apart.bin"; fi
	timeout 60 env "${envs[@]}" "$H" reader "$d/apart.bin" "$IT_T/w2r" "$IT_T/r2w" >"$IT_T/apart.$side" 2>&1 &
	local r=$!
	timeout 60 env "${envs[@]}" "$H" writer "$d/apart.bin" "$IT_T/r2w" "$IT_T/w2r" >"$IT_T/apart-w.$side" 2>&1
	local wrc=$?
	wait $r
	local rrc=$?
	IT_CHECKS=$((IT_CHECKS + 1))
	if [ "$wrc" = 0 ] && [ "$rrc" = 0 ] && grep -q '^reader: 400 rounds verified' "$IT_T/apart.$side"; then
		it_pass "$side: separately launched writer and reader agree on 400 rounds"
	else
		it_fail "$side: separately launched writer (exit $wrc) and reader (exit $rrc) disagree:"
		it_show "$IT_T/apart.$side" "reader output"
		it_show "$IT_T/apart-w.$side" "writer output"
	fi
}
pair_apart native
pair_apart shunt

set -- $(it_stats_summary "$IT_STATS")
it_check "the separate processes used the channel (fs_ops=${1:-none})" it_positive "${1:-}"
it_done
