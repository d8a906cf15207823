#!/usr/bin/env bash
# How paths reach the mount: doubled slashes, ./ and .., relative paths from
# outside that lead into it (/tmp/../mount, ../mount from /tmp), a sibling
# whose name merely starts with the mount's (must stay the kernel's), the
# mount root itself, readlink -f / realpath (coreutils), and a symlink made
# with an absolute path into the mount (as `ln -s "$PWD/x" y` does).
. "$(dirname "$0")/lib.sh"
it_setup
run_both -- cat @D@//sub///deeper//deepest/leaf.txt @D@/./sub/../a.txt
run_both -- cat /tmp/..@D@/a.txt
run_both -- sh -c 'cd /tmp && cat ..@D@/a.txt'
run_both --expect-fail --stderr --no-stats -- cat @D@sub/notes.txt
run_both --expect-fail --stderr --no-stats -- ls @Dx@
run_both -- sh -c 'ls -d @D@ @D@/ @D@/. && stat -c %F @D@ @D@/ && test -d @D@ && echo dir'
run_both -- sh -c 'readlink -f @D@/link-to-dir/../a.txt @D@/link-to-a @D@/sub/./deeper/..; realpath @D@/link-to-dir @D@/link-to-dir/deepest/../..'
run_both -- sh -c 'ln -s @D@/a.txt @D@/abs-link && readlink @D@/abs-link && cat @D@/abs-link'
run_both -- sh -c 'ln -s @D@/sub @D@/abs-dir-link && ls @D@/abs-dir-link/ && cat @D@/abs-dir-link/deeper/deepest/leaf.txt | wc -l'
it_done
