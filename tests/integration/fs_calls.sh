#!/usr/bin/env bash
# The rest of the interposed file API through one C driver (tests/helpers/
# fs_it_calls.c): vectored and huge reads/writes, 64-bit offsets and holes,
# open flags and umask, dup families sharing offsets, fcntl flags, *at calls
# on a served dirfd, fchdir/getcwd, readdir/seekdir, times and modes,
# sendfile/copy_file_range, statfs, poll, POSIX/OFD/flock locks across fork.
. "$(dirname "$0")/lib.sh"
it_setup
H=$(it_helper fs_it_calls)
run_both --timeout 120 -- "$H" @D@
it_done
