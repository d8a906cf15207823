/* The fd table (fd number -> open file description) and the descriptions
 * themselves, which live in a memfd shared by the whole process family so
 * offsets and refcounts are shared across fork and exec as the kernel shares
 * its struct file. Each redirected fd owns a real kernel fd number: a dup of
 * an O_PATH template, so an uninterposed read() on it fails with EBADF. */
#include "internal.h"

#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>

int32_t fsc_fd_ofd[FSC_MAX_FD];
uint8_t fsc_fd_cloexec[FSC_MAX_FD];
struct fsc_ofd_area *fsc_ofds;
int fsc_ofd_memfd = -1;
static int reserved_template = -1;

/* The ofd memfd sits at a high fd so an exec'd image finds it (see exec.c). */
#define FSC_HIGH_FD 900

int fsc_reserved_template(void) { return reserved_template; }

/* The template is inherited across exec (no CLOEXEC) so every reserved fd
 * of a family shares one inode: an exec'd image recognises them by it. */
static int make_template(void)
{
	long mfd = sys_memfd_create("shunt-reserved", MFD_CLOEXEC);
	if (mfd < 0)
		return (int)mfd;
	/* A raw fstat on a reserved fd then shows an empty, unlinked, mode-0
	 * object: never another file's size or data. */
	sys_call(SYS_fchmod, mfd, 0, 0, 0, 0, 0);
	char p[64];
	log_format(p, sizeof(p), "/proc/self/fd/%d", (int)mfd);
	long t = sys_openat(AT_FDCWD, p, O_PATH, 0);
	sys_close((int)mfd);
	if (t < 0)
		return (int)t;
	long h = sys_fcntl((int)t, F_DUPFD, FSC_HIGH_FD);
	if (h >= 0) {
		sys_close((int)t);
		t = h;
	}
	reserved_template = (int)t;
	return 0;
}

static uint64_t fd_ino(int fd)
{
	struct stat st;
	if (sys_call(SYS_fstat, fd, &st, 0, 0, 0, 0) < 0)
		return 0;
	return st.st_ino;
}

int fsc_ofd_area_init(int inherited_fd, int inherited_template)
{
	size_t len = sizeof(struct fsc_ofd_area);
	int fd = inherited_fd;
	int fresh = fd < 0;
	if (fresh) {
		long m = sys_memfd_create("shunt-ofd", 0); /* no CLOEXEC: exec'd images inherit it */
		if (m < 0)
			return (int)m;
		long h = sys_fcntl((int)m, F_DUPFD, FSC_HIGH_FD);
		if (h >= 0) {
			sys_close((int)m);
			m = h;
		}
		fd = (int)m;
		if (sys_ftruncate_internal(fd, (long)len) < 0) {
			sys_close(fd);
			return -ENOMEM;
		}
	}
	void *p = sys_mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (sys_mmap_failed(p)) {
		if (fresh)
			sys_close(fd);
		return -ENOMEM;
	}
	struct fsc_ofd_area *a = p;
	if (!fresh && a->magic != FSC_OFD_MAGIC) {
		sys_munmap(p, len);
		return -EINVAL;
	}
	if (inherited_template >= 0 && a->reserved_ino && fd_ino(inherited_template) == a->reserved_ino)
		reserved_template = inherited_template;
	if (reserved_template < 0) {
		int r = make_template();
		if (r) {
			sys_munmap(p, len);
			return r;
		}
	}
	if (fresh) {
		a->magic = FSC_OFD_MAGIC;
		a->next_id = 1;
		/* Our family's name, chosen now: children forked before the first
		 * connection must all join the same family. */
		uint64_t rnd[2] = { 0, 0 };
		sys_call(SYS_getrandom, rnd, sizeof(rnd), 0, 0, 0, 0);
		a->family_id = rnd[0] | 1;
		a->family_token = rnd[1] | 1;
	}
	a->reserved_ino = fd_ino(reserved_template);
	fsc_ofds = a;
	fsc_ofd_memfd = fd;
	return 0;
}

uint64_t fsc_fd_ino(int fd) { return fd_ino(fd); }

int fsc_ofd_alloc(void)
{
	for (int i = 0; i < FSC_MAX_OFD; i++) {
		uint32_t zero = 0;
		if (load_relaxed(&fsc_ofds->ofd[i].refs) == 0 && cas_acq_rel(&fsc_ofds->ofd[i].refs, &zero, 1)) {
			struct fsc_ofd *o = &fsc_ofds->ofd[i];
			o->handle = 0;
			store_relaxed(&o->offset, 0);
			o->flags = 0;
			o->mode = 0;
			o->cache_id = 0;
			o->posix_lock_pid = 0;
			o->lock_used = 0;
			o->keep_epoch = 0;
			o->id = fetch_add_relaxed(&fsc_ofds->next_id, 1);
			o->path[0] = 0;
			return i;
		}
	}
	return -ENFILE;
}

/* The server's close normally goes without waiting: nothing the program
 * can observe depends on it. A description that held locks is different:
 * once close() returns, another process may take the lock. */
static void close_handle(uint32_t handle, int32_t lockpid, bool wait)
{
	int err;
	struct fsc_thread_chan *tc = fsc_chan_get(&err);
	if (!tc)
		return; /* the server drops the family's handles when its sessions end */
	struct shunt_sqe sqe = { .op = SHUNT_OP_close, .flags = wait ? 0 : SHUNT_SQE_ASYNC, .handle = handle,
				 .arg2 = (uint64_t)(uint32_t)lockpid };
	if (wait) {
		struct shunt_cqe cqe;
		fsc_call(tc, &sqe, &cqe);
	} else {
		fsc_call_async(tc, &sqe);
	}
	fsc_chan_release(tc);
}

void fsc_close_handle(uint32_t handle, bool wait) { close_handle(handle, 0, wait); }

static void ofd_put(int idx, bool wait)
{
	struct fsc_ofd *o = fsc_ofd_get(idx);
	uint32_t handle = o->handle;
	int32_t lockpid = o->posix_lock_pid;
	wait = wait || o->lock_used;
	/* Read what the close needs before the slot can be reused. */
	struct fsc_kept kh = { .handle = handle, .epoch = wait || lockpid ? 0 : o->keep_epoch };
	char path[sizeof(o->path)];
	if (kh.epoch) {
		kh.mode = o->mode;
		kh.flags = o->flags;
		kh.cache_id = o->cache_id;
		fsc_strlcpy(path, o->path, sizeof(path));
	}
	if (fetch_sub_acq_rel(&o->refs, 1) != 1 || !handle)
		return;
	if (kh.epoch && fsc_reopen_keep(&kh, path))
		return;
	close_handle(handle, lockpid, wait);
}

void fsc_ofd_put(int idx) { ofd_put(idx, false); }
void fsc_ofd_put_sync(int idx) { ofd_put(idx, true); }

int fsc_reserve_fd(int cloexec, int minfd)
{
	long fd = sys_fcntl(reserved_template, cloexec ? F_DUPFD_CLOEXEC : F_DUPFD, minfd);
	fsc_count_syscall();
	if (fd >= FSC_MAX_FD) {
		sys_close((int)fd);
		return -EMFILE;
	}
	return (int)fd;
}

void fsc_fd_install(int fd, int ofd, int cloexec)
{
	fsc_fd_cloexec[fd] = (uint8_t)(cloexec ? 1 : 0);
	store_release(&fsc_fd_ofd[fd], ofd + 1);
}

int fsc_fd_uninstall(int fd)
{
	if ((unsigned)fd >= FSC_MAX_FD)
		return -1;
	int32_t v = exchange_acq_rel(&fsc_fd_ofd[fd], 0);
	return v - 1;
}

void fsc_forget_fd(int fd)
{
	int o = fsc_fd_uninstall(fd);
	if (o >= 0) {
		if (fd <= 2)
			fsc_unfix_std_stream(fd);
		fsc_ofd_put(o);
	}
}
