/* Far anonymous mappings (anon.c): what preload/mmap.c calls. Private
 * anonymous read-write mmaps of at least far_min (no address, no MAP_FIXED,
 * MAP_STACK, MAP_GROWSDOWN, MAP_HUGETLB, MAP_LOCKED or MAP_32BIT) are
 * carved out of the far region; munmap, mremap, madvise and mprotect on the
 * region do what the kernel would. The inline checks are the interposers'
 * fast path: while far memory is off they are always false. Results are
 * 0/-errno, or a pointer with -errno encoded as the kernel does. */
#ifndef SHUNT_FAR_ANON_H
#define SHUNT_FAR_ANON_H

#include <stddef.h>
#include <stdint.h>
#include <sys/mman.h>

#include "common/atomics.h"
#include "far/arena.h"

extern size_t far_mmap_min; /* SIZE_MAX while far memory is off */

#define FAR_ANON_NEVER (MAP_FIXED | MAP_FIXED_NOREPLACE | MAP_STACK | MAP_GROWSDOWN | MAP_HUGETLB | MAP_LOCKED | MAP_32BIT)

/* [p, p + n) meets the far region (n 0 counts as one byte). */
static inline int far_anon_overlaps(const void *p, size_t n)
{
	uintptr_t lo = far_malloc_lo, len = load_acquire(&far_malloc_len), a = (uintptr_t)p;
	if (__builtin_expect(!len, 1))
		return 0;
	uintptr_t end = a + (n ? n : 1);
	if (end < a)
		end = UINTPTR_MAX;
	return a < lo + len && end > lo;
}

/* An mmap call the far layer must see: a candidate, or a fixed mapping
 * over the region. */
static inline int far_anon_considers(const void *a, size_t n, int flags)
{
	if (__builtin_expect(n >= load_relaxed(&far_mmap_min), 0) && (flags & MAP_ANONYMOUS))
		return 1;
	return (flags & (MAP_FIXED | MAP_FIXED_NOREPLACE)) && far_anon_overlaps(a, n);
}

int far_anon_init(size_t min);
void far_anon_off_in_child(void);

void *far_anon_mmap(void *a, size_t n, int prot, int flags, int fd, long off);
int far_anon_munmap(void *p, size_t n);
int far_anon_madvise(void *p, size_t n, int advice);
int far_anon_mprotect(void *p, size_t n, int prot);
void *far_anon_mremap(void *old, size_t oldn, size_t newn, int flags, void *to);

#endif
