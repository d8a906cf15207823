/* The executable area jump switches own: one memfd holding a copy of the
 * slot pages and a pool of bodies, mapped twice. The executable mappings
 * (the slot pages, replacing the image's own, and the pool next to the
 * image) are never writable; all writes go through a separate read-write
 * alias that is never executable (W^X). Raw system calls only: this runs at
 * start-up and in a forked child. Called with the worker lock held. */
#include "jsw.h"
#include "../common/sys.h"
#include "../common/log.h"

#include <errno.h>
#include <string.h>
#include <sys/mman.h>

#ifndef MFD_EXEC
#define MFD_EXEC 0x0010U
#endif
#ifndef MAP_FIXED_NOREPLACE
#define MAP_FIXED_NOREPLACE 0x100000
#endif

#define PAGE 4096ul
#define JSW_POOL_LEN ((size_t)JSW_POOL_BODIES * JSW_BODY_SIZE)

enum { BODY_FREE = 0, BODY_LIVE, BODY_RETIRED };

struct jsw_area jsw_area = { .fd = -1 };
static unsigned char body_state[JSW_POOL_BODIES];

static long memfd_exec(void)
{
	/* vm.memfd_noexec may make a memfd without MFD_EXEC unmappable for
	 * execution; kernels before 6.3 reject the flag. */
	long fd = sys_memfd_create("shunt-jsw", MFD_CLOEXEC | MFD_EXEC);
	if (fd == -EINVAL)
		fd = sys_memfd_create("shunt-jsw", MFD_CLOEXEC);
	return fd;
}

/* The pool must sit within rel32 reach of the image (the slots, the stubs,
 * the site descriptors and the counter base pointer): try free addresses
 * 64 MiB apart on both sides of the slot pages. */
static uintptr_t map_pool_near(int fd, uintptr_t near)
{
	for (long k = 1; k <= 24; k++) {
		for (int side = 0; side < 2; side++) {
			uintptr_t hint = side ? near + (uintptr_t)k * (64ul << 20) : near - (uintptr_t)k * (64ul << 20);
			hint &= ~(PAGE - 1);
			if (hint < (1ul << 20))
				continue;
			void *p = sys_mmap((void *)hint, JSW_POOL_LEN, PROT_READ | PROT_EXEC,
					   MAP_SHARED | MAP_FIXED_NOREPLACE, fd, (off_t)jsw_area.slots_len);
			if (sys_mmap_failed(p))
				continue;
			if ((uintptr_t)p != hint) { /* kernel without NOREPLACE took it as a hint */
				sys_munmap(p, JSW_POOL_LEN);
				continue;
			}
			return hint;
		}
	}
	return 0;
}

int jsw_area_init(void)
{
	if (jsw_area.ready)
		return 0;
	if (!jsw_nsites())
		return -ENOENT;
	uintptr_t lo = (uintptr_t)__start_shunt_jsw_slots & ~(PAGE - 1);
	uintptr_t hi = ((uintptr_t)__stop_shunt_jsw_slots + PAGE - 1) & ~(PAGE - 1);
	jsw_area.slots_rx = lo;
	jsw_area.slots_len = hi - lo;
	jsw_area.pool_len = JSW_POOL_LEN;
	size_t total = jsw_area.slots_len + jsw_area.pool_len;

	long fd = memfd_exec();
	if (fd < 0)
		return (int)fd;
	long r = sys_ftruncate((int)fd, (off_t)total);
	if (r < 0)
		goto out_close;
	void *rw = sys_mmap(NULL, total, PROT_READ | PROT_WRITE, MAP_SHARED, (int)fd, 0);
	if (sys_mmap_failed(rw)) {
		r = (long)rw;
		goto out_close;
	}
	/* The copy starts as the image's own bytes: the slots' cold entries and
	 * whatever else shares their pages, so the switch-over changes nothing
	 * a thread could be executing. */
	memcpy(rw, (void *)lo, jsw_area.slots_len);
	memset((char *)rw + jsw_area.slots_len, 0xcc, jsw_area.pool_len);
	jsw_area.fd = (int)fd;
	jsw_area.rw = rw;
	jsw_area.pool_rx = map_pool_near((int)fd, lo);
	if (!jsw_area.pool_rx) {
		r = -ENOMEM;
		goto out_unmap;
	}
	memset(body_state, BODY_FREE, sizeof(body_state));
	return 0;

out_unmap:
	sys_munmap(rw, total);
	jsw_area.rw = NULL;
	jsw_area.fd = -1;
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
	jsw_area.ready = 1;
	return 0;
}

/* Taken in the parent at fork with the worker lock held: the memfd's
 * contents that match the state the child inherits. The child cannot copy
 * the memfd itself: the parent's worker keeps patching it after fork. */
static unsigned char *fork_snapshot;

int jsw_area_fork_prepare(void)
{
	size_t total = jsw_area.slots_len + jsw_area.pool_len;
	if (!jsw_area.ready)
		return 0;
	if (!fork_snapshot) {
		void *p = sys_mmap(NULL, total, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (sys_mmap_failed(p))
			return -ENOMEM;
		fork_snapshot = p;
	}
	memcpy(fork_snapshot, jsw_area.rw, total);
	return 0;
}

int jsw_area_fork_child(void)
{
	if (!jsw_area.ready)
		return 0;
	if (!fork_snapshot) {
		jsw_area.ready = 0;
		return -ENOMEM;
	}
	/* The parent's memfd is shared with us: patching it would patch the
	 * parent. Copy the snapshot into our own and map that at the same
	 * addresses. */
	size_t total = jsw_area.slots_len + jsw_area.pool_len;
	long fd = memfd_exec();
	if (fd < 0)
		return (int)fd;
	long r = sys_ftruncate((int)fd, (off_t)total);
	if (r < 0)
		goto out_close;
	void *tmp = sys_mmap(NULL, total, PROT_READ | PROT_WRITE, MAP_SHARED, (int)fd, 0);
	if (sys_mmap_failed(tmp)) {
		r = (long)tmp;
		goto out_close;
	}
	memcpy(tmp, fork_snapshot, total);
	sys_munmap(tmp, total);
	void *p = sys_mmap(jsw_area.rw, total, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, (int)fd, 0);
	if (!sys_mmap_failed(p))
		p = sys_mmap((void *)jsw_area.pool_rx, jsw_area.pool_len, PROT_READ | PROT_EXEC,
			     MAP_SHARED | MAP_FIXED, (int)fd, (off_t)jsw_area.slots_len);
	if (!sys_mmap_failed(p))
		p = sys_mmap((void *)jsw_area.slots_rx, jsw_area.slots_len, PROT_READ | PROT_EXEC,
			     MAP_SHARED | MAP_FIXED, (int)fd, 0);
	if (sys_mmap_failed(p)) {
		/* Half switched: the old mappings still hold valid code, but
		 * writing would reach the parent. Stop patching for good. */
		jsw_area.ready = 0;
		r = (long)p;
		goto out_close;
	}
	sys_close(jsw_area.fd);
	jsw_area.fd = (int)fd;
	return 0;

out_close:
	sys_close((int)fd);
	return (int)r;
}

int jsw_body_alloc(void)
{
	for (int b = 0; b < JSW_POOL_BODIES; b++)
		if (body_state[b] == BODY_FREE) {
			body_state[b] = BODY_LIVE;
			return b;
		}
	return -ENOSPC;
}

uintptr_t jsw_body_rx(int b)
{
	return jsw_area.pool_rx + (uintptr_t)b * JSW_BODY_SIZE;
}

unsigned char *jsw_body_rw(int b)
{
	return jsw_area.rw + jsw_area.slots_len + (size_t)b * JSW_BODY_SIZE;
}

void jsw_body_retire(int b)
{
	if (b >= 0)
		body_state[b] = BODY_RETIRED;
}

unsigned jsw_bodies_retired(void)
{
	unsigned n = 0;
	for (int b = 0; b < JSW_POOL_BODIES; b++)
		n += body_state[b] == BODY_RETIRED;
	return n;
}

void jsw_bodies_reclaim(void)
{
	for (int b = 0; b < JSW_POOL_BODIES; b++)
		if (body_state[b] == BODY_RETIRED) {
			body_state[b] = BODY_FREE;
			/* Poison: a thread that still ran here would trap, not
			 * call a wrong target. */
			memset(jsw_body_rw(b), 0xcc, JSW_BODY_SIZE);
		}
}

unsigned jsw_bodies_free(void)
{
	unsigned n = 0;
	for (int b = 0; b < JSW_POOL_BODIES; b++)
		n += body_state[b] == BODY_FREE;
	return n;
}
