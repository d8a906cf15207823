/* The executable area jump switches own: a memfd holding a copy of the
 * image's slot pages, mapped twice. The executable mapping replaces the
 * image's own slot pages and is never writable; all writes go through a
 * separate read-write alias that is never executable (W^X). Raw system
 * calls only: this runs at start-up and in a forked child. Called with the
 * worker lock held. */
#include "jsw.h"
#include "../common/sys.h"

#include <errno.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>

#ifndef MFD_EXEC
#define MFD_EXEC 0x0010U
#endif

#define PAGE 4096ul

struct jsw_area jsw_area = { .fd = -1 };

static void close_keep_ino(int fd)
{
	struct stat st;
	if (sys_call(SYS_fstat, fd, &st, 0, 0, 0, 0) == 0)
		jsw_area.ino = (uint64_t)st.st_ino;
	sys_close(fd);
	jsw_area.fd = -1;
}

static long memfd_exec(void)
{
	/* vm.memfd_noexec may make a memfd without MFD_EXEC unmappable for
	 * execution; kernels before 6.3 reject the flag. */
	long fd = sys_memfd_create("shunt-jsw", MFD_CLOEXEC | MFD_EXEC);
	if (fd == -EINVAL)
		fd = sys_memfd_create("shunt-jsw", MFD_CLOEXEC);
	return fd;
}

int jsw_area_init(void)
{
	if (jsw_area.rw)
		return 0;
	if (!jsw_nsites())
		return -ENOENT;
	uintptr_t lo = (uintptr_t)__start_shunt_jsw_slots & ~(PAGE - 1);
	uintptr_t hi = ((uintptr_t)__stop_shunt_jsw_slots + PAGE - 1) & ~(PAGE - 1);
	jsw_area.slots_rx = lo;
	jsw_area.slots_len = hi - lo;

	long fd = memfd_exec();
	if (fd < 0)
		return (int)fd;
	long r = sys_ftruncate_internal((int)fd, (long)jsw_area.slots_len);
	if (r < 0)
		goto out_close;
	void *rw = sys_mmap(NULL, jsw_area.slots_len, PROT_READ | PROT_WRITE, MAP_SHARED, (int)fd, 0);
	if (sys_mmap_failed(rw)) {
		r = (long)rw;
		goto out_close;
	}
	/* The copy starts as the image's own bytes: the slots' cold entries and
	 * whatever else shares their pages, so the switch-over changes nothing
	 * a thread could be executing. */
	memcpy(rw, (void *)lo, jsw_area.slots_len);
	jsw_area.fd = (int)fd;
	jsw_area.rw = rw;
	return 0;

out_close:
	sys_close((int)fd);
	return (int)r;
}

/* Replace the image's slot pages with the memfd copy (already holding the
 * emitted slots). One mmap: every thread sees the old pages or the new ones,
 * and both start each slot with a complete instruction at the same offset. */
int jsw_area_map_slots(void)
{
	void *p = sys_mmap((void *)jsw_area.slots_rx, jsw_area.slots_len, PROT_READ | PROT_EXEC,
			   MAP_SHARED | MAP_FIXED, jsw_area.fd, 0);
	if (sys_mmap_failed(p))
		return (int)(long)p;
	/* The mappings keep the memfd alive; holding the descriptor would only
	 * let a program that closes every fd (daemons, close_range) pull it
	 * away, or reuse its number. */
	close_keep_ino((int)jsw_area.fd);
	jsw_area.ready = 1;
	return 0;
}

static int area_fork_child(void);

/* Taken in the parent at fork with the worker lock held: the memfd's
 * contents that match the state the child inherits. The child cannot copy
 * the memfd itself: the parent's worker keeps patching it after fork. */
static unsigned char *fork_snapshot;

int jsw_area_fork_prepare(void)
{
	if (!jsw_area.ready)
		return 0;
	if (!fork_snapshot) {
		void *p = sys_mmap(NULL, jsw_area.slots_len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (sys_mmap_failed(p))
			return -ENOMEM;
		fork_snapshot = p;
	}
	memcpy(fork_snapshot, jsw_area.rw, jsw_area.slots_len);
	return 0;
}

/* Last resort in a child: the slot pages become private anonymous memory
 * holding the snapshot (written, then made executable: never both; this
 * thread is the only one), so the parent's patches no longer reach us. The
 * chains stay as they are, for good. */
static void freeze_private(void)
{
	size_t len = jsw_area.slots_len;
	unsigned char *at = (unsigned char *)jsw_area.slots_rx;
	jsw_area.ready = 0;
	if (!fork_snapshot)
		return; /* nothing consistent to copy: keep the shared pages */
	void *p = sys_mmap(at, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
	if (sys_mmap_failed(p))
		return;
	memcpy(at, fork_snapshot, len);
	sys_call(SYS_mprotect, at, len, PROT_READ | PROT_EXEC, 0, 0, 0);
}

int jsw_area_fork_child(void)
{
	int r = area_fork_child();
	if (r < 0)
		freeze_private();
	return r;
}

static int area_fork_child(void)
{
	size_t len = jsw_area.slots_len;
	if (!jsw_area.ready)
		return 0;
	if (!fork_snapshot)
		return -ENOMEM;
	/* The parent's memfd is shared with us: patching it would patch the
	 * parent. Copy the snapshot into our own and map that at the same
	 * addresses. */
	long fd = memfd_exec();
	if (fd < 0)
		return (int)fd;
	long r = sys_ftruncate_internal((int)fd, (long)len);
	if (r < 0)
		goto out_close;
	void *tmp = sys_mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, (int)fd, 0);
	if (sys_mmap_failed(tmp)) {
		r = (long)tmp;
		goto out_close;
	}
	memcpy(tmp, fork_snapshot, len);
	sys_munmap(tmp, len);
	/* Both mappings are replaced below, so their old pages (the parent's
	 * memfd) are dropped from this process, and nothing here holds a
	 * descriptor of it. */
	void *p = sys_mmap(jsw_area.rw, len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, (int)fd, 0);
	if (!sys_mmap_failed(p))
		p = sys_mmap((void *)jsw_area.slots_rx, len, PROT_READ | PROT_EXEC, MAP_SHARED | MAP_FIXED, (int)fd, 0);
	if (sys_mmap_failed(p)) {
		/* Half switched: the caller freezes a private copy. */
		r = (long)p;
		goto out_close;
	}
	close_keep_ino((int)fd);
	return 0;

out_close:
	sys_close((int)fd);
	return (int)r;
}
