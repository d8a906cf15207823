#!/usr/bin/env bash
# sqlite3: create a database on the served dir, fill it (a few thousand rows
# in transactions, an index, an update, a delete, a rollback), query it,
# check its integrity, vacuum, dump; a second process blocked by the first's
# lock ("database is locked") and succeeding once it is released.
. "$(dirname "$0")/lib.sh"
it_setup
"$IT_PY" - >"$IT_T/fill.sql" <<'PYEOF'
import random
r = random.Random(7)
print("PRAGMA page_size=4096;")
print("CREATE TABLE t(id INTEGER PRIMARY KEY, name TEXT, grp INTEGER, val REAL, blob BLOB);")
for tx in range(6):
    print("BEGIN;")
    for i in range(500):
        n = tx * 500 + i
        name = "".join(r.choice("abcdefghij") for _ in range(r.randint(3, 12)))
        print(f"INSERT INTO t(name, grp, val, blob) VALUES('{name}', {n % 17}, {r.random() * 1000:.6f}, x'{r.randbytes(r.randint(0, 40)).hex()}');")
    print("COMMIT;")
print("CREATE INDEX t_grp ON t(grp, val);")
print("BEGIN; UPDATE t SET val = val * 2 WHERE grp = 3; DELETE FROM t WHERE id % 97 = 0; COMMIT;")
print("BEGIN; DELETE FROM t; ROLLBACK;")
PYEOF
cat >"$IT_T/query.sql" <<'SQLEOF'
SELECT count(*), sum(grp), round(sum(val), 3) FROM t;
SELECT grp, count(*), round(avg(val), 4), max(length(blob)) FROM t GROUP BY grp ORDER BY grp;
SELECT id, name, round(val, 3) FROM t WHERE grp = 5 ORDER BY val DESC LIMIT 5;
SELECT name FROM t WHERE name LIKE 'abc%' ORDER BY id;
PRAGMA integrity_check;
SQLEOF
run_both --stdin @T@/fill.sql -- sqlite3 @D@/app.db
run_both --stdin @T@/query.sql -- sqlite3 @D@/app.db
run_both -- sqlite3 @D@/app.db 'PRAGMA journal_mode=TRUNCATE; INSERT INTO t(name, grp, val) VALUES ("x", 1, 2.5); SELECT count(*) FROM t;'
run_both -- sqlite3 @D@/app.db 'VACUUM; PRAGMA integrity_check; SELECT count(*) FROM t;'
run_both -- sh -c 'sqlite3 @D@/app.db .dump | sha256sum; sqlite3 @D@/app.db ".tables" ".schema t"'
run_both -- sh -c 'sqlite3 @D@/app.db ".backup @D@/copy.db" && sqlite3 @D@/copy.db "SELECT count(*) FROM t"'
run_both -- sqlite3 -readonly @D@/app.db 'SELECT grp, count(*) FROM t GROUP BY grp HAVING count(*) > 170;'

# Lock held by one sqlite3 process, seen by another (fcntl locks across
# processes on a served file). The holder signals through a kernel file.
cat >"$IT_T/lock.sh" <<'SHEOF'
db=$1 mark=$2
rm -f "$mark" "$mark.fifo"; mkfifo "$mark.fifo"
sqlite3 "$db" <"$mark.fifo" >/dev/null &
holder=$!
exec 3>"$mark.fifo"
printf 'BEGIN EXCLUSIVE;\nINSERT INTO t(name, grp, val) VALUES ("held", 99, 1);\n.system touch %s\n' "$mark" >&3
i=0; while [ ! -e "$mark" ] && [ $i -lt 300 ]; do sleep 0.05; i=$((i + 1)); done
[ -e "$mark" ] || { echo "holder never got its lock"; exit 1; }
sqlite3 -cmd ".timeout 0" "$db" 'INSERT INTO t(name, grp, val) VALUES ("other", 98, 1);' 2>&1; echo "blocked writer rc=$?"
sqlite3 -cmd ".timeout 0" "$db" 'SELECT count(*) FROM t WHERE grp = 99;' 2>&1; echo "blocked reader rc=$?"
printf 'COMMIT;\n' >&3; exec 3>&-; wait $holder; echo "holder rc=$?"
sqlite3 "$db" 'INSERT INTO t(name, grp, val) VALUES ("other", 98, 1); SELECT grp, count(*) FROM t WHERE grp > 90 GROUP BY grp;'
rm -f "$mark" "$mark.fifo"
SHEOF
run_both -- bash @T@/lock.sh @D@/app.db @W@/held

# WAL mode: the -shm index is a writable MAP_SHARED mapping of a served
# file, shared by every connection. Several processes in turn, then a
# reader holding a snapshot while another process commits, then a
# checkpoint back into the database file.
run_both -- sh -c 'sqlite3 @D@/wal.db "PRAGMA journal_mode=WAL; CREATE TABLE w(x); INSERT INTO w VALUES(1),(2);" &&
	sqlite3 @D@/wal.db "INSERT INTO w SELECT x + 10 FROM w; SELECT count(*), sum(x) FROM w; PRAGMA journal_mode;"'
cat >"$IT_T/wal.py" <<'PYEOF'
import sqlite3, subprocess, sys
db = sys.argv[1]
r = sqlite3.connect(db, isolation_level=None)
r.execute("BEGIN")
print("reader snapshot", r.execute("SELECT count(*), sum(x) FROM w").fetchone())
subprocess.run(["sqlite3", db, "INSERT INTO w SELECT x + 100 FROM w;"], check=True)
print("reader still sees", r.execute("SELECT count(*), sum(x) FROM w").fetchone())
r.execute("COMMIT")
print("reader after commit", r.execute("SELECT count(*), sum(x) FROM w").fetchone())
print("checkpoint", r.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone())
print(r.execute("PRAGMA integrity_check").fetchone(), r.execute("PRAGMA journal_mode").fetchone())
PYEOF
run_both -- /usr/bin/python3 @T@/wal.py @D@/wal.db
run_both -- sqlite3 @D@/wal.db 'SELECT count(*), sum(x) FROM w; PRAGMA integrity_check;'
it_done
