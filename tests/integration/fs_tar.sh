#!/usr/bin/env bash
# tar: create an archive from the served dir (into the work dir and into the
# served dir itself), list it, and extract archives into the served dir
# (files, dirs, symlinks, modes and mtimes restored: utimensat, fchmod).
. "$(dirname "$0")/lib.sh"
it_setup
TAR="tar --sort=name --owner=0 --group=0 --numeric-owner"
run_both -- sh -c "$TAR -C @D@ -cf @W@/all.tar . && tar -tvf @W@/all.tar"
run_both -- sh -c 'tar -C @D@ -df @W@/all.tar && echo no differences'
run_both -- sh -c "$TAR -C @D@ -cf @D@/sub.tar sub tree && tar -tf @D@/sub.tar"
run_both -- sh -c "$TAR -C @D@ -czf - tree | tar -tzvf -"
run_both --mtime -- sh -c 'mkdir @D@/x1 && tar -C @D@/x1 -xf @W@/all.tar && ls -R @D@/x1 | sed -n 1,20p'
run_both --mtime -- sh -c 'mkdir @D@/x2 && tar -C @D@/x2 -xf @D@/sub.tar && find @D@/x2 | sort'
run_both --mtime -- sh -c "cd @D@ && $TAR -cf - tree | tar -C @W@ -xf - && ls -R @W@/tree"
# Ownership: an archive of files owned by nobody, extracted as root, restores
# the owners (fchownat/lchown through shunt), and chown/chgrp on served paths.
run_both -- sh -c "tar --sort=name --owner=65534 --group=65534 --numeric-owner -C @D@ -cf @W@/owned.tar tree link-to-a && mkdir @D@/x4 && tar --same-owner -C @D@/x4 -xf @W@/owned.tar && find @D@/x4 -printf '%P %u:%g\n' | sort"
run_both -- sh -c 'chown 65534:65534 @D@/a.txt && chgrp nogroup @D@/sub && chown -h 65534 @D@/link-to-a && stat -c "%n %u:%g" @D@/a.txt @D@/sub @D@/link-to-a'
it_done
