#!/usr/bin/env bash
# exec: an fd without O_CLOEXEC survives exec into a new image and reads on
# at the shared offset; an O_CLOEXEC fd is gone (EBADF); an exec with a
# caller-supplied (or empty) environment lacking LD_PRELOAD still runs under
# shunt (it opens served paths); real programs read an inherited fd as stdin
# (tests/helpers/fs_it_exec.c). Plus env -i and the shell's exec.
. "$(dirname "$0")/lib.sh"
it_setup
H=$(it_helper fs_it_exec)
run_both -- "$H" parent @D@
run_both -- env -i PATH=/usr/bin:/bin cat @D@/a.txt
run_both -- env -i /bin/sh -c 'cat @D@/a.txt > @D@/env-i-out; ls @D@/sub'
run_both -- sh -c 'exec 5<@D@/words; exec env -i /bin/sh -c "head -n 2 <&5; exec 5<&-; head -n 1 <&5 2>/dev/null || echo fd5 closed"'
run_both -- sh -c 'exec cat @D@/a.txt'
it_done
