#!/usr/bin/env bash
# Directories at scale and odd names: 5000 entries (many getdents batches),
# 255-byte names, UTF-8, spaces, a newline and leading dashes in names;
# listing, globbing, find, rename across dirs, rm -r of the lot.
. "$(dirname "$0")/lib.sh"
fixture() {
	it_fixture_std "$1"
	"$IT_PY" - "$1" <<'PYEOF'
import os, sys
r = sys.argv[1]
big = os.path.join(r, "bigdir")
os.mkdir(big)
for i in range(5000):
    with open(os.path.join(big, f"entry-{i:05d}-{'x' * (i % 40)}"), "w") as f:
        f.write(f"{i}\n")
odd = os.path.join(r, "odd")
os.mkdir(odd)
for name in ["n" * 255, "héllo wörld ✓", "with\nnewline", "-dash", "--double", " lead space", "tab\there", "*star?"]:
    with open(os.path.join(odd, name), "w") as f:
        f.write(name + "\n")
PYEOF
	find "$1" -exec touch -h -d '2023-05-05 05:05:05' {} +
}
it_setup fixture
run_both -- sh -c 'ls @D@/bigdir | wc -l; ls -U @D@/bigdir | sort | sha256sum'
run_both -- sh -c 'ls -f @D@/bigdir | wc -l; ls @D@/bigdir/entry-0499* | wc -l'
run_both -- sh -c 'find @D@/bigdir -name "*77*" -printf "%P\n" | sort | sha256sum; find @D@/bigdir -type f | wc -l'
run_both -- sh -c 'cat @D@/bigdir/entry-04* | wc -l'
run_both -- /usr/bin/python3 -c 'import os, sys; d = sys.argv[1]; print(len(os.listdir(d)), sum(e.stat().st_size for e in os.scandir(d)))' @D@/bigdir
run_both -- sh -c 'ls -b @D@/odd; ls -Q @D@/odd | wc -l'
run_both -- sh -c 'cd @D@/odd && cat -- -dash --double " lead space" && wc -c -- * | sort'
run_both -- sh -c 'for f in @D@/odd/*; do printf "%s|" "$(cat "$f" | head -c 12)"; done; echo'
run_both -- sh -c 'mkdir @D@/moved && mv @D@/bigdir/entry-01* @D@/moved/ && ls @D@/moved | wc -l && ls @D@/bigdir | wc -l'
run_both -- sh -c 'mv @D@/odd/"héllo wörld ✓" @D@/odd/renamed && mv @D@/odd/"$(printf "with\nnewline")" @D@/odd/nl-gone && ls -b @D@/odd'
run_both -- rm -r @D@/bigdir @D@/moved
run_both -- sh -c 'ls @D@'
it_done
