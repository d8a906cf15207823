#!/usr/bin/env bash
# fork: parent and child both keep reading and writing; an fd from before
# fork shares its offset (alternating records, reads continuing), each side
# opens its own files, a grandchild writes too, and the child keeps using
# the fd after the parent closed it (tests/helpers/fs_it_fork.c).
. "$(dirname "$0")/lib.sh"
it_setup
H=$(it_helper fs_it_fork)
run_both -- "$H" @D@
run_both -- sh -c '(cat @D@/a.txt; cat @D@/words) > @D@/both & wait; wc -c < @D@/both'
it_done
