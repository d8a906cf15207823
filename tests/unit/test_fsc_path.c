/* The client's side of paths and fds: which paths are served and what the
 * server is sent, paths that leave the mount, the virtual cwd, dirfd-relative
 * paths, and the fd table's descriptions and reserved kernel fds. */
#include "test_ccache_tsan.h" /* Criterion, or its in-process stand-in under TSan */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fsclient/internal.h"

void fsc_path_init(const char *mount);
void fsc_vcwd_set(const char *rel);

static void setup(void)
{
	static int done;
	if (!done) {
		fsc_path_init("/shunt");
		cr_assert_eq(fsc_ofd_area_init(-1, -1), 0);
		done = 1;
	}
	fsc_enabled = 1;
	fsc_chdir_native();
}

static void expect(int dirfd, const char *path, int want, const char *want_rel)
{
	char rel[PATH_MAX] = "";
	int r = fsc_resolve(dirfd, path, rel);
	cr_assert_eq(r, want, "%s: got %d, want %d", path, r, want);
	if (want_rel)
		cr_assert(!strcmp(rel, want_rel), "%s: sent '%s', want '%s'", path, rel, want_rel);
}

Test(fsc_path, the_mount_prefix_and_below_are_ours)
{
	setup();
	expect(AT_FDCWD, "/shunt/a/b", 1, "a/b");
	expect(AT_FDCWD, "/shunt", 1, ".");
	expect(AT_FDCWD, "/shunt/", 1, ".");
	expect(AT_FDCWD, "//shunt//a", 1, "a");
	expect(AT_FDCWD, "/shuntx/a", 0, NULL);
	expect(AT_FDCWD, "/shun", 0, NULL);
	expect(AT_FDCWD, "/etc/passwd", 0, NULL);
	expect(AT_FDCWD, "relative", 0, NULL);
	expect(AT_FDCWD, "", 0, NULL);
}

Test(fsc_path, the_server_gets_the_text_that_keeps_the_kernels_meaning)
{
	setup();
	/* Trailing slash and "." must reach the server: "file/" is ENOTDIR. */
	expect(AT_FDCWD, "/shunt/file/", 1, "file/");
	expect(AT_FDCWD, "/shunt/dir/.", 1, "dir/.");
	expect(AT_FDCWD, "/shunt/a/../b", 1, "a/../b");
	/* Climbing above the mount and back in: lexical form. */
	expect(AT_FDCWD, "/shunt/../shunt/x", 1, "x");
}

Test(fsc_path, leaving_the_mount_goes_to_the_kernel_as_an_absolute_path)
{
	setup();
	expect(AT_FDCWD, "/shunt/../etc/passwd", 2, "/etc/passwd");
	expect(AT_FDCWD, "/shunt/a/../../tmp", 2, "/tmp");
}

Test(fsc_path, a_virtual_cwd_resolves_relative_paths)
{
	setup();
	fsc_vcwd_set("dir");
	cr_assert(fsc_cwd_is_virtual());
	expect(AT_FDCWD, "x", 1, "dir/x");
	expect(AT_FDCWD, "../y", 1, "dir/../y");
	expect(AT_FDCWD, "../../tmp/z", 2, "/tmp/z");
	char buf[64];
	cr_assert_eq(fsc_getcwd(buf, sizeof(buf)), 10);
	cr_assert(!strcmp(buf, "/shunt/dir"));
	cr_assert_eq(fsc_getcwd(buf, 5), -ERANGE);
	fsc_chdir_native();
	expect(AT_FDCWD, "x", 0, NULL);
}

Test(fsc_path, too_long_is_enametoolong)
{
	setup();
	static char p[PATH_MAX + 10];
	memset(p, 'a', sizeof(p) - 1);
	p[0] = '/';
	expect(AT_FDCWD, p, -ENAMETOOLONG, NULL);
}

Test(fsc_path, a_served_dirfd_resolves_beneath_its_path)
{
	setup();
	int o = fsc_ofd_alloc();
	cr_assert_geq(o, 0);
	struct fsc_ofd *of = fsc_ofd_get(o);
	of->mode = S_IFDIR | 0755;
	strcpy(of->path, "sub");
	int fd = fsc_reserve_fd(1, 0);
	cr_assert_geq(fd, 0);
	fsc_fd_install(fd, o, 1);
	expect(fd, "f", 1, "sub/f");
	expect(fd, "/abs/elsewhere", 0, NULL);
	of->mode = S_IFREG | 0644;
	expect(fd, "f", -ENOTDIR, NULL);
	cr_assert_eq(fsc_fd_uninstall(fd), o);
	fsc_ofd_put(o);
	close(fd);
}

Test(fsc_fdtable, descriptions_are_counted_and_reused)
{
	setup();
	int a = fsc_ofd_alloc(), b = fsc_ofd_alloc();
	cr_assert_geq(a, 0);
	cr_assert_neq(a, b);
	cr_assert_eq(fsc_ofd_get(a)->refs, 1);
	cr_assert_neq(fsc_ofd_get(a)->id, fsc_ofd_get(b)->id, "each description has its own lock owner id");
	fetch_add_acq_rel(&fsc_ofd_get(a)->refs, 1); /* a dup */
	fsc_ofd_put(a);
	cr_assert_eq(fsc_ofd_get(a)->refs, 1);
	fsc_ofd_put(a);
	cr_assert_eq(fsc_ofd_get(a)->refs, 0);
	int c = fsc_ofd_alloc();
	cr_assert_eq(c, a, "a free slot is reused");
	fsc_ofd_put(c);
	fsc_ofd_put(b);
}

Test(fsc_fdtable, a_reserved_fd_fails_uninterposed_io_cleanly)
{
	setup();
	int fd = fsc_reserve_fd(0, 0);
	cr_assert_geq(fd, 0);
	char buf[8];
	/* Straight to the kernel, as a raw system call would go. */
	cr_assert_eq(sys_read(fd, buf, sizeof(buf)), -EBADF);
	cr_assert_eq(sys_write(fd, "x", 1), -EBADF);
	cr_assert_eq(fsc_fd_ino(fd), fsc_ofds->reserved_ino, "every reserved fd shares the template's inode");
	int fd2 = fsc_reserve_fd(1, 0);
	cr_assert_eq(sys_fcntl(fd2, F_GETFD, 0), FD_CLOEXEC);
	cr_assert_eq(sys_fcntl(fd, F_GETFD, 0), 0);
	close(fd);
	close(fd2);
}

Test(fsc_fdtable, install_and_uninstall)
{
	setup();
	int o = fsc_ofd_alloc();
	int fd = fsc_reserve_fd(0, 0);
	cr_assert(!fsc_fd_is_ours(fd));
	fsc_fd_install(fd, o, 0);
	cr_assert(fsc_fd_is_ours(fd));
	cr_assert_eq(fsc_fd_to_ofd(fd), o);
	cr_assert_eq(fsc_fd_uninstall(fd), o);
	cr_assert(!fsc_fd_is_ours(fd));
	cr_assert_eq(fsc_fd_uninstall(fd), -1);
	cr_assert(!fsc_fd_is_ours(-1));
	cr_assert(!fsc_fd_is_ours(FSC_MAX_FD + 5));
	fsc_ofd_put(o);
	close(fd);
}
