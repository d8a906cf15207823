#!/usr/bin/env bash
# Multi-threaded stress: 8 threads for several seconds, each rewriting and
# verifying generation-tagged blocks of its own file and of its own region
# of one shared file (tests/helpers/fs_it_stress.c). The driver verifies
# every read; the final files must equal the native run's.
. "$(dirname "$0")/lib.sh"
it_setup
H=$(it_helper fs_it_stress)
run_both --timeout 180 -- "$H" @D@ 5000
run_both --timeout 180 --no-strace -- "$H" @D@/sub 8000
it_done
