/* Far anonymous mappings: private anonymous mmaps of at least far_min carved
 * out of the far region, and the kernel's semantics for munmap, mremap,
 * madvise and mprotect over the region. A byte per region page says who
 * owns it: nobody (free, or the far arena's), a far mapping, or a mapping
 * that left far memory (mprotect to anything but read-write, or a MAP_FIXED
 * over it): plain kernel pages at that address until unmapped, when the
 * reservation and its userfaultfd registration are put back. Never calls
 * malloc. */
#include "far/far_internal.h"
#include "far/anon.h"
#include "common/atomics.h"
#include "common/stats.h"
#include "common/sys.h"

#include <errno.h>
#include <linux/userfaultfd.h>
#include <sys/ioctl.h>
#include <string.h>
#include <sys/mman.h>

enum { ANON_NONE = 0, ANON_FAR = 1, ANON_NATIVE = 2 };

size_t far_mmap_min = SIZE_MAX;
static uint8_t *owner;     /* per region page */
static uint32_t child_mode; /* a fork child: the region is plain memory, everything native */

#define RW (PROT_READ | PROT_WRITE)
#define PAGE_UP(n) (((uint64_t)(n) + FAR_PAGE - 1) & ~(FAR_PAGE - 1))

int far_anon_init(size_t min)
{
	owner = sys_mmap(NULL, far.npages, RW, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (sys_mmap_failed(owner)) {
		owner = NULL;
		return -ENOMEM;
	}
	store_release(&far_mmap_min, min < FAR_PAGE ? FAR_PAGE : min);
	return 0;
}

void far_anon_off_in_child(void)
{
	store_release(&far_mmap_min, SIZE_MAX);
	store_release(&child_mode, 1);
}

static void set_owner(char *p, uint64_t n, uint8_t v)
{
	uint64_t first = far_page_of(p);
	for (uint64_t i = 0; i < n / FAR_PAGE; i++)
		store_relaxed(&owner[first + i], v);
}

static uint8_t owner_of(const char *p) { return load_relaxed(&owner[far_page_of(p)]); }

/* The run of pages from p (below end) with p's owner. */
static uint64_t run_len(const char *p, const char *end)
{
	uint8_t v = owner_of(p);
	const char *q = p + FAR_PAGE;
	while (q < end && owner_of(q) == v)
		q += FAR_PAGE;
	return (uint64_t)(q - p);
}

static int native_munmap(void *p, uint64_t n) { return n ? (int)sys_munmap(p, n) : 0; }

/* Put the region's reservation back over [p, p + n) (pages that left far
 * memory) and give the range back to the region's free ranges. */
static int restore(char *p, uint64_t n)
{
	void *r = sys_mmap(p, n, RW, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED, -1, 0);
	if (sys_mmap_failed(r))
		return (int)(long)r;
	sys_call(SYS_madvise, p, n, MADV_NOHUGEPAGE, 0, 0, 0);
	struct uffdio_register reg = { .range = { (uint64_t)p, n }, .mode = UFFDIO_REGISTER_MODE_MISSING | UFFDIO_REGISTER_MODE_WP };
	long e = far_uffd_ioctl(UFFDIO_REGISTER, &reg);
	if (e)
		return (int)e; /* not reused: the range stays taken */
	set_owner(p, n, ANON_NONE);
	return far_unmap(p, n);
}

/* Move a far run's contents into plain kernel pages at the same address. */
static int leave_far(char *p, uint64_t n)
{
	char *tmp = sys_mmap(NULL, n, RW, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (sys_mmap_failed(tmp))
		return (int)(long)tmp;
	memcpy(tmp, p, n); /* through the fault path: resident, fetched or zero */
	far_discard(p, n);
	void *r = (void *)sys_call(SYS_mremap, tmp, n, n, MREMAP_MAYMOVE | MREMAP_FIXED, p, 0);
	if (sys_mmap_failed(r)) {
		sys_munmap(tmp, n);
		return (int)(long)r;
	}
	set_owner(p, n, ANON_NATIVE);
	return 0;
}

/* Splits [p, p + n) into the parts below, inside and above the region; the
 * outside parts go to the kernel with fn's native call. */
struct span {
	char *lo, *hi; /* the far part, lo == hi when none */
};

static struct span far_part(char *p, uint64_t n)
{
	char *end = p + n, *lo = p < far.base ? far.base : p, *hi = end > far.base + far.size ? far.base + far.size : end;
	struct span s = { lo, hi > lo ? hi : lo };
	return s;
}

static int check_range(const void *p, size_t n)
{
	if ((uintptr_t)p % FAR_PAGE || (uintptr_t)p + PAGE_UP(n) < (uintptr_t)p)
		return -EINVAL;
	return 0;
}

void *far_anon_mmap(void *a, size_t n, int prot, int flags, int fd, long off)
{
	if (load_acquire(&child_mode) || !n)
		return sys_mmap(a, n, prot, flags, fd, off);
	if (!(flags & (MAP_FIXED | MAP_FIXED_NOREPLACE))) {
		if (!a && (flags & MAP_ANONYMOUS) && (flags & MAP_TYPE) == MAP_PRIVATE && !(flags & FAR_ANON_NEVER) && prot == RW &&
		    n >= load_relaxed(&far_mmap_min)) {
			uint64_t len = PAGE_UP(n);
			char *p = far_map(len);
			if (p) {
				set_owner(p, len, ANON_FAR);
				STAT_ADD(far_mmap_bytes, len);
				return p;
			}
		}
		return sys_mmap(a, n, prot, flags, fd, off); /* not a candidate, or the region is full */
	}
	if (flags & MAP_FIXED_NOREPLACE)
		return sys_mmap(a, n, prot, flags, fd, off); /* the kernel answers EEXIST over the reservation */
	/* MAP_FIXED over the region: only over the program's own mappings (the
	 * rest is the runtime's); those pages leave far memory. */
	int r = check_range(a, n);
	if (r)
		return (void *)(long)r;
	uint64_t len = PAGE_UP(n);
	struct span s = far_part(a, len);
	int all_far = s.lo == (char *)a && s.hi == (char *)a + len;
	for (char *q = s.lo; q < s.hi; q += FAR_PAGE) {
		if (owner_of(q) == ANON_NONE)
			return (void *)(long)-ENOMEM;
		all_far &= owner_of(q) == ANON_FAR;
	}
	if (all_far && (flags & MAP_ANONYMOUS) && (flags & MAP_TYPE) == MAP_PRIVATE && prot == RW &&
	    !(flags & FAR_ANON_NEVER & ~MAP_FIXED)) {
		far_discard(a, len); /* a fresh private mapping over far pages: they read as zeros, stay far */
		return a;
	}
	for (char *q = s.lo; q < s.hi;) {
		uint64_t m = run_len(q, s.hi);
		if (owner_of(q) == ANON_FAR)
			far_discard(q, m);
		q += m;
	}
	void *p = sys_mmap(a, n, prot, flags, fd, off);
	if (!sys_mmap_failed(p))
		set_owner(s.lo, (uint64_t)(s.hi - s.lo), ANON_NATIVE);
	return p;
}

int far_anon_munmap(void *ptr, size_t n)
{
	char *p = ptr;
	if (load_acquire(&child_mode))
		return (int)sys_munmap(p, n);
	int r = check_range(p, n);
	if (r || !n)
		return r ? r : -EINVAL;
	uint64_t len = PAGE_UP(n);
	struct span s = far_part(p, len);
	if ((r = native_munmap(p, (uint64_t)(s.lo - p))) || (r = native_munmap(s.hi, (uint64_t)(p + len - s.hi))))
		return r;
	for (char *q = s.lo; q < s.hi;) {
		uint64_t m = run_len(q, s.hi);
		uint8_t v = owner_of(q);
		if (v == ANON_FAR) {
			set_owner(q, m, ANON_NONE);
			far_unmap(q, m);
		} else if (v == ANON_NATIVE) {
			restore(q, m);
		} /* else: not a mapping of the program's; the kernel would say 0 for a hole */
		q += m;
	}
	return 0;
}

int far_anon_madvise(void *ptr, size_t n, int advice)
{
	char *p = ptr;
	if (load_acquire(&child_mode))
		return (int)sys_call(SYS_madvise, p, n, advice, 0, 0, 0);
	int r = check_range(p, n);
	if (r || !n)
		return r;
	uint64_t len = PAGE_UP(n);
	struct span s = far_part(p, len);
	if (s.lo > p && (r = (int)sys_call(SYS_madvise, p, s.lo - p, advice, 0, 0, 0)))
		return r;
	if (p + len > s.hi && (r = (int)sys_call(SYS_madvise, s.hi, p + len - s.hi, advice, 0, 0, 0)))
		return r;
	for (char *q = s.lo; q < s.hi;) {
		uint64_t m = run_len(q, s.hi);
		if (owner_of(q) == ANON_NATIVE)
			r = (int)sys_call(SYS_madvise, q, m, advice, 0, 0, 0);
		else if (advice == MADV_DONTNEED || advice == MADV_FREE)
			far_discard(q, m); /* reads as zeros, remote copies forgotten (MADV_FREE may do so too) */
		/* other advice on far pages: hints the region's own protocol overrides (huge pages, readahead) */
		if (r)
			return r;
		q += m;
	}
	return 0;
}

int far_anon_mprotect(void *ptr, size_t n, int prot)
{
	char *p = ptr;
	if (load_acquire(&child_mode))
		return (int)sys_call(SYS_mprotect, p, n, prot, 0, 0, 0);
	int r = check_range(p, n);
	if (r || !n)
		return r;
	uint64_t len = PAGE_UP(n);
	struct span s = far_part(p, len);
	for (char *q = s.lo; q < s.hi; q += FAR_PAGE)
		if (owner_of(q) == ANON_NONE)
			return -EACCES; /* free region pages, or far malloc memory: only read-write */
	if (s.lo > p && (r = (int)sys_call(SYS_mprotect, p, s.lo - p, prot, 0, 0, 0)))
		return r;
	if (p + len > s.hi && (r = (int)sys_call(SYS_mprotect, s.hi, p + len - s.hi, prot, 0, 0, 0)))
		return r;
	for (char *q = s.lo; q < s.hi;) {
		uint64_t m = run_len(q, s.hi);
		if (owner_of(q) == ANON_FAR) {
			if (prot == RW) {
				q += m;
				continue; /* already so */
			}
			/* The evictor reads and write-protects far pages: they must stay
			 * read-write, so these leave far memory first. */
			if ((r = leave_far(q, m)))
				return r;
		}
		if ((r = (int)sys_call(SYS_mprotect, q, m, prot, 0, 0, 0)))
			return r;
		q += m;
	}
	return 0;
}

/* Copy the pages of a far run that hold data (resident, or on the server);
 * the rest read as zeros on both sides. */
static void copy_far(char *dst, char *src, uint64_t n)
{
	enum { SCAN = 512 };
	unsigned char vec[SCAN];
	for (uint64_t off = 0; off < n; off += SCAN * FAR_PAGE) {
		uint64_t cnt = (n - off) / FAR_PAGE < SCAN ? (n - off) / FAR_PAGE : SCAN;
		if (sys_call(SYS_mincore, src + off, cnt * FAR_PAGE, vec, 0, 0, 0))
			memset(vec, 1, sizeof(vec));
		for (uint64_t i = 0; i < cnt; i++) {
			char *s = src + off + i * FAR_PAGE;
			if ((vec[i] & 1) || (load_relaxed(&far.pflags[far_page_of(s)]) & PG_REMOTE))
				memcpy(dst + off + i * FAR_PAGE, s, FAR_PAGE);
		}
	}
}

void *far_anon_mremap(void *oldp, size_t oldn, size_t newn, int flags, void *to)
{
	char *old = oldp;
	if (load_acquire(&child_mode))
		return (void *)sys_call(SYS_mremap, old, oldn, newn, flags, to, 0);
	if (check_range(old, oldn) || !newn || (flags & ~(MREMAP_MAYMOVE | MREMAP_FIXED | MREMAP_DONTUNMAP)) ||
	    ((flags & MREMAP_FIXED) && !(flags & MREMAP_MAYMOVE)))
		return (void *)(long)-EINVAL;
	uint64_t olen = PAGE_UP(oldn), nlen = PAGE_UP(newn);
	if (!olen || nlen < newn)
		return (void *)(long)-EINVAL;
	struct span s = far_part(old, olen);
	if (s.lo != old || s.hi != old + olen)
		return (void *)(long)-EFAULT; /* one mapping never spans the region's edge */
	uint8_t v = owner_of(old);
	if (run_len(old, old + olen) != olen || v == ANON_NONE)
		return (void *)(long)-EFAULT; /* not one mapping of the program's */
	if ((flags & MREMAP_FIXED) && far_anon_overlaps(to, nlen))
		return (void *)(long)-EINVAL; /* into the region: not supported */
	if (v == ANON_NATIVE) {
		/* Plain kernel pages: the kernel moves them; what they leave is
		 * given back to the region. */
		char *r = (char *)sys_call(SYS_mremap, old, oldn, newn, flags, to, 0);
		if (sys_mmap_failed(r))
			return r;
		if (r != old)
			restore(old, olen);
		else if (nlen < olen)
			restore(old + nlen, olen - nlen);
		return r;
	}
	if (flags & MREMAP_DONTUNMAP)
		return (void *)(long)-EINVAL;
	if (!(flags & MREMAP_FIXED)) {
		if (nlen <= olen) {
			if (nlen < olen) {
				set_owner(old + nlen, olen - nlen, ANON_NONE);
				far_unmap(old + nlen, olen - nlen);
			}
			return old;
		}
		if (!far_map_at(old + olen, nlen - olen)) {
			set_owner(old + olen, nlen - olen, ANON_FAR);
			STAT_ADD(far_mmap_bytes, nlen - olen);
			return old; /* grown in place */
		}
		if (!(flags & MREMAP_MAYMOVE))
			return (void *)(long)-ENOMEM;
	}
	char *q;
	if (flags & MREMAP_FIXED) {
		q = sys_mmap(to, nlen, RW, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
	} else {
		q = far_map(nlen);
		if (q) {
			set_owner(q, nlen, ANON_FAR);
			STAT_ADD(far_mmap_bytes, nlen);
		} else {
			q = sys_mmap(NULL, nlen, RW, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		}
	}
	if (sys_mmap_failed(q))
		return q;
	copy_far(q, old, olen < nlen ? olen : nlen);
	set_owner(old, olen, ANON_NONE);
	far_unmap(old, olen);
	return q;
}
