#!/usr/bin/env bash
# wc and sort: counts over served files (and a glob the shell expands by
# reading the served dir), sort to stdout, -o into the served dir (sort
# reads everything before it opens the output, which may be its input),
# -u/-n/-k/-r, and a merge of already sorted files.
. "$(dirname "$0")/lib.sh"
it_setup
run_both -- wc @D@/words @D@/a.txt @D@/big.bin @D@/empty
run_both -- sh -c 'wc -l @D@/many/*'
run_both -- sh -c 'wc -c < @D@/med.bin'
run_both -- sort @D@/words
run_both -- sort -u -r @D@/words @D@/sub/notes.txt
run_both -- sort -o @D@/words.sorted @D@/words
run_both -- sort -o @D@/words @D@/words
run_both -- sh -c 'seq 1 3000 | sort -n -r > @D@/nums; sort -n -k1,1 @D@/nums | tail -n 3'
run_both -- sh -c 'sort @D@/a.txt > @D@/s1; sort @D@/sub/notes.txt > @D@/s2; sort -m @D@/s1 @D@/s2 > @D@/merged; wc -l @D@/merged'
run_both -- sort -S 64K -T @W@ @D@/words
it_done
