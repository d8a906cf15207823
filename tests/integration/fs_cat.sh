#!/usr/bin/env bash
# cat: small, empty, binary, multi-MiB and through-symlink reads of served
# files; cat writing into the served dir; concatenation into one output.
. "$(dirname "$0")/lib.sh"
it_setup
run_both -- cat @D@/a.txt
run_both -- cat @D@/empty
run_both -- cat @D@/big.bin
run_both -- cat @D@/link-to-a @D@/sub/notes.txt "@D@/with space.txt"
run_both -- cat @D@/link-to-dir/deepest/leaf.txt
run_both -- sh -c 'cat @D@/med.bin @D@/page.bin @D@/a.txt > @D@/cat-joined'
run_both -- sh -c 'cat @D@/big.bin > @W@/big-copy'
run_both -- sh -c 'cat @W@/big-copy > @D@/big-back; cat @D@/big-back | wc -c'
run_both --expect-fail --stderr -- cat @D@/missing
run_both --expect-fail --stderr -- cat @D@/sub
it_done
