#!/usr/bin/env bash
# Everyday file commands on the served dir: mkdir -p, mv (rename, across
# dirs, over files), rm -r, ln -s, readlink, ls -l/-R, stat, touch -d, chmod,
# truncate, du, cmp, diff, and a symlink-following walk.
. "$(dirname "$0")/lib.sh"
it_setup
run_both -- mkdir -p @D@/m/n/o @D@/m/p
run_both -- sh -c 'mv @D@/many/f50 @D@/m/n/f50-moved; mv @D@/private @D@/m/; mv @D@/m/p @D@/m/q; mv @D@/new.txt @D@/old.txt; ls -R @D@/m'
run_both -- rm -r @D@/tree
run_both -- sh -c 'rm @D@/many/f1 @D@/many/f2; rmdir @D@/emptydir; ls @D@ | sed -n 1,50p'
run_both -- sh -c 'ln -s sub/notes.txt @D@/ln1; ln @D@/med.bin @D@/hardlink; readlink @D@/ln1; cat @D@/ln1 | sed -n 1,2p; stat -c "%h %s" @D@/hardlink'
run_both --stderr -- sh -c 'ls -l --time-style=+%F @D@ | tail -n +2 | sed "s/  */ /g"'
run_both --stderr -- sh -c 'ls -la --time-style=+%F @D@/sub @D@/link-to-dir/ | sed "s/  */ /g" | grep -v " \.\.$"'
run_both -- stat -c '%n %s %a %F %h %Y' @D@/old.txt @D@/sub @D@/link-to-a @D@/m/private @D@/script.sh
run_both -- stat -L -c '%n %s %F' @D@/link-to-a @D@/link-to-dir
run_both --mtime -- sh -c 'touch -d "2019-02-03 04:05:06" @D@/ref.txt; touch @D@/brand-new; stat -c "%Y" @D@/ref.txt'
run_both -- sh -c 'chmod 0640 @D@/words; chmod u+x @D@/a.txt; stat -c "%a" @D@/words @D@/a.txt; test -x @D@/a.txt && echo exec'
run_both -- sh -c 'truncate -s 1000 @D@/big.bin; truncate -s +5000 @D@/page.bin; truncate -s 0 @D@/med.bin; stat -c "%s" @D@/big.bin @D@/page.bin @D@/med.bin'
run_both -- sh -c 'du -ab @D@/tree | sort -k2; du -sb @D@/sub'
run_both --expect-fail -- sh -c 'cmp @D@/words @D@/sub/notes.txt; diff @D@/a.txt @D@/sub/notes.txt | sed -n 1,5p; exit 1'
run_both -- sh -c 'cmp @D@/link-to-a @D@/a.txt && diff -r @D@/link-to-dir @D@/sub/deeper && echo same'
run_both -- sh -c 'df -P @D@ >/dev/null 2>&1; test -d @D@ && test -f @D@/a.txt && test ! -e @D@/nope && test -L @D@/link-to-a && test -s @D@/a.txt && test ! -s @D@/empty && echo tests ok'
run_both --expect-fail --stderr -- rm @D@/sub
run_both --expect-fail --stderr -- rmdir @D@/sub
run_both --expect-fail --stderr -- mkdir @D@/sub
it_done
