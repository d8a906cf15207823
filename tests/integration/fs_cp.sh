#!/usr/bin/env bash
# cp: served -> served (copy_file_range/sendfile or read/write, whichever cp
# picks), served -> kernel, kernel -> served, -r of a tree, -p/-a keeping
# modes and times, overwrite of an existing file, symlinks with -P.
. "$(dirname "$0")/lib.sh"
it_setup
run_both -- cp @D@/big.bin @D@/big-copy.bin
run_both -- cp @D@/med.bin @W@/med-out.bin
run_both -- sh -c 'cp @W@/med-out.bin @D@/med-in.bin'
run_both -- cp @D@/a.txt @D@/words
run_both -- cp -r @D@/tree @D@/tree-copy
run_both --mtime -- cp -p @D@/old.txt @D@/old-kept.txt
run_both --mtime -- cp -a @D@/sub @D@/sub-archive
run_both -- cp -P @D@/link-to-a @D@/link-copy
run_both -- cp -r @D@/tree @W@/tree-out
run_both -- cp --sparse=always @D@/page.bin @D@/page-sparse.bin
run_both --expect-fail --stderr -- cp @D@/missing @D@/x
run_both --expect-fail --stderr -- cp @D@/a.txt @D@/missing-dir/x
it_done
