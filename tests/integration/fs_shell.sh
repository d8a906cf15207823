#!/usr/bin/env bash
# Shell redirection onto served paths: > and >> (O_TRUNC, O_APPEND), < as
# stdin, <> read-write, exec N> in the shell itself, a group { ls; ls; }
# whose children share one fd and its offset, noclobber (O_EXCL), here
# documents, bash's read builtin (reads ahead then seeks back on a regular
# file), and a pipeline between served files.
. "$(dirname "$0")/lib.sh"
it_setup
run_both -- sh -c 'echo one > @D@/out; echo two >> @D@/out; /bin/echo three >> @D@/out; cat @D@/out'
# bash saves fd 1 (F_DUPFD 10), dup2s the served file onto it for the builtin,
# then dup2s the saved kernel fd back: fd 1 must be the kernel's again.
run_both -- bash -c 'echo one > @D@/out; echo two; echo three >> @D@/out; printf "%s\n" four; cat @D@/out'
run_both -- sh -c 'wc -l < @D@/words; tr a-z A-Z < @D@/a.txt > @D@/upper; cat @D@/upper'
run_both -- sh -c '{ ls @D@; ls -a @D@/sub; } > @D@/x; cat @D@/x'
run_both -- sh -c '{ /bin/echo first; printf "second\n"; /bin/echo third; head -c 20 @D@/a.txt; } > @D@/shared-offset'
run_both -- sh -c 'exec 1>@D@/exec-out; /bin/echo a; echo b; sh -c "echo c"; exec 1>&2; cat @D@/exec-out >&2' 
run_both -- sh -c 'exec 3<@D@/a.txt; read -r l1 <&3; head -n 1 <&3; cat <&3'
run_both -- bash -c 'exec 3<@D@/a.txt; read -r l1 <&3; read -r l2 <&3; echo "$l1/$l2"; cat <&3'
run_both -- bash -c 'n=0; while read -r line; do n=$((n + 1)); done < @D@/words; echo $n'
run_both -- bash -c 'while IFS= read -r l; do echo "[$l]"; done < @D@/a.txt | tail -n 2'
run_both -- sh -c 'echo 0123456789 > @D@/rw; exec 3<>@D@/rw; head -c 4 <&3 >/dev/null; echo XY >&3; exec 3>&-; cat @D@/rw'
run_both -- sh -c 'cat <<HERE > @D@/heredoc
line one
line two $((6 * 7))
HERE
cat @D@/heredoc'
run_both --expect-fail --stderr -- bash -c 'set -C; echo x > @D@/a.txt'
run_both -- bash -c 'set -C; echo x > @D@/fresh; echo y >| @D@/fresh; cat @D@/fresh'
run_both -- sh -c 'cat @D@/words | sort | uniq -c | sort -rn | sed -n 1,5p > @D@/top; cat @D@/top'
# Two children of one shell at once: one walks the served tree, the other
# writes the served file its stdout was redirected to (repeated: it raced).
run_both --no-strace -- sh -c 'for i in $(seq 1 30); do grep -rhn needle @D@/sub | cat > @D@/piped; wc -l < @D@/piped; done'
run_both -- sh -c 'for i in 1 2 3; do echo "loop $i" >> @D@/loop; done; (echo sub; echo shell) >> @D@/loop; cat @D@/loop'
run_both -- sh -c 'exec 4>>@D@/appends; echo a >&4; echo b > @D@/appends; echo c >&4; cat @D@/appends'
run_both -- sh -c 'ls no-such-file > @D@/err 2>&1; echo rc=$?; cat @D@/err'
run_both -- bash -c 'cd @D@/sub && echo inside > here && cat ./here ../a.txt && pwd'
# dash leaves with _exit(): no SHUNT_STATS report of its own, so no stats check
run_both --no-stats -- sh -c '. @D@/script.sh'
run_both -- bash -c '. @D@/script.sh; source @D@/script.sh'
run_both --name 'exec of a script stored on the served dir' -- sh -c '@D@/script.sh'
it_done
