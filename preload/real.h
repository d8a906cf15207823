/* The libc functions the interposers forward to, each through a jump-switch
 * variable site of its own (include/shunt/jswitch.h): REAL(readv)(...) is a
 * direct call to the site's slot, which reads the resolved address from the
 * site's variable and jumps straight to it once learned (a retpoline before
 * that, and with SHUNT_JSW=off). A name used with REAL() must be listed here;
 * the sites themselves are defined once, in real.c. */
#ifndef SHUNT_PRELOAD_REAL_H
#define SHUNT_PRELOAD_REAL_H

#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/select.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>
#include <sys/time.h>
#include <sys/uio.h>
#include <sys/xattr.h>
#include <unistd.h>
#include <utime.h>

#include "shunt/jswitch.h"

#define SHUNT_REAL_FUNCS(X) \
	X(_Exit) X(_exit) X(chdir) X(close) X(close_range) X(closedir) X(copy_file_range) X(dirfd) X(dup) \
	X(dup2) X(dup3) X(epoll_ctl) X(execve) X(execvpe) X(faccessat) X(fallocate) X(fallocate64) \
	X(fchdir) X(fchmod) X(fchmodat) X(fchown) X(fchownat) X(fcntl) X(fcntl64) X(fdatasync) \
	X(fdopen) X(fdopendir) X(fexecve) X(fgetxattr) X(flistxattr) X(flock) X(fopen) X(fremovexattr) \
	X(freopen) X(fsetxattr) X(fstat) X(fstatat) X(fstatfs) X(fstatvfs) X(fsync) X(ftruncate) \
	X(ftruncate64) X(futimens) X(futimes) X(get_current_dir_name) X(getcwd) X(getdents64) \
	X(getrlimit) X(getxattr) X(lgetxattr) X(linkat) X(listxattr) X(llistxattr) X(lockf) \
	X(lremovexattr) X(lsetxattr) X(lutimes) X(mkdirat) X(mkdtemp) X(mkostemp) X(mkostemps) \
	X(mkstemp) X(mkstemps) X(mmap) X(openat) X(openat64) X(opendir) X(poll) X(popen) \
	X(posix_fadvise) X(posix_fadvise64) X(posix_fallocate) X(posix_fallocate64) X(posix_spawn) \
	X(posix_spawn_file_actions_adddup2) X(posix_spawn_file_actions_addopen) \
	X(posix_spawn_file_actions_destroy) X(posix_spawnp) X(ppoll) X(preadv) X(preadv2) X(preadv64) \
	X(preadv64v2) X(prlimit) X(pselect) X(pwritev) X(pwritev2) X(pwritev64) X(pwritev64v2) \
	X(readdir) X(readdir64) X(readdir_r) X(readlinkat) X(readv) X(realpath) X(remove) \
	X(removexattr) X(renameat2) X(rewinddir) X(scandir) X(seekdir) X(select) X(sendfile) \
	X(setrlimit) X(setxattr) X(statfs) X(statvfs) X(statx) X(symlinkat) X(system) X(telldir) \
	X(truncate) X(umask) X(unlinkat) X(utime) X(utimensat) X(utimes) X(write) X(writev)

/* readdir_r is deprecated, but old binaries still call it. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
#define SHUNT_REAL_DECLARE(name) SHUNT_JSW_VAR_SITE_DECLARE(real_##name, __typeof__(name));
SHUNT_REAL_FUNCS(SHUNT_REAL_DECLARE)
#pragma GCC diagnostic pop

/* Looks name up (dlsym RTLD_NEXT) and stores it in *var. */
void shunt_real_resolve(void **var, const char *name);

/* The next definition of `name` after libshunt.so (libc's), as a function
 * to call: REAL(name)(args). The lookup happens once per name; the call is
 * direct (to the site's slot), never through a function pointer. */
#define REAL(name)                                                                               \
	(*({                                                                                     \
		if (__builtin_expect(!__atomic_load_n(&SHUNT_JSW_VAR(real_##name), __ATOMIC_RELAXED), 0)) \
			shunt_real_resolve((void **)&SHUNT_JSW_VAR(real_##name), #name);            \
		&SHUNT_JSW_VAR_CALL(real_##name);                                                 \
	}))

#endif
