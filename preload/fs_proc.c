/* Interposers of process creation: exec keeps LD_PRELOAD and SHUNT_* in a
 * caller-supplied environment and hands redirected fds to the new image
 * (exec.c); spawn and system do the same from the parent; vfork becomes fork
 * because a vfork child would share (and corrupt) the parent's fd table. */
#include "preload.h"

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
int fsc_spawn_prepare(void);

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

static int spawn_common(pid_t *pid, const char *path, const posix_spawn_file_actions_t *fa,
			const posix_spawnattr_t *at, char *const argv[], char *const envp[], bool search)
{
	char *buf;
	char *const *env = fsc_exec_env(envp, &buf, 0);
	int tok = fsc_spawn_prepare();
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
	int tok = fsc_spawn_prepare();
	int r = REAL(system)(cmd);
	int e = errno;
	fsc_exec_abort(tok);
	errno = e;
	return r;
}

SHUNT_EXPORT FILE *popen(const char *cmd, const char *mode)
{
	int tok = fsc_spawn_prepare();
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
