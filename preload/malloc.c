/* The malloc family, served by jemalloc (runtime/alloc: linked into
 * libshunt.so under hidden names). Each interposer is one check and a
 * forward: allocations of at least far_min go to the far arena
 * (runtime/far/arena.c) while far memory is on, pointers inside the far
 * region are freed there; everything else goes straight to jemalloc's own
 * entry point, so with far memory off a program runs on plain jemalloc at
 * the cost of one compare and a direct jump. A far allocation that cannot
 * be served falls back to local memory. */
#include "preload.h"
#include "alloc/alloc.h"
#include "far/arena.h"

#include <errno.h>
#include <stdint.h>
#include <string.h>

static int pow2(size_t a) { return a && !(a & (a - 1)); }

static void *far_or_local(size_t n, size_t align)
{
	void *p = far_arena_alloc(n, align, 0);
	if (p)
		return p;
	return align > 1 ? shunt_je_aligned_alloc(align, n) : shunt_je_malloc(n);
}

SHUNT_EXPORT void *malloc(size_t n) { return far_arena_wants(n) ? far_or_local(n, 0) : shunt_je_malloc(n); }

SHUNT_EXPORT void free(void *p)
{
	if (far_arena_owns(p))
		far_arena_free(p);
	else
		shunt_je_free(p);
}

SHUNT_EXPORT void *calloc(size_t n, size_t m)
{
	size_t t;
	if (__builtin_expect(__builtin_mul_overflow(n, m, &t) || !far_arena_wants(t), 1))
		return shunt_je_calloc(n, m);
	void *p = far_arena_alloc(t, 0, 1);
	return p ? p : shunt_je_calloc(n, m);
}

static void *realloc_slow(void *p, size_t n)
{
	if (far_arena_owns(p)) {
		if (!n) {
			far_arena_free(p); /* realloc(p, 0) frees and returns NULL, as glibc's and jemalloc's */
			return NULL;
		}
		if (far_arena_wants(n)) {
			void *q = far_arena_realloc(p, n);
			if (q)
				return q;
		}
		/* Shrunk below far_min (or the far arena is full): to local memory. */
		size_t old = far_arena_usable(p);
		void *q = shunt_je_malloc(n);
		if (!q)
			return NULL;
		memcpy(q, p, old < n ? old : n);
		far_arena_free(p);
		return q;
	}
	/* A local block growing past far_min moves to far memory. */
	void *q = far_arena_alloc(n, 0, 0);
	if (!q)
		return shunt_je_realloc(p, n);
	if (p) {
		size_t old = shunt_je_malloc_usable_size(p);
		memcpy(q, p, old < n ? old : n);
		shunt_je_free(p);
	}
	return q;
}

SHUNT_EXPORT void *realloc(void *p, size_t n)
{
	if (__builtin_expect(!far_arena_owns(p) && !far_arena_wants(n), 1))
		return shunt_je_realloc(p, n);
	return realloc_slow(p, n);
}

SHUNT_EXPORT void *reallocarray(void *p, size_t n, size_t m)
{
	size_t t;
	if (__builtin_mul_overflow(n, m, &t)) {
		errno = ENOMEM;
		return NULL;
	}
	return realloc(p, t);
}

SHUNT_EXPORT void *memalign(size_t a, size_t n)
{
	return far_arena_wants(n) && pow2(a) ? far_or_local(n, a) : shunt_je_memalign(a, n);
}

SHUNT_EXPORT void *aligned_alloc(size_t a, size_t n)
{
	return far_arena_wants(n) && pow2(a) ? far_or_local(n, a) : shunt_je_aligned_alloc(a, n);
}

SHUNT_EXPORT int posix_memalign(void **out, size_t a, size_t n)
{
	if (__builtin_expect(!far_arena_wants(n), 1) || !pow2(a) || a % sizeof(void *))
		return shunt_je_posix_memalign(out, a, n);
	void *p = far_or_local(n, a);
	if (!p)
		return ENOMEM;
	*out = p;
	return 0;
}

SHUNT_EXPORT void *valloc(size_t n) { return far_arena_wants(n) ? far_or_local(n, 4096) : shunt_je_valloc(n); }

/* jemalloc has no pvalloc: glibc's, a whole number of pages (one for 0). */
SHUNT_EXPORT void *pvalloc(size_t n)
{
	size_t r = n ? (n + 4095) & ~(size_t)4095 : 4096;
	if (r < n) {
		errno = ENOMEM;
		return NULL;
	}
	return valloc(r);
}

SHUNT_EXPORT size_t malloc_usable_size(void *p) { return p ? shunt_je_malloc_usable_size(p) : 0; }

/* After the file client (priority 101): far memory, if the configuration asks. */
__attribute__((constructor(102))) static void shunt_malloc_init(void) { far_setup_from_config(); }
