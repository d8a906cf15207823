#!/usr/bin/env bash
# posix_spawn with file actions on served paths, posix_spawnp with a
# stripped environment, system(), popen() both ways, vfork+dup2+exec with
# redirected fds (tests/helpers/fs_it_spawn.c); xargs and make-style spawns.
. "$(dirname "$0")/lib.sh"
it_setup
H=$(it_helper fs_it_spawn)
run_both -- "$H" @D@
run_both -- sh -c 'ls @D@/many | sed -n 1,20p | sed "s|^|@D@/many/|" | xargs cat | sort | uniq | wc -l'
run_both -- sh -c 'find @D@/tree -type f -print0 | xargs -0 -n1 wc -c | sort'
it_done
