#!/usr/bin/env bash
# make demo: a real, unmodified program (sqlite3) builds and queries a
# database on a served directory, natively and then under shunt with the
# embedded shuntd started on demand; then python3 builds and checksums a
# 96 MiB bytearray and a large list with 32 MiB of local memory, the rest in
# far memory (an embedded shunt-memd over TCP). Prints the wall times and
# the SHUNT_STATS=1 counters, and fails if a run's output differs from the
# native one or the mechanism was not used.
# Usage: tests/demo.sh BUILD_DIR (make demo builds first; this builds nothing).
set -u
export LC_ALL=C
build=$(cd "${1:-build}" && pwd) || exit 1
lib=$build/libshunt.so
for f in "$lib" "$build/shuntd"; do
	[ -e "$f" ] || { echo "demo: $f is missing: run make first" >&2; exit 1; }
done
command -v sqlite3 >/dev/null || { echo "demo: sqlite3 is missing: run make deps" >&2; exit 1; }

t=$(mktemp -d /tmp/shunt-demo.XXXXXX)
mount=/shunt-demo-$(od -An -N4 -tx1 /dev/urandom | tr -d ' \n')
sock=$t/fs.sock
cleanup() {
	local p
	# Only the embedded shuntd of this demo: the one listening on our socket.
	for p in $(ss -xlpn 2>/dev/null | grep -F " $sock " | grep -o 'pid=[0-9]*' | cut -d= -f2); do
		kill "$p" 2>/dev/null
	done
	rm -rf "$t"
}
trap cleanup EXIT
mkdir -p "$t/native" "$t/export"

rows=${DEMO_ROWS:-20000}
/usr/bin/python3 - "$rows" >"$t/build.sql" <<'EOF'
import random, sys
rows = int(sys.argv[1])
r = random.Random(2026)
print("CREATE TABLE orders(id INTEGER PRIMARY KEY, customer TEXT, region TEXT, amount REAL, note TEXT);")
regions = ["north", "south", "east", "west", "centre"]
for start in range(0, rows, 1000):
    print("BEGIN;")
    for i in range(start, min(rows, start + 1000)):
        cust = "c%05d" % r.randint(0, 4999)
        print(f"INSERT INTO orders(customer, region, amount, note) VALUES('{cust}', '{r.choice(regions)}', "
              f"{r.uniform(1, 500):.2f}, '{'x' * r.randint(0, 60)}');")
    print("COMMIT;")
print("CREATE INDEX orders_customer ON orders(customer);")
print("CREATE INDEX orders_region ON orders(region, amount);")
EOF
cat >"$t/query.sql" <<'EOF'
SELECT count(*), round(sum(amount), 2) FROM orders;
SELECT region, count(*), round(avg(amount), 2), round(max(amount), 2) FROM orders GROUP BY region ORDER BY region;
SELECT customer, count(*) AS n, round(sum(amount), 2) FROM orders GROUP BY customer ORDER BY n DESC, customer LIMIT 5;
SELECT count(*) FROM orders WHERE customer BETWEEN 'c01000' AND 'c01100';
UPDATE orders SET amount = amount * 1.1 WHERE region = 'east';
SELECT round(sum(amount), 2) FROM orders WHERE region = 'east';
PRAGMA integrity_check;
EOF

now() { date +%s%N; }
ms() { echo $((($2 - $1) / 1000000)); }

echo "shunt demo: sqlite3 builds a $rows-row database and queries it"
echo
s=$(now)
{ sqlite3 "$t/native/demo.db" <"$t/build.sql" && sqlite3 "$t/native/demo.db" <"$t/query.sql"; } >"$t/native.out" 2>"$t/native.err"
nrc=$?
e=$(now)
native_ms=$(ms "$s" "$e")

s=$(now)
{
	env LD_PRELOAD="$lib" SHUNT_FS_MOUNT="$mount" SHUNT_FS_ROOT="$t/export" SHUNT_FS_SOCKET="$sock" \
		SHUNT_FS_IDLE_MS=1000 sqlite3 "$mount/demo.db" <"$t/build.sql" &&
		env LD_PRELOAD="$lib" SHUNT_FS_MOUNT="$mount" SHUNT_FS_ROOT="$t/export" SHUNT_FS_SOCKET="$sock" \
			SHUNT_FS_IDLE_MS=1000 SHUNT_STATS=1 sqlite3 "$mount/demo.db" <"$t/query.sql"
} >"$t/shunt.out" 2>"$t/shunt.err"
src=$?
e=$(now)
shunt_ms=$(ms "$s" "$e")

echo "query output (native):"
sed 's/^/  /' "$t/native.out"
echo
printf '%-34s %8s ms  (exit %d)\n' "native  (kernel, $t/native)" "$native_ms" "$nrc"
printf '%-34s %8s ms  (exit %d)\n' "shunt   ($mount -> export dir)" "$shunt_ms" "$src"
echo
echo "SHUNT_STATS=1 of the query run (stderr of sqlite3 under shunt):"
sed 's/^/  /' "$t/shunt.err"
echo

fail=0
if [ "$nrc" != 0 ] || [ "$src" != 0 ]; then
	echo "demo: FAILED: exit status native=$nrc shunt=$src" >&2
	sed 's/^/  native stderr: /' "$t/native.err" >&2
	fail=1
fi
if ! cmp -s "$t/native.out" "$t/shunt.out"; then
	echo "demo: FAILED: outputs differ (native vs shunt):" >&2
	diff -u --label native --label shunt "$t/native.out" "$t/shunt.out" | head -n 30 >&2
	fail=1
fi
if [ ! -s "$t/export/demo.db" ]; then
	echo "demo: FAILED: no database in the export dir: shunt did not serve $mount" >&2
	fail=1
elif ! cmp -s <(sqlite3 "$t/native/demo.db" .dump) <(sqlite3 "$t/export/demo.db" .dump); then
	echo "demo: FAILED: the served database's contents differ from the native one" >&2
	fail=1
fi
if ! grep -q fs_ops "$t/shunt.err"; then
	echo "demo: FAILED: SHUNT_STATS=1 printed no counters" >&2
	fail=1
fi
[ $fail = 0 ] && echo "demo: outputs identical; the database on the served dir matches the native one"

# ---- far memory ----
cat >"$t/far.py" <<'EOF'
import hashlib, random
n = 96 << 20
b = bytearray(n)
r = random.Random(7)
for off in range(0, n, 4096):
    b[off:off + 8] = r.getrandbits(64).to_bytes(8, "little")
l = [i * i for i in range(1_000_000)]
print(hashlib.sha256(b).hexdigest()[:16], sum(l) % 1000003, len(b))
EOF
echo
echo "shunt demo: python3 checksums a 96 MiB bytearray and a 1M-entry list; under shunt with 32 MiB of local memory"
s=$(now)
/usr/bin/python3 "$t/far.py" >"$t/far.native" 2>&1
fnrc=$?
e=$(now)
fnative_ms=$(ms "$s" "$e")
s=$(now)
env LD_PRELOAD="$lib" SHUNT_LOCAL_MEM=32M SHUNT_STATS=1 /usr/bin/python3 "$t/far.py" >"$t/far.shunt" 2>"$t/far.err"
fsrc=$?
e=$(now)
fshunt_ms=$(ms "$s" "$e")
printf '%-34s %8s ms  (exit %d)\n' "native  (all local)" "$fnative_ms" "$fnrc"
printf '%-34s %8s ms  (exit %d)\n' "shunt   (local_mem 32M, far rest)" "$fshunt_ms" "$fsrc"
echo "far-memory counters of the shunt run:"
grep -E '^ *(far_|jsw_)|^far memory' "$t/far.err" | sed 's/^ */  /'
remote=$(awk '$1 == "far_faults_remote" { print $2 }' "$t/far.err")
if [ "$fnrc" != 0 ] || [ "$fsrc" != 0 ] || ! cmp -s "$t/far.native" "$t/far.shunt"; then
	echo "demo: FAILED: far-memory run differs from the native one (exit native=$fnrc shunt=$fsrc):" >&2
	diff -u --label native --label shunt "$t/far.native" "$t/far.shunt" >&2
	sed 's/^/  shunt stderr: /' "$t/far.err" | head -n 20 >&2
	fail=1
elif ! [ "${remote:-0}" -gt 0 ] 2>/dev/null; then
	echo "demo: FAILED: no far page was fetched back (far_faults_remote=${remote:-none})" >&2
	fail=1
else
	echo "demo: same checksums; $remote pages were evicted to shunt-memd and fetched back"
fi
exit $fail

