/* The malloc layer's far side (heap.c): what preload/malloc.c calls. The
 * interposers' fast path is the two inline checks below: one compare for an
 * allocation, one subtract-and-compare for a free. While far memory is off,
 * far_malloc_min is SIZE_MAX and far_malloc_len 0, so both always say "not
 * far" and the call goes straight to glibc. */
#ifndef SHUNT_FAR_HEAP_H
#define SHUNT_FAR_HEAP_H

#include <stddef.h>
#include <stdint.h>

#include "common/atomics.h"

extern size_t far_malloc_min;
extern uintptr_t far_malloc_lo, far_malloc_len;

static inline int far_heap_wants(size_t n)
{
	return __builtin_expect(n >= load_relaxed(&far_malloc_min), 0);
}
static inline int far_heap_owns(const void *p)
{
	return __builtin_expect((uintptr_t)p - far_malloc_lo < load_acquire(&far_malloc_len), 0);
}

/* Publishes the region to the interposers; after far_init(). */
int far_heap_init(size_t min);
/* NULL when the region cannot hold it: the caller uses local memory. */
void *far_heap_alloc(size_t n, size_t align);
void far_heap_free(void *p);
/* NULL: not resized (p untouched); the caller moves the data itself. */
void *far_heap_realloc(void *p, size_t n);
size_t far_heap_usable(const void *p);
/* In a fork child: no new far allocations; frees become plain releases. */
void far_heap_off_in_child(void);

/* setup.c: turns far memory on as the configuration says (once, from the
 * preload constructor), with its fork handlers and report section. */
void far_setup_from_config(void);

#endif
