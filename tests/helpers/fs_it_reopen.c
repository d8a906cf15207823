/* fs_it_reopen: an open of a path must find what the namespace holds now,
 * even when shunt reuses a handle it kept from an earlier open of the same
 * path (runtime/fsclient/reopen.c).
 *   fs_it_reopen DIR ROOT [inside]
 *                           DIR is the directory as the program sees it,
 *                           ROOT the same directory for the kernel (under
 *                           shunt: the export root, outside the mount);
 *                           inside: only the changes made through DIR
 * Every scene opens a file often enough to be kept, then changes the name
 * or its mode, then opens it again. Changes through DIR (through shuntd)
 * must show at once; changes through ROOT (outside shuntd) within a second.
 * The transcript is the same natively and under shunt. */
#include "fs_it_util.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>

static char dir[4096], root[4096];

static void put(const char *base, const char *name, const char *text)
{
	char p[8300];
	snprintf(p, sizeof(p), "%s/%s", base, name);
	int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd < 0 || write(fd, text, strlen(text)) != (ssize_t)strlen(text) || close(fd))
		IT_DIE("put %s", p);
}

/* Open, fstat, read, close: what it read, or "errno NAME". */
static const char *look(const char *name, char *out, size_t cap)
{
	char p[8300];
	snprintf(p, sizeof(p), "%s/%s", dir, name);
	int fd = open(p, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		snprintf(out, cap, "errno %s", it_errname(errno));
		return out;
	}
	struct stat st;
	ssize_t n = fstat(fd, &st) ? -1 : read(fd, out, cap - 1);
	close(fd);
	if (n < 0)
		IT_DIE("read %s", p);
	out[n] = 0;
	return out;
}

static void warm(const char *name)
{
	char b[256];
	for (int i = 0; i < 8; i++)
		look(name, b, sizeof(b));
}

static void show(const char *scene, const char *name)
{
	char b[256];
	printf("%s: %s -> %s\n", scene, name, look(name, b, sizeof(b)));
}

/* For changes made outside shuntd: open until the content is `want`, for
 * at most a second. Prints the content seen last. */
static void show_eventually(const char *scene, const char *name, const char *want)
{
	char b[256];
	struct timespec t0, t;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	do {
		if (!strcmp(look(name, b, sizeof(b)), want))
			break;
		clock_gettime(CLOCK_MONOTONIC, &t);
	} while ((t.tv_sec - t0.tv_sec) * 1000000000L + (t.tv_nsec - t0.tv_nsec) < 1000000000L);
	printf("%s: %s -> %s\n", scene, name, b);
}

static void in(const char *base, const char *name, char *p, size_t cap)
{
	snprintf(p, cap, "%s/%s", base, name);
}

int main(int argc, char **argv)
{
	if (argc != 3 && !(argc == 4 && !strcmp(argv[3], "inside")))
		IT_DIE("usage: fs_it_reopen DIR ROOT [inside]");
	snprintf(dir, sizeof(dir), "%s", argv[1]);
	snprintf(root, sizeof(root), "%s", argv[2]);
	char a[8300], b[8300];
	setvbuf(stdout, NULL, _IOLBF, 0);

	/* Through shuntd: visible at once. */
	put(dir, "r1", "one");
	put(dir, "r1.new", "two");
	warm("r1");
	in(dir, "r1.new", a, sizeof(a));
	in(dir, "r1", b, sizeof(b));
	if (rename(a, b))
		IT_DIE("rename");
	show("renamed over", "r1");
	if (unlink(b))
		IT_DIE("unlink");
	show("unlinked", "r1");
	put(dir, "r1", "three");
	show("created again", "r1");
	warm("r1");
	if (chmod(b, 0))
		IT_DIE("chmod");
	struct stat st;
	if (stat(b, &st))
		IT_DIE("stat");
	printf("chmod 0: mode %o\n", (unsigned)(st.st_mode & 07777));
	if (chmod(b, 0644))
		IT_DIE("chmod back");

	/* A directory on the way renamed. */
	in(dir, "d1", a, sizeof(a));
	mkdir(a, 0755);
	put(dir, "d1/f", "in d1");
	warm("d1/f");
	in(dir, "d2", b, sizeof(b));
	if (rename(a, b))
		IT_DIE("rename dir");
	show("directory renamed", "d1/f");
	show("directory renamed", "d2/f");

	/* A child reopens what the parent kept; both go on. */
	put(dir, "r2", "family");
	warm("r2");
	pid_t pid = fork();
	if (pid == 0) {
		warm("r2");
		show("child", "r2");
		_exit(0);
	}
	int ws;
	waitpid(pid, &ws, 0);
	show("parent after child", "r2");
	if (argc == 4)
		return 0;

	/* Outside shuntd (the kernel's own path to the same files). */
	put(root, "r3", "before");
	put(root, "r3.new", "after");
	warm("r3");
	in(root, "r3.new", a, sizeof(a));
	in(root, "r3", b, sizeof(b));
	if (rename(a, b))
		IT_DIE("outside rename");
	show_eventually("renamed outside", "r3", "after");
	if (unlink(b))
		IT_DIE("outside unlink");
	show_eventually("unlinked outside", "r3", "errno ENOENT");

	/* Rewritten in place outside: close-to-open, as without kept handles. */
	put(root, "r4", "AAAA");
	warm("r4");
	in(root, "r4", a, sizeof(a));
	int fd = open(a, O_WRONLY);
	if (fd < 0 || pwrite(fd, "BBBB", 4, 0) != 4 || close(fd))
		IT_DIE("outside pwrite");
	show_eventually("rewritten outside", "r4", "BBBB");
	return 0;
}
