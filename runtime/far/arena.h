/* The malloc layer's far side (arena.c): a jemalloc arena whose extents are
 * carved out of the far region. What preload/malloc.c calls. The
 * interposers' fast path is the two inline checks below: one compare for an
 * allocation, one subtract-and-compare for a free. While far memory is off,
 * far_malloc_min is SIZE_MAX and far_malloc_len 0, so both always say "not
 * far" and the call goes straight to jemalloc's local arenas. */
#ifndef SHUNT_FAR_ARENA_H
#define SHUNT_FAR_ARENA_H

#include <stddef.h>
#include <stdint.h>

#include "common/atomics.h"

extern size_t far_malloc_min;
extern uintptr_t far_malloc_lo, far_malloc_len;

static inline int far_arena_wants(size_t n)
{
	return __builtin_expect(n >= load_relaxed(&far_malloc_min), 0);
}
/* Inside the region: a far arena allocation (free() never sees the far
 * anonymous mappings of mmap.c unless the program is wrong). */
static inline int far_arena_owns(const void *p)
{
	return __builtin_expect((uintptr_t)p - far_malloc_lo < load_acquire(&far_malloc_len), 0);
}

/* Creates the far arena and publishes the region to the interposers; after
 * far_init(). 0 or -errno (err says why). */
int far_arena_init(size_t min, char *err, size_t errlen);
/* n bytes (n >= far_malloc_min) at align (0 or a power of two), zeroed if
 * asked. NULL when the region cannot hold it: the caller uses local memory. */
void *far_arena_alloc(size_t n, size_t align, int zero);
void far_arena_free(void *p);
/* Resized within the far arena, or NULL with p untouched. */
void *far_arena_realloc(void *p, size_t n);
size_t far_arena_usable(const void *p);
/* In a fork child: no new far allocations; purges become plain madvise. */
void far_arena_off_in_child(void);

/* setup.c: turns far memory on as the configuration says (once, from the
 * preload constructor), with its fork handlers and report section. */
void far_setup_from_config(void);

#endif
