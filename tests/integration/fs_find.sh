#!/usr/bin/env bash
# find: -type, -size, -newer (mtimes through stat), -name, -empty, -perm,
# -links, -printf of sizes/modes/types, -L through symlinks, -delete, -exec.
. "$(dirname "$0")/lib.sh"
it_setup
run_both -- sh -c 'find @D@ | sort'
run_both -- sh -c 'find @D@ -type f | sort'
run_both -- sh -c 'find @D@ -type d | sort'
run_both -- sh -c 'find @D@ -type l | sort'
run_both -- sh -c 'find @D@ -type f -size +10k | sort'
run_both -- sh -c 'find @D@ -type f -size -2 | sort'
run_both -- sh -c 'find @D@ -newer @D@/ref.txt -type f -name "*.txt" | sort'
run_both -- sh -c 'find @D@ ! -newer @D@/ref.txt -type f | sort'
run_both -- sh -c 'find @D@ -empty | sort'
run_both -- sh -c 'find @D@ -perm -u+x -type f | sort; find @D@ -perm 600 | sort'
run_both -- sh -c 'find @D@ -printf "%P %y %s %m %n\n" | sort'
run_both -- sh -c 'find @D@ -printf "%P %TY-%Tm-%Td\n" | grep -E "old|ref|new|notes" | sort'
run_both -- sh -c 'find -L @D@/link-to-dir -type f | sort'
run_both -- sh -c 'find @D@/many -name "f1*" -exec cat {} + | sort | sed -n 1,5p'
run_both -- sh -c 'find @D@/many -name "f9*" -delete; ls @D@/many | wc -l'
run_both -- sh -c 'cd @D@/tree && find . -maxdepth 2 | sort'
it_done
