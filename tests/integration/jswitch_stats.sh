#!/usr/bin/env bash
# The jump-switch statistics of a real program under the preload, for the
# sites through which the interposers reach libc (REAL(), preload/real.h):
# python reads and stats a file under a shunt mount 300 times (commands to an
# embedded shuntd: after 256 of them libshunt.so starts its jump switches;
# until shunt is in use, a program's sites stay cold and no thread is
# started), then calls
# readv() N times on /dev/zero (not served, so each call is forwarded through
# the site real_readv). Checks, in the SHUNT_STATS
# JSON: learn mode records exactly N calls under libc's readv (and counts
# N calls, give or take the few an rseq restart counts twice); on mode makes
# the site steady with direct hits on readv (counted one pass in 8: a lower
# bound, never more than N) and leaves only the profiling calls as
# fallbacks; off mode patches and counts nothing; and the totals
# (jsw_direct_hits, jsw_fallbacks) are the sums of the per-site figures.
set -euo pipefail
build=${SHUNT_BUILD:-build}
export -n SHUNT_BUILD
lib=$(cd "$build" && pwd)/libshunt.so
here=$(cd "$(dirname "$0")/../.." && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
N=200000
nsites=$(grep -o 'X([A-Za-z_0-9]*)' "$here/preload/real.h" | wc -l)

mnt=/shunt-jswstats-$$
mkdir -p "$tmp/root"
echo served >"$tmp/root/f"
prog='
import os, sys
n = int(sys.argv[1])
if open(sys.argv[2] + "/f").read() != "served\n":
    sys.exit("served file reads wrong")
for _ in range(300):  # commands to shuntd: after 256 the jump switches start
    os.stat(sys.argv[2] + "/f")
fd = os.open("/dev/zero", os.O_RDONLY)
b = bytearray(16)
for _ in range(n):
    if os.readv(fd, [b]) != 16 or any(b):
        sys.exit("wrong readv result")
print("ok", n)
'
# The interpreter itself, not a wrapper script that would add processes.
py=$(python3 -c 'import sys; print(sys.executable)')
run() { # mode json
	rm -f "$2"
	SHUNT_JSW=$1 SHUNT_JSW_PERIOD=5 SHUNT_STATS="json:$2" SHUNT_FS_MOUNT=$mnt SHUNT_FS_ROOT="$tmp/root" \
		SHUNT_FS_SOCKET="$tmp/fs.sock" SHUNT_FS_IDLE_MS=1000 LD_PRELOAD=$lib "$py" -c "$prog" "$N" "$mnt" >/dev/null
}
# A program that never uses shunt: no thread, nothing patched or counted.
rm -f "$tmp/unused.json"
threads=$(SHUNT_JSW=on SHUNT_JSW_PERIOD=5 SHUNT_STATS="json:$tmp/unused.json" LD_PRELOAD=$lib "$py" -c '
import os
fd = os.open("/dev/zero", os.O_RDONLY)
for _ in range(100000):
    os.readv(fd, [bytearray(8)])
print(len(os.listdir("/proc/self/task")))')
[ "$threads" = 1 ] || { echo "FAIL: a program not using shunt has $threads threads"; exit 1; }
python3 -c '
import json, sys
d = json.load(open(sys.argv[1]))
assert d["jsw_patches"] == 0 and d["jsw_fallbacks"] == 0 and d["jsw_direct_hits"] == 0, d
assert d["jsw_sites"] >= int(sys.argv[2]), d
' "$tmp/unused.json" "$nsites"
echo "ok unused: one thread, sites cold"
run learn "$tmp/learn.json"
run on "$tmp/on.json"
run off "$tmp/off.json"

python3 - "$tmp" "$N" "$nsites" <<'PY'
import json, sys
tmp, n, nsites = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
def load(mode):
    # One report per process that ran (the embedded shuntd's too): the
    # interpreter's is the one that reached real_readv (or, with nothing
    # reached, the last).
    text, reports, i = open("%s/%s.json" % (tmp, mode)).read(), [], 0
    while i < len(text):
        if text[i].isspace():
            i += 1
            continue
        r, i = json.JSONDecoder().raw_decode(text, i)
        reports.append(r)
    assert reports, mode
    d = ([r for r in reports if any(s["name"] == "real_readv" for s in r["jsw_site_list"])] or reports)[-1]
    sites = {s["name"]: s for s in d["jsw_site_list"]}
    # The totals are the per-site sums.
    assert d["jsw_direct_hits"] == sum(h["hits"] for s in sites.values() for h in s["direct_hits"]), (mode, d)
    assert d["jsw_fallbacks"] == sum(s["fallbacks"] for s in sites.values()), (mode, d)
    assert d["jsw_sites"] >= nsites, (mode, d["jsw_sites"], nsites)
    assert d["jsw_sites"] == len(sites) + d["jsw_idle_sites"], (mode, d["jsw_sites"], len(sites), d["jsw_idle_sites"])
    return d, sites

d, sites = load("learn")
s = sites["real_readv"]
learned = [l for l in s["learned"] if l["target"].split("+")[0].endswith("readv")]
assert len(learned) == 1 and learned[0]["calls"] == n, s
# The per-CPU counter may count a call twice when rseq restarts the slot
# after the increment (preemption there): a few in a million.
assert s["mode"] == "learn" and n <= s["fallbacks"] <= n + n // 1000 and d["jsw_patches"] == 0, s
print("ok learn: %d calls learned under %s" % (learned[0]["calls"], learned[0]["target"]))

d, sites = load("on")
s = sites["real_readv"]
assert s["mode"] == "steady", s
hits = [h for h in s["direct_hits"] if h["target"].split("+")[0].endswith("readv")]
assert len(hits) == 1 and 1 <= hits[0]["hits"] <= n, s
assert s["calls"] <= n + n // 1000 and s["fallbacks"] < n // 2, s
assert s["patches"] >= 1 and d["jsw_patches"] >= s["patches"], (s, d["jsw_patches"])
assert d["jsw_direct_hits"] >= hits[0]["hits"], d
print("ok on: steady, %d direct hits counted (sampled) on %s, %d fallbacks, %d patches" % (
    hits[0]["hits"], hits[0]["target"], s["fallbacks"], s["patches"]))

d, sites = load("off")
assert d["jsw_patches"] == 0 and d["jsw_direct_hits"] == 0 and d["jsw_fallbacks"] == 0, d
assert not sites, sites
print("ok off: nothing patched or counted")
PY
