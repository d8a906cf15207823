#!/usr/bin/env bash
# Multi-threaded stress: 8 threads for several seconds, each rewriting and
# verifying generation-tagged blocks of its own file and of its own region
# of one shared file (tests/helpers/fs_it_stress.c). The driver verifies
# every read; the final files must equal the native run's.
. "$(dirname "$0")/lib.sh"
it_setup
H=$(it_helper fs_it_stress)
run_both --timeout 180 -- "$H" @D@ 5000
run_both --timeout 180 --no-strace -- "$H" @D@/sub 3000
# Processes appending to one served file at once: O_APPEND writes never
# overwrite each other (4 long-lived fds, 2 shells reopening per line).
run_both --timeout 180 -- sh -c '
	for p in 1 2 3 4; do
		(exec 3>>@D@/appends; for i in $(seq 1 300); do echo "p$p-$i-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa" >&3; done) &
	done
	for p in 5 6; do (for i in $(seq 1 200); do echo "q$p-$i" >> @D@/appends; done) & done
	wait; sort -o @D@/appends @D@/appends; wc -l < @D@/appends; uniq -d @D@/appends | wc -l'
it_done
