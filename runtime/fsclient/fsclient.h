/* The file client: everything libshunt.so does for a redirected path or fd,
 * called by the interposers in preload/. Every fsc_* call returns what the
 * kernel would, as a value >= 0 or -errno (the interposer sets errno);
 * no malloc on the read/write/stat paths.
 *
 * Pieces: path.c (ours or the kernel's), session.c (connection, channels,
 * autostart), fdtable.c (fd -> open file description), fcache.c (the shared
 * per-file cache), ops.c (commands), dir.c, stdio.c, exec.c, real.c. */
#ifndef SHUNT_FSCLIENT_H
#define SHUNT_FSCLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/statfs.h>
#include <dirent.h>
#include <stdio.h>
#include "shunt/fs_wire.h"

/* ---- state ---- */
extern int fsc_enabled __attribute__((visibility("hidden"))); /* a mount prefix is configured and init finished */
#define FSC_MAX_FD 65536
/* fd -> ofd index + 1 (0: not ours). Private to this process. */
extern int32_t fsc_fd_ofd[FSC_MAX_FD] __attribute__((visibility("hidden")));
extern uint8_t fsc_fd_cloexec[FSC_MAX_FD];

static inline bool fsc_fd_is_ours(int fd)
{
	return __builtin_expect(fsc_enabled, 0) && (unsigned)fd < FSC_MAX_FD &&
	       __atomic_load_n(&fsc_fd_ofd[fd], __ATOMIC_RELAXED) != 0;
}

void fsc_client_init(void);      /* from the preload constructor */
void fsc_client_exit(void);

/* ---- path decision (path.c) ---- */
/* 1: ours, rel (PATH_MAX) holds the path relative to the export root;
 * 0: the kernel's, as given; 2: the kernel's, but as the absolute path now in
 * rel (a relative path from a served cwd or dirfd that leaves the mount);
 * -errno: fail the call with it. */
int fsc_resolve(int dirfd, const char *path, char *rel);
bool fsc_cwd_is_virtual(void);
int fsc_getcwd(char *buf, size_t size); /* length or -errno */
int fsc_chdir_rel(const char *rel);
int fsc_fchdir(int fd);
void fsc_chdir_native(void);
/* Virtual path ("/mount/rel") of a relative-to-root path. */
void fsc_virtual_path(const char *rel, char *out, size_t cap);
mode_t fsc_umask_get(void);
void fsc_fsize_limit_set(uint64_t lim); /* RLIMIT_FSIZE's soft limit */
/* realpath of a served path: 0 (out = virtual path), 2 (out = a path for the
 * kernel's realpath), or -errno. */
int fsc_realpath(const char *rel, char *out, size_t cap);
/* After shuntd refused an absolute symlink: 1 with the path resolved under
 * the mount in out (PATH_MAX), else 0. */
int fsc_relink(const char *rel, int follow_last, char *out);
void fsc_umask_set(mode_t m);

/* ---- operations (ops.c) ---- */
int fsc_open(const char *rel, int flags, mode_t mode);          /* fd */
int fsc_close(int fd);
ssize_t fsc_read(int fd, void *buf, size_t n);
ssize_t fsc_pread(int fd, void *buf, size_t n, off_t off);
ssize_t fsc_readv(int fd, const struct iovec *iov, int cnt, off_t off, bool use_off);
ssize_t fsc_write(int fd, const void *buf, size_t n);
ssize_t fsc_pwrite(int fd, const void *buf, size_t n, off_t off);
ssize_t fsc_writev(int fd, const struct iovec *iov, int cnt, off_t off, bool use_off);
off_t fsc_lseek(int fd, off_t off, int whence);
int fsc_fstat(int fd, struct stat *st);
int fsc_stat(const char *rel, struct stat *st, int at_flags);
int fsc_statx(int fd_or_neg, const char *rel, int at_flags, unsigned mask, struct statx *stx);
int fsc_access(const char *rel, int mode, int at_flags);
int fsc_fsync(int fd, bool datasync);
int fsc_ftruncate(int fd, off_t len);
int fsc_truncate(const char *rel, off_t len);
int fsc_unlink(const char *rel, int at_flags);
int fsc_rename(const char *oldrel, const char *newrel, unsigned flags);
int fsc_mkdir(const char *rel, mode_t mode);
int fsc_fcntl(int fd, int cmd, long arg);
int fsc_flock(int fd, int op);
int fsc_dup(int oldfd, int newfd, int flags, bool exact); /* dup, dup2/dup3, F_DUPFD */
void fsc_forget_fd(int fd);      /* a native call replaced this fd number */
ssize_t fsc_getdents(int fd, void *buf, size_t n);
int fsc_setattr(int fd, const char *rel, unsigned which, mode_t mode, uid_t uid, gid_t gid,
	       const struct timespec *times, int at_flags);
int fsc_symlink(const char *target, const char *rel);
ssize_t fsc_readlink(const char *rel, char *buf, size_t n);
int fsc_link(const char *oldrel, const char *newrel, int flags);
int fsc_statfs(int fd, const char *rel, struct statfs *sf);
int fsc_fallocate(int fd, int mode, off_t off, off_t len);
void *fsc_mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off, int *err);
ssize_t fsc_copy(int out_fd, int in_fd, off_t *in_off, off_t *out_off, size_t n, bool out_ours, bool in_ours);
/* The virtual path an fd was opened with (for fchdir, *at, /proc lookups). */
int fsc_fd_path(int fd, char *rel, size_t cap);

/* ---- directories (dir.c) ---- */
DIR *fsc_opendir(const char *rel);
DIR *fsc_fdopendir(int fd);
bool fsc_dir_is_ours(DIR *d);
struct dirent64 *fsc_readdir(DIR *d);
int fsc_closedir(DIR *d);
void fsc_rewinddir(DIR *d);
long fsc_telldir(DIR *d);
void fsc_seekdir(DIR *d, long pos);
int fsc_dirfd(DIR *d);

/* ---- stdio (stdio.c) ---- */
FILE *fsc_fopen(const char *rel, const char *mode);
FILE *fsc_fdopen(int fd, const char *mode);
/* After fd 0/1/2 became ours: point the standard stream at the channel. */
void fsc_fix_std_stream(int fd);
/* ... and back to glibc's stream once the fd is the kernel's again. */
void fsc_unfix_std_stream(int fd);

/* ---- processes (exec.c, session.c) ---- */
/* Before an exec or spawn: returns a token for fsc_exec_abort(). */
int fsc_exec_prepare(void);
/* A spawn's file action that puts served fd src at number target. */
struct fsc_fd_map {
	int target, src;
};
int fsc_spawn_prepare(const struct fsc_fd_map *extra, int nextra);
void fsc_exec_abort(int token);
/* Builds an environment that keeps LD_PRELOAD and SHUNT_* (stack buffer). */
char *const *fsc_exec_env(char *const envp[], char **buf, size_t nbuf);
void fsc_exec_inherit(void);     /* in a new image: adopt the fds a parent passed down */
void fsc_atfork_prepare(void);
void fsc_atfork_parent(void);
void fsc_atfork_child(void);

#endif
