#!/usr/bin/env bash
# head and tail: by lines and bytes, from the end (tail seeks from SEEK_END),
# negative counts, several files with headers, output into the served dir.
. "$(dirname "$0")/lib.sh"
it_setup
run_both -- head @D@/words
run_both -- head -n 3 @D@/a.txt @D@/sub/notes.txt
run_both -- head -c 1000 @D@/big.bin
run_both -- head -n -4990 @D@/words
run_both -- head -c -100 @D@/med.bin
run_both -- tail @D@/words
run_both -- tail -n 3 @D@/a.txt
run_both -- tail -c 4097 @D@/big.bin
run_both -- tail -n +4990 @D@/words
run_both -- tail -n 2 @D@/a.txt @D@/empty @D@/new.txt
run_both -- sh -c 'head -n 100 @D@/words > @D@/head100; tail -n 5 @D@/head100'
run_both -- sh -c 'tail -c 5000 < @D@/big.bin | od -An -tx1 | sed -n 1,2p'
it_done
