#!/usr/bin/env bash
# Permissions are checked as the client, not as shuntd (root): a program run
# as nobody gets the kernel's EACCES/EPERM on files and dirs it may not
# touch, and what it creates is owned by nobody, exactly as natively.
. "$(dirname "$0")/lib.sh"
fixture() {
	local r=$1
	echo public >"$r/a.txt"
	echo secret >"$r/private"
	chmod 0600 "$r/private"
	mkdir -m 0755 "$r/ro-dir" && echo inside >"$r/ro-dir/f"
	mkdir -m 0777 "$r/open-dir"
	mkdir -m 1777 "$r/sticky" && echo root >"$r/sticky/rootfile"
	mkdir -m 0700 "$r/secret-dir" && echo x >"$r/secret-dir/x"
	echo group >"$r/group-rw" && chmod 0664 "$r/group-rw" && chgrp nogroup "$r/group-rw"
}
it_setup fixture
# nobody must reach the tree (mktemp made the temp dir 0700) and write stats
chmod 0755 "$IT_T"
mkdir -m 1777 "$IT_T/pub"
IT_STATS=$IT_T/pub/stats.json
# ... and load the library: a clone in a 0700 directory (mktemp -d) hides the
# build from nobody, so the preload would be skipped with a warning.
cp "$IT_LIB" "$IT_T/pub/libshunt.so" && chmod 0755 "$IT_T/pub/libshunt.so"
IT_LIB=$IT_T/pub/libshunt.so
AS_NOBODY=(setpriv --reuid=65534 --regid=65534 --clear-groups --)
t() { echo "== $*"; "$@" 2>&1; echo "rc=$?"; }
export -f t
run_both --stderr -- "${AS_NOBODY[@]}" bash -c '
	t cat @D@/a.txt; t cat @D@/private; t cat @D@/secret-dir/x; t ls @D@/secret-dir
	t stat -c %s @D@/secret-dir/x; t test -r @D@/private; t test -w @D@/a.txt; t test -r @D@/a.txt
	t sh -c "echo x > @D@/ro-dir/new"; t sh -c "echo x >> @D@/a.txt"; t mkdir @D@/ro-dir/sub
	t rm -f @D@/ro-dir/f; t mv @D@/ro-dir/f @D@/open-dir/f; t rm -f @D@/sticky/rootfile
	t touch @D@/a.txt; t chmod 0777 @D@/a.txt; t truncate -s 0 @D@/a.txt
	t sh -c "echo mine > @D@/open-dir/mine"; t mkdir @D@/open-dir/mydir; t ln -s a @D@/open-dir/mylink
	t chmod 0600 @D@/open-dir/mine; t stat -c "%U %G %a" @D@/open-dir/mine @D@/open-dir/mydir
	t sh -c "echo z > @D@/sticky/mine; rm @D@/sticky/mine"; t sh -c "echo g >> @D@/group-rw"
	t python3 -c "import os; print([os.access(\"@D@/\" + n, m) for n, m in ((\"private\", os.R_OK), (\"a.txt\", os.W_OK), (\"open-dir\", os.W_OK), (\"ro-dir\", os.W_OK))])"
'
it_done
