/* Decides "ours or the kernel's" for a path: lexical normalisation against
 * the mount prefix, the virtual cwd (chdir into the mount), dirfd-relative
 * paths, and the process umask. No malloc, no system calls on the decision. */
#include "internal.h"
#include "common/config.h"

#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>

static char mount_prefix[PATH_MAX]; /* normalised, no trailing '/' */
static size_t mount_len;
static char vcwd[PATH_MAX];         /* relative to the export root; valid if vcwd_on */
static int vcwd_on;
static mode_t cur_umask = 022;
/* The kernel's cwd, as getcwd reports it, to see relative paths that lead
 * into the mount ("cd /tmp; cat ../shunt/x", or "shunt/x" from "/"). */
static char native_cwd[PATH_MAX];
static int native_cwd_ok;
static int mount_below_cwd; /* the mount lies beneath the kernel's cwd */

static void refresh_native_cwd(void)
{
	long n = sys_call(SYS_getcwd, native_cwd, sizeof(native_cwd), 0, 0, 0, 0);
	native_cwd_ok = n > 0 && native_cwd[0] == '/';
	if (!native_cwd_ok)
		return;
	size_t l = strlen(native_cwd);
	mount_below_cwd = (l == 1) || (!strncmp(mount_prefix, native_cwd, l) && mount_prefix[l] == '/');
}

size_t fsc_strlcpy(char *dst, const char *src, size_t cap)
{
	size_t n = strlen(src);
	if (cap) {
		size_t m = n < cap - 1 ? n : cap - 1;
		memcpy(dst, src, m);
		dst[m] = 0;
	}
	return n;
}

/* Lexically normalise an absolute path in place: collapse //, ., and ..
 * Returns -ENAMETOOLONG if it does not fit. */
static int normalize(char *p)
{
	char out[PATH_MAX];
	size_t o = 0;
	const char *s = p;
	while (*s) {
		while (*s == '/')
			s++;
		if (!*s)
			break;
		const char *e = strchr(s, '/');
		size_t len = e ? (size_t)(e - s) : strlen(s);
		if (len == 1 && s[0] == '.') {
			/* skip */
		} else if (len == 2 && s[0] == '.' && s[1] == '.') {
			while (o > 0 && out[o - 1] != '/')
				o--;
			if (o > 0)
				o--; /* drop the '/' too */
		} else {
			if (o + 1 + len >= sizeof(out))
				return -ENAMETOOLONG;
			out[o++] = '/';
			memcpy(out + o, s, len);
			o += len;
		}
		s += len;
	}
	if (!o)
		out[o++] = '/';
	out[o] = 0;
	memcpy(p, out, o + 1);
	return 0;
}

void fsc_path_init(const char *mount);
void fsc_path_init(const char *mount)
{
	fsc_strlcpy(mount_prefix, mount, sizeof(mount_prefix));
	if (mount_prefix[0] != '/')
		log_die("fs_mount '%s' must be an absolute path", mount);
	normalize(mount_prefix);
	mount_len = strlen(mount_prefix);
	if (mount_len == 1)
		log_die("fs_mount '/' would redirect every path; choose a prefix such as /shunt");
	/* umask(2) both sets and reads: set it back at once. */
	long m = sys_call(SYS_umask, 022, 0, 0, 0, 0, 0);
	sys_call(SYS_umask, m, 0, 0, 0, 0, 0);
	cur_umask = (mode_t)m;
	refresh_native_cwd();
}

mode_t fsc_umask_get(void) { return cur_umask; }
void fsc_umask_set(mode_t m) { cur_umask = m & 0777; }

/* Does `rel` (relative, not normalised) stay at or below its start while
 * read component by component? Then the server may resolve it as given,
 * which keeps the kernel's meaning of "dir/.", "file/" and the like. */
static bool stays_beneath(const char *rel)
{
	int depth = 0;
	for (const char *s = rel; *s;) {
		while (*s == '/')
			s++;
		if (!*s)
			break;
		size_t len = strcspn(s, "/");
		if (len == 2 && s[0] == '.' && s[1] == '.') {
			if (--depth < 0)
				return false;
		} else if (!(len == 1 && s[0] == '.')) {
			depth++;
		}
		s += len;
	}
	return true;
}

/* Absolute path -> ours? fills rel: the text after the mount prefix when it
 * stays beneath the mount (the server resolves it with the kernel's rules),
 * else the lexically normalised form. */
/* No "//", no component starting with '.', no trailing '/': normalize()
 * would return it unchanged (most paths programs pass). */
static bool already_normal(const char *p)
{
	for (const char *s = p; *s; s++)
		if (s[0] == '/' && (s[1] == '/' || s[1] == '.' || (s[1] == 0 && s != p)))
			return false;
	return true;
}

static int classify(char *abs, char *rel)
{
	if (already_normal(abs)) {
		if (strncmp(abs, mount_prefix, mount_len) || (abs[mount_len] != 0 && abs[mount_len] != '/'))
			return 0;
		const char *r = abs + mount_len;
		while (*r == '/')
			r++;
		fsc_strlcpy(rel, *r ? r : ".", PATH_MAX);
		return 1;
	}
	char orig[PATH_MAX];
	fsc_strlcpy(orig, abs, sizeof(orig));
	if (normalize(abs))
		return -ENAMETOOLONG;
	if (strncmp(abs, mount_prefix, mount_len) || (abs[mount_len] != 0 && abs[mount_len] != '/'))
		return 0;
	const char *r = abs + mount_len;
	/* The original text, when it starts with the prefix itself. */
	char *o = orig;
	while (o[0] == '/' && o[1] == '/')
		o++;
	if (!strncmp(o, mount_prefix, mount_len) && (o[mount_len] == 0 || o[mount_len] == '/') &&
	    stays_beneath(o + mount_len))
		r = o + mount_len;
	while (*r == '/')
		r++;
	fsc_strlcpy(rel, *r ? r : ".", PATH_MAX);
	return 1;
}

void fsc_virtual_path(const char *rel, char *out, size_t cap)
{
	if (!strcmp(rel, "."))
		log_format(out, cap, "%s", mount_prefix);
	else
		log_format(out, cap, "%s/%s", mount_prefix, rel);
}

int fsc_resolve(int dirfd, const char *path, char *rel)
{
	if (!fsc_enabled || !path)
		return 0;
	char abs[PATH_MAX];
	size_t plen = strnlen(path, PATH_MAX);
	if (plen >= PATH_MAX)
		return -ENAMETOOLONG;
	int r;
	if (path[0] == '/') {
		memcpy(abs, path, plen + 1);
		r = classify(abs, rel);
		if (r == 0 && !strncmp(path, mount_prefix, mount_len) && path[mount_len] == '/') {
			/* "/mount/../x": the mount does not exist for the kernel, so
			 * it gets the lexical result instead. */
			fsc_strlcpy(rel, abs, PATH_MAX);
			return 2;
		}
	} else if (!path[0]) {
		return 0; /* "" : the kernel's (ENOENT, or AT_EMPTY_PATH on a native fd) */
	} else {
		char base[PATH_MAX];
		if (dirfd == AT_FDCWD) {
			if (!vcwd_on) {
				/* From the kernel's cwd only ".." or a cwd above the mount
				 * can lead in; the kernel keeps the path as given. */
				if (!native_cwd_ok || (!mount_below_cwd && !strstr(path, "..")))
					return 0;
				size_t cl = strlen(native_cwd);
				if (cl + 1 + plen >= sizeof(abs))
					return 0;
				memcpy(abs, native_cwd, cl);
				abs[cl] = '/';
				memcpy(abs + cl + 1, path, plen + 1);
				r = classify(abs, rel);
				if (r > 0)
					STAT_INC(fs_redirected_calls);
				return r > 0 ? 1 : 0;
			}
			fsc_virtual_path(vcwd, base, sizeof(base));
		} else {
			int o = fsc_fd_to_ofd(dirfd);
			if (o < 0)
				return 0;
			if (!S_ISDIR(fsc_ofd_get(o)->mode))
				return -ENOTDIR;
			fsc_virtual_path(fsc_ofd_get(o)->path, base, sizeof(base));
		}
		size_t bl = strlen(base);
		if (bl + 1 + plen >= sizeof(abs))
			return -ENAMETOOLONG;
		memcpy(abs, base, bl);
		abs[bl] = '/';
		memcpy(abs + bl + 1, path, plen + 1);
		r = classify(abs, rel);
		if (r == 0) {
			/* Relative to a served directory but outside the mount: the
			 * kernel must get the absolute path, its own cwd is elsewhere. */
			fsc_strlcpy(rel, abs, PATH_MAX);
			log_debug("redirect: %s -> kernel as %s", path, abs);
			return 2;
		}
	}
	if (r > 0 && cfg.fs_fallback.num == 1 && !fsc_session_usable()) {
		log_debug("redirect: %s -> kernel (no shuntd, fs_fallback=native)", path);
		return 0;
	}
	if (r > 0)
		STAT_INC(fs_redirected_calls);
	log_debug("redirect: %s -> %s", path, r > 0 ? rel : "kernel");
	return r;
}

bool fsc_cwd_is_virtual(void) { return vcwd_on; }

int fsc_getcwd(char *buf, size_t size)
{
	char v[PATH_MAX];
	fsc_virtual_path(vcwd, v, sizeof(v));
	size_t n = strlen(v);
	if (size == 0)
		return -EINVAL;
	if (n + 1 > size)
		return -ERANGE;
	memcpy(buf, v, n + 1);
	return (int)n;
}

/* The cwd is kept in the form getcwd() returns: "dir/." and "a/../b" are
 * the kernel's "dir" and "b" (the server already resolved them). */
static void set_vcwd(const char *rel)
{
	char tmp[PATH_MAX];
	log_format(tmp, sizeof(tmp), "/%s", rel);
	normalize(tmp);
	fsc_strlcpy(vcwd, tmp[1] ? tmp + 1 : ".", sizeof(vcwd));
	vcwd_on = 1;
}

int fsc_chdir_rel(const char *rel)
{
	struct stat st;
	int r = fsc_stat(rel, &st, 0);
	if (r)
		return r;
	if (!S_ISDIR(st.st_mode))
		return -ENOTDIR;
	r = fsc_access(rel, X_OK, 0);
	if (r)
		return r;
	set_vcwd(rel);
	return 0;
}

int fsc_fchdir(int fd)
{
	int o = fsc_fd_to_ofd(fd);
	if (o < 0)
		return -EBADF;
	if (!S_ISDIR(fsc_ofd_get(o)->mode))
		return -ENOTDIR;
	set_vcwd(fsc_ofd_get(o)->path);
	return 0;
}

void fsc_chdir_native(void)
{
	vcwd_on = 0;
	refresh_native_cwd();
}

const char *fsc_vcwd(void);
const char *fsc_vcwd(void) { return vcwd; }
void fsc_vcwd_set(const char *rel);
void fsc_vcwd_set(const char *rel) { set_vcwd(rel); }

/* realpath() of a served path: components walked one by one, symlinks read
 * from the server and followed (at most 40), ".." applied after resolution,
 * as the kernel would. Returns 0 with the virtual path in out, 2 when the
 * path leaves the mount (out holds the absolute path for the kernel's
 * realpath), or -errno. */
int fsc_realpath(const char *rel_in, char *out, size_t cap)
{
	char resolved[PATH_MAX] = "", rest[PATH_MAX], tmp[PATH_MAX];
	fsc_strlcpy(rest, rel_in, sizeof(rest));
	int links = 0;
	for (;;) {
		char *s = rest;
		while (*s == '/')
			s++;
		if (!*s)
			break;
		size_t len = strcspn(s, "/");
		char comp[NAME_MAX + 1];
		if (len > NAME_MAX)
			return -ENAMETOOLONG;
		memcpy(comp, s, len);
		comp[len] = 0;
		memmove(rest, s + len, strlen(s + len) + 1);
		if (!strcmp(comp, "."))
			continue;
		if (!strcmp(comp, "..")) {
			char *slash = strrchr(resolved, '/');
			if (slash) {
				*slash = 0;
				continue;
			}
			if (resolved[0]) {
				resolved[0] = 0;
				continue;
			}
			/* Above the mount: the kernel's from here on. */
			log_format(out, cap, "%s/..%s", mount_prefix, rest);
			normalize(out);
			return 2;
		}
		char cand[PATH_MAX];
		if (log_format(cand, sizeof(cand), "%s%s%s", resolved, resolved[0] ? "/" : "", comp) >= sizeof(cand) - 1)
			return -ENAMETOOLONG;
		struct stat st;
		int r = fsc_stat(cand, &st, AT_SYMLINK_NOFOLLOW);
		if (r)
			return r;
		if (S_ISLNK(st.st_mode)) {
			if (++links > 40)
				return -ELOOP;
			char target[PATH_MAX];
			long n = fsc_readlink(cand, target, sizeof(target) - 1);
			if (n < 0)
				return (int)n;
			target[n] = 0;
			log_format(tmp, sizeof(tmp), "%s%s", target, rest);
			if (target[0] == '/') {
				/* Absolute: start again from it (it may leave the mount). */
				char rel2[PATH_MAX];
				int c = fsc_resolve(AT_FDCWD, tmp, rel2);
				if (c != 1) {
					fsc_strlcpy(out, c == 2 ? rel2 : tmp, cap);
					return 2;
				}
				fsc_strlcpy(rest, rel2, sizeof(rest));
				resolved[0] = 0;
			} else {
				fsc_strlcpy(rest, tmp, sizeof(rest));
			}
			continue;
		}
		if (rest[strspn(rest, "/")] && !S_ISDIR(st.st_mode))
			return -ENOTDIR;
		fsc_strlcpy(resolved, cand, sizeof(resolved));
	}
	if (resolved[0])
		log_format(out, cap, "%s/%s", mount_prefix, resolved);
	else
		log_format(out, cap, "%s", mount_prefix);
	return 0;
}

/* shuntd refuses absolute symlinks (they could lead out of its root), but
 * one that names a path under the mount (ln -s "$PWD/x" y, python venvs) is
 * the program's own path and works natively. After a refusal the client
 * walks the path itself (fsc_realpath) and, if it ends under the mount,
 * sends the resolved path: 1 with out filled, else 0. follow_last: the
 * final component too (open, stat) or only its directory (lstat, O_NOFOLLOW). */
static __thread int relinking __attribute__((tls_model("initial-exec")));

int fsc_relink(const char *rel, int follow_last, char *out)
{
	if (relinking)
		return 0;
	relinking = 1;
	char v[PATH_MAX], dir[PATH_MAX];
	int ok = 0;
	const char *leaf = NULL;
	if (follow_last) {
		fsc_strlcpy(dir, rel, sizeof(dir));
	} else {
		fsc_strlcpy(dir, rel, sizeof(dir));
		char *slash = strrchr(dir, '/');
		if (slash) {
			*slash = 0;
			leaf = rel + (slash - dir) + 1;
		} else {
			relinking = 0;
			return 0; /* the leaf itself is in the root: nothing to walk */
		}
	}
	if (fsc_realpath(dir, v, sizeof(v)) == 0) {
		const char *r = v + mount_len;
		while (*r == '/')
			r++;
		char cand[PATH_MAX];
		if (leaf)
			log_format(cand, sizeof(cand), "%s%s%s", *r ? r : "", *r ? "/" : "", leaf);
		else
			fsc_strlcpy(cand, *r ? r : ".", sizeof(cand));
		if (strcmp(cand, rel)) {
			fsc_strlcpy(out, cand, PATH_MAX);
			ok = 1;
		}
	}
	relinking = 0;
	return ok;
}
