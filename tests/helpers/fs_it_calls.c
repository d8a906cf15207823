/* fs_it_calls DIR: the rest of the file API a program uses on served paths
 * and fds, one transcript line per result: readv/writev/preadv/pwritev,
 * reads and writes far larger than a channel slot, 64-bit offsets, SEEK_DATA/
 * SEEK_HOLE, O_APPEND/O_TRUNC/O_EXCL/umask, dup/dup2/dup3/F_DUPFD sharing the
 * offset, F_GETFL/F_SETFL/F_GETFD/F_SETFD, *at calls relative to a served
 * dirfd, fchdir/getcwd, readdir/rewinddir/seekdir, fsync/fdatasync,
 * ftruncate, posix_fallocate, statx/fstatat/faccessat, chmod/fchmod,
 * utimensat/futimens, statfs, sendfile/copy_file_range, POSIX/OFD/flock
 * locks, poll. fs_calls.sh compares a native run with one under shunt. */
#include "fs_it_util.h"

#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <sys/file.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/uio.h>
#include <sys/wait.h>

static const char *dir;
static char pbuf[8][4096];
static unsigned pn;
static const char *P(const char *rel)
{
	char *b = pbuf[pn++ % 8];
	snprintf(b, sizeof(pbuf[0]), "%s/%s", dir, rel);
	return b;
}

static void res(const char *what, long r)
{
	if (r < 0)
		printf("%-46s = %ld %s\n", what, r, it_errname(errno));
	else
		printf("%-46s = %ld\n", what, r);
}
#define R(what, expr)                \
	do {                         \
		errno = 0;           \
		long r_ = (long)(expr); \
		res(what, r_);       \
	} while (0)

static int xopen(const char *rel, int fl, mode_t m)
{
	int fd = open(P(rel), fl, m);
	if (fd < 0)
		IT_DIE("open %s", rel);
	return fd;
}

static void vectored(void)
{
	int fd = xopen("calls-vec", O_RDWR | O_CREAT | O_TRUNC, 0644);
	char a[] = "alpha-", b[] = "beta-", c[] = "gamma\n";
	struct iovec w[3] = { { a, 6 }, { b, 5 }, { c, 6 } };
	R("writev 3 iovecs", writev(fd, w, 3));
	R("pwritev at 100", pwritev(fd, w, 3, 100));
	char x[4], y[8], z[64];
	struct iovec r[3] = { { x, sizeof(x) }, { y, sizeof(y) }, { z, sizeof(z) } };
	R("lseek 0", lseek(fd, 0, SEEK_SET));
	R("readv 3 iovecs", readv(fd, r, 3));
	printf("  readv got %.4s|%.8s|%.5s\n", x, y, z);
	memset(z, 0, sizeof(z));
	R("preadv at 98", preadv(fd, r, 3, 98));
	printf("  preadv got %016llx\n", (unsigned long long)(it_hash(x, 4) ^ it_hash(y, 8) ^ it_hash(z, 64)));
	R("offset after preadv (unchanged)", lseek(fd, 0, SEEK_CUR));
	close(fd);
}

static void big_io(void)
{
	size_t n = 3u << 20;
	uint8_t *b = malloc(n), *r = malloc(n + 100);
	it_fill(b, n, 5, 0);
	int fd = xopen("calls-big", O_RDWR | O_CREAT | O_TRUNC, 0644);
	R("write 3 MiB in one call", write(fd, b, n));
	R("pread 3 MiB + 100 in one call", pread(fd, r, n + 100, 0));
	printf("  bad-at %ld\n", it_check_pat(r, n, 5, 0));
	R("pread 1 MiB at 1.5 MiB + 7", pread(fd, r, 1u << 20, (3u << 19) + 7));
	printf("  bad-at %ld\n", it_check_pat(r, 1u << 20, 5, (3u << 19) + 7));
	struct iovec iv[2] = { { r, 300000 }, { r + 300000, 900000 } };
	R("preadv 2 big iovecs at 4097", preadv(fd, iv, 2, 4097));
	printf("  bad-at %ld\n", it_check_pat(r, 1200000, 5, 4097));
	/* 64-bit offsets: a sparse write past 5 GiB */
	off_t far = (5ll << 30) + 12345;
	R("pwrite at 5 GiB + 12345", pwrite(fd, "FAR", 3, far));
	struct stat st;
	fstat(fd, &st);
	printf("  size %lld\n", (long long)st.st_size);
	char f[4] = { 0 };
	R("pread at 5 GiB + 12345", pread(fd, f, 3, far));
	printf("  got %s\n", f);
	R("pread in the hole", pread(fd, f, 3, 4ll << 30));
	printf("  got %02x%02x%02x\n", f[0], f[1], f[2]);
	R("lseek SEEK_END", lseek(fd, 0, SEEK_END));
	R("lseek SEEK_DATA from 4 MiB", lseek(fd, 4 << 20, SEEK_DATA) >= (off_t)(5ll << 30) ? 1 : 0);
	R("lseek SEEK_HOLE from 0", lseek(fd, 0, SEEK_HOLE) >= (off_t)n ? 1 : 0);
	R("lseek SEEK_DATA past EOF", lseek(fd, far + 10, SEEK_DATA));
	R("ftruncate to 1 MiB", ftruncate(fd, 1 << 20));
	fstat(fd, &st);
	printf("  size %lld blocks>0 %d\n", (long long)st.st_size, st.st_blocks > 0);
	R("ftruncate grow to 2 MiB", ftruncate(fd, 2 << 20));
	R("pread the grown zeros", pread(fd, r, 16, (1 << 20) + 5));
	printf("  zeros %d\n", r[0] == 0 && r[15] == 0);
	R("posix_fallocate 4 MiB", -posix_fallocate(fd, 0, 4 << 20));
	fstat(fd, &st);
	printf("  size %lld\n", (long long)st.st_size);
	R("fsync", fsync(fd));
	R("fdatasync", fdatasync(fd));
	close(fd);
	free(b);
	free(r);
}

static void flags_and_dups(void)
{
	mode_t old = umask(027);
	int fd = xopen("calls-mode", O_WRONLY | O_CREAT | O_EXCL, 0666);
	struct stat st;
	fstat(fd, &st);
	printf("%-46s = %o\n", "O_CREAT 0666 under umask 027", (unsigned)(st.st_mode & 0777));
	umask(old);
	R("O_CREAT|O_EXCL again", open(P("calls-mode"), O_WRONLY | O_CREAT | O_EXCL, 0666));
	R("write 10", write(fd, "0123456789", 10));
	close(fd);
	fd = xopen("calls-mode", O_RDWR | O_TRUNC, 0);
	fstat(fd, &st);
	printf("%-46s = %lld\n", "size after O_TRUNC", (long long)st.st_size);
	R("write 6", write(fd, "abcdef", 6));
	/* dups share one offset; the fd flags are per fd */
	int d1 = dup(fd), d2 = fcntl(fd, F_DUPFD_CLOEXEC, 50), d3 = dup3(fd, 77, O_CLOEXEC);
	printf("%-46s = %d %d %d\n", "dup, F_DUPFD_CLOEXEC>=50, dup3 onto 77", d1 >= 0, d2 >= 50, d3 == 77);
	R("lseek(dup, 2)", lseek(d1, 2, SEEK_SET));
	R("offset seen through the original", lseek(fd, 0, SEEK_CUR));
	R("write XY through F_DUPFD copy", write(d2, "XY", 2));
	R("offset seen through dup3 copy", lseek(d3, 0, SEEK_CUR));
	R("F_GETFD original", fcntl(fd, F_GETFD));
	R("F_GETFD F_DUPFD_CLOEXEC copy", fcntl(d2, F_GETFD));
	R("F_SETFD 0 on the copy", fcntl(d2, F_SETFD, 0));
	R("F_GETFD copy now", fcntl(d2, F_GETFD));
	R("F_GETFL & (ACCMODE|APPEND)", fcntl(fd, F_GETFL) & (O_ACCMODE | O_APPEND));
	R("F_SETFL O_APPEND (shared by the dups)", fcntl(d1, F_SETFL, O_APPEND));
	R("F_GETFL of another dup", fcntl(d3, F_GETFL) & (O_ACCMODE | O_APPEND));
	R("lseek 0 then write appends", lseek(fd, 0, SEEK_SET));
	R("write END", write(fd, "END", 3));
	R("offset after append", lseek(fd, 0, SEEK_CUR));
	R("dup2 onto itself", dup2(fd, fd) == fd);
	R("close original; dup still works", close(fd));
	char buf[64] = { 0 };
	R("pread through the dup", pread(d1, buf, sizeof(buf) - 1, 0));
	printf("  content %s\n", buf);
	close(d1);
	close(d2);
	close(d3);
	/* O_APPEND from two fds of two opens */
	int a1 = xopen("calls-append", O_WRONLY | O_CREAT | O_APPEND | O_TRUNC, 0644);
	int a2 = xopen("calls-append", O_WRONLY | O_APPEND, 0);
	for (int i = 0; i < 5; i++) {
		char l[16];
		int n = snprintf(l, sizeof(l), "a1-%d\n", i);
		if (write(a1, l, (size_t)n) != n)
			IT_DIE("append");
		n = snprintf(l, sizeof(l), "a2-%d\n", i);
		if (write(a2, l, (size_t)n) != n)
			IT_DIE("append");
	}
	R("pwrite on O_APPEND fd (Linux appends)", pwrite(a1, "PW\n", 3, 0));
	close(a1);
	close(a2);
	int rd = xopen("calls-append", O_RDONLY, 0);
	ssize_t n = read(rd, buf, sizeof(buf) - 1);
	buf[n > 0 ? n : 0] = 0;
	printf("  appended %zd: %s", n, buf);
	close(rd);
	/* O_DIRECTORY, O_NOATIME-free flags, O_PATH */
	R("open dir O_DIRECTORY", (fd = open(P("sub"), O_RDONLY | O_DIRECTORY)) >= 0);
	close(fd);
	R("open file O_PATH, fstat works", (fd = open(P("a.txt"), O_PATH)) >= 0 && fstat(fd, &st) == 0 ? st.st_size : -1);
	errno = 0;
	R("read on O_PATH fd", read(fd, buf, 1));
	close(fd);
}

static int cmp_names(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static void at_calls_and_dirs(void)
{
	int dfd = open(P("sub"), O_RDONLY | O_DIRECTORY);
	if (dfd < 0)
		IT_DIE("open sub");
	struct stat st;
	R("fstatat(dirfd, notes.txt)", fstatat(dfd, "notes.txt", &st, 0) == 0 ? st.st_size : -1);
	R("fstatat(dirfd, missing)", fstatat(dfd, "missing", &st, 0));
	R("fstatat AT_EMPTY_PATH", fstatat(dfd, "", &st, AT_EMPTY_PATH) == 0 ? S_ISDIR(st.st_mode) : -1);
	struct statx sx;
	R("statx(dirfd, notes.txt) size", statx(dfd, "notes.txt", 0, STATX_BASIC_STATS, &sx) == 0 ? (long)sx.stx_size : -1);
	R("faccessat(dirfd, notes.txt, R_OK)", faccessat(dfd, "notes.txt", R_OK, 0));
	R("faccessat(dirfd, notes.txt, X_OK)", faccessat(dfd, "notes.txt", X_OK, 0));
	int f = openat(dfd, "created-at", O_WRONLY | O_CREAT | O_TRUNC, 0640);
	R("openat(dirfd, created-at, O_CREAT)", f >= 0);
	R("write through it", write(f, "at\n", 3));
	close(f);
	R("mkdirat(dirfd, newdir)", mkdirat(dfd, "newdir", 0750));
	R("renameat(dirfd, created-at -> newdir/moved)", renameat(dfd, "created-at", dfd, "newdir/moved"));
	R("symlinkat(dirfd, ../a.txt)", symlinkat("../a.txt", dfd, "up-link"));
	char buf[256];
	ssize_t n = readlinkat(dfd, "up-link", buf, sizeof(buf));
	printf("%-46s = %zd %.*s\n", "readlinkat", n, (int)(n > 0 ? n : 0), buf);
	R("linkat(dirfd, newdir/moved -> hard)", linkat(dfd, "newdir/moved", dfd, "hard", 0));
	R("fstatat hard nlink", fstatat(dfd, "hard", &st, 0) == 0 ? (long)st.st_nlink : -1);
	R("unlinkat(dirfd, hard)", unlinkat(dfd, "hard", 0));
	R("unlinkat(dirfd, newdir, AT_REMOVEDIR) non-empty", unlinkat(dfd, "newdir", AT_REMOVEDIR));
	R("fchmodat(dirfd, newdir/moved, 0600)", fchmodat(dfd, "newdir/moved", 0600, 0));
	struct timespec ts[2] = { { 1000000000, 0 }, { 1200000000, 500 } };
	R("utimensat(dirfd, newdir/moved)", utimensat(dfd, "newdir/moved", ts, 0));
	R("mtime after utimensat", fstatat(dfd, "newdir/moved", &st, 0) == 0 ? (long)st.st_mtim.tv_sec : -1);
	f = openat(dfd, "newdir/moved", O_RDONLY);
	struct timespec ts2[2] = { { 0, UTIME_OMIT }, { 1300000000, 0 } };
	R("futimens(fd)", futimens(f, ts2));
	R("fchmod(fd, 0640)", fchmod(f, 0640));
	R("fstat mode and mtime", fstat(f, &st) == 0 ? (long)(st.st_mode & 0777) * 10000000000L + st.st_mtim.tv_sec : -1);
	close(f);
	R("chmod(path, 0604)", chmod(P("sub/newdir/moved"), 0604));
	R("stat mode", stat(P("sub/newdir/moved"), &st) == 0 ? (long)(st.st_mode & 0777) : -1);

	/* fchdir into the served dir, relative paths, getcwd */
	char cwd[4096], old[4096];
	if (!getcwd(old, sizeof(old)))
		IT_DIE("getcwd");
	R("fchdir(dirfd)", fchdir(dfd));
	R("relative open after fchdir", (f = open("notes.txt", O_RDONLY)) >= 0);
	close(f);
	R("relative stat ../a.txt", stat("../a.txt", &st) == 0 ? st.st_size : -1);
	if (getcwd(cwd, sizeof(cwd))) {
		const char *tail = strrchr(cwd, '/');
		printf("%-46s = %s\n", "getcwd ends with", tail ? tail : cwd);
		printf("%-46s = %s\n", "getcwd", cwd);
	} else {
		printf("%-46s = NULL %s\n", "getcwd", it_errname(errno));
	}
	/* realpath canonicalizes relative paths, "." and "..", and symlinks */
	const char *rp_in[] = { ".", "..", "newdir/..", "./newdir/../notes.txt", "up-link", "../sub/./newdir//moved", "missing/x" };
	for (size_t i = 0; i < sizeof(rp_in) / sizeof(rp_in[0]); i++) {
		errno = 0;
		char *rp = realpath(rp_in[i], NULL);
		printf("%-46s = %s %s\n", rp_in[i], rp ? rp : "NULL", rp ? "" : it_errname(errno));
		free(rp);
	}
	const char *rp_abs[] = { "link-to-a", "sub/../link-to-dir", "link-to-dir/..", "./sub/newdir/../../a.txt" };
	for (size_t i = 0; i < sizeof(rp_abs) / sizeof(rp_abs[0]); i++) {
		errno = 0;
		char *rp = realpath(P(rp_abs[i]), NULL);
		printf("DIR/%-42s = %s %s\n", rp_abs[i], rp ? rp : "NULL", rp ? "" : it_errname(errno));
		free(rp);
	}
	char *cf = canonicalize_file_name("newdir/../up-link");
	printf("%-46s = %s\n", "canonicalize_file_name(newdir/../up-link)", cf ? cf : "NULL");
	free(cf);
	R("chdir(newdir) relative", chdir("newdir"));
	R("open moved relative", (f = open("moved", O_RDONLY)) >= 0);
	close(f);
	R("chdir back", chdir(old));

	/* readdir, rewinddir, telldir/seekdir, fdopendir */
	DIR *d = fdopendir(dup(dfd));
	char *names[256];
	int cnt = 0;
	long pos2 = -1;
	struct dirent *e;
	while ((e = readdir(d)) && cnt < 256) {
		names[cnt++] = strdup(e->d_name);
		if (cnt == 2)
			pos2 = telldir(d);
	}
	qsort(names, (size_t)cnt, sizeof(names[0]), cmp_names);
	printf("%-46s =", "readdir (sorted)");
	for (int i = 0; i < cnt; i++)
		printf(" %s", names[i]);
	printf("\n");
	rewinddir(d);
	int again = 0;
	while (readdir(d))
		again++;
	R("entries again after rewinddir", again);
	seekdir(d, pos2);
	int rest = 0;
	while (readdir(d))
		rest++;
	R("entries after seekdir(telldir after 2)", rest == cnt - 2);
	closedir(d);
	close(dfd);
}

static void copies_and_fs(void)
{
	int in = xopen("med.bin", O_RDONLY, 0);
	int out = xopen("calls-sendfile", O_WRONLY | O_CREAT | O_TRUNC, 0644);
	off_t off = 1000;
	R("sendfile 200000 from offset 1000", sendfile(out, in, &off, 200000));
	R("sendfile updated the offset", (long)off);
	R("sendfile using the fd offset", sendfile(out, in, NULL, 5000));
	R("in fd offset after", lseek(in, 0, SEEK_CUR));
	close(out);
	out = xopen("calls-cfr", O_WRONLY | O_CREAT | O_TRUNC, 0644);
	loff_t io = 7, oo = 3;
	R("copy_file_range 100000", copy_file_range(in, &io, out, &oo, 100000, 0));
	R("offsets after", (long)(io * 1000000 + oo));
	close(out);
	int kfd = open("/proc/self/exe", O_RDONLY); /* a kernel file into a served one */
	out = xopen("calls-from-kernel", O_WRONLY | O_CREAT | O_TRUNC, 0644);
	R("sendfile kernel file -> served file", sendfile(out, kfd, NULL, 4096) == 4096);
	close(kfd);
	close(out);
	close(in);
	struct statfs sf;
	R("statfs(served dir)", statfs(dir, &sf) == 0);
	int fd = xopen("a.txt", O_RDONLY, 0);
	R("fstatfs(served fd)", fstatfs(fd, &sf) == 0);
	struct pollfd pfd = { .fd = fd, .events = POLLIN | POLLOUT };
	R("poll on a served fd (regular file: ready)", poll(&pfd, 1, 1000));
	printf("  revents %x\n", pfd.revents);
	close(fd);
}

static void locks(void)
{
	int fd = xopen("calls-lock", O_RDWR | O_CREAT | O_TRUNC, 0644);
	if (write(fd, "0123456789", 10) != 10)
		IT_DIE("write");
	struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 5 };
	R("F_SETLK write lock [0,5)", fcntl(fd, F_SETLK, &fl));
	int p[2];
	if (pipe(p))
		IT_DIE("pipe");
	fflush(stdout);
	pid_t pid = fork();
	if (pid == 0) {
		int f2 = xopen("calls-lock", O_RDWR, 0);
		struct flock q = { .l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 2, .l_len = 1 };
		R("child F_GETLK on [2,3)", fcntl(f2, F_GETLK, &q));
		printf("  child sees type %s start %lld len %lld holder-is-parent %d\n",
		       q.l_type == F_WRLCK ? "F_WRLCK" : q.l_type == F_UNLCK ? "F_UNLCK" : "?", (long long)q.l_start,
		       (long long)q.l_len, q.l_pid == getppid());
		q.l_type = F_WRLCK;
		q.l_whence = SEEK_SET;
		q.l_start = 2;
		q.l_len = 1;
		R("child F_SETLK on [2,3) (busy)", fcntl(f2, F_SETLK, &q));
		q.l_start = 7;
		R("child F_SETLK on [7,8) (free)", fcntl(f2, F_SETLK, &q));
		struct flock o = { .l_type = F_RDLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 1 };
		R("child F_OFD_SETLK read [0,1) (busy)", fcntl(f2, F_OFD_SETLK, &o));
		o.l_start = 8;
		R("child F_OFD_SETLK read [8,9) (free)", fcntl(f2, F_OFD_SETLK, &o));
		R("child flock LOCK_EX|LOCK_NB (independent)", flock(f2, LOCK_EX | LOCK_NB));
		fflush(stdout);
		if (write(p[1], "x", 1) != 1)
			_exit(3);
		_exit(0); /* exit releases every lock the child held */
	}
	char c;
	if (read(p[0], &c, 1) != 1)
		IT_DIE("pipe read");
	waitpid(pid, NULL, 0);
	int f3 = xopen("calls-lock", O_RDWR, 0);
	R("flock after the child exited", flock(f3, LOCK_EX | LOCK_NB));
	struct flock q = { .l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 7, .l_len = 1 };
	R("F_GETLK [7,8) after the child exited", fcntl(f3, F_GETLK, &q));
	printf("  type %s\n", q.l_type == F_UNLCK ? "F_UNLCK" : "still locked");
	struct flock o = { .l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 8, .l_len = 1 };
	R("F_OFD_SETLK [8,9) after the child exited", fcntl(f3, F_OFD_SETLK, &o));
	/* closing any fd of a file drops the process's POSIX locks on it */
	close(f3);
	pid = fork();
	if (pid == 0) {
		int f4 = xopen("calls-lock", O_RDWR, 0);
		struct flock t = { .l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 5 };
		R("child2 F_SETLK [0,5) after parent closed another fd", fcntl(f4, F_SETLK, &t));
		fflush(stdout);
		_exit(0);
	}
	waitpid(pid, NULL, 0);
	close(fd);
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: fs_it_calls DIR\n");
		return 2;
	}
	dir = argv[1];
	setvbuf(stdout, NULL, _IOLBF, 0);
	printf("--- vectored\n");
	vectored();
	printf("--- big I/O, 64-bit offsets, holes, truncate, allocate, sync\n");
	big_io();
	printf("--- open flags, dups, fcntl\n");
	flags_and_dups();
	printf("--- *at calls, fchdir, readdir\n");
	at_calls_and_dirs();
	printf("--- sendfile, copy_file_range, statfs, poll\n");
	copies_and_fs();
	printf("--- locks\n");
	locks();
	return 0;
}
