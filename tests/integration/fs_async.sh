#!/usr/bin/env bash
# I/O from a signal handler interrupting served I/O on the same thread, and
# fork() while other threads are in the middle of served I/O, and more
# threads at once than a session has channels
# (tests/helpers/fs_it_async.c).
. "$(dirname "$0")/lib.sh"
it_setup
H=$(it_helper fs_it_async)
run_both --no-strace --timeout 120 -- "$H" @D@ signals
run_both --timeout 120 -- "$H" @D@ signals
run_both --timeout 120 -- "$H" @D@ forks
run_both --timeout 120 -- "$H" @D@ manythreads
it_done
