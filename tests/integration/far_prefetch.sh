#!/usr/bin/env bash
# The far_prefetch key (SHUNT_FAR_PREFETCH): a program that fills a far
# buffer four times SHUNT_LOCAL_MEM and reads it back in order prefetches
# with the default, prefetches nothing with far_prefetch off, and prints the
# same checksum both ways (and as natively). bench/far/run relies on the knob
# to compare the scan with and without prefetch.
set -u
B=${SHUNT_BUILD:?SHUNT_BUILD must name the build directory}
export -n SHUNT_BUILD
unset SHUNT_BUILD # a SHUNT_ variable the preloaded program would reject as an unknown key
LIB=$B/libshunt.so
T=$(mktemp -d /tmp/shunt-far-prefetch.XXXXXX)
trap 'rm -rf "$T"' EXIT
fails=0
ok() { echo "ok   $*"; }
bad() { echo "FAIL $*"; fails=$((fails + 1)); }
json_val() { sed -n "s/.*\"$2\": \([0-9]*\).*/\1/p" "$1" | sort -n | tail -1; }

cat >"$T/scan.py" <<'EOF'
import hashlib
b = bytearray(32 << 20)
for i in range(0, len(b), 4096):
    b[i:i + 8] = (i * 2654435761 % 2**64).to_bytes(8, "little")
print(hashlib.sha256(b).hexdigest())
EOF
want=$(python3 "$T/scan.py")

# run NAME [VAR=VAL...]: the scan under the preload; prints "prefetched remote" or fails.
run() {
	local name=$1
	shift
	rm -f "$T/s.json"
	if ! env "$@" SHUNT_LOCAL_MEM=8M SHUNT_STATS="json:$T/s.json" LD_PRELOAD="$LIB" python3 "$T/scan.py" \
		>"$T/out" 2>"$T/err"; then
		bad "$name: exit $?: $(tail -3 "$T/err")"
		return 1
	fi
	if [ "$(cat "$T/out")" != "$want" ]; then
		bad "$name: checksum $(cat "$T/out"), natively $want"
		return 1
	fi
	echo "$(json_val "$T/s.json" far_prefetched) $(json_val "$T/s.json" far_faults_remote)"
}

if r=($(run "prefetch on (default)")); then
	if [ "${r[0]:-0}" -gt 0 ] && [ "${r[1]:-0}" -gt 0 ]; then
		ok "prefetch on: same checksum, far_prefetched ${r[0]}, far_faults_remote ${r[1]}"
	else
		bad "prefetch on: far_prefetched ${r[0]:-missing}, far_faults_remote ${r[1]:-missing} (both should be > 0)"
	fi
fi
if r=($(run "prefetch off" SHUNT_FAR_PREFETCH=off)); then
	if [ "${r[0]:-x}" = 0 ] && [ "${r[1]:-0}" -gt 0 ]; then
		ok "prefetch off: same checksum, far_prefetched 0, far_faults_remote ${r[1]}"
	else
		bad "prefetch off: far_prefetched ${r[0]:-missing} (should be 0), far_faults_remote ${r[1]:-missing}"
	fi
fi
if SHUNT_FAR_PREFETCH=maybe SHUNT_LOCAL_MEM=8M LD_PRELOAD="$LIB" /bin/true 2>"$T/err"; then
	bad "SHUNT_FAR_PREFETCH=maybe was accepted"
elif grep -q "far_prefetch" "$T/err"; then
	ok "a bad far_prefetch value stops start-up naming the key"
else
	bad "a bad far_prefetch value: $(cat "$T/err")"
fi

echo "far_prefetch: $fails failed"
[ "$fails" -eq 0 ]
