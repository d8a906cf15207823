#!/usr/bin/env bash
# Developer tools on a served tree: make + gcc + ar + ld building a small C
# project that lives in the served dir (objects, archive and program written
# there, then the program run from there), and git creating a repository,
# committing, branching and inspecting it (lock files with O_EXCL, renames,
# mmap of the index and packs, fsync). Fixed dates and names keep git's
# object ids equal in the two runs.
. "$(dirname "$0")/lib.sh"
fixture() {
	it_fixture_std "$1"
	local p=$1/proj
	mkdir -p "$p/src"
	cat >"$p/src/main.c" <<'C'
#include <stdio.h>
int sum(int);
int main(void) { printf("sum %d\n", sum(100)); return 0; }
C
	cat >"$p/src/sum.c" <<'C'
int sum(int n) { int s = 0; for (int i = 1; i <= n; i++) s += i; return s; }
C
	printf 'all: prog\nlibsum.a: src/sum.c\n\tgcc -O2 -c src/sum.c -o sum.o\n\tar rcs libsum.a sum.o\nprog: src/main.c libsum.a\n\tgcc -O2 -o prog src/main.c libsum.a\n' >"$p/Makefile"
	find "$1" -exec touch -h -d '2023-05-05 05:05:05' {} +
}
it_setup fixture
run_both --timeout 120 -- sh -c 'make -s -C @D@/proj && @D@/proj/prog && ar t @D@/proj/libsum.a && nm @D@/proj/sum.o'
run_both -- sh -c 'cd @D@/proj && ./prog && make -s -q; echo "up to date: $?"'

export GIT_AUTHOR_NAME=t GIT_AUTHOR_EMAIL=t@example.org GIT_COMMITTER_NAME=t GIT_COMMITTER_EMAIL=t@example.org
export GIT_AUTHOR_DATE='2024-01-01T00:00:00Z' GIT_COMMITTER_DATE='2024-01-01T00:00:00Z' GIT_CONFIG_NOSYSTEM=1 HOME=$IT_T
# Each step starts from its own copy so one failure does not cascade. The
# index caches each file's inode, device and ctime, which differ between the
# twin and the export root by nature: its entries are printed (ls-files -s)
# and the file itself left out of the tree comparison.
INIT='git init -q -b main . && git add -A && git commit -q -m first'
NOIDX='git ls-files -s | sha256sum && rm .git/index'
run_both --timeout 120 -- sh -c "cp -r @D@/tree @D@/g1 && cd @D@/g1 && $INIT && git log --format='%H %s' && git config --list --local && $NOIDX"
run_both --timeout 120 -- sh -c "cp -r @D@/tree @D@/g2 && cd @D@/g2 && $INIT && echo more >> c/blob && git checkout -q -b side && git commit -qam second && git checkout -q main && git merge -q --ff-only side && git log --format='%H %s' && git status --porcelain && git fsck --no-progress 2>&1 && $NOIDX"
run_both --timeout 120 -- sh -c "cp -r @D@/tree @D@/g3 && cd @D@/g3 && $INIT && git gc -q && git count-objects -v | grep -E '^(count|in-pack|packs)' && git cat-file -p 'HEAD^{tree}' && $NOIDX"
run_both --timeout 120 -- sh -c "cp -r @D@/tree @D@/g4 && cd @D@/g4 && $INIT && cd .. && git clone -q g4 g4-clone && git -C g4-clone log --format='%H %s' && ls g4-clone && git -C g4-clone remote remove origin && rm -rf g4-clone/.git/logs && rm g4/.git/index g4-clone/.git/index"
it_done
