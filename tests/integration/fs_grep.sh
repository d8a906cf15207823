#!/usr/bin/env bash
# grep -r (fts walking the served tree with openat/getdents/fstatat) and
# plain grep on files: line numbers, counts, -l, -L, binary files, includes.
. "$(dirname "$0")/lib.sh"
it_setup
run_both -- sh -c 'grep -rn needle @D@ | sort'
run_both -- sh -c 'grep -rl ka @D@ | sort'
run_both -- sh -c 'grep -rc -e alpha -e file @D@ | sort'
run_both -- sh -c 'grep -rL needle @D@/tree @D@/sub | sort'
run_both -- sh -c 'grep -r --include="*.txt" -h -i KAPPA @D@ | sort'
run_both -- grep -c needle @D@/words
run_both -- sh -c 'grep -n "^alpha" @D@/a.txt @D@/link-to-a'
run_both -- sh -c 'grep -R file @D@/link-to-dir @D@/many/f1 | sort'
run_both -- sh -c 'grep -rn needle @D@/sub | sed "s|^@D@/||" > @D@/found; wc -l < @D@/found'
run_both --expect-fail -- grep -q nosuchstringanywhere @D@/words
it_done
