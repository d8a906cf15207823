/* fs_it_errno: exact return values and errno of failing file calls.
 *   fs_it_errno compare DIR   prints one line per call; the test compares the
 *                             transcript of a native run with one under shunt
 *   fs_it_escape-style checks: fs_it_errno escape DIR  (under shunt only):
 *                             every path escaping the export root must fail
 *                             with EACCES or ENOENT; exits 1 otherwise.
 *   fs_it_errno raw DIR       (under shunt only): system calls made without
 *                             libc on a redirected fd fail cleanly or do
 *                             the right thing; exits 1 otherwise.
 * DIR holds the fixture fs_errno.sh makes (file, sub/, emptysub/, loops...). */
#include "fs_it_util.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/syscall.h>

static const char *dir;
static char pbuf[8][4096];
static unsigned pnext;

static const char *P(const char *rel)
{
	char *b = pbuf[pnext++ % 8];
	snprintf(b, sizeof(pbuf[0]), "%s/%s", dir, rel);
	return b;
}

static void show(const char *what, long ret, int err)
{
	/* fd numbers differ under shunt (its own fds come first): not compared */
	int is_fd = !strncmp(what, "open", 4) || !strncmp(what, "creat", 5) || !strncmp(what, "dup", 3);
	if (ret >= 0 && is_fd)
		printf("%-44s = fd\n", what);
	else if (ret < 0)
		printf("%-44s = %ld %s\n", what, ret, it_errname(err));
	else
		printf("%-44s = %ld\n", what, ret);
}

/* Each CALL prints its result; errno is cleared first so a stale value shows. */
#define CALL(what, expr)                          \
	do {                                      \
		errno = 0;                        \
		long r_ = (long)(expr);           \
		int e_ = errno;                   \
		show(what, r_, e_);               \
		if (r_ >= 0 && r_ < 1024 && strncmp(what, "open", 4) == 0) \
			close((int)r_);           \
	} while (0)
#define CALLP(what, expr)                         \
	do {                                      \
		errno = 0;                        \
		void *p_ = (void *)(expr);        \
		int e_ = errno;                   \
		show(what, p_ ? 0 : -1, e_);      \
	} while (0)

static int compare_mode(void)
{
	char buf[256];
	struct stat st;

	/* open */
	CALL("open missing", open(P("missing"), O_RDONLY));
	CALL("open missing/child", open(P("missing/child"), O_RDONLY));
	CALL("open O_CREAT in missing dir", open(P("missing/child"), O_WRONLY | O_CREAT, 0644));
	CALL("open O_CREAT|O_EXCL existing", open(P("file"), O_WRONLY | O_CREAT | O_EXCL, 0644));
	CALL("open O_CREAT|O_EXCL dangling link", open(P("dangling"), O_WRONLY | O_CREAT | O_EXCL, 0644));
	CALL("open file/child", open(P("file/child"), O_RDONLY));
	CALL("open file/ (trailing slash)", open(P("file/"), O_RDONLY));
	CALL("open dir O_WRONLY", open(P("sub"), O_WRONLY));
	CALL("open dir O_RDWR|O_CREAT", open(P("sub"), O_RDWR | O_CREAT, 0644));
	CALL("open new/ O_CREAT (trailing slash)", open(P("newname/"), O_WRONLY | O_CREAT, 0644));
	CALL("open file O_DIRECTORY", open(P("file"), O_RDONLY | O_DIRECTORY));
	CALL("open loop", open(P("loop1"), O_RDONLY));
	CALL("open symlink O_NOFOLLOW", open(P("link-to-file"), O_RDONLY | O_NOFOLLOW));
	CALL("open dir symlink O_DIRECTORY|O_NOFOLLOW", open(P("link-to-sub"), O_RDONLY | O_DIRECTORY | O_NOFOLLOW));
	CALL("open through symlink (works)", open(P("link-to-file"), O_RDONLY));
	CALL("open O_TMPFILE on file", open(P("file"), O_TMPFILE | O_RDWR, 0600));
	CALL("creat in missing dir", creat(P("missing/x"), 0644));

	/* closed and wrong-mode fds */
	int fd = open(P("file"), O_RDONLY);
	if (fd < 0)
		IT_DIE("open file");
	close(fd);
	CALL("read closed fd", read(fd, buf, 1));
	CALL("write closed fd", write(fd, "x", 1));
	CALL("pread closed fd", pread(fd, buf, 1, 0));
	CALL("lseek closed fd", lseek(fd, 0, SEEK_SET));
	CALL("fstat closed fd", fstat(fd, &st));
	CALL("close closed fd", close(fd));
	CALL("dup closed fd", dup(fd));
	CALL("fcntl F_GETFL closed fd", fcntl(fd, F_GETFL));
	CALL("fsync closed fd", fsync(fd));
	CALL("ftruncate closed fd", ftruncate(fd, 0));
	CALL("fchdir closed fd", fchdir(fd));
	CALL("openat closed dirfd", openat(fd, "file", O_RDONLY));
	CALL("dup2 onto -1", dup2(0, -1));

	int ro = open(P("file"), O_RDONLY);
	int wo = open(P("wonly"), O_WRONLY);
	int dfd = open(P("sub"), O_RDONLY | O_DIRECTORY);
	if (ro < 0 || wo < 0 || dfd < 0)
		IT_DIE("fixture fds");
	CALL("write on O_RDONLY fd", write(ro, "x", 1));
	CALL("pwrite on O_RDONLY fd", pwrite(ro, "x", 1, 0));
	CALL("read on O_WRONLY fd", read(wo, buf, 1));
	CALL("pread on O_WRONLY fd", pread(wo, buf, 1, 0));
	CALL("read on a directory fd", read(dfd, buf, 1));
	CALL("write on a directory fd", write(dfd, "x", 1));
	CALL("lseek to negative", lseek(ro, -1, SEEK_SET));
	CALL("lseek bad whence", lseek(ro, 0, 99));
	CALL("lseek SEEK_END", lseek(ro, 0, SEEK_END));
	CALL("lseek SEEK_CUR -1 past start", lseek(ro, -1000000, SEEK_CUR));
	CALL("lseek beyond EOF (ok)", lseek(ro, 1 << 20, SEEK_SET));
	CALL("read at EOF", read(ro, buf, sizeof(buf)));
	CALL("pread negative offset", pread(ro, buf, 1, -5));
	CALL("ftruncate O_RDONLY fd", ftruncate(ro, 0));
	CALL("ftruncate negative", ftruncate(wo, -1));
	CALL("fchmod 0640 (ok)", fchmod(wo, 0640));
	struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 1 };
	CALL("F_SETLK write lock on O_RDONLY fd", fcntl(ro, F_SETLK, &fl));
	fl.l_type = F_RDLCK;
	CALL("F_SETLK read lock on O_WRONLY fd", fcntl(wo, F_SETLK, &fl));
	CALL("openat file-as-dirfd", openat(ro, "x", O_RDONLY));
	CALL("fstatat file-as-dirfd", fstatat(ro, "x", &st, 0));
	/* glibc's wrapper: a raw syscall on a redirected fd is the kernel's (EBADF). */
	CALL("getdents64 on a file fd", getdents64(ro, buf, sizeof(buf)));
	CALL("fdopendir on a file fd", fdopendir(dup(ro)) ? 0 : -1);
	CALL("fcntl F_GETFL O_WRONLY fd", fcntl(wo, F_GETFL) & (O_ACCMODE | O_APPEND));
	close(ro);
	close(wo);
	close(dfd);

	/* directory operations */
	CALL("unlink a dir", unlink(P("sub")));
	CALL("unlink missing", unlink(P("missing")));
	CALL("unlink file/ (trailing slash)", unlink(P("file/")));
	CALL("unlinkat AT_REMOVEDIR on file", unlinkat(AT_FDCWD, P("file"), AT_REMOVEDIR));
	CALL("rmdir non-empty", rmdir(P("sub")));
	CALL("rmdir a file", rmdir(P("file")));
	CALL("rmdir missing", rmdir(P("missing")));
	CALL("rmdir dir/.", rmdir(P("emptysub/.")));
	CALL("rmdir symlink to dir", rmdir(P("link-to-sub")));
	CALL("mkdir existing file", mkdir(P("file"), 0755));
	CALL("mkdir existing dir", mkdir(P("sub"), 0755));
	CALL("mkdir in missing", mkdir(P("missing/child"), 0755));
	CALL("mkdir under a file", mkdir(P("file/child"), 0755));
	CALL("mkdir over symlink", mkdir(P("link-to-file"), 0755));
	CALL("rename missing", rename(P("missing"), P("x")));
	CALL("rename dir over file", rename(P("emptysub"), P("file")));
	CALL("rename file over dir", rename(P("file"), P("sub")));
	CALL("rename dir into itself", rename(P("sub"), P("sub/inner")));
	CALL("rename dir over non-empty dir", rename(P("emptysub"), P("sub")));
	CALL("rename into missing dir", rename(P("file"), P("missing/x")));
	CALL("rename file to file/x", rename(P("file"), P("file/x")));
	CALL("renameat2 RENAME_NOREPLACE existing", renameat2(AT_FDCWD, P("wonly"), AT_FDCWD, P("file"), RENAME_NOREPLACE));
	CALL("renameat2 RENAME_NOREPLACE file onto dir/", renameat2(AT_FDCWD, P("wonly"), AT_FDCWD, P("sub/"), RENAME_NOREPLACE));
	CALL("renameat2 RENAME_NOREPLACE file onto dir", renameat2(AT_FDCWD, P("wonly"), AT_FDCWD, P("sub"), RENAME_NOREPLACE));
	CALL("rename file onto dir/ (trailing slash)", rename(P("wonly"), P("sub/")));
	CALL("rename file to new/ (trailing slash)", rename(P("wonly"), P("newdir/")));

	/* stat and friends */
	CALL("stat missing", stat(P("missing"), &st));
	CALL("lstat missing/child", lstat(P("missing/child"), &st));
	CALL("stat file/child", stat(P("file/child"), &st));
	CALL("stat loop", stat(P("loop1"), &st));
	errno = 0;
	long r = lstat(P("loop1"), &st);
	printf("%-44s = %ld islnk=%d\n", "lstat loop (ok)", r, r == 0 && S_ISLNK(st.st_mode));
	CALL("stat dangling", stat(P("dangling"), &st));
	CALL("access missing F_OK", access(P("missing"), F_OK));
	CALL("access non-exec X_OK", access(P("file"), X_OK));
	CALL("access file/child", access(P("file/child"), R_OK));
	CALL("faccessat bad flags", faccessat(AT_FDCWD, P("file"), R_OK, 0x12345));
	CALL("truncate a dir", truncate(P("sub"), 0));
	CALL("truncate missing", truncate(P("missing"), 0));
	CALL("truncate negative", truncate(P("file"), -1));
	CALL("readlink a file", readlink(P("file"), buf, sizeof(buf)));
	CALL("readlink missing", readlink(P("missing"), buf, sizeof(buf)));
	CALL("symlink over existing", symlink("x", P("file")));
	CALL("link over existing", link(P("file"), P("wonly")));
	CALL("link a dir", link(P("sub"), P("sub-hardlink")));
	CALL("chdir a file", chdir(P("file")));
	CALL("chdir missing", chdir(P("missing")));
	CALLP("opendir missing", opendir(P("missing")));
	CALLP("opendir a file", opendir(P("file")));
	CALL("statx missing", statx(AT_FDCWD, P("missing"), 0, STATX_BASIC_STATS, &(struct statx){ 0 }));

	/* errno must survive successful calls */
	int ok = open(P("file"), O_RDONLY);
	errno = 1234;
	ssize_t n = read(ok, buf, 3);
	int after_read = errno;
	errno = 4321;
	fstat(ok, &st);
	int after_fstat = errno;
	errno = 777;
	close(ok);
	printf("%-44s = %zd errno=%d,%d,%d\n", "errno kept across successful calls", n, after_read, after_fstat, errno);
	return 0;
}

/* Under shunt only: nothing may leave the export root. */
static int bad;
static void expect_blocked(const char *what, long ret, int err)
{
	int good = ret < 0 && (err == EACCES || err == ENOENT);
	printf("%-44s = %ld %s  %s\n", what, ret, ret < 0 ? it_errname(err) : "", good ? "ok" : "ESCAPED");
	bad |= !good;
}
#define BLOCKED(what, expr)                 \
	do {                                \
		errno = 0;                  \
		long r_ = (long)(expr);     \
		int e_ = errno;             \
		expect_blocked(what, r_, e_); \
		if (r_ >= 0 && strncmp(what, "open", 4) == 0) \
			close((int)r_);     \
	} while (0)

static int escape_mode(const char *marker)
{
	struct stat st;
	char buf[256];
	/* "/mount/../../etc/passwd" lexically leaves the mount: like a path out
	 * of a real mount point it is the kernel's /etc/passwd, not a path the
	 * server resolves, so it is no escape from the export root. */
	{
		int a = open(P("../../etc/passwd"), O_RDONLY), b = open("/etc/passwd", O_RDONLY);
		struct stat sa, sb;
		int same = a >= 0 && b >= 0 && !fstat(a, &sa) && !fstat(b, &sb) && sa.st_ino == sb.st_ino;
		printf("%-44s = %s\n", "open /mount/../../etc/passwd is the kernel's", same ? "ok" : "WRONG");
		if (!same)
			bad = 1;
		if (a >= 0)
			close(a);
		if (b >= 0)
			close(b);
	}
	BLOCKED("open link to /etc/passwd", open(P("passwd-link"), O_RDONLY));
	BLOCKED("open via link to /etc", open(P("etc-link/passwd"), O_RDONLY));
	BLOCKED("open via relative link up and out", open(P("up-link/etc/passwd"), O_RDONLY));
	BLOCKED("open magic link /proc/self/root", open(P("proc-link"), O_RDONLY));
	BLOCKED("open via /proc/self/cwd link", open(P("cwd-link/etc/passwd"), O_RDONLY));
	BLOCKED("stat via link to /etc", stat(P("etc-link/passwd"), &st));
	BLOCKED("stat link to /etc/passwd", stat(P("passwd-link"), &st));
	BLOCKED("access via link to /etc", access(P("etc-link/passwd"), F_OK));
	BLOCKED("chdir via link to /etc", chdir(P("etc-link")));
	errno = 0;
	DIR *d = opendir(P("etc-link"));
	expect_blocked("opendir link to /etc", d ? 0 : -1, errno);
	if (d)
		closedir(d);
	snprintf(buf, sizeof(buf), "up-link/tmp/%s", marker);
	BLOCKED("create a file outside through ..-link", open(P(buf), O_WRONLY | O_CREAT, 0644));
	snprintf(buf, sizeof(buf), "etc-link/../tmp/%s.3", marker);
	BLOCKED("mkdir outside through link", mkdir(P(buf), 0755));
	BLOCKED("rename into /etc via link", rename(P("victim"), P("etc-link/shunt-escaped")));
	if (symlink("/etc/shadow", P("made-link")) < 0)
		IT_DIE("symlink");
	BLOCKED("open a link made through shunt to /etc", open(P("made-link"), O_RDONLY));
	/* Readlink still returns the text, and in-root links still work. */
	ssize_t n = readlink(P("passwd-link"), buf, sizeof(buf) - 1);
	buf[n > 0 ? n : 0] = 0;
	printf("%-44s = %zd %s\n", "readlink link to /etc/passwd", n, buf);
	if (n != 11 || strcmp(buf, "/etc/passwd"))
		bad = 1;
	int fd = open(P("link-to-file"), O_RDONLY);
	printf("%-44s = %s\n", "open in-root symlink", fd >= 0 ? "ok" : it_errname(errno));
	if (fd < 0)
		bad = 1;
	else
		close(fd);
	return bad;
}

/* Under shunt only: system calls made without libc (so never intercepted) on
 * a redirected fd must fail cleanly (EBADF-like) or do the right thing,
 * never read or write something else. */
static int raw_mode(void)
{
	int fd = open(P("file"), O_RDWR);
	if (fd < 0)
		IT_DIE("open");
	char want[6] = "hello", buf[64];
	int bad = 0;
	long r = syscall(SYS_read, fd, buf, sizeof(buf));
	int ok = (r < 0 && errno == EBADF) || (r == 6 && !memcmp(buf, want, 5));
	printf("%-44s = %ld %s  %s\n", "raw read", r, r < 0 ? it_errname(errno) : "", ok ? "ok" : "WRONG");
	bad |= !ok;
	r = syscall(SYS_pread64, fd, buf, sizeof(buf), 1);
	ok = (r < 0 && errno == EBADF) || (r == 5 && !memcmp(buf, want + 1, 4));
	printf("%-44s = %ld %s  %s\n", "raw pread64", r, r < 0 ? it_errname(errno) : "", ok ? "ok" : "WRONG");
	bad |= !ok;
	struct stat st;
	r = syscall(SYS_fstat, fd, &st);
	/* Clean: refused, the real file, or shunt's placeholder (an empty,
	 * unlinked, mode-0 object: never another file's size or data). */
	ok = (r < 0 && errno == EBADF) || (r == 0 && st.st_size == 6 && S_ISREG(st.st_mode)) ||
	     (r == 0 && st.st_size == 0 && st.st_nlink == 0 && (st.st_mode & 07777) == 0);
	printf("%-44s = %ld %s  %s\n", "raw fstat", r, r < 0 ? it_errname(errno) : "", ok ? "ok" : "WRONG (size/type of something else)");
	bad |= !ok;
	struct statx sx;
	r = syscall(SYS_statx, fd, "", AT_EMPTY_PATH, STATX_BASIC_STATS, &sx);
	ok = (r < 0 && errno == EBADF) || (r == 0 && sx.stx_size == 6 && S_ISREG(sx.stx_mode)) ||
	     (r == 0 && sx.stx_size == 0 && sx.stx_nlink == 0 && (sx.stx_mode & 07777) == 0);
	printf("%-44s = %ld %s  %s\n", "raw statx(fd, \"\", AT_EMPTY_PATH)", r, r < 0 ? it_errname(errno) : "",
	       ok ? "ok" : "WRONG (size/type of something else)");
	bad |= !ok;
	r = syscall(SYS_write, fd, "XY", 2);
	int werr = errno;
	char back[8] = { 0 };
	ssize_t n = pread(fd, back, 6, 0);
	/* either refused, or written where the fd's offset says (0, or 6 after a raw read) */
	ok = (r < 0 && werr == EBADF) || (r == 2 && n >= 2);
	printf("%-44s = %ld %s  %s\n", "raw write", r, r < 0 ? it_errname(werr) : "", ok ? "ok" : "WRONG");
	bad |= !ok;
	r = syscall(SYS_lseek, fd, 0, SEEK_END);
	ok = (r < 0 && errno == EBADF) || r >= 6;
	printf("%-44s = %ld %s  %s\n", "raw lseek SEEK_END", r, r < 0 ? it_errname(errno) : "", ok ? "ok" : "WRONG");
	bad |= !ok;
	printf("%-44s = %zd \"%.*s\"\n", "file through libc afterwards", n, (int)(n > 0 ? n : 0), back);
	close(fd);
	return bad;
}

int main(int argc, char **argv)
{
	if (argc < 3) {
		fprintf(stderr, "usage: fs_it_errno compare|escape DIR [marker]\n");
		return 2;
	}
	dir = argv[2];
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (!strcmp(argv[1], "compare"))
		return compare_mode();
	if (!strcmp(argv[1], "raw"))
		return raw_mode();
	if (!strcmp(argv[1], "escape"))
		return escape_mode(argc > 3 ? argv[3] : "shunt-escape-marker");
	return 2;
}
