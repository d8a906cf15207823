#!/usr/bin/env bash
# dd: bs/count, skip (input seek) and seek (output seek), conv=notrunc into
# an existing file, conv=fsync, oflag=append, partial last block, from and
# to pipes and /dev/zero, and a sparse write beyond EOF.
. "$(dirname "$0")/lib.sh"
it_setup
run_both -- dd if=@D@/big.bin of=@D@/dd1 bs=4k status=none
run_both -- dd if=@D@/big.bin of=@D@/dd2 bs=1000 skip=7 count=33 status=none
run_both -- dd if=@D@/a.txt of=@D@/med.bin bs=1 seek=5000 conv=notrunc status=none
run_both -- dd if=@D@/a.txt of=@D@/page.bin bs=512 seek=3 status=none
run_both -- dd if=/dev/zero of=@D@/zeros bs=64k count=16 conv=fsync status=none
run_both -- dd if=@D@/a.txt of=@D@/sub/notes.txt oflag=append conv=notrunc status=none
run_both -- dd if=@D@/a.txt of=@D@/sparse bs=1M seek=3 status=none
run_both -- sh -c 'dd if=@D@/med.bin bs=100000 skip=1 status=none | od -An -tx1 | sed -n 1,3p'
run_both -- sh -c 'head -c 5000 @D@/words | dd of=@D@/from-pipe obs=777 status=none; wc -c < @D@/from-pipe'
run_both -- dd if=@D@/med.bin of=@W@/to-kernel bs=3333 skip=2 count=50 status=none
run_both -- sh -c 'dd if=@D@/big.bin bs=4096 count=1 skip=511 status=none | sha256sum'
it_done
