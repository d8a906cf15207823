/* Path resolution beneath the export root (runtime/fsserver/resolve.c), on a
 * temp tree: `..` past the root, absolute symlinks, symlink loops, /proc
 * magic links, the root itself, and the parent/leaf split. */
#include "test_fs_shim.h" /* Criterion, or its TSan stand-in */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fsserver/fsserver.h"

static char dir[64];
static int root = -1;

static void setup(void)
{
	snprintf(dir, sizeof(dir), "/tmp/shunt-resolve.XXXXXX");
	cr_assert_not_null(mkdtemp(dir));
	char p[256];
	snprintf(p, sizeof(p), "%s/a", dir);
	mkdir(p, 0755);
	snprintf(p, sizeof(p), "%s/a/file", dir);
	close(open(p, O_CREAT | O_WRONLY, 0644));
	struct { const char *name, *target; } links[] = {
		{ "abs", "/etc" },               /* absolute: would leave the root */
		{ "up", "../.." },               /* relative, climbs out */
		{ "loop1", "loop2" }, { "loop2", "loop1" },
		{ "inside", "a/file" },          /* relative, stays inside */
		{ "magic", "/proc/self/root" },  /* absolute and magic */
		{ "a/rel", "../a/file" },        /* climbs and comes back: fine */
	};
	for (size_t i = 0; i < sizeof(links) / sizeof(links[0]); i++) {
		snprintf(p, sizeof(p), "%s/%s", dir, links[i].name);
		cr_assert_eq(symlink(links[i].target, p), 0);
	}
	root = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
	cr_assert_geq(root, 0);
}

static void teardown(void)
{
	close(root);
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		cr_log_warn("could not remove %s", dir);
}

TestSuite(fs_resolve, .init = setup, .fini = teardown);

static int res(const char *path, int flags)
{
	int fd = fs_resolve_open(root, path, flags, 0);
	if (fd >= 0)
		close(fd);
	return fd >= 0 ? 0 : fd;
}

Test(fs_resolve, plain)
{
	cr_assert_eq(res("a/file", O_RDONLY), 0);
	cr_assert_eq(res("inside", O_RDONLY), 0);
	cr_assert_eq(res("a/rel", O_RDONLY), 0);
	cr_assert_eq(res("a/missing", O_RDONLY), -ENOENT);
	cr_assert_eq(res("a/file/x", O_RDONLY), -ENOTDIR);
	cr_assert_eq(res("a/file", O_RDONLY | O_DIRECTORY), -ENOTDIR);
}

Test(fs_resolve, dotdot_past_root)
{
	cr_assert_eq(res("..", O_RDONLY), -EACCES);
	cr_assert_eq(res("../etc/passwd", O_RDONLY), -EACCES);
	cr_assert_eq(res("a/../../etc/passwd", O_RDONLY), -EACCES);
	cr_assert_eq(res("a/../a/file", O_RDONLY), 0, "`..` that stays inside is fine");
}

Test(fs_resolve, absolute_symlink)
{
	cr_assert_eq(res("abs", O_RDONLY), -EACCES);
	cr_assert_eq(res("abs/passwd", O_RDONLY), -EACCES);
	cr_assert_eq(res("up", O_RDONLY), -EACCES);
	cr_assert_eq(res("up/etc/passwd", O_RDONLY), -EACCES);
	/* Not following the last link is fine: the link itself is inside. */
	cr_assert_eq(res("abs", O_PATH | O_NOFOLLOW), 0);
}

Test(fs_resolve, symlink_loop)
{
	cr_assert_eq(res("loop1", O_RDONLY), -ELOOP);
	cr_assert_eq(res("loop1/x", O_RDONLY), -ELOOP);
	cr_assert_eq(res("inside", O_RDONLY | O_NOFOLLOW), -ELOOP, "O_NOFOLLOW on a link: the kernel's ELOOP");
}

Test(fs_resolve, magic_links)
{
	cr_assert_eq(res("magic", O_RDONLY), -EACCES);
	cr_assert_eq(res("magic/etc/passwd", O_RDONLY), -EACCES);
	/* With / as the root, /proc is beneath it: the magic link itself must
	 * still be refused (RESOLVE_NO_MAGICLINKS), as EACCES. */
	int slash = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
	int fd = fs_resolve_open(slash, "proc/self/root/etc/passwd", O_RDONLY, 0);
	cr_assert_eq(fd, -EACCES);
	char p[64];
	snprintf(p, sizeof(p), "proc/self/fd/%d", slash);
	fd = fs_resolve_open(slash, p, O_RDONLY, 0);
	cr_assert_eq(fd, -EACCES);
	fd = fs_resolve_open(slash, "proc/self/status", O_RDONLY, 0);
	cr_assert_geq(fd, 0, "ordinary /proc files still resolve");
	close(fd);
	close(slash);
}

Test(fs_resolve, the_root_itself)
{
	int fd = fs_resolve_open(root, "", O_RDONLY | O_DIRECTORY, 0);
	cr_assert_geq(fd, 0);
	struct stat a, b;
	fstat(fd, &a);
	stat(dir, &b);
	cr_assert(a.st_ino == b.st_ino && a.st_dev == b.st_dev);
	close(fd);
	cr_assert_eq(res(".", O_RDONLY | O_DIRECTORY), 0);
	cr_assert_eq(res("a/..", O_RDONLY | O_DIRECTORY), 0);
}

Test(fs_resolve, parent_split)
{
	const char *leaf;
	int fd = fs_resolve_parent(root, "a/file", &leaf);
	cr_assert_geq(fd, 0);
	cr_assert_str_eq(leaf, "file");
	struct stat st;
	cr_assert_eq(fstatat(fd, leaf, &st, 0), 0);
	close(fd);

	fd = fs_resolve_parent(root, "a/newdir/", &leaf);
	cr_assert_geq(fd, 0);
	cr_assert_str_eq(leaf, "newdir/", "a trailing slash stays with the leaf");
	close(fd);

	fd = fs_resolve_parent(root, "top", &leaf);
	cr_assert_geq(fd, 0);
	cr_assert_str_eq(leaf, "top");
	close(fd);

	fd = fs_resolve_parent(root, "", &leaf);
	cr_assert_geq(fd, 0);
	cr_assert_str_eq(leaf, ".");
	close(fd);

	cr_assert_eq(fs_resolve_parent(root, "../x", &leaf), -EACCES);
	cr_assert_eq(fs_resolve_parent(root, "abs/x", &leaf), -EACCES);
	cr_assert_eq(fs_resolve_parent(root, "missing/x", &leaf), -ENOENT);
	cr_assert_eq(fs_resolve_parent(root, "a/file/x", &leaf), -ENOTDIR);
}

Test(fs_resolve, unknown_open_flags_ignored)
{
	/* open(2) ignores unknown bits; openat2 would not. */
	cr_assert_eq(res("a/file", O_RDONLY | 0x40000000), 0);
	/* With O_PATH, open(2) ignores the other flags; openat2 refuses them
	 * (the server adds O_NONBLOCK to every open). */
	cr_assert_eq(res("a", O_PATH | O_NONBLOCK | O_NOCTTY | O_RDWR), 0);
	cr_assert_eq(res("a/file", O_PATH | O_NONBLOCK | O_CREAT), 0);
}
