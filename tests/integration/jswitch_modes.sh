#!/usr/bin/env bash
# SHUNT_JSW=off|learn|on from the environment, as a program starts: off maps
# nothing and keeps the plain retpoline, learn counts, on patches; the stats
# report carries the jump-switch counters and the per-site section.
set -euo pipefail
build=${SHUNT_BUILD:-build}
# run-all.sh exports SHUNT_BUILD; shunt would reject it as an unknown key.
export -n SHUNT_BUILD
bin="$build/tests/jsw_modes"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

SHUNT_JSW=off "$bin" off
SHUNT_JSW=learn SHUNT_STATS=1 "$bin" learn 2>"$tmp/learn.txt"
grep -q "jsw site h_site: learn" "$tmp/learn.txt" || { cat "$tmp/learn.txt"; echo "FAIL: learn report"; exit 1; }
grep -q "learned .*: 1000$" "$tmp/learn.txt" || { cat "$tmp/learn.txt"; echo "FAIL: learned counts"; exit 1; }
SHUNT_JSW=on SHUNT_JSW_PERIOD=5 SHUNT_STATS="json:$tmp/on.json" "$bin" on
python3 - "$tmp/on.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
assert d["jsw_sites"] >= 1, d
assert d["jsw_direct_hits"] >= 1000, d["jsw_direct_hits"]  # sampled: counted one pass in 8
assert d["jsw_patches"] >= 1, d
site = [s for s in d["jsw_site_list"] if s["name"] == "h_site"][0]
assert site["mode"] == "steady", site
assert site["samples"] >= 1, site
assert any(t["hits"] >= 1000 for t in site["direct_hits"]), site
print("ok json:", site["calls"], "calls,", site["fallbacks"], "fallbacks")
PY
# A bad value stops the program, naming the key.
if SHUNT_JSW=maybe "$bin" on 2>"$tmp/bad.txt"; then echo "FAIL: bad SHUNT_JSW accepted"; exit 1; fi
grep -qi "jsw" "$tmp/bad.txt" || { cat "$tmp/bad.txt"; echo "FAIL: message does not name jsw"; exit 1; }
echo "ok"
