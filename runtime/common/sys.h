/* Raw system-call wrappers: usable before shunt's init has finished, inside
 * interposers (they never re-enter an interposed libc symbol) and in signal
 * handlers. Return convention: >= 0 on success, -errno on failure; errno is
 * never touched. */
#ifndef SHUNT_SYS_H
#define SHUNT_SYS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/syscall.h>
#include <linux/futex.h>

static inline long sys_call6(long n, long a, long b, long c, long d, long e, long f)
{
	register long r10 __asm__("r10") = d;
	register long r8 __asm__("r8") = e;
	register long r9 __asm__("r9") = f;
	long ret;
	__asm__ volatile("syscall"
			 : "=a"(ret)
			 : "a"(n), "D"(a), "S"(b), "d"(c), "r"(r10), "r"(r8), "r"(r9)
			 : "rcx", "r11", "memory");
	return ret;
}
#define sys_call(n, a, b, c, d, e, f) \
	sys_call6((n), (long)(a), (long)(b), (long)(c), (long)(d), (long)(e), (long)(f))

static inline long sys_read(int fd, void *b, size_t n) { return sys_call(SYS_read, fd, b, n, 0, 0, 0); }
static inline long sys_write(int fd, const void *b, size_t n) { return sys_call(SYS_write, fd, b, n, 0, 0, 0); }
static inline long sys_pread(int fd, void *b, size_t n, off_t o) { return sys_call(SYS_pread64, fd, b, n, o, 0, 0); }
static inline long sys_pwrite(int fd, const void *b, size_t n, off_t o) { return sys_call(SYS_pwrite64, fd, b, n, o, 0, 0); }
static inline long sys_openat(int dfd, const char *p, int fl, int mode) { return sys_call(SYS_openat, dfd, p, fl, mode, 0, 0); }
static inline long sys_close(int fd) { return sys_call(SYS_close, fd, 0, 0, 0, 0, 0); }
static inline long sys_fcntl(int fd, int cmd, long arg) { return sys_call(SYS_fcntl, fd, cmd, arg, 0, 0, 0); }
static inline long sys_dup3(int a, int b, int fl) { return sys_call(SYS_dup3, a, b, fl, 0, 0, 0); }
static inline long sys_ftruncate(int fd, off_t len) { return sys_call(SYS_ftruncate, fd, len, 0, 0, 0, 0); }
static inline long sys_memfd_create(const char *name, unsigned fl) { return sys_call(SYS_memfd_create, name, fl, 0, 0, 0, 0); }
static inline long sys_getpid(void) { return sys_call(SYS_getpid, 0, 0, 0, 0, 0, 0); }
static inline long sys_gettid(void) { return sys_call(SYS_gettid, 0, 0, 0, 0, 0, 0); }
static inline long sys_munmap(void *p, size_t n) { return sys_call(SYS_munmap, p, n, 0, 0, 0, 0); }
static inline void *sys_mmap(void *a, size_t n, int prot, int fl, int fd, off_t off)
{
	long r = sys_call(SYS_mmap, a, n, prot, fl, fd, off);
	return (void *)r; /* caller checks with sys_mmap_failed() */
}
static inline int sys_mmap_failed(void *p) { return (unsigned long)p > -4096UL; }
static inline long sys_futex_wait(uint32_t *w, uint32_t val, long timeout_ns)
{
	struct { long s, ns; } ts = { timeout_ns / 1000000000L, timeout_ns % 1000000000L };
	return sys_call(SYS_futex, w, FUTEX_WAIT, val, timeout_ns > 0 ? &ts : NULL, 0, 0);
}
static inline long sys_futex_wake(uint32_t *w, int n) { return sys_call(SYS_futex, w, FUTEX_WAKE, n, 0, 0, 0); }
static inline long sys_sched_yield(void) { return sys_call(SYS_sched_yield, 0, 0, 0, 0, 0, 0); }

/* Internal fds live high, out of the program's way: an exec'd image must find
 * the low numbers free exactly where the kernel freed them. Returns the new
 * fd (close-on-exec), or the old one if nothing higher is free. */
#define SYS_HIGH_FD_BASE 700
static inline int sys_move_high(int fd)
{
	if (fd < 0 || fd >= SYS_HIGH_FD_BASE)
		return fd;
	long h = sys_call(SYS_fcntl, fd, 1030 /* F_DUPFD_CLOEXEC */, SYS_HIGH_FD_BASE, 0, 0, 0);
	if (h < 0)
		return fd;
	sys_call(SYS_close, fd, 0, 0, 0, 0, 0);
	return (int)h;
}

/* Sizing the runtime's own memfds: the program's RLIMIT_FSIZE (ulimit -f)
 * applies to them too, but is not meant for them. SIGXFSZ is held off; if
 * the soft limit is in the way it is raised to the hard one for this call
 * only. Still -EFBIG when the hard limit itself is too low. */
static inline long sys_ftruncate_internal(int fd, long len)
{
	uint64_t block = 1ull << (25 - 1) /* SIGXFSZ */, old = 0;
	sys_call(SYS_rt_sigprocmask, 0 /* SIG_BLOCK */, &block, &old, 8, 0, 0);
	long r = sys_ftruncate(fd, len);
	if (r == -27 /* EFBIG */) {
		struct { uint64_t cur, max; } lim, raised;
		if (sys_call(SYS_prlimit64, 0, 1 /* RLIMIT_FSIZE */, NULL, &lim, 0, 0) == 0 && lim.max > lim.cur) {
			raised.cur = raised.max = lim.max;
			if (sys_call(SYS_prlimit64, 0, 1, &raised, NULL, 0, 0) == 0) {
				r = sys_ftruncate(fd, len);
				sys_call(SYS_prlimit64, 0, 1, &lim, NULL, 0, 0);
			}
		}
	}
	/* A SIGXFSZ raised meanwhile is ours: drop it before unblocking. */
	struct { long s, ns; } zero = { 0, 0 };
	uint64_t xfsz = block;
	while (!(old & block) && sys_call(SYS_rt_sigtimedwait, &xfsz, NULL, &zero, 8, 0, 0) == 25)
		;
	sys_call(SYS_rt_sigprocmask, 2 /* SIG_SETMASK */, &old, NULL, 8, 0, 0);
	return r;
}

/* Monotonic nanoseconds through the vDSO-free path is a syscall; callers on
 * hot paths use now_ns() from util.h (vDSO clock_gettime) instead. */

#endif
