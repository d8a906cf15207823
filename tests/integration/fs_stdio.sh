#!/usr/bin/env bash
# stdio on served paths through a C driver (tests/helpers/fs_it_stdio.c):
# fopen modes, fgets/fprintf/fputs/fwrite/fread, fseek/ftell/rewind, ungetc,
# fscanf, getline, setvbuf, fdopen, freopen of stdout and stdin.
. "$(dirname "$0")/lib.sh"
it_setup
H=$(it_helper fs_it_stdio)
run_both -- "$H" @D@
run_both -- "$H" @D@/sub
it_done
