/* Path resolution beneath the export root: every client path goes through
 * openat2(RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS) on the root dirfd, so
 * `..`, absolute symlinks and /proc magic links never leave it. Escapes read
 * as EACCES; real kernel errors (ENOENT, ENOTDIR, ELOOP of a loop) pass. */
#include "fsserver.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#define FS_RESOLVE (RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS)

/* Flags openat2 accepts (it rejects unknown ones, where open(2) ignores
 * them): keep only those, as open(2) would. */
#define FS_OPEN_FLAGS_KNOWN                                                                                       \
	(O_ACCMODE | O_CREAT | O_EXCL | O_NOCTTY | O_TRUNC | O_APPEND | O_NONBLOCK | O_DSYNC | O_SYNC | O_DIRECT | \
	 O_LARGEFILE | O_DIRECTORY | O_NOFOLLOW | O_NOATIME | O_CLOEXEC | O_PATH | __O_TMPFILE | FASYNC)

static long raw_openat2(int dfd, const char *path, int flags, unsigned mode, unsigned long resolve)
{
	struct open_how how = { .flags = (uint64_t)(unsigned)flags, .mode = mode, .resolve = resolve };
	long r = syscall(SYS_openat2, dfd, path, &how, sizeof(how));
	return r < 0 ? -errno : r;
}

int fs_resolve_errno(int rootfd, const char *path, int flags, int err)
{
	if (err == EXDEV)
		return -EACCES; /* the walk tried to leave the root */
	if (err == ELOOP) {
		const char *p = path[0] ? path : ".";
		long fd;
		if (flags & O_NOFOLLOW) {
			/* O_NOFOLLOW on a final symlink: the kernel's own ELOOP. */
			fd = raw_openat2(rootfd, p, O_PATH | O_NOFOLLOW | O_CLOEXEC, 0, FS_RESOLVE);
			if (fd >= 0) {
				struct stat st;
				bool lnk = fstat((int)fd, &st) == 0 && S_ISLNK(st.st_mode);
				close((int)fd);
				if (lnk)
					return -ELOOP;
			}
		}
		/* A magic link or a loop? Probe without NO_MAGICLINKS, O_PATH so
		 * nothing is opened for real: a loop still loops. */
		fd = raw_openat2(rootfd, p, O_PATH | O_CLOEXEC | (flags & O_DIRECTORY), 0, RESOLVE_BENEATH);
		if (fd >= 0)
			close((int)fd);
		return fd == -ELOOP ? -ELOOP : -EACCES;
	}
	return -err;
}

int fs_resolve_open(int rootfd, const char *path, int flags, unsigned mode)
{
	flags &= FS_OPEN_FLAGS_KNOWN;
	flags |= O_CLOEXEC;
	if (flags & O_PATH) /* open(2) ignores the rest with O_PATH; openat2 refuses them */
		flags &= O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC;
	if (!(flags & O_CREAT) && (flags & __O_TMPFILE) != __O_TMPFILE)
		mode = 0; /* openat2 insists; open(2) ignores it */
	mode &= 07777;
	long fd = raw_openat2(rootfd, path[0] ? path : ".", flags, mode, FS_RESOLVE);
	if (fd >= 0)
		return (int)fd;
	return fs_resolve_errno(rootfd, path, flags, (int)-fd);
}

int fs_resolve_parent(int rootfd, const char *path, const char **leaf)
{
	/* The last component starts after the last '/' that has a non-slash
	 * after it: "a/b/" -> ("a", "b/"), so *at() calls see the trailing
	 * slash exactly as the kernel would. */
	size_t n = strlen(path);
	size_t end = n;
	while (end > 0 && path[end - 1] == '/')
		end--;
	const char *slash = NULL;
	for (size_t i = end; i-- > 0;)
		if (path[i] == '/') {
			slash = path + i;
			break;
		}
	if (end == 0) {
		/* "" or "///": the root itself; its parent is out of reach. */
		*leaf = ".";
		long fd = raw_openat2(rootfd, ".", O_PATH | O_DIRECTORY | O_CLOEXEC, 0, FS_RESOLVE);
		return fd < 0 ? (int)fd : (int)fd;
	}
	if (!slash) {
		*leaf = path;
		long fd = raw_openat2(rootfd, ".", O_PATH | O_DIRECTORY | O_CLOEXEC, 0, FS_RESOLVE);
		return (int)fd;
	}
	char dir[SHUNT_PATH_MAX];
	size_t dlen = (size_t)(slash - path);
	if (dlen >= sizeof(dir))
		return -ENAMETOOLONG;
	memcpy(dir, path, dlen);
	dir[dlen] = 0;
	*leaf = slash + 1;
	long fd = raw_openat2(rootfd, dlen ? dir : ".", O_PATH | O_DIRECTORY | O_CLOEXEC, 0, FS_RESOLVE);
	if (fd >= 0)
		return (int)fd;
	return fs_resolve_errno(rootfd, dlen ? dir : ".", O_DIRECTORY, (int)-fd);
}
