#!/usr/bin/env bash
# sha256sum: of served files, of a glob, writing a SUMS file into the served
# dir, then checking it with -c both by absolute path and from inside the
# served dir (cd into the mount; the relative names resolve there).
. "$(dirname "$0")/lib.sh"
it_setup
run_both -- sha256sum @D@/big.bin @D@/med.bin @D@/empty @D@/a.txt
run_both -- sh -c 'sha256sum @D@/many/* | cut -c1-64 | sort | sha256sum'
run_both -- sh -c 'sha256sum @D@/big.bin @D@/tree/c/blob | sha256sum -c'
run_both -- sh -c 'sha256sum @D@/big.bin @D@/tree/c/blob | sed "s|@D@/||" > @D@/SUMS; cat @D@/SUMS'
run_both -- sh -c 'cd @D@/tree && sha256sum c/blob a/b/t1.txt > ../TREESUMS && sha256sum -c ../TREESUMS && pwd'
run_both -- sh -c 's=$(sha256sum @D@/big.bin @D@/tree/c/blob); echo x >> @D@/tree/c/blob; echo "$s" | sha256sum -c; echo rc=$?'
it_done
