#!/bin/bash
# bench/run-all.sh BUILD_DIR: runs every benchmark, bench/*/run BUILD_DIR, in
# turn (make bench). Each writes its own tables and charts under bench/results/.
# A benchmark that fails is reported and the others still run; the exit status
# is non-zero if any failed.
set -u
BUILD=${1:-build}
HERE=$(cd "$(dirname "$0")" && pwd)
rc=0
for run in "$HERE"/*/run; do
	[ -x "$run" ] || continue
	name=$(basename "$(dirname "$run")")
	echo "== bench/$name =="
	if ! "$run" "$BUILD"; then
		echo "== bench/$name FAILED ==" >&2
		rc=1
	fi
done
exit $rc
