#!/usr/bin/env bash
# gzip/gunzip: in place (gzip copies mode and mtime to the new file through
# fchmod/fchown/futimens on the redirected fd, then unlinks the input), -k,
# -c to and from pipes, -t, -l, -d of a .gz made natively, levels.
. "$(dirname "$0")/lib.sh"
it_setup
run_both --mtime -- gzip @D@/words
run_both --mtime -- gunzip @D@/words.gz
run_both --mtime -- gzip -k -9 @D@/big.bin @D@/a.txt
run_both -- gzip -t @D@/big.bin.gz
run_both -- gzip -l @D@/big.bin.gz
run_both -- sh -c 'gzip -c -1 @D@/med.bin > @D@/med.gz; gunzip -c @D@/med.gz | cmp - @D@/med.bin && echo same'
run_both -- sh -c 'gzip -n < @D@/sub/notes.txt > @D@/notes.gz; gzip -dc < @D@/notes.gz | md5sum'
run_both -- sh -c 'gzip -c @D@/tree/c/blob > @W@/blob.gz; gunzip -c @W@/blob.gz > @D@/blob.back; cmp @D@/blob.back @D@/tree/c/blob && echo same'
run_both --mtime -- sh -c 'gzip -r @D@/tree && find @D@/tree | sort && gunzip -r @D@/tree'
run_both --expect-fail --stderr -- gunzip @D@/a.txt
it_done
