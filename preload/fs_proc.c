/* Interposers of process creation: exec keeps LD_PRELOAD and SHUNT_* in a
 * caller-supplied environment and hands redirected fds to the new image
 * (exec.c); spawn and system do the same from the parent; vfork becomes fork
 * because a vfork child would share (and corrupt) the parent's fd table. */
#include "preload.h"

#include <pthread.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <fcntl.h>
#include <limits.h>
#include <unistd.h>

extern char **environ;
static int exec_served(const char *rel, char *const argv[], char *const envp[]);

static void env_free(char *buf)
{
	if (buf)
		munmap(buf, 4096); /* the kernel rounds; the first page suffices to find the mapping */
}

SHUNT_EXPORT int execve(const char *path, char *const argv[], char *const envp[])
{
	char rel[PATH_MAX];
	RESOLVE_OR_FAIL(AT_FDCWD, path, rel);
	char *buf;
	char *const *env = fsc_exec_env(envp, &buf, 0);
	int tok = fsc_exec_prepare();
	int r = res_ ? exec_served(rel, argv, env) : REAL(execve)(path, argv, env);
	int e = errno;
	fsc_exec_abort(tok);
	env_free(buf);
	errno = e;
	return r;
}

SHUNT_EXPORT int execvpe(const char *file, char *const argv[], char *const envp[])
{
	char *buf;
	char *const *env = fsc_exec_env(envp, &buf, 0);
	int tok = fsc_exec_prepare();
	int r = REAL(execvpe)(file, argv, env);
	int e = errno;
	fsc_exec_abort(tok);
	env_free(buf);
	errno = e;
	return r;
}

SHUNT_EXPORT int fexecve(int fd, char *const argv[], char *const envp[])
{
	char *buf;
	char *const *env = fsc_exec_env(envp, &buf, 0);
	int tok = fsc_exec_prepare();
	int r = REAL(fexecve)(fd, argv, env);
	int e = errno;
	fsc_exec_abort(tok);
	env_free(buf);
	errno = e;
	return r;
}

SHUNT_EXPORT int execv(const char *path, char *const argv[]) { return execve(path, argv, environ); }
SHUNT_EXPORT int execvp(const char *file, char *const argv[]) { return execvpe(file, argv, environ); }

#define ARGV_FROM_VA(arg0, ap, argv, extra)                       \
	size_t n_ = 1;                                            \
	va_start(ap, arg0);                                       \
	while (va_arg(ap, char *))                                \
		n_++;                                             \
	va_end(ap);                                               \
	char **argv = __builtin_alloca((n_ + 1) * sizeof(char *)); \
	argv[0] = (char *)arg0;                                   \
	va_start(ap, arg0);                                       \
	for (size_t i_ = 1; i_ <= n_; i_++)                       \
		argv[i_] = va_arg(ap, char *);                    \
	extra;                                                    \
	va_end(ap);

SHUNT_EXPORT int execl(const char *path, const char *arg0, ...)
{
	va_list ap;
	ARGV_FROM_VA(arg0, ap, argv, (void)0);
	return execve(path, argv, environ);
}
SHUNT_EXPORT int execlp(const char *file, const char *arg0, ...)
{
	va_list ap;
	ARGV_FROM_VA(arg0, ap, argv, (void)0);
	return execvpe(file, argv, environ);
}
SHUNT_EXPORT int execle(const char *path, const char *arg0, ...)
{
	va_list ap;
	char *const *envp;
	ARGV_FROM_VA(arg0, ap, argv, envp = va_arg(ap, char *const *));
	return execve(path, argv, envp);
}

/* ---- posix_spawn file actions on served files ----
 * glibc runs file actions in the child with its internal open and dup2,
 * which never see a served path. An addopen of a served path is opened here,
 * in the parent, and becomes a dup2 of our fd; the spawn's snapshot then
 * tells the new image which description sits at the target number. */
struct spawn_redirect {
	const posix_spawn_file_actions_t *fa;
	int target, src, err, owned;
};
static struct spawn_redirect redirs[64];
static pthread_mutex_t redir_lock = PTHREAD_MUTEX_INITIALIZER;

static int redirect_add(const posix_spawn_file_actions_t *fa, int target, int src, int err, int owned)
{
	pthread_mutex_lock(&redir_lock);
	for (unsigned i = 0; i < sizeof(redirs) / sizeof(redirs[0]); i++)
		if (!redirs[i].fa) {
			redirs[i] = (struct spawn_redirect){ fa, target, src, err, owned };
			pthread_mutex_unlock(&redir_lock);
			return 0;
		}
	pthread_mutex_unlock(&redir_lock);
	return ENOMEM;
}

SHUNT_EXPORT int posix_spawn_file_actions_addopen(posix_spawn_file_actions_t *fa, int fd, const char *path, int oflag,
						   mode_t mode)
{
	char rel[PATH_MAX];
	int r = resolve_native(AT_FDCWD, &path, rel);
	if (r <= 0)
		return r < 0 ? -r : REAL(posix_spawn_file_actions_addopen)(fa, fd, path, oflag, mode);
	if (fd < 0)
		return EBADF;
	int src = fsc_open(rel, oflag | O_CLOEXEC, mode);
	if (src < 0)
		return redirect_add(fa, fd, -1, -src, 0); /* reported by posix_spawn, as natively */
	int e = redirect_add(fa, fd, src, 0, 1);
	if (e) {
		fsc_close(src);
		return e;
	}
	return REAL(posix_spawn_file_actions_adddup2)(fa, src, fd);
}

SHUNT_EXPORT int posix_spawn_file_actions_adddup2(posix_spawn_file_actions_t *fa, int fd, int newfd)
{
	if (fsc_fd_is_ours(fd)) {
		int e = redirect_add(fa, newfd, fd, 0, 0);
		if (e)
			return e;
	}
	return REAL(posix_spawn_file_actions_adddup2)(fa, fd, newfd);
}

SHUNT_EXPORT int posix_spawn_file_actions_destroy(posix_spawn_file_actions_t *fa)
{
	pthread_mutex_lock(&redir_lock);
	for (unsigned i = 0; i < sizeof(redirs) / sizeof(redirs[0]); i++)
		if (redirs[i].fa == fa) {
			if (redirs[i].owned)
				fsc_close(redirs[i].src);
			redirs[i].fa = NULL;
		}
	pthread_mutex_unlock(&redir_lock);
	return REAL(posix_spawn_file_actions_destroy)(fa);
}

static int spawn_common(pid_t *pid, const char *path, const posix_spawn_file_actions_t *fa,
			const posix_spawnattr_t *at, char *const argv[], char *const envp[], bool search)
{
	struct fsc_fd_map extra[64];
	int nextra = 0, err = 0;
	if (fa) {
		pthread_mutex_lock(&redir_lock);
		for (unsigned i = 0; i < sizeof(redirs) / sizeof(redirs[0]); i++) {
			if (redirs[i].fa != fa)
				continue;
			if (redirs[i].err && !err)
				err = redirs[i].err;
			else if (!redirs[i].err)
				extra[nextra++] = (struct fsc_fd_map){ redirs[i].target, redirs[i].src };
		}
		pthread_mutex_unlock(&redir_lock);
	}
	if (err)
		return err;
	char *buf;
	char *const *env = fsc_exec_env(envp, &buf, 0);
	int tok = fsc_spawn_prepare(extra, nextra);
	int r = search ? REAL(posix_spawnp)(pid, path, fa, at, argv, env) : REAL(posix_spawn)(pid, path, fa, at, argv, env);
	fsc_exec_abort(tok);
	env_free(buf);
	return r;
}

SHUNT_EXPORT int posix_spawn(pid_t *pid, const char *path, const posix_spawn_file_actions_t *fa,
			     const posix_spawnattr_t *at, char *const argv[], char *const envp[])
{
	return spawn_common(pid, path, fa, at, argv, envp, false);
}
SHUNT_EXPORT int posix_spawnp(pid_t *pid, const char *file, const posix_spawn_file_actions_t *fa,
			      const posix_spawnattr_t *at, char *const argv[], char *const envp[])
{
	return spawn_common(pid, file, fa, at, argv, envp, true);
}

SHUNT_EXPORT int system(const char *cmd)
{
	int tok = fsc_spawn_prepare(NULL, 0);
	int r = REAL(system)(cmd);
	int e = errno;
	fsc_exec_abort(tok);
	errno = e;
	return r;
}

SHUNT_EXPORT FILE *popen(const char *cmd, const char *mode)
{
	int tok = fsc_spawn_prepare(NULL, 0);
	FILE *f = REAL(popen)(cmd, mode);
	int e = errno;
	fsc_exec_abort(tok);
	errno = e;
	return f;
}

SHUNT_EXPORT pid_t vfork(void)
{
	return fork();
}

/* exec of a served file: the kernel cannot open it, so run a memfd copy
 * (after the server said the caller may execute it). A script sees its
 * path as /dev/fd/N, as with fexecve. */
static int exec_served(const char *rel, char *const argv[], char *const envp[])
{
	int r = fsc_access(rel, X_OK, 0);
	if (r)
		return (int)ret_errno(r);
	int src = fsc_open(rel, O_RDONLY | O_CLOEXEC, 0);
	if (src < 0)
		return (int)ret_errno(src);
	int mfd = memfd_create("shunt-image", 0);
	if (mfd < 0) {
		fsc_close(src);
		return -1;
	}
	char buf[65536];
	off_t at = 0;
	for (;;) {
		ssize_t n = fsc_pread(src, buf, sizeof(buf), at);
		if (n < 0) {
			fsc_close(src);
			REAL(close)(mfd);
			return (int)ret_errno(n);
		}
		if (!n)
			break;
		if (REAL(write)(mfd, buf, (size_t)n) != n) {
			fsc_close(src);
			REAL(close)(mfd);
			return -1;
		}
		at += n;
	}
	fsc_close(src);
	fchmod(mfd, 0755);
	r = REAL(fexecve)(mfd, argv, envp);
	int e = errno;
	REAL(close)(mfd);
	errno = e;
	return r;
}

/* The file-size limit is applied by the client to served files (shuntd
 * writes for it), so the client follows every change of it. */
#include <sys/resource.h>

static void note_fsize(void)
{
	struct rlimit r;
	if (REAL(getrlimit)(RLIMIT_FSIZE, &r) == 0)
		fsc_fsize_limit_set(r.rlim_cur == RLIM_INFINITY ? UINT64_MAX : r.rlim_cur);
}

SHUNT_EXPORT int setrlimit(__rlimit_resource_t res, const struct rlimit *r)
{
	int ret = REAL(setrlimit)(res, r);
	if (!ret && res == RLIMIT_FSIZE)
		note_fsize();
	return ret;
}
SHUNT_EXPORT int setrlimit64(__rlimit_resource_t res, const struct rlimit64 *r)
{
	return setrlimit(res, (const struct rlimit *)r);
}
SHUNT_EXPORT int prlimit(pid_t pid, __rlimit_resource_t res, const struct rlimit *n, struct rlimit *o)
{
	int ret = REAL(prlimit)(pid, res, n, o);
	if (!ret && n && res == RLIMIT_FSIZE && (pid == 0 || pid == getpid()))
		note_fsize();
	return ret;
}
SHUNT_EXPORT int prlimit64(pid_t pid, __rlimit_resource_t res, const struct rlimit64 *n, struct rlimit64 *o)
{
	return prlimit(pid, res, (const struct rlimit *)n, (struct rlimit *)o);
}
